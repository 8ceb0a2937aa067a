/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-console (virtio 1.2 §5.3), a single port without VIRTIO_CONSOLE_F_MULTIPORT: queue 0
 * carries host input to the guest (receiveq), queue 1 guest output to the host (transmitq). The
 * fds belong to the caller.
 *
 * Transmit never drops bytes while the reader is alive: the console may carry a framed protocol
 * (the guest agent's channel), where a lost byte desynchronizes everything after it. When the out
 * fd is full (EAGAIN), the chain being written stays popped with the count of bytes already
 * written, the device takes no more transmitq buffers, and the out fd joins the event loop for
 * EPOLLOUT; once writable, the rest of that chain goes out, it is returned to the guest, and the
 * queue is worked on again. The guest sees a full transmitq, which is its backpressure. A blocking
 * fd or a regular file never returns EAGAIN and is written synchronously as before. Only a peer
 * that is gone (EPIPE, ECONNRESET, any hard error) makes the device drop output, so a dead reader
 * cannot wedge the guest. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rxfd.h"

enum { CONSOLE_RXQ, CONSOLE_TXQ };

typedef struct VirtioConsole {
        VirtioDev vdev;
        int out_fd;
        int owned_out_fd;       /* a dup of out_fd == in_fd (see create), closed on destroy; else -1 */
        bool out_is_socket;     /* written with sendmsg(MSG_NOSIGNAL): a gone peer is EPIPE, not SIGPIPE */
        VirtioRxFd rx;
        /* transmit state, under vdev.lock */
        VirtqElem elem;         /* the chain being written when tx_pending */
        bool tx_pending;
        size_t tx_done;         /* bytes of elem already written */
        bool tx_watching;       /* out_fd is in the event loop for EPOLLOUT */
        bool tx_gone;           /* the reader is gone (hard write error): output is dropped until reset */
        size_t tx_skip;         /* restored: bytes of the next chain the saved VMM had already written */
        struct virtio_console_config config;    /* no feature makes a field valid: all zero */
} VirtioConsole;

static ssize_t console_write(VirtioConsole *c, struct iovec *iov, unsigned n) {
        if (!c->out_is_socket)
                return writev(c->out_fd, iov, (int) n);
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };
        return sendmsg(c->out_fd, &mh, MSG_NOSIGNAL);
}

/* Write what is left of the pending chain. Returns 0 when all of it is out (or dropped because the
 * reader is gone), -EAGAIN when the fd is full. */
