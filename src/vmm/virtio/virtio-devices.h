/* SPDX-License-Identifier: Apache-2.0 */
/* The virtio devices kapsel-vmm offers, each on the modern virtio-pci transport (virtio 1.2 §4.1)
 * with MSI-X. A device exists only when configured; each is created from a small config and its
 * host backend, plugged into the PCI bus, and freed on teardown (in reverse order). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "guest-mem.h"
#include "pci/pci.h"
#include "vmm-host.h"

typedef struct VirtioDev VirtioDev;

/* Everything a virtio device needs from the VMM. */
typedef struct VirtioEnv {
        GuestMem *mem;
        PciBus *pci;
        VmmHost *host;
} VirtioEnv;

typedef struct VirtioBlkConfig {
        const char *path;       /* raw image file */
        bool readonly;          /* VIRTIO_BLK_F_RO; writes fail with VIRTIO_BLK_S_IOERR */
} VirtioBlkConfig;

typedef struct VirtioNetConfig {
        const char *tap;        /* existing tap device name (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) */
        uint8_t mac[6];
} VirtioNetConfig;

typedef struct VirtioConsoleConfig {
        int in_fd, out_fd;      /* host side: bytes from in_fd go to the guest, guest output to out_fd;
                                 * both stay the caller's (not closed by virtio_dev_free). Either may
                                 * be -1 (no input / no output); both the same fd (the agent's socket)
                                 * is fine: the device dups it for the transmit side. A non-blocking
                                 * out_fd gets backpressure: guest output waits, never dropped, until
                                 * the fd drains (or its reader is gone). */
} VirtioConsoleConfig;

int virtio_blk_create(const VirtioEnv *env, const VirtioBlkConfig *cfg, VirtioDev **ret, KError **err);
int virtio_net_create(const VirtioEnv *env, const VirtioNetConfig *cfg, VirtioDev **ret, KError **err);
/* Same on an already open backend fd (taken over, made non-blocking) that speaks the tap framing:
 * one frame per read/write with a 12-byte virtio_net_hdr in front. Tests pass a SOCK_DGRAM
 * socketpair end. */
int virtio_net_create_fd(const VirtioEnv *env, int fd, const uint8_t mac[6], VirtioDev **ret, KError **err);
int virtio_rng_create(const VirtioEnv *env, VirtioDev **ret, KError **err);
int virtio_console_create(const VirtioEnv *env, const VirtioConsoleConfig *cfg, VirtioDev **ret, KError **err);
int virtio_balloon_create(const VirtioEnv *env, VirtioDev **ret, KError **err);

/* Balloon: ask the guest to give back memory until `pages` 4 KiB pages are in the balloon; inflated
 * pages are released to the host with MADV_DONTNEED. Reports the current balloon size. */
int virtio_balloon_set_target(VirtioDev *balloon, uint32_t pages);
uint32_t virtio_balloon_actual(VirtioDev *balloon);

/* Stop the device's backend (no more callbacks) and free it; NULL-safe. */
void virtio_dev_free(VirtioDev *dev);

/* The model's counters, {"device": "virtio-net", "tx_packets": ...} (a new reference), or NULL for a
 * model that keeps none. Safe from any thread. */
struct json_t *virtio_dev_stats(VirtioDev *dev);
