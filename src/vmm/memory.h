/* SPDX-License-Identifier: Apache-2.0 */
/* Guest RAM: the layout (pure: which guest-physical ranges are RAM, where the PCI hole is) and its
 * backing (one anonymous mapping, optionally hugetlb, optionally offered to KSM) registered with KVM
 * as one memory slot per RAM range. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "guest-mem.h"

/* RAM above 3 GiB moves to 4 GiB and up: [3 GiB, 4 GiB) is the PCI hole (MMIO window for BARs,
 * then the IOAPIC at 0xfec00000 and the local APICs at 0xfee00000). */
#define MEM_HOLE_START          0xc0000000ULL
#define MEM_HOLE_END            0x100000000ULL
/* Where PCI BARs are placed: the first 512 MiB of the hole, clear of IOAPIC/LAPIC. */
#define MEM_PCI_MMIO_BASE       MEM_HOLE_START
#define MEM_PCI_MMIO_SIZE       0x20000000ULL
#define MEM_MIN_SIZE            (64ULL << 20)
#define MEM_MAX_SIZE            (1ULL << 40)

typedef struct MemSlot {
        uint64_t gpa, size;
        uint64_t offset;        /* into the backing mapping */
} MemSlot;

typedef struct MemLayout {
        uint64_t ram_size;
        MemSlot slots[2];
        unsigned n_slots;
        uint64_t low_end;       /* end of RAM below 4 GiB */
} MemLayout;

/* Split ram_size bytes into slots around the PCI hole. ram_size must be a multiple of 2 MiB and
 * within [MEM_MIN_SIZE, MEM_MAX_SIZE]. */
int mem_layout_plan(uint64_t ram_size, MemLayout *ret, KError **err);

typedef struct MemBacking {
        uint8_t *base;
        uint64_t size;
        bool hugepages;
} MemBacking;

/* mmap the backing for a layout and fill `mem` with its regions. */
int mem_backing_alloc(const MemLayout *l, bool hugepages, bool ksm, MemBacking *ret, GuestMem *mem, KError **err);
/* Same, with the RAM taken from a snapshot's memory file (fd, exactly l->ram_size bytes) mapped
 * MAP_PRIVATE: clones of one snapshot share its pages until each writes its own. */
int mem_backing_map_file(const MemLayout *l, int fd, MemBacking *ret, GuestMem *mem, KError **err);
void mem_backing_free(MemBacking *b);
/* KVM_SET_USER_MEMORY_REGION for every slot. */
int mem_register_slots(int vm_fd, const MemLayout *l, const MemBacking *b, KError **err);
