/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "fd-util.h"
#include "json-util.h"
#include "string-util.h"

_printf_(1, 2)
static char *reply_error(const char *fmt, ...) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        _cleanup_json_ json_t *j = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
        return j ? json_dumps(j, JSON_COMPACT) : NULL;
}

static int cmd_simple(const ControlOps *ops, void *opaque, const char *cmd, json_t *req, json_t *reply,
                      int *fd, char **ret_msg) {
        if (streq(cmd, "pause"))
                return ops->pause(opaque);
        if (streq(cmd, "resume"))
                return ops->resume(opaque);
        if (streq(cmd, "stop"))
                return ops->stop(opaque);
        if (streq(cmd, "stats"))
                return ops->stats(opaque, reply);
        if (streq(cmd, "balloon")) {
                json_t *p = json_object_get(req, "pages");
                if (!json_is_integer(p) || json_integer_value(p) < 0 || json_integer_value(p) > UINT32_MAX)
                        return -EBADMSG;        /* the request, not the operation, is wrong */
                return ops->balloon(opaque, (uint32_t) json_integer_value(p), reply);
        }
        if (streq(cmd, "migrate") && ops->migrate) {
                const char *to = json_string_value(json_object_get(req, "to"));
                const char *token = json_string_value(json_object_get(req, "token"));
                json_t *md = json_object_get(req, "max_downtime_ms");
                if (!to || !token || (md && (!json_is_integer(md) || json_integer_value(md) < 1 ||
                                             json_integer_value(md) > 60000)))
                        return -ENOMSG;
                if (!fd || *fd < 0)
                        return -ENOTCONN;
                int c = *fd;
                *fd = -1;
                return ops->migrate(opaque, to, token, md ? (unsigned) json_integer_value(md) : 0, c, reply, ret_msg);
        }
        if (streq(cmd, "snapshot") && ops->snapshot) {
                const char *dir = json_string_value(json_object_get(req, "dir"));
                if (!dir || !*dir)
                        return -EDESTADDRREQ;
                return ops->snapshot(opaque, dir, reply, ret_msg);
        }
        return -EOPNOTSUPP;
}

char *control_handle_line(const ControlOps *ops, void *opaque, const char *line, size_t len) {
        return control_handle_line_fd(ops, opaque, line, len, NULL);
}

char *control_handle_line_fd(const ControlOps *ops, void *opaque, const char *line, size_t len, int *fd) {
        json_error_t jerr;
        _cleanup_json_ json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!req || !json_is_object(req))
                return reply_error("request is not a JSON object: %s", req ? "" : jerr.text);
        const char *cmd = json_string_value(json_object_get(req, "cmd"));
        if (!cmd)
                return reply_error("missing \"cmd\"");
        _cleanup_json_ json_t *reply = json_object();
        if (!reply)
                return NULL;
        _cleanup_free_ char *msg = NULL;
        int r = cmd_simple(ops, opaque, cmd, req, reply, fd, &msg);
        if (r == -EOPNOTSUPP)
                return reply_error("unknown cmd \"%.64s\" (pause, resume, stop, stats, balloon, snapshot, migrate)", cmd);
        if (r == -EBADMSG)
                return reply_error("%s needs \"pages\": an integer >= 0", cmd);
        if (r == -ENOMSG)
                return reply_error("%s needs \"to\" and \"token\" (strings); \"max_downtime_ms\": 1..60000", cmd);
        if (r == -ENOTCONN)
                return reply_error("%s needs a connection to the target passed with the request (SCM_RIGHTS; "
                                   "'kapsel-vmm ctl' does this)", cmd);
        if (r == -EDESTADDRREQ)
                return reply_error("%s needs \"dir\": an existing directory", cmd);
        if (r < 0 && msg)
                return reply_error("%s", msg);
        if (r < 0)
                return reply_error("%s failed", strerror(-r));
        json_object_set_new(reply, "ok", json_true());
        return json_dumps(reply, JSON_COMPACT);
}

typedef struct ControlClient {
        Control *ctl;
        int fd;
        int passed_fd;          /* the fd that came with the current request (SCM_RIGHTS), or -1 */
        char buf[CONTROL_MAX_LINE];
        size_t len;
} ControlClient;

#define CONTROL_MAX_CLIENTS 8

struct Control {
        int listen_fd;
        char *path;
        EventLoop *loop;
        const ControlOps *ops;
        void *opaque;
        ControlClient *clients[CONTROL_MAX_CLIENTS];
};

static void client_close(ControlClient *cl) {
        Control *c = cl->ctl;
        event_loop_del(c->loop, cl->fd);
        safe_close(cl->fd);
        safe_close(cl->passed_fd);
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
                if (c->clients[i] == cl)
                        c->clients[i] = NULL;
        free(cl);
}

