/* SPDX-License-Identifier: Apache-2.0 */
/* The split virtqueue (virtio 1.2 §2.7), device side. The three rings live in guest memory, which
 * the guest can rewrite at any moment: every index read from it is checked before use, every
 * descriptor is copied out once before it is looked at, and every buffer address goes through
 * guest_mem_ptr(). A queue the guest corrupts is marked broken: it refuses all further work and
 * the transport reports DEVICE_NEEDS_RESET (§2.1.2) instead of the VMM crashing or spinning. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest-mem.h"

/* Largest queue a device offers, and the bound on the buffers of one chain (direct or through
 * one indirect table). Linux never builds longer chains than the queue size (§2.7.5.3.1). */
#define VIRTQ_MAX_SIZE 256
#define VIRTQ_MAX_IOV VIRTQ_MAX_SIZE

typedef struct VirtQueue {
        /* programmed by the driver through the common config (§4.1.4.3) */
        uint16_t size;          /* queue_size: power of two, 1..max_size */
        uint16_t max_size;      /* what the device offers */
        uint16_t msix_vector;
        bool enabled;
        uint64_t desc_gpa, avail_gpa, used_gpa;

        /* device state, valid once enabled (virtq_setup succeeded) */
        uint8_t *desc;          /* host views of the rings, checked once at setup: guest RAM */
        uint8_t *avail;         /* never moves for the lifetime of the VM */
        uint8_t *used;
        const GuestMem *mem;
        bool event_idx;         /* VIRTIO_F_EVENT_IDX negotiated (§2.7.10) */
        bool broken;            /* the guest broke the ring protocol: no more work until reset */
        uint16_t last_avail_idx;
        uint16_t used_idx;
        uint16_t signalled_used;        /* used_idx when the driver was last notified */
        bool signalled_used_valid;
} VirtQueue;

/* One popped descriptor chain: n_out device-readable buffers, then n_in device-writable ones. */
typedef struct VirtqElem {
        uint16_t head;
        unsigned n_out, n_in;
        struct iovec iov[VIRTQ_MAX_IOV];
} VirtqElem;

/* Forget everything the driver programmed (device reset, §2.4); size goes back to max_size. */
void virtq_reset(VirtQueue *vq, uint16_t max_size);

/* Validate the programmed size and ring addresses (alignment §2.7, every ring inside guest RAM)
 * and make the queue live. Returns 0, or -EINVAL (bad size/alignment) / -EFAULT (outside RAM). */
int virtq_setup(VirtQueue *vq, const GuestMem *mem, bool event_idx);

/* Take the next available chain. Returns 1 with *elem filled, 0 when the ring is empty (or the
 * queue is not enabled), -EIO when the guest broke the protocol (vq->broken is then set). */
int virtq_pop(VirtQueue *vq, VirtqElem *elem);
/* Give the last popped chain back (a backend had nothing to put in it yet). */
void virtq_unpop(VirtQueue *vq);
/* Return a chain to the driver, `len` bytes written into its writable buffers. */
void virtq_push(VirtQueue *vq, const VirtqElem *elem, uint32_t len);
/* After pushing: does the driver want an interrupt now? Honours used_event with EVENT_IDX
 * (§2.7.10) and VRING_AVAIL_F_NO_INTERRUPT without it (§2.7.7). */
bool virtq_should_notify(VirtQueue *vq);

/* Gather/scatter helpers over an iovec array, starting `skip` bytes in. Return bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);
uint64_t iov_length(const struct iovec *iov, unsigned n);
/* Drop the first k bytes of *iov (after a partial readv/writev): whole entries leave the array,
 * a partly done one is trimmed in place. */
void iov_advance(struct iovec **iov, unsigned *n, size_t k);
/* Copy the part of iov[0..n) that starts `skip` bytes in and is at most `len` long into out[]
 * (which has room for n entries). Returns the number of entries written. */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len, struct iovec *out);