static int console_tx_flush(VirtioConsole *c) {
        struct iovec iov[VIRTQ_MAX_IOV], *p = iov;
        unsigned n = iov_slice(c->elem.iov, c->elem.n_out, c->tx_done, SIZE_MAX, iov);
        while (n > 0 && !c->tx_gone) {
                ssize_t k = console_write(c, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return -EAGAIN;
                if (k <= 0) {
                        c->tx_gone = true;      /* EPIPE & co (or a file that takes nothing): stop trying */
                        break;
                }
                c->tx_done += (size_t) k;
                iov_advance(&p, &n, (size_t) k);
        }
        return 0;
}

static void console_tx_event(void *opaque, uint32_t events);

static void console_tx_watch(VirtioConsole *c) {
        if (c->tx_watching)
                return;
        VmmHost *h = c->vdev.env.host;
        if (h->ops->add_fd(h->host, c->out_fd, EPOLLOUT, console_tx_event, c, NULL) == 0) {
                c->tx_watching = true;
                return;
        }
        /* An fd epoll refuses cannot tell us when it drains: wait for it here, as much as the old
         * synchronous path did, and drop the rest only if it stays full. */
        struct iovec iov[VIRTQ_MAX_IOV];
        unsigned n = iov_slice(c->elem.iov, c->elem.n_out, c->tx_done, SIZE_MAX, iov);
        if (virtio_fd_writev_all(c->out_fd, iov, n) < 0)
                c->tx_gone = true;
}

static void console_tx_unwatch(VirtioConsole *c) {
        if (!c->tx_watching)
                return;
        VmmHost *h = c->vdev.env.host;
        h->ops->del_fd(h->host, c->out_fd);
        c->tx_watching = false;
}

/* Work the transmitq until it is empty or the out fd is full. Called with vdev.lock held. */
static void console_transmit(VirtioConsole *c) {
        VirtQueue *vq = &c->vdev.vqs[CONSOLE_TXQ];
        bool pushed = false;
        for (;;) {
                if (!c->tx_pending) {
                        if (virtio_dev_pop(&c->vdev, CONSOLE_TXQ, &c->elem) <= 0)
                                break;
                        c->tx_pending = true;
                        c->tx_done = c->tx_skip;
                        c->tx_skip = 0;
                }
                if (console_tx_flush(c) == -EAGAIN) {
                        console_tx_watch(c);
                        if (c->tx_watching)
                                break;
                }
                virtq_push(vq, &c->elem, 0);
                c->tx_pending = false;
                pushed = true;
        }
        if (!c->tx_pending)
                console_tx_unwatch(c);
        if (pushed)
                virtio_dev_notify_used(&c->vdev, CONSOLE_TXQ);
}

static void console_tx_event(void *opaque, uint32_t events) {
        VirtioConsole *c = opaque;
        virtio_dev_lock(&c->vdev);
        if (c->tx_watching)     /* a reset may have come between the loop's wakeup and here */
                console_transmit(c);
        virtio_dev_unlock(&c->vdev);
}

static void console_queue_notify(VirtioDev *dev, unsigned q) {
        VirtioConsole *c = VIRTIO_DEV_CONTAINER(dev, VirtioConsole);
        if (q == CONSOLE_RXQ)
                virtio_rxfd_start(&c->rx);      /* new receive buffers */
        else
                console_transmit(c);            /* a no-op write attempt while a chain is pending */
}

static void console_driver_ok(VirtioDev *dev) {
        virtio_rxfd_start(&VIRTIO_DEV_CONTAINER(dev, VirtioConsole)->rx);
}

/* Reset or teardown: stop both watchers and forget the pending chain (the ring goes with it). */
static void console_reset(VirtioDev *dev) {
        VirtioConsole *c = VIRTIO_DEV_CONTAINER(dev, VirtioConsole);
        virtio_rxfd_reset(&c->rx);
        console_tx_unwatch(c);
        c->tx_pending = false;
        c->tx_done = 0;
        c->tx_skip = 0;
        c->tx_gone = false;
}

/* A chain half written to out_fd goes back to the ring; the restored device skips its first
 * tx_done bytes (skip[TXQ]) so the console shows nothing twice. */
static void console_save(VirtioDev *dev, VirtioModelState *out) {
        VirtioConsole *c = VIRTIO_DEV_CONTAINER(dev, VirtioConsole);
        out->inflight[CONSOLE_TXQ] = c->tx_pending ? 1 : 0;
        out->skip[CONSOLE_TXQ] = c->tx_pending ? c->tx_done : c->tx_skip;
}

static int console_load(VirtioDev *dev, const VirtioModelState *in, KError **err) {
        VirtioConsole *c = VIRTIO_DEV_CONTAINER(dev, VirtioConsole);
        if (in->skip[CONSOLE_RXQ] || in->inflight[CONSOLE_RXQ] || in->skip[CONSOLE_TXQ] > UINT32_MAX)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "virtio-console state: invalid in-flight data");
        c->tx_skip = (size_t) in->skip[CONSOLE_TXQ];
        return 0;
}

static void console_destroy(VirtioDev *dev) {
        VirtioConsole *c = VIRTIO_DEV_CONTAINER(dev, VirtioConsole);
        safe_close(c->owned_out_fd);
        free(c);
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
        .save = console_save,
        .load = console_load,
};

/* One fd for both directions (a socket): the event loop, like epoll, holds one registration per fd
 * number, and receive (EPOLLIN) and transmit (EPOLLOUT) are watched independently; the transmit
 * side gets its own fd number for the same open file. */
static int console_out_fd(VirtioConsole *c, const VirtioConsoleConfig *cfg, KError **err) {
        c->out_fd = cfg->out_fd;
        if (cfg->out_fd >= 0 && cfg->out_fd == cfg->in_fd) {
                c->owned_out_fd = c->out_fd = fcntl(cfg->out_fd, F_DUPFD_CLOEXEC, 3);
                if (c->out_fd < 0)
                        return kerr(err, -errno, "virtio-console: duplicate fd %d for output", cfg->out_fd);
        }
        struct stat st;
        c->out_is_socket = c->out_fd >= 0 && fstat(c->out_fd, &st) == 0 && S_ISSOCK(st.st_mode);
        return 0;
}

int virtio_console_create(const VirtioEnv *env, const VirtioConsoleConfig *cfg, VirtioDev **ret, KError **err) {
        VirtioConsole *c = calloc(1, sizeof(*c));
        if (!c)
                return kerr(err, -ENOMEM, "virtio-console: allocate");
        c->owned_out_fd = -1;
        int r = console_out_fd(c, cfg, err);
        if (r < 0) {
                free(c);
                return r;
        }
        virtio_rxfd_init(&c->rx, &c->vdev, CONSOLE_RXQ, cfg->in_fd, NULL);
        r = virtio_dev_init(&c->vdev, env, &console_ops, (uint8_t *) &c->config, sizeof(c->config), err);
        if (r < 0) {
                virtio_dev_free(&c->vdev);
                return r;
        }
        *ret = &c->vdev;
        return 0;
}
