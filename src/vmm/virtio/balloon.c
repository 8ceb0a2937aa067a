/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-balloon (virtio 1.2 §5.5), the traditional inflate/deflate pair. The host sets num_pages
 * in config (with a config change interrupt); the guest hands 4 KiB page frame numbers on the
 * inflate queue, which the VMM drops with MADV_DONTNEED (a later guest touch gets a zero page),
 * and reports how many it holds in `actual`. */
#include <endian.h>
#include <errno.h>
#include <jansson.h>
#include <linux/virtio_balloon.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "virtio.h"

enum { BALLOON_INFLATEQ, BALLOON_DEFLATEQ };

#define BALLOON_PAGE_SIZE (1u << VIRTIO_BALLOON_PFN_SHIFT)
/* Linux sends at most 256 PFNs per chain; the bound keeps a hostile chain from holding the loop */
#define BALLOON_MAX_PFNS_PER_CHAIN 4096

typedef struct VirtioBalloon {
        VirtioDev vdev;
        VirtqElem elem;
        struct { uint32_t num_pages, actual; } config;  /* le32 each (§5.5.4) */
        uint64_t released;      /* pages handed back to the host, for stats (a relaxed atomic) */
} VirtioBalloon;

/* Drop one run of contiguous host pages. */
static void balloon_release(VirtioBalloon *b, uint8_t *start, size_t len) {
        if (len && madvise(start, len, MADV_DONTNEED) == 0)
                __atomic_fetch_add(&b->released, len / BALLOON_PAGE_SIZE, __ATOMIC_RELAXED);
}

static void balloon_inflate(VirtioBalloon *b, const VirtqElem *elem) {
        uint64_t n = iov_length(elem->iov, elem->n_out) / 4;
        uint8_t *run = NULL;
        size_t run_len = 0;
        if (n > BALLOON_MAX_PFNS_PER_CHAIN)
                n = BALLOON_MAX_PFNS_PER_CHAIN;
        for (uint64_t i = 0; i < n; i++) {
                uint32_t pfn;
                iov_to_buf(elem->iov, elem->n_out, 4 * i, &pfn, sizeof(pfn));
                uint64_t addr = (uint64_t) le32toh(pfn) << VIRTIO_BALLOON_PFN_SHIFT;
                uint8_t *p = guest_mem_ptr(b->vdev.env.mem, addr, BALLOON_PAGE_SIZE);
                if (!p || ((uintptr_t) p & (BALLOON_PAGE_SIZE - 1)))
                        continue;       /* not RAM: nothing to give back */
                if (run && p == run + run_len) {
                        run_len += BALLOON_PAGE_SIZE;
                        continue;
                }
                balloon_release(b, run, run_len);
                run = p;
                run_len = BALLOON_PAGE_SIZE;
        }
        balloon_release(b, run, run_len);
}

static void balloon_queue_notify(VirtioDev *dev, unsigned q) {
        VirtioBalloon *b = VIRTIO_DEV_CONTAINER(dev, VirtioBalloon);
        while (virtio_dev_pop(dev, q, &b->elem) > 0) {
                /* deflated pages need nothing: the guest's next touch faults them back in */
                if (q == BALLOON_INFLATEQ)
                        balloon_inflate(b, &b->elem);
                virtq_push(&dev->vqs[q], &b->elem, 0);
        }
        virtio_dev_notify_used(dev, q);
}

/* Only `actual` is the driver's to write. */
static void balloon_config_write(VirtioDev *dev, uint32_t offset, const uint8_t *data, uint32_t len) {
        VirtioBalloon *b = VIRTIO_DEV_CONTAINER(dev, VirtioBalloon);
        const uint32_t lo = offsetof(typeof(b->config), actual);
        if (offset >= lo && offset + len <= lo + sizeof(b->config.actual))
                memcpy((uint8_t *) &b->config + offset, data, len);
}

static void balloon_destroy(VirtioDev *dev) {
        free(VIRTIO_DEV_CONTAINER(dev, VirtioBalloon));
}

static json_t *balloon_stats(VirtioDev *dev) {
        VirtioBalloon *b = VIRTIO_DEV_CONTAINER(dev, VirtioBalloon);
        return json_pack("{s:I}", "released_pages", (json_int_t) __atomic_load_n(&b->released, __ATOMIC_RELAXED));
}

/* value[0]: num_pages (the host's target), value[1]: actual (the driver's report). */
static void balloon_save(VirtioDev *dev, VirtioModelState *out) {
        VirtioBalloon *b = VIRTIO_DEV_CONTAINER(dev, VirtioBalloon);
        out->value[0] = le32toh(b->config.num_pages);
        out->value[1] = le32toh(b->config.actual);
}

static int balloon_load(VirtioDev *dev, const VirtioModelState *in, KError **err) {
        VirtioBalloon *b = VIRTIO_DEV_CONTAINER(dev, VirtioBalloon);
        uint64_t pages = guest_mem_size(dev->env.mem) / BALLOON_PAGE_SIZE;
        if (in->value[0] > pages || in->value[1] > UINT32_MAX)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "virtio-balloon state: target of %llu pages, the guest has "
                                "%llu", (unsigned long long) in->value[0], (unsigned long long) pages);
        b->config.num_pages = htole32((uint32_t) in->value[0]);
        b->config.actual = htole32((uint32_t) in->value[1]);
        return 0;
}

static const VirtioDeviceOps balloon_ops = {
        .name = "virtio-balloon",
        .device_id = VIRTIO_ID_BALLOON,
        .class_code = 0x058000,         /* memory controller, other */
        .num_queues = 2,
        .queue_size = 64,
        .config_write = balloon_config_write,
        .queue_notify = balloon_queue_notify,
        .destroy = balloon_destroy,
        .stats = balloon_stats,
        .save = balloon_save,
        .load = balloon_load,
};

int virtio_balloon_create(const VirtioEnv *env, VirtioDev **ret, KError **err) {
        VirtioBalloon *b = calloc(1, sizeof(*b));
        if (!b)
                return kerr(err, -ENOMEM, "virtio-balloon: allocate");
        int r = virtio_dev_init(&b->vdev, env, &balloon_ops, (uint8_t *) &b->config, sizeof(b->config), err);
        if (r < 0) {
                virtio_dev_free(&b->vdev);
                return r;
        }
        *ret = &b->vdev;
        return 0;
}

int virtio_balloon_set_target(VirtioDev *dev, uint32_t pages) {
        if (!dev || dev->ops != &balloon_ops)
                return -EINVAL;
        VirtioBalloon *b = VIRTIO_DEV_CONTAINER(dev, VirtioBalloon);
        virtio_dev_lock(dev);
        b->config.num_pages = htole32(pages);
        virtio_dev_config_changed(dev);
        virtio_dev_unlock(dev);
        return 0;
}

uint32_t virtio_balloon_actual(VirtioDev *dev) {
        if (!dev || dev->ops != &balloon_ops)
                return 0;
        VirtioBalloon *b = VIRTIO_DEV_CONTAINER(dev, VirtioBalloon);
        virtio_dev_lock(dev);
        uint32_t a = le32toh(b->config.actual);
        virtio_dev_unlock(dev);
        return a;
}
