/* SPDX-License-Identifier: Apache-2.0 */
/* Live migration between two kapsel-vmm processes (docs/vm-snapshots.md, "Live migration"): the
 * source copies guest RAM while the guest runs (pre-copy), then the pages dirtied meanwhile,
 * round after round, guest writes from KVM's dirty log and device writes from GuestMem's dirty
 * bitmap, until what is left fits the allowed downtime; then it pauses the VM, sends the rest
 * and the state stream, and ends once the target has resumed the guest.
 *
 * The stream (little-endian), over a unix or TCP stream socket:
 *   source: "KAPSLMIG" | u32 version 1 | u32 token length | u64 RAM bytes | u32 vCPUs |
 *           u32 CPUID digest | token
 *   target: 'K' (accepted) or it closes
 *   source: records: u32 type | u32 count | u64 offset, then the payload
 *           MIG_PAGES: count (1..MIG_MAX_RUN) pages of 4 KiB at RAM offset `offset`
 *           MIG_STATE: count bytes (at most STATE_MAX_STREAM) of state stream; the last record
 *   target: 'R' (resumed) or 'E' (refused: it says why on its stderr)
 * The target checks every field before using it: the token (compared in constant time), the RAM
 * size, vCPU count and CPU features (a digest of the CPUID given to the vCPUs) against its own, each page run inside RAM, each length against its limit;
 * every read has a timeout, so a peer that stops sending cannot hang it. The stream is not
 * encrypted: use a unix socket or a network both hosts trust. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct Vm Vm;
typedef struct Migration Migration;

#define MIG_MAGIC "KAPSLMIG"
#define MIG_VERSION 1
#define MIG_MAX_TOKEN 256
#define MIG_MAX_RUN 256
enum { MIG_PAGES = 1, MIG_STATE = 2 };

/* Source side, at setup (before seccomp): the worker thread, the device dirty bitmap, the event
 * the worker uses to hand the final phase to the event loop. */
int vm_migration_init(Vm *vm, KError **err);
void vm_migration_free(Vm *vm);
/* The control socket's "migrate": over `fd` (owned), a connection the client opened to the target
 * `to`, hand shake, then copy in the background. Returns at once. */
int vm_migrate_start(Vm *vm, const char *to, const char *token, unsigned max_downtime_ms, int fd, KError **err);
/* Client side (kapsel-vmm ctl): connect to unix:PATH or tcp:ADDR:PORT (numeric), with the stream's
 * send and receive timeouts set; returns the fd to pass along with the migrate request. */
int mig_connect(const char *to, KError **err);
/* {"state": "none"|"active"|"done"|"failed", "rounds", "pages_sent", "error"?} */
struct json_t *vm_migration_status(Vm *vm);

/* Target side (--incoming ADDR): wait for one source, take RAM and state, restore. During setup. */
int vm_migration_receive(Vm *vm, KError **err);

/* The target's half of the stream on a connected fd, whatever the VM (the fuzz target passes
 * fakes): hello, page runs into ram[0, ram_size), then the state to load_state; answers R or E. */
typedef struct MigTarget {
        const char *token;
        uint8_t *ram;
        uint64_t ram_size;
        uint32_t n_vcpus;
        uint32_t cpuid_crc;
        int (*load_state)(void *opaque, const uint8_t *buf, size_t len, KError **err);
        void *opaque;
} MigTarget;
int mig_receive_stream(const MigTarget *t, int fd, KError **err);
