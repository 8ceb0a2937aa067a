/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event-loop.h"

typedef struct Watch {
        int fd;
        VmmFdHandler handler;
        void *opaque;
} Watch;

struct EventLoop {
        int epfd;
        int quit_fd;            /* eventfd: a write makes run() return */
        pthread_mutex_t lock;   /* protects watches */
        Watch *watches;
        size_t n_watches;
        volatile int quit;
};

int event_loop_new(EventLoop **ret, KError **err) {
        EventLoop *l = calloc(1, sizeof(*l));
        if (!l)
                return kerr(err, -ENOMEM, "event loop");
        pthread_mutex_init(&l->lock, NULL);
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        l->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = -1 };
        if (l->epfd < 0 || l->quit_fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->quit_fd, &ev) < 0) {
                int r = -errno;
                event_loop_free(l);
                return kerr(err, r, "event loop: epoll/eventfd");
        }
        *ret = l;
        return 0;
}

void event_loop_free(EventLoop *l) {
        if (!l)
                return;
        safe_close(l->epfd);
        safe_close(l->quit_fd);
        free(l->watches);
        pthread_mutex_destroy(&l->lock);
        free(l);
}

int event_loop_add(EventLoop *l, int fd, uint32_t events, VmmFdHandler handler, void *opaque, KError **err) {
        pthread_mutex_lock(&l->lock);
        Watch *w = realloc(l->watches, (l->n_watches + 1) * sizeof(*w));
        if (!w) {
                pthread_mutex_unlock(&l->lock);
                return kerr(err, -ENOMEM, "event loop: watch fd %d", fd);
        }
        l->watches = w;
        struct epoll_event ev = { .events = events, .data.fd = fd };
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = -errno;
                pthread_mutex_unlock(&l->lock);
                return kerr(err, r, "event loop: watch fd %d", fd);
        }
        w[l->n_watches++] = (Watch) { .fd = fd, .handler = handler, .opaque = opaque };
        pthread_mutex_unlock(&l->lock);
        return 0;
}

int event_loop_del(EventLoop *l, int fd) {
        int r = -ENOENT;
        pthread_mutex_lock(&l->lock);
        for (size_t i = 0; i < l->n_watches; i++)
                if (l->watches[i].fd == fd) {
                        l->watches[i] = l->watches[--l->n_watches];
                        r = epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
                        break;
                }
        pthread_mutex_unlock(&l->lock);
        return r;
}

/* Look the fd up at dispatch time: an fd removed after epoll_wait returned is skipped. */
static bool event_loop_lookup(EventLoop *l, int fd, Watch *ret) {
        bool found = false;
        pthread_mutex_lock(&l->lock);
        for (size_t i = 0; i < l->n_watches; i++)
                if (l->watches[i].fd == fd) {
                        *ret = l->watches[i];
                        found = true;
                        break;
                }
        pthread_mutex_unlock(&l->lock);
        return found;
}

int event_loop_run(EventLoop *l) {
        struct epoll_event evs[16];
        while (!l->quit) {
                int n = epoll_wait(l->epfd, evs, ELEMENTSOF(evs), -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n && !l->quit; i++) {
                        Watch w;
                        if (evs[i].data.fd >= 0 && event_loop_lookup(l, evs[i].data.fd, &w))
                                w.handler(w.opaque, evs[i].events);
                }
        }
        return 0;
}

void event_loop_quit(EventLoop *l) {
        uint64_t one = 1;
        l->quit = 1;
        ssize_t n = write(l->quit_fd, &one, sizeof(one));
        (void) n;
}
