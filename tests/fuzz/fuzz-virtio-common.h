/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the virtqueue fuzz targets: the input becomes a guest RAM image holding the rings and
 * the buffers, plus a small header choosing the queue size, EVENT_IDX and where the free-running
 * indices start (so wrap-around is reachable). Layout of the input:
 *   [0] log2 queue size   [1] flags (bit 0: EVENT_IDX)   [2..3] start index   [4..11] a u64 for
 *   the target   [12..] RAM image at FUZZ_GPA: descriptors at +0, avail at +0x1000, used at +0x2000 */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/queue.h"

#define FUZZ_GPA 0x10000ULL
#define FUZZ_RAM (64 * 1024)
#define FUZZ_HDR 12

typedef struct FuzzQueue {
        GuestMem mem;
        VirtQueue vq;
        uint8_t *ram;
        uint64_t param;
} FuzzQueue;

/* Returns 0 with a live queue, -1 when the input is too short or the setup is refused. */
static inline int fuzz_queue_init(FuzzQueue *f, const uint8_t *data, size_t size) {
        if (size < FUZZ_HDR)
                return -1;
        f->ram = aligned_alloc(4096, FUZZ_RAM);
        if (!f->ram)
                return -1;
        size_t n = size - FUZZ_HDR < FUZZ_RAM ? size - FUZZ_HDR : FUZZ_RAM;
        memset(f->ram, 0, FUZZ_RAM);
        memcpy(f->ram, data + FUZZ_HDR, n);
        f->mem = (GuestMem) { .regions = { { .gpa = FUZZ_GPA, .size = FUZZ_RAM, .hva = f->ram } }, .n_regions = 1 };
        memcpy(&f->param, data + 4, sizeof(f->param));
        virtq_reset(&f->vq, VIRTQ_MAX_SIZE);
        f->vq.size = (uint16_t) (1u << (data[0] % 9));
        f->vq.desc_gpa = FUZZ_GPA;
        f->vq.avail_gpa = FUZZ_GPA + 0x1000;
        f->vq.used_gpa = FUZZ_GPA + 0x2000;
        if (virtq_setup(&f->vq, &f->mem, data[1] & 1) < 0) {
                free(f->ram);
                return -1;
        }
        uint16_t start;
        memcpy(&start, data + 2, 2);
        f->vq.last_avail_idx = f->vq.used_idx = start;
        return 0;
}

static inline void fuzz_queue_done(FuzzQueue *f) {
        free(f->ram);
}