static void client_reply(ControlClient *cl, const char *line, size_t len) {
        _cleanup_free_ char *reply = control_handle_line_fd(cl->ctl->ops, cl->ctl->opaque, line, len, &cl->passed_fd);
        cl->passed_fd = safe_close(cl->passed_fd);      /* one request's fd is not the next one's */
        if (!reply)
                return;
        size_t n = strlen(reply);
        reply[n] = '\0';
        /* small replies on a stream socket: send them whole, with the newline */
        if (send(cl->fd, reply, n, MSG_NOSIGNAL) < 0 || send(cl->fd, "\n", 1, MSG_NOSIGNAL) < 0)
                return;
}

static void client_readable(void *opaque, uint32_t events) {
        ControlClient *cl = opaque;
        struct iovec iov = { .iov_base = cl->buf + cl->len, .iov_len = sizeof(cl->buf) - cl->len };
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof(control.buf) };
        ssize_t n = recvmsg(cl->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
                        safe_close(cl->passed_fd);
                        memcpy(&cl->passed_fd, CMSG_DATA(c), sizeof(int));
                }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                client_close(cl);
                return;
        }
        cl->len += (size_t) n;
        char *nl;
        while ((nl = memchr(cl->buf, '\n', cl->len))) {
                size_t line = (size_t) (nl - cl->buf);
                client_reply(cl, cl->buf, line);
                memmove(cl->buf, nl + 1, cl->len - line - 1);
                cl->len -= line + 1;
        }
        if (cl->len == sizeof(cl->buf)) {
                static const char too_long[] = "{\"ok\":false,\"error\":\"request line too long\"}\n";
                send(cl->fd, too_long, sizeof(too_long) - 1, MSG_NOSIGNAL);
                client_close(cl);
        }
}

static void control_accept(void *opaque, uint32_t events) {
        Control *c = opaque;
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return;
        size_t slot = 0;
        while (slot < CONTROL_MAX_CLIENTS && c->clients[slot])
                slot++;
        ControlClient *cl = slot < CONTROL_MAX_CLIENTS ? calloc(1, sizeof(*cl)) : NULL;
        if (!cl) {
                close(fd);
                return;
        }
        *cl = (ControlClient) { .ctl = c, .fd = fd, .passed_fd = -1 };
        if (event_loop_add(c->loop, fd, EPOLLIN, client_readable, cl, NULL) < 0) {
                close(fd);
                free(cl);
                return;
        }
        c->clients[slot] = cl;
}

int control_open(const char *path, EventLoop *loop, const ControlOps *ops, void *opaque, Control **ret, KError **err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return kerr_msg(err, KERR_USAGE, -ENAMETOOLONG, "control socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        Control *c = calloc(1, sizeof(*c));
        if (!c || !(c->path = strdup(path))) {
                free(c);
                return kerr(err, -ENOMEM, "control socket");
        }
        *c = (Control) { .listen_fd = -1, .path = c->path, .loop = loop, .ops = ops, .opaque = opaque };
        c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int r = c->listen_fd < 0 ? -errno : 0;
        bool bound = false;
        if (r == 0 && bind(c->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                r = -errno;
        else if (r == 0)
                bound = true;
        if (r == 0 && listen(c->listen_fd, 4) < 0)
                r = -errno;
        if (r < 0) {
                if (bound)
                        (void) unlink(path);    /* no stale socket file for the next start */
                safe_close(c->listen_fd);
                free(c->path);
                free(c);
                return kerr(err, r, "control socket %s", path);
        }
        r = event_loop_add(loop, c->listen_fd, EPOLLIN, control_accept, c, err);
        if (r < 0) {
                control_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void control_free(Control *c) {
        if (!c)
                return;
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
                if (c->clients[i])
                        client_close(c->clients[i]);
        event_loop_del(c->loop, c->listen_fd);
        safe_close(c->listen_fd);
        unlink(c->path);
        free(c->path);
        free(c);
}

int control_request(const char *path, const char *line, char **ret_reply, KError **err) {
        return control_request_fd(path, line, -1, ret_reply, err);
}

int control_request_fd(const char *path, const char *line, int pass_fd, char **ret_reply, KError **err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return kerr_msg(err, KERR_USAGE, -ENAMETOOLONG, "control socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return kerr(err, -errno, "connect to control socket %s", path);
        size_t len = strlen(line);
        int r = pass_fd >= 0 ? send_fd(fd, pass_fd, line, len) : (send(fd, line, len, MSG_NOSIGNAL) < 0 ? -errno : 0);
        if (r < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
                return kerr(err, r < 0 ? r : -errno, "send to %s", path);
        _cleanup_free_ char *buf = malloc(CONTROL_MAX_LINE + 1);
        if (!buf)
                return kerr(err, -ENOMEM, "control reply");
        size_t have = 0;
        while (have < CONTROL_MAX_LINE && !memchr(buf, '\n', have)) {
                ssize_t n = recv(fd, buf + have, CONTROL_MAX_LINE - have, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return kerr(err, n < 0 ? -errno : -ECONNRESET, "read reply from %s", path);
                have += (size_t) n;
        }
        char *nl = memchr(buf, '\n', have);
        *(nl ? nl : buf + have) = '\0';
        *ret_reply = TAKE_PTR(buf);
        return 0;
}
