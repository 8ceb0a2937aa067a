/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "attach.h"
#include "cleanup.h"
#include "fd-util.h"

static void attach_header(uint8_t h[ATTACH_HEADER], uint8_t type, uint32_t len) {
        h[0] = type;
        h[1] = (uint8_t) (len >> 24);
        h[2] = (uint8_t) (len >> 16);
        h[3] = (uint8_t) (len >> 8);
        h[4] = (uint8_t) len;
}

int attach_send(int fd, uint8_t type, const void *data, uint32_t len) {
        uint8_t h[ATTACH_HEADER];
        attach_header(h, type, len);
        struct iovec iov[2] = { { h, sizeof(h) }, { (void *) data, len } };
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
        size_t total = sizeof(h) + len, done = 0;
        while (done < total) {
                ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) n;
                /* advance the iovecs past what went out (rare: unix stream sockets are atomic up to the buffer) */
                while (n > 0 && m.msg_iovlen > 0) {
                        size_t take = (size_t) n < m.msg_iov->iov_len ? (size_t) n : m.msg_iov->iov_len;
                        m.msg_iov->iov_base = (uint8_t *) m.msg_iov->iov_base + take;
                        m.msg_iov->iov_len -= take;
                        n -= (ssize_t) take;
                        if (m.msg_iov->iov_len == 0) {
                                m.msg_iov++;
                                m.msg_iovlen--;
                        }
                }
        }
        return 0;
}

int attach_queue_raw(AttachQueue *q, const void *header, size_t hlen, const void *data, size_t len) {
        uint8_t *b = realloc(q->buf, q->len + hlen + len);
        if (!b)
                return -ENOMEM;
        q->buf = b;
        memcpy(b + q->len, header, hlen);
        if (len)
                memcpy(b + q->len + hlen, data, len);
        q->len += hlen + len;
        return 0;
}

int attach_queue_frame(AttachQueue *q, uint8_t type, const void *data, uint32_t len) {
        uint8_t h[ATTACH_HEADER];
        attach_header(h, type, len);
        return attach_queue_raw(q, h, sizeof(h), data, len);
}

int attach_queue_send(AttachQueue *q, int fd, bool wait) {
        while (q->sent < q->len) {
                ssize_t n = send(fd, q->buf + q->sent, q->len - q->sent, MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN && !wait)
                        return 0;
                if (n < 0)
                        return -errno;
                q->sent += (size_t) n;
        }
        return 0;
}

void attach_queue_consume(AttachQueue *q, size_t n) {
        memmove(q->buf, q->buf + n, q->len - n);
        q->len -= n;
        q->sent -= n;
}

void attach_queue_done(AttachQueue *q) {
        free(q->buf);
        *q = (AttachQueue) { 0 };
}

int attach_recv(int fd, uint8_t *ret_type, void *buf, uint32_t *ret_len) {
        uint8_t h[5];
        int r = read_exact(fd, h, 1);
        if (r == -EIO || r == -EPIPE || r == -ECONNRESET)
                return 0;
        if (r < 0)
                return r;
        if ((r = read_exact(fd, h + 1, 4)) < 0)
                return r;
        uint32_t len = (uint32_t) h[1] << 24 | (uint32_t) h[2] << 16 | (uint32_t) h[3] << 8 | h[4];
        if (len > ATTACH_MAX_PAYLOAD)
                return -EMSGSIZE;
        if (len && (r = read_exact(fd, buf, len)) < 0)
                return r;
        *ret_type = h[0];
        *ret_len = len;
        return 1;
}

static int sockaddr_in_dir(int dirfd, struct sockaddr_un *sa) {
        *sa = (struct sockaddr_un) { .sun_family = AF_UNIX };
        int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/attach.sock", dirfd);
        return n > 0 && (size_t) n < sizeof(sa->sun_path) ? 0 : -ENAMETOOLONG;
}

int attach_connect(const char *ctr_dir) {
        _cleanup_close_ int dirfd = open(ctr_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        struct sockaddr_un sa;
        int r = sockaddr_in_dir(dirfd, &sa);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int attach_listen(const char *ctr_dir) {
        _cleanup_close_ int dirfd = open(ctr_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        struct sockaddr_un sa;
        int r = sockaddr_in_dir(dirfd, &sa);
        if (r < 0)
                return r;
        (void) unlinkat(dirfd, "attach.sock", 0);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
                return -errno;
        return TAKE_FD(fd);
}
