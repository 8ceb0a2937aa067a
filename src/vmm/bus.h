/* SPDX-License-Identifier: Apache-2.0 */
/* An I/O registry: address ranges -> device callbacks. The VMM keeps two, one for port I/O and one
 * for MMIO; a vCPU exit is dispatched to whichever device registered the address. Ranges never
 * overlap (registration refuses it). Dispatch runs on several vCPU threads at once under a read
 * lock; (un)registration takes the write lock, so a guest moving a PCI BAR on one vCPU is safe
 * against accesses on another. Handlers lock their own state. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Access of `len` bytes (1, 2, 4 or 8) at `offset` from the start of the registered range.
 * On a read the handler fills data[0..len); on a write it consumes it. */
typedef void (*BusHandler)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

typedef struct BusRange {
        uint64_t base, len;
        BusHandler handler;
        void *opaque;
        const char *name;       /* for errors and stats: "serial", "virtio-blk.0 bar0", ... */
} BusRange;

typedef struct Bus {
        BusRange *ranges;       /* sorted by base */
        size_t n_ranges;
        const char *name;       /* "pio" or "mmio" */
        pthread_rwlock_t lock;
} Bus;

void bus_init(Bus *b, const char *name);
void bus_done(Bus *b);

/* Register [base, base + len). Fails with -EEXIST (and a message naming both devices) when the
 * range overlaps one already registered. */
int bus_register(Bus *b, uint64_t base, uint64_t len, BusHandler handler, void *opaque, const char *name,
                 KError **err);
/* Remove the range starting exactly at base (used by PCI when the guest moves a BAR).
 * Returns -ENOENT when none starts there. Must not be called from inside a handler of the same bus
 * (the write lock would deadlock against the dispatching read lock): PCI config space lives on
 * the pio bus and moves BARs on the mmio bus, which is fine. */
int bus_unregister(Bus *b, uint64_t base);

/* Dispatch an access. Returns false when nothing is registered there; the caller then treats a
 * read as all-ones and ignores a write, as real hardware does. */
bool bus_dispatch(Bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);
