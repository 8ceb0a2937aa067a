/* SPDX-License-Identifier: Apache-2.0 */
/* Guest physical memory as the VMM sees it: a few regions of host memory, each mapped into the
 * guest at a physical address. Every access a device makes on behalf of the guest goes through
 * guest_mem_ptr(), the one checked translation: an address range is usable only when it lies
 * entirely inside one region, with no integer wrap. Anything else is the guest's bug or attack
 * and gets NULL, never a pointer past the mapping. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 4

typedef struct GuestRegion {
        uint64_t gpa;           /* guest physical base */
        uint64_t size;          /* bytes */
        uint8_t *hva;           /* host mapping of [gpa, gpa + size) */
} GuestRegion;

typedef struct GuestMem {
        GuestRegion regions[GUEST_MEM_MAX_REGIONS];
        size_t n_regions;
        /* While a live migration copies RAM (migration.c): one bit per 4 KiB page of the backing
         * mapping that starts at dirty_base, set for every byte a device model writes
         * (guest_mem_dirty), since KVM's dirty log sees only the guest's own writes. NULL (no
         * tracking) otherwise. */
        uint64_t *dirty;
        uint8_t *dirty_base;
        uint64_t dirty_pages;
} GuestMem;

/* Record a device write of [hva, hva + len) into guest RAM for a running migration. */
static inline void guest_mem_dirty(const GuestMem *m, const void *hva, uint64_t len) {
        uint64_t *bm = __atomic_load_n(&m->dirty, __ATOMIC_ACQUIRE);
        if (!bm || len == 0 || (const uint8_t *) hva < m->dirty_base)
                return;
        uint64_t off = (uint64_t) ((const uint8_t *) hva - m->dirty_base);
        for (uint64_t p = off / 4096; p <= (off + len - 1) / 4096 && p < m->dirty_pages; p++)
                __atomic_fetch_or(&bm[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

/* Host pointer for [gpa, gpa + len) or NULL when any byte of it is outside guest RAM or the
 * range spans two regions. len == 0 is refused too: callers never need an empty access. */
static inline void *guest_mem_ptr(const GuestMem *m, uint64_t gpa, uint64_t len) {
        if (len == 0 || gpa + len < gpa)
                return NULL;
        for (size_t i = 0; i < m->n_regions; i++) {
                const GuestRegion *r = &m->regions[i];
                if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
                        return r->hva + (gpa - r->gpa);
        }
        return NULL;
}

/* Total guest RAM in bytes. */
static inline uint64_t guest_mem_size(const GuestMem *m) {
        uint64_t s = 0;
        for (size_t i = 0; i < m->n_regions; i++)
                s += m->regions[i].size;
        return s;
}
