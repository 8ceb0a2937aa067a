/* SPDX-License-Identifier: Apache-2.0 */
/* Split virtqueue, device side (virtio 1.2 §2.7). Layout in guest memory:
 *   descriptor table  16 * size bytes, 16-aligned: {le64 addr, le32 len, le16 flags, le16 next}
 *   available ring    le16 flags, le16 idx, le16 ring[size], le16 used_event; 2-aligned
 *   used ring         le16 flags, le16 idx, {le32 id, le32 len}[size], le16 avail_event; 4-aligned */
#include <endian.h>
#include <errno.h>
#define VIRTIO_PCI_NO_LEGACY
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <string.h>

#include "queue.h"

#define VIRTQ_DESC_SIZE 16u

typedef struct VirtqDesc {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        uint16_t next;
} VirtqDesc;

/* The driver writes these concurrently: read each exactly once, with acquire ordering for the
 * index that publishes ring entries (§2.7.13). */
static uint16_t load_le16(const uint8_t *p) {
        return le16toh(__atomic_load_n((const uint16_t *) p, __ATOMIC_ACQUIRE));
}

static void store_le16(uint8_t *p, uint16_t v) {
        __atomic_store_n((uint16_t *) p, htole16(v), __ATOMIC_RELEASE);
}

static uint8_t *avail_ring_entry(const VirtQueue *vq, uint16_t i) {
        return vq->avail + 4 + 2 * (size_t) i;
}

static uint8_t *used_event_ptr(const VirtQueue *vq) {
        return avail_ring_entry(vq, vq->size);
}

static uint8_t *avail_event_ptr(const VirtQueue *vq) {
        return vq->used + 4 + 8 * (size_t) vq->size;
}

void virtq_reset(VirtQueue *vq, uint16_t max_size) {
        *vq = (VirtQueue) { .size = max_size, .max_size = max_size, .msix_vector = VIRTIO_MSI_NO_VECTOR };
}

int virtq_setup(VirtQueue *vq, const GuestMem *mem, bool event_idx) {
        uint16_t n = vq->size;
        if (n == 0 || n > vq->max_size || (n & (n - 1)))
                return -EINVAL;
        if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
                return -EINVAL;
        uint8_t *desc = guest_mem_ptr(mem, vq->desc_gpa, VIRTQ_DESC_SIZE * (uint64_t) n);
        uint8_t *avail = guest_mem_ptr(mem, vq->avail_gpa, 6 + 2 * (uint64_t) n);
        uint8_t *used = guest_mem_ptr(mem, vq->used_gpa, 6 + 8 * (uint64_t) n);
        if (!desc || !avail || !used)
                return -EFAULT;
        /* host alignment follows from the guest's only if the mapping is aligned; it always is
         * (mmap), but the atomics below must never fault on a misaligned test buffer */
        if (((uintptr_t) avail & 1) || ((uintptr_t) used & 3))
                return -EINVAL;
        vq->desc = desc;
        vq->avail = avail;
        vq->used = used;
        vq->mem = mem;
        vq->event_idx = event_idx;
        vq->broken = false;
        vq->last_avail_idx = vq->used_idx = 0;
        vq->signalled_used_valid = false;
        vq->enabled = true;
        return 0;
}

static int virtq_break(VirtQueue *vq) {
        vq->broken = true;
        return -EIO;
}

static void read_desc(const uint8_t *table, uint16_t i, VirtqDesc *d) {
        uint8_t raw[VIRTQ_DESC_SIZE];
        memcpy(raw, table + VIRTQ_DESC_SIZE * (size_t) i, sizeof(raw));
        uint64_t a;
        uint32_t l;
        uint16_t f, nx;
        memcpy(&a, raw, 8);
        memcpy(&l, raw + 8, 4);
        memcpy(&f, raw + 12, 2);
        memcpy(&nx, raw + 14, 2);
        *d = (VirtqDesc) { le64toh(a), le32toh(l), le16toh(f), le16toh(nx) };
}

/* Add one buffer of a chain to elem: translated through guest_mem_ptr (which refuses ranges
 * outside RAM and lengths that wrap), readable ones strictly before writable ones (§2.7.4.2). */
