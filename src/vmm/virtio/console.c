/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-console (virtio 1.2 §5.3), a single port without VIRTIO_CONSOLE_F_MULTIPORT: queue 0
 * carries host input to the guest (receiveq), queue 1 guest output to the host (transmitq). The
 * fds belong to the caller. */
#include <errno.h>
#include <linux/virtio_console.h>
#include <stdlib.h>

#include "rxfd.h"

enum { CONSOLE_RXQ, CONSOLE_TXQ };

typedef struct VirtioConsole {
        VirtioDev vdev;
        int out_fd;
        VirtioRxFd rx;
        VirtqElem elem;
        struct virtio_console_config config;    /* no feature makes a field valid: all zero */
} VirtioConsole;

static void console_transmit(VirtioConsole *c, VirtQueue *vq) {
        while (virtio_dev_pop(&c->vdev, CONSOLE_TXQ, &c->elem) > 0) {
                (void) virtio_fd_writev_all(c->out_fd, c->elem.iov, c->elem.n_out);
                virtq_push(vq, &c->elem, 0);
        }
        virtio_dev_notify_used(&c->vdev, CONSOLE_TXQ);
}

static void console_queue_notify(VirtioDev *dev, unsigned q) {
        VirtioConsole *c = VIRTIO_DEV_CONTAINER(dev, VirtioConsole);
        if (q == CONSOLE_RXQ)
                virtio_rxfd_start(&c->rx);      /* new receive buffers */
        else
                console_transmit(c, &dev->vqs[q]);
}

static void console_driver_ok(VirtioDev *dev) {
        virtio_rxfd_start(&VIRTIO_DEV_CONTAINER(dev, VirtioConsole)->rx);
}

static void console_reset(VirtioDev *dev) {
        virtio_rxfd_reset(&VIRTIO_DEV_CONTAINER(dev, VirtioConsole)->rx);
}

static void console_destroy(VirtioDev *dev) {
        free(VIRTIO_DEV_CONTAINER(dev, VirtioConsole));
}

static const VirtioDeviceOps console_ops = {
        .name = "virtio-console",
        .device_id = VIRTIO_ID_CONSOLE,
        .class_code = 0x078000,         /* simple communication controller, other */
        .num_queues = 2,
        .queue_size = 64,
        .queue_notify = console_queue_notify,
        .driver_ok = console_driver_ok,
        .reset = console_reset,
        .destroy = console_destroy,
};

int virtio_console_create(const VirtioEnv *env, const VirtioConsoleConfig *cfg, VirtioDev **ret, KError **err) {
        VirtioConsole *c = calloc(1, sizeof(*c));
        if (!c)
                return kerr(err, -ENOMEM, "virtio-console: allocate");
        c->out_fd = cfg->out_fd;
        virtio_rxfd_init(&c->rx, &c->vdev, CONSOLE_RXQ, cfg->in_fd, NULL);
        int r = virtio_dev_init(&c->vdev, env, &console_ops, (uint8_t *) &c->config, sizeof(c->config), err);
        if (r < 0) {
                virtio_dev_free(&c->vdev);
                return r;
        }
        *ret = &c->vdev;
        return 0;
}
