/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "rxfd.h"

#define RXFD_BATCH 64

void virtio_rxfd_init(VirtioRxFd *rx, VirtioDev *dev, unsigned q, int fd,
                      void (*filled)(const VirtqElem *elem, size_t n)) {
        int fl = fcntl(fd, F_GETFL);
        *rx = (VirtioRxFd) { .dev = dev, .q = q, .fd = fd, .filled = filled,
                             .batch = fl >= 0 && (fl & O_NONBLOCK) ? RXFD_BATCH : 1 };
}

/* One read into one chain. Returns 1 when a chain was filled, 0 to stop for now. */
static int rxfd_one(VirtioRxFd *rx) {
        VirtQueue *vq = &rx->dev->vqs[rx->q];
        int r = virtio_dev_pop(rx->dev, rx->q, &rx->elem);
        if (r <= 0) {
                virtio_rxfd_stop(rx);   /* no buffers (or a broken ring): wait for a kick */
                return 0;
        }
        if (rx->elem.n_in == 0) {
                virtq_push(vq, &rx->elem, 0);   /* nothing writable: return it untouched */
                return 1;
        }
        ssize_t n = readv(rx->fd, rx->elem.iov + rx->elem.n_out, (int) rx->elem.n_in);
        if (n > 0) {
                if (rx->filled)
                        rx->filled(&rx->elem, (size_t) n);
                virtq_push(vq, &rx->elem, (uint32_t) n);
                return 1;
        }
        virtq_unpop(vq);
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                virtio_rxfd_stop(rx);
                rx->closed = true;
        }
        return 0;
}

static void rxfd_event(void *opaque, uint32_t events) {
        VirtioRxFd *rx = opaque;
        virtio_dev_lock(rx->dev);
        if (rx->watching) {
                unsigned done = 0;
                while (done < rx->batch && rxfd_one(rx) > 0)
                        done++;
                if (done)
                        virtio_dev_notify_used(rx->dev, rx->q);
        }
        virtio_dev_unlock(rx->dev);
}

void virtio_rxfd_start(VirtioRxFd *rx) {
        if (rx->watching || rx->closed || rx->fd < 0 || !virtio_dev_driver_ok(rx->dev))
                return;
        VmmHost *h = rx->dev->env.host;
        if (h->ops->add_fd(h->host, rx->fd, EPOLLIN, rxfd_event, rx, NULL) == 0)
                rx->watching = true;
}

void virtio_rxfd_stop(VirtioRxFd *rx) {
        if (!rx->watching)
                return;
        VmmHost *h = rx->dev->env.host;
        h->ops->del_fd(h->host, rx->fd);
        rx->watching = false;
}

void virtio_rxfd_reset(VirtioRxFd *rx) {
        virtio_rxfd_stop(rx);
        rx->closed = false;
}

int virtio_fd_writev_all(int fd, struct iovec *iov, unsigned n) {
        while (n > 0) {
                ssize_t k = writev(fd, iov, (int) n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };
                        if (poll(&p, 1, 100) <= 0)
                                return -EAGAIN;
                        continue;
                }
                if (k < 0)
                        return -errno;
                iov_advance(&iov, &n, (size_t) k);
        }
        return 0;
}