static int elem_add(VirtQueue *vq, VirtqElem *elem, const VirtqDesc *d) {
        bool writable = d->flags & VRING_DESC_F_WRITE;
        if (!writable && elem->n_in > 0)
                return -EINVAL;
        if (d->len == 0)
                return 0;       /* carries nothing; not an error */
        if (elem->n_out + elem->n_in >= VIRTQ_MAX_IOV)
                return -E2BIG;
        void *p = guest_mem_ptr(vq->mem, d->addr, d->len);
        if (!p)
                return -EFAULT;
        elem->iov[elem->n_out + elem->n_in] = (struct iovec) { .iov_base = p, .iov_len = d->len };
        if (writable)
                elem->n_in++;
        else
                elem->n_out++;
        return 0;
}

/* Switch the walk into an indirect table (§2.7.5.3): only from the main table, never with NEXT
 * set, a whole number of descriptors, at most VIRTQ_MAX_IOV of them, all inside RAM. */
static int enter_indirect(VirtQueue *vq, const VirtqDesc *d, const uint8_t **table, uint32_t *n) {
        if (d->flags & VRING_DESC_F_NEXT)
                return -EINVAL;
        if (d->len == 0 || d->len % VIRTQ_DESC_SIZE || d->len / VIRTQ_DESC_SIZE > VIRTQ_MAX_IOV)
                return -EINVAL;
        const uint8_t *t = guest_mem_ptr(vq->mem, d->addr, d->len);
        if (!t)
                return -EFAULT;
        *table = t;
        *n = d->len / VIRTQ_DESC_SIZE;
        return 0;
}

/* Walk the chain starting at head. Each table is walked at most as many steps as it has
 * entries, which bounds any loop the guest builds, and next indices are checked against it. */
static int walk_chain(VirtQueue *vq, uint16_t head, VirtqElem *elem) {
        const uint8_t *table = vq->desc;
        uint32_t n = vq->size, steps = 0;
        bool indirect = false;
        uint16_t i = head;

        *elem = (VirtqElem) { .head = head };
        for (;;) {
                if (steps++ >= n)
                        return -ELOOP;
                VirtqDesc d;
                read_desc(table, i, &d);
                if (d.flags & VRING_DESC_F_INDIRECT) {
                        if (indirect)
                                return -EINVAL;
                        int r = enter_indirect(vq, &d, &table, &n);
                        if (r < 0)
                                return r;
                        indirect = true;
                        steps = 0;
                        i = 0;
                        continue;
                }
                int r = elem_add(vq, elem, &d);
                if (r < 0)
                        return r;
                if (!(d.flags & VRING_DESC_F_NEXT))
                        return 0;
                if (d.next >= n)
                        return -ERANGE;
                i = d.next;
        }
}

/* Pending chains, or -EIO when the driver claims more than a whole ring of new entries: its
 * index is free-running (uint16 arithmetic wraps on purpose, §2.7.6), but a jump by more than
 * the queue size can only be corruption. */
static int avail_pending(VirtQueue *vq) {
        uint16_t pending = (uint16_t) (load_le16(vq->avail + 2) - vq->last_avail_idx);
        if (pending > vq->size)
                return virtq_break(vq);
        return pending;
}

/* The used ring (with avail_event) is ours to write: a migration must copy it again. */
static void mark_used_ring(VirtQueue *vq) {
        guest_mem_dirty(vq->mem, vq->used, 6 + 8 * (uint64_t) vq->size);
}

int virtq_pop(VirtQueue *vq, VirtqElem *elem) {
        if (vq->broken)
                return -EIO;
        if (!vq->enabled)
                return 0;
        int pending = avail_pending(vq);
        if (pending < 0)
                return pending;
        if (pending == 0 && vq->event_idx) {
                /* ask for a kick at the next entry, then look again: the driver may have added
                 * one before it could see our avail_event (§2.7.10) */
                store_le16(avail_event_ptr(vq), vq->last_avail_idx);
                mark_used_ring(vq);
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
                pending = avail_pending(vq);
                if (pending < 0)
                        return pending;
        }
        if (pending == 0)
                return 0;

        uint16_t head = load_le16(avail_ring_entry(vq, vq->last_avail_idx & (vq->size - 1)));
        if (head >= vq->size)
                return virtq_break(vq);
        if (walk_chain(vq, head, elem) < 0)
                return virtq_break(vq);
        vq->last_avail_idx++;
        if (vq->event_idx) {
                store_le16(avail_event_ptr(vq), vq->last_avail_idx);
                mark_used_ring(vq);
        }
        return 1;
}

