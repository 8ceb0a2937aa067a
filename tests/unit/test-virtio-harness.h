/* SPDX-License-Identifier: Apache-2.0 */
/* A machine without KVM for the PCI and virtio tests: guest RAM is an anonymous mapping described
 * by a GuestMem, the buses are the real pio/mmio registries, and the VmmHost is a fake that records
 * MSIs and ioeventfds and runs event-loop callbacks when the test says so. A small driver speaks
 * to the devices the way a guest does: config space through 0xCF8/0xCFC, the virtio capabilities
 * found by walking the capability list, the common config in BAR 0, rings written into RAM. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "guest-mem.h"
#include "pci/pci.h"
#include "virtio/virtio-devices.h"
#include "vmm-host.h"

#define FAKE_MAX_MSIS 256
#define FAKE_MAX_FDS 16

typedef struct FakeHost {
        MsiMessage msis[FAKE_MAX_MSIS];
        unsigned n_msis;
        bool ioeventfd_fails;           /* make add_ioeventfd fail: the mmio doorbell is used */
        struct { uint64_t addr; int fd; } ioevents[FAKE_MAX_FDS];
        unsigned n_ioevents;
        struct { int fd; uint32_t events; VmmFdHandler handler; void *opaque; } fds[FAKE_MAX_FDS];
        unsigned n_fds;
        int exit_status;
} FakeHost;

typedef struct Machine {
        FakeHost fake;
        VmmHost host;
        Bus pio, mmio;
        PciBus *pci;
        GuestMem mem;
        uint8_t *ram;
        uint64_t ram_gpa, ram_size;
        VirtioEnv env;
} Machine;

#define MACHINE_RAM_GPA 0x100000ULL
#define MACHINE_RAM_SIZE (4ULL << 20)
#define MACHINE_PCI_BASE 0xc0000000ULL
#define MACHINE_PCI_SIZE 0x10000000ULL

void machine_init(Machine *m);
void machine_done(Machine *m);
/* Host view of guest memory; asserts the range is RAM. */
void *gpa(Machine *m, uint64_t addr, uint64_t len);
/* Run every event-loop callback whose fd is ready for the events it was registered with (EPOLLIN,
 * EPOLLOUT), until none is (bounded). Returns how many ran. */
unsigned machine_run_loop(Machine *m);
/* Number of MSIs delivered with this data value. */
unsigned msis_with_data(const Machine *m, uint32_t data);

/* config space through the mechanism #1 ports */
uint32_t pci_cfg_read(Machine *m, unsigned slot, unsigned func, unsigned off, unsigned len);
void pci_cfg_write(Machine *m, unsigned slot, unsigned off, uint32_t v, unsigned len);
uint64_t mmio_read(Machine *m, uint64_t addr, unsigned len);
void mmio_write(Machine *m, uint64_t addr, uint64_t v, unsigned len);

/* ---- the fake driver ---- */

typedef struct DrvQueue {
        uint16_t size;
        uint64_t desc, avail, used;      /* guest addresses */
        uint16_t avail_idx, used_seen;
        uint16_t next_desc;
} DrvQueue;

typedef struct Drv {
        Machine *m;
        unsigned slot;
        uint64_t bar0, bar2;
        uint64_t common, notify, isr, device;   /* guest addresses of the structures */
        uint32_t notify_mult;
        DrvQueue q[4];
        uint64_t next_ring_gpa;
} Drv;

#define MSI_DATA_BASE 0x40      /* vector v is programmed with data MSI_DATA_BASE + v */

/* Find the device in `slot` (asserting it is virtio), read its BARs and virtio capabilities,
 * enable MSI-X with every vector unmasked. */
void drv_probe(Drv *d, Machine *m, unsigned slot);
/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns the status read back. */
uint8_t drv_negotiate(Drv *d, uint64_t features);
uint64_t drv_device_features(Drv *d);
/* Program queue q (size entries, rings in fresh guest memory, MSI-X vector q) and enable it. */
void drv_setup_queue(Drv *d, unsigned q, uint16_t size);
void drv_driver_ok(Drv *d);
uint8_t drv_status(Drv *d);
void drv_set_status(Drv *d, uint8_t s);

uint32_t common_read(Drv *d, unsigned off, unsigned len);
void common_write(Drv *d, unsigned off, uint64_t v, unsigned len);

typedef struct DrvBuf {
        uint64_t addr;
        uint32_t len;
        bool write;
} DrvBuf;

/* Write a chain of descriptors for bufs and publish it; returns the head index. */
uint16_t drv_add_chain(Drv *d, unsigned q, const DrvBuf *bufs, unsigned n);
/* Publish a raw descriptor (addr, len, flags, next) at index i of queue q's table. */
void drv_put_desc(Drv *d, unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/* Put head in the available ring and advance avail idx by `advance` (normally 1). */
void drv_publish(Drv *d, unsigned q, uint16_t head, uint16_t advance);
/* Doorbell through the BAR (as a vCPU write would arrive without ioeventfd). */
void drv_kick(Drv *d, unsigned q);
/* Next used element, false when none is new. */
bool drv_get_used(Drv *d, unsigned q, uint32_t *ret_id, uint32_t *ret_len);
/* Fresh zeroed guest memory for buffers. */
uint64_t drv_alloc(Drv *d, uint64_t len, uint64_t align);

/* probe + negotiate `features` (asserting FEATURES_OK) + nq queues of qsize + DRIVER_OK */
void drv_bring_up(Drv *d, Machine *m, unsigned slot, uint64_t features, unsigned nq, uint16_t qsize);
/* write a 4-byte le value into guest memory */
void gpa_put32(Machine *m, uint64_t addr, uint32_t v);
