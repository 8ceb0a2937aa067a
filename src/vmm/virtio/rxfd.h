/* SPDX-License-Identifier: Apache-2.0 */
/* Host fd -> guest receive queue, shared by virtio-net (tap) and virtio-console (input fd).
 * The fd is in the event loop only while the guest has receive buffers: with none, a readable fd
 * would wake a level-triggered loop forever, so it leaves the loop and comes back on the guest's
 * next kick of the receive queue. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "virtio.h"

typedef struct VirtioRxFd {
        VirtioDev *dev;
        unsigned q;
        int fd;
        bool watching;          /* in the event loop now */
        bool closed;            /* EOF or a hard error: never watched again until reset */
        unsigned batch;         /* reads per wakeup: 1 for a blocking fd (a second read could block) */
        /* optional: fix up a chain the fd filled with n bytes (virtio-net's num_buffers) */
        void (*filled)(const VirtqElem *elem, size_t n);
        VirtqElem elem;
} VirtioRxFd;

/* Set up for fd (not owned) and receive queue q of dev. */
void virtio_rxfd_init(VirtioRxFd *rx, VirtioDev *dev, unsigned q, int fd,
                      void (*filled)(const VirtqElem *elem, size_t n));
/* Watch the fd (DRIVER_OK, or the guest added receive buffers). Called with dev->lock held. */
void virtio_rxfd_start(VirtioRxFd *rx);
/* Stop watching (reset, teardown). Called with dev->lock held. */
void virtio_rxfd_stop(VirtioRxFd *rx);
/* A reset forgets EOF too: a new driver gets a new chance. */
void virtio_rxfd_reset(VirtioRxFd *rx);

/* Guest -> host: write all of iov[0..n) to fd (modified in place), waiting up to 100 ms at a time
 * for a non-blocking fd to drain. Returns 0 or -errno (the rest is dropped). */
int virtio_fd_writev_all(int fd, struct iovec *iov, unsigned n);
