/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "memory.h"

int mem_layout_plan(uint64_t ram_size, MemLayout *ret, KError **err) {
        if (ram_size < MEM_MIN_SIZE || ram_size > MEM_MAX_SIZE)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "memory size %llu MiB out of range [%llu MiB, %llu GiB]",
                                (unsigned long long) (ram_size >> 20), MEM_MIN_SIZE >> 20, MEM_MAX_SIZE >> 30);
        if (ram_size % (2ULL << 20))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "memory size must be a multiple of 2 MiB");
        MemLayout l = { .ram_size = ram_size };
        uint64_t low = ram_size < MEM_HOLE_START ? ram_size : MEM_HOLE_START;
        l.slots[l.n_slots++] = (MemSlot) { .gpa = 0, .size = low, .offset = 0 };
        if (ram_size > low)
                l.slots[l.n_slots++] = (MemSlot) { .gpa = MEM_HOLE_END, .size = ram_size - low, .offset = low };
        l.low_end = low;
        *ret = l;
        return 0;
}

int mem_backing_alloc(const MemLayout *l, bool hugepages, bool ksm, MemBacking *ret, GuestMem *mem, KError **err) {
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (hugepages ? MAP_HUGETLB : 0);
        void *p = mmap(NULL, l->ram_size, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p == MAP_FAILED)
                return kerr_kind(err, KERR_HOST, -errno, "map %llu MiB of guest memory%s",
                                 (unsigned long long) (l->ram_size >> 20),
                                 hugepages ? " from hugepages (is vm.nr_hugepages large enough?)" : "");
        /* KSM is opt-in: merging pages across VMs is a side channel between them. */
        if (ksm && madvise(p, l->ram_size, MADV_MERGEABLE) < 0) {
                int r = -errno;
                munmap(p, l->ram_size);
                return kerr_kind(err, KERR_HOST, r, "madvise(MADV_MERGEABLE) on guest memory (kernel without KSM?)");
        }
        *ret = (MemBacking) { .base = p, .size = l->ram_size, .hugepages = hugepages };
        *mem = (GuestMem) { .n_regions = l->n_slots };
        for (unsigned i = 0; i < l->n_slots; i++)
                mem->regions[i] = (GuestRegion) { .gpa = l->slots[i].gpa, .size = l->slots[i].size,
                                                  .hva = ret->base + l->slots[i].offset };
        return 0;
}

int mem_backing_map_file(const MemLayout *l, int fd, MemBacking *ret, GuestMem *mem, KError **err) {
        void *p = mmap(NULL, l->ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
        if (p == MAP_FAILED)
                return kerr_kind(err, KERR_HOST, -errno, "map the snapshot's %llu MiB of guest memory",
                                 (unsigned long long) (l->ram_size >> 20));
        *ret = (MemBacking) { .base = p, .size = l->ram_size };
        *mem = (GuestMem) { .n_regions = l->n_slots };
        for (unsigned i = 0; i < l->n_slots; i++)
                mem->regions[i] = (GuestRegion) { .gpa = l->slots[i].gpa, .size = l->slots[i].size,
                                                  .hva = ret->base + l->slots[i].offset };
        return 0;
}

void mem_backing_free(MemBacking *b) {
        if (b->base)
                munmap(b->base, b->size);
        b->base = NULL;
}

int mem_register_slots(int vm_fd, const MemLayout *l, const MemBacking *b, KError **err) {
        for (unsigned i = 0; i < l->n_slots; i++) {
                struct kvm_userspace_memory_region r = {
                        .slot = i,
                        .guest_phys_addr = l->slots[i].gpa,
                        .memory_size = l->slots[i].size,
                        .userspace_addr = (uint64_t) (uintptr_t) (b->base + l->slots[i].offset),
                };
                if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                        return kerr_kind(err, KERR_HOST, -errno, "KVM_SET_USER_MEMORY_REGION slot %u at 0x%llx", i,
                                         (unsigned long long) r.guest_phys_addr);
        }
        return 0;
}