void virtq_unpop(VirtQueue *vq) {
        vq->last_avail_idx--;
        if (vq->event_idx) {
                store_le16(avail_event_ptr(vq), vq->last_avail_idx);
                mark_used_ring(vq);
        }
}

void virtq_push(VirtQueue *vq, const VirtqElem *elem, uint32_t len) {
        if (!vq->enabled || vq->broken)
                return;
        uint8_t *e = vq->used + 4 + 8 * (size_t) (vq->used_idx & (vq->size - 1));
        uint32_t id = htole32(elem->head), l = htole32(len);
        memcpy(e, &id, 4);
        memcpy(e + 4, &l, 4);
        /* the element must be visible before the index that publishes it (§2.7.8) */
        vq->used_idx++;
        store_le16(vq->used + 2, vq->used_idx);
        /* the device wrote the chain's writable buffers before giving it back */
        for (unsigned i = elem->n_out; i < elem->n_out + elem->n_in; i++)
                guest_mem_dirty(vq->mem, elem->iov[i].iov_base, elem->iov[i].iov_len);
        mark_used_ring(vq);
}

bool virtq_should_notify(VirtQueue *vq) {
        if (!vq->enabled)
                return false;
        /* order our used idx store before reading the driver's suppression state */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (!vq->event_idx)
                return !(load_le16(vq->avail) & VRING_AVAIL_F_NO_INTERRUPT);
        uint16_t old = vq->signalled_used, new = vq->used_idx;
        bool valid = vq->signalled_used_valid;
        vq->signalled_used = new;
        vq->signalled_used_valid = true;
        if (!valid)
                return true;
        /* notify when used_event lies in (old, new]: vring_need_event() of the spec */
        uint16_t event = load_le16(used_event_ptr(vq));
        return (uint16_t) (new - event - 1) < (uint16_t) (new - old);
}

/* ---- iovec helpers ---- */

uint64_t iov_length(const struct iovec *iov, unsigned n) {
        uint64_t s = 0;
        for (unsigned i = 0; i < n; i++)
                s += iov[i].iov_len;
        return s;
}

void iov_advance(struct iovec **iov, unsigned *n, size_t k) {
        while (*n > 0 && k >= (*iov)->iov_len) {
                k -= (*iov)->iov_len;
                (*iov)++;
                (*n)--;
        }
        if (*n > 0) {
                (*iov)->iov_base = (uint8_t *) (*iov)->iov_base + k;
                (*iov)->iov_len -= k;
        }
}

static size_t iov_copy(const struct iovec *iov, unsigned n, size_t skip, uint8_t *buf, size_t len, bool to_iov) {
        size_t done = 0;
        for (unsigned i = 0; i < n && done < len; i++) {
                if (skip >= iov[i].iov_len) {
                        skip -= iov[i].iov_len;
                        continue;
                }
                size_t c = iov[i].iov_len - skip;
                if (c > len - done)
                        c = len - done;
                uint8_t *p = (uint8_t *) iov[i].iov_base + skip;
                if (to_iov)
                        memcpy(p, buf + done, c);
                else
                        memcpy(buf + done, p, c);
                done += c;
                skip = 0;
        }
        return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len) {
        return iov_copy(iov, n, skip, buf, len, false);
}

size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len) {
        return iov_copy(iov, n, skip, (uint8_t *) buf, len, true);
}

unsigned iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len, struct iovec *out) {
        unsigned k = 0;
        for (unsigned i = 0; i < n && len > 0; i++) {
                if (skip >= iov[i].iov_len) {
                        skip -= iov[i].iov_len;
                        continue;
                }
                size_t c = iov[i].iov_len - skip;
                if (c > len)
                        c = len;
                out[k++] = (struct iovec) { .iov_base = (uint8_t *) iov[i].iov_base + skip, .iov_len = c };
                len -= c;
                skip = 0;
        }
        return k;
}
