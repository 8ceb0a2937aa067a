/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-rng (virtio 1.2 §5.4): one queue of writable buffers, filled from the host's getrandom(). */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "virtio.h"

typedef struct VirtioRng {
        VirtioDev vdev;
        VirtqElem elem;
} VirtioRng;

/* Fill the writable buffers; GRND_NONBLOCK so an early-boot host never stalls the event loop
 * (what was filled is what the used length reports). */
static uint32_t rng_fill(const VirtqElem *elem) {
        uint32_t done = 0;
        for (unsigned i = elem->n_out; i < elem->n_out + elem->n_in; i++) {
                size_t off = 0;
                while (off < elem->iov[i].iov_len) {
                        ssize_t k = getrandom((uint8_t *) elem->iov[i].iov_base + off, elem->iov[i].iov_len - off,
                                              GRND_NONBLOCK);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                return done;
                        off += (size_t) k;
                        done += (uint32_t) k;
                }
        }
        return done;
}

static void rng_queue_notify(VirtioDev *dev, unsigned q) {
        VirtioRng *r = VIRTIO_DEV_CONTAINER(dev, VirtioRng);
        while (virtio_dev_pop(dev, q, &r->elem) > 0)
                virtq_push(&dev->vqs[q], &r->elem, rng_fill(&r->elem));
        virtio_dev_notify_used(dev, q);
}

static void rng_destroy(VirtioDev *dev) {
        free(VIRTIO_DEV_CONTAINER(dev, VirtioRng));
}

static const VirtioDeviceOps rng_ops = {
        .name = "virtio-rng",
        .device_id = VIRTIO_ID_RNG,
        .class_code = 0xff0000,         /* unclassified */
        .num_queues = 1,
        .queue_size = 64,
        .queue_notify = rng_queue_notify,
        .destroy = rng_destroy,
};

int virtio_rng_create(const VirtioEnv *env, VirtioDev **ret, KError **err) {
        VirtioRng *r = calloc(1, sizeof(*r));
        if (!r)
                return kerr(err, -ENOMEM, "virtio-rng: allocate");
        int k = virtio_dev_init(&r->vdev, env, &rng_ops, NULL, 0, err);
        if (k < 0) {
                virtio_dev_free(&r->vdev);
                return k;
        }
        *ret = &r->vdev;
        return 0;
}
