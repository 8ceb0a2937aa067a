/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP side of kapseld over libmicrohttpd: a unix socket (0660, group kapsel when it exists),
 * one thread per connection (handlers may block on the engine), a connection cap, an idle
 * timeout, a cap on header memory (the library's per-connection pool) and on body sizes. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "fd-util.h"
#include "log.h"
#include "string-util.h"
#include "web.h"

/* Per-request state across the library's calls of the access handler. */
typedef struct Upload {
        char *buf;
        size_t len, cap, max;
        bool too_big;
        int fd;                 /* archives (image load) go to an unnamed file in the root, not memory */
} Upload;

static void upload_free(Upload *u) {
        if (u) {
                free(u->buf);
                if (u->fd >= 0)
                        close(u->fd);
                free(u);
        }
}

static unsigned status_for(const KError *err, int r) {
        static const unsigned by_kind[_KERR_KIND_MAX] = {
                [KERR_GENERIC] = 500, [KERR_USAGE] = 400,   [KERR_CONFIG] = 400, [KERR_NOT_FOUND] = 404,
                [KERR_EXISTS] = 409,  [KERR_ROOTFS] = 500,  [KERR_HOST] = 500,   [KERR_STATE] = 409,
        };
        if (err && err->kind < _KERR_KIND_MAX && err->kind != KERR_GENERIC)
                return by_kind[err->kind];
        return r == -ENOENT ? 404 : r == -EINVAL ? 400 : r == -EEXIST || r == -EBUSY ? 409 : 500;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j) {
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        size_t len = text ? strlen(text) : 0;
        if (text) {
                /* docker's bodies end with a newline */
                char *t = realloc(text, len + 2);
                if (t) {
                        text = t;
                        text[len++] = '\n';
                        text[len] = 0;
                }
        }
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, text ?: (char *) "",
                                                                    text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        if (j)
                MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Api-Version", API_VERSION);
        MHD_add_response_header(resp, "Server", "kapseld");
        enum MHD_Result ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg) {
        json_t *j = json_pack("{s:s}", "message", msg);
        enum MHD_Result r = send_json(c, status, j);
        json_decref(j);
        return r;
}

static void req_done(ApiReq *rq) {
        for (size_t i = 0; i < API_MAX_PARAMS; i++)
                free(rq->params[i]);
        json_decref(rq->json);
        engine_free(rq->e);
}

static enum MHD_Result dispatch(const DaemonConfig *cfg, struct MHD_Connection *c, const char *method, const char *url,
                                Upload *u) {
        const char *path;
        char version[16];
        if (router_strip_version(url, &path, version) < 0)
                return send_error(c, 400, "client version is not supported by this daemon: use API 1.24 to " API_VERSION);
        _cleanup_(req_done) ApiReq rq = { .conn = c, .cfg = cfg, .method = method, .path = path };
        bool known = false;
        const ApiRoute *route = router_match(method, path, &rq, &known);
        if (!route) {
                log_warn("kapseld: no route for %s %s", method, url);
                return send_error(c, known ? 405 : 404, known ? "method not allowed" : "page not found");
        }
        rq.body_fd = u ? u->fd : -1;
        if (u && u->len && u->fd < 0) {
                rq.body = u->buf;
                rq.body_len = u->len;
                rq.json = json_loadb(u->buf, u->len, 0, NULL);
        }
        ApiResp rs = { .status = 200 };
        _cleanup_kerr_ KError *err = NULL;
        int r = route->fn(&rq, &rs, &err);
        if (r < 0) {
                json_decref(rs.json);
                if (rs.raw)
                        MHD_destroy_response(rs.raw);
                return send_error(c, status_for(err, r), err ? err->msg : strerror(-r));
        }
        if (rs.raw) {
                MHD_add_response_header(rs.raw, "Api-Version", API_VERSION);
                if (rs.content_type)
                        MHD_add_response_header(rs.raw, "Content-Type", rs.content_type);
                enum MHD_Result ret = MHD_queue_response(c, rs.status, rs.raw);
                MHD_destroy_response(rs.raw);
                return ret;
        }
        enum MHD_Result ret = send_json(c, rs.status, rs.json);
        json_decref(rs.json);
        return ret;
}

/* Bodies that are archives go to an unnamed file in the root, not memory: image load, docker cp in. */
static bool is_upload_path(const char *method, const char *url) {
        return strstr(url, "/images/load") || (streq(method, "PUT") && strstr(url, "/archive")) ||
               router_body_to_file(method, url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **state) {
        const DaemonConfig *cfg = cls;
        (void) version;
        Upload *u = *state;
        if (!u) {
                /* first call: headers only; a declared body over the cap is refused before it is read */
                u = calloc(1, sizeof(*u));
                if (!u)
                        return MHD_NO;
                u->fd = -1;
                u->max = is_upload_path(method, url) ? cfg->max_upload : cfg->max_body;
                *state = u;     /* freed by the completion callback, whatever happens next */
                if (is_upload_path(method, url) && (u->fd = open(cfg->root, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) < 0) {
                        char msg[256];
                        snprintf(msg, sizeof(msg), "cannot hold the upload in the state root %s: %s", cfg->root,
                                 strerror(errno));
                        return send_error(c, 500, msg);
                }
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
                /* the console's TCP side: no body is read for a client that has not logged in */
                if (web_wants(cfg, url) && !web_may_send_body(c, url))
                        return web_refuse_early(c);
                if (cl && strtoull(cl, NULL, 10) > u->max) {
                        /* answered now: the library closes the connection without reading the body */
                        u->too_big = true;
                        return send_error(c, 413, "request body too large");
                }
                return MHD_YES;
        }
        if (*data_size) {
                /* a chunked body that grows past the cap: the connection is closed, nothing kept */
                if (u->too_big || u->len + *data_size > u->max)
                        return MHD_NO;
                if (u->fd >= 0) {
                        if (write_all(u->fd, data, *data_size) < 0)
                                return MHD_NO;
                        u->len += *data_size;
                } else {
                        if (u->len + *data_size + 1 > u->cap) {
                                size_t cap = u->cap * 2 > u->len + *data_size + 1 ? u->cap * 2 : u->len + *data_size + 1;
                                char *b = realloc(u->buf, cap);
                                if (!b)
                                        return MHD_NO;
                                u->buf = b;
                                u->cap = cap;
                        }
                        memcpy(u->buf + u->len, data, *data_size);
                        u->len += *data_size;
                        u->buf[u->len] = 0;
                }
                *data_size = 0;
                return MHD_YES;
        }
        if (u->too_big)
                return send_error(c, 413, "request body too large");
        if (web_wants(cfg, url))
                return web_request(cfg, c, method, url, u);
        return dispatch(cfg, c, method, url, u);
}

const char *server_upload_body(const Upload *u, size_t *ret_len) {
        *ret_len = u ? u->len : 0;
        return u ? u->buf : NULL;
}

enum MHD_Result server_api(const DaemonConfig *cfg, struct MHD_Connection *c, const char *method, const char *url,
                           Upload *u) {
        return dispatch(cfg, c, method, url, u);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe) {
        (void) cls, (void) c, (void) toe;
        upload_free(*state);
        *state = NULL;
}

int server_web_start(const DaemonConfig *cfg, KError **err) {
        return web_start(cfg, on_request, on_completed, err);
}

static int listen_unix(const DaemonConfig *cfg, KError **err) {
        const char *path = startswith(cfg->host, "unix://");
        if (!path || !*path)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--host %s: only unix:///PATH is served (TCP needs mutual TLS, which kapseld does not offer)",
                                cfg->host);
        /* bound under a temporary name and renamed once listening: a client that sees the path can
         * connect */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.%d", path, (int) getpid()) < 0)
                return -ENOMEM;
        if (strlen(tmp) >= sizeof(sa.sun_path))
                return kerr_msg(err, KERR_USAGE, -ENAMETOOLONG, "--host %s: the socket path is too long", cfg->host);
        strcpy(sa.sun_path, tmp);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return kerr(err, -errno, "socket for %s", path);
        (void) unlink(tmp);
        /* created 0660 from the start: no window where anyone may connect */
        mode_t old = umask(0117);
        int r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return kerr(err, -errno, "bind %s: does its directory exist?", path);
        struct group *gr = cfg->group ? getgrnam(cfg->group) : NULL;
        if ((gr && chown(tmp, 0, gr->gr_gid) < 0) || listen(fd, 128) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return kerr(err, r, "listen on %s", path);
        }
        return TAKE_FD(fd);
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
        (void) sig;
        stop_requested = 1;
}

/* systemd socket activation (contrib/kapseld.socket): one listening socket as fd 3. */
static int activated_fd(void) {
        const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
        if (!pid || !fds || strtol(pid, NULL, 10) != getpid() || strtol(fds, NULL, 10) != 1)
                return -1;
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        (void) fcntl(3, F_SETFD, FD_CLOEXEC);
        return 3;
}

int server_run(const DaemonConfig *cfg, KError **err) {
        int activated = activated_fd();
        int fd = activated >= 0 ? activated : listen_unix(cfg, err);
        if (fd < 0)
                return fd;
        signal(SIGPIPE, SIG_IGN);
        struct sigaction sa = { .sa_handler = on_stop };
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        struct MHD_Daemon *d = MHD_start_daemon(
                MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
                0, NULL, NULL, on_request, (void *) cfg,
                MHD_OPTION_LISTEN_SOCKET, fd,
                MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
                MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 64 * 1024,
                MHD_OPTION_THREAD_STACK_SIZE, (size_t) 256 * 1024,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                MHD_OPTION_END);
        if (!d) {
                close(fd);
                return kerr(err, -EIO, "start the HTTP server on %s", cfg->host);
        }
        log_info("kapseld: serving the Docker Engine API %s on %s", API_VERSION, cfg->host);
        while (!stop_requested)
                pause();
        /* No draining: streams (wait, logs -f, attach) may last as long as their containers, and
         * nothing of the state lives here. The socket goes; the caller exits without waiting for
         * the connection threads (the library's teardown would). */
        if (activated < 0)
                (void) unlink(startswith(cfg->host, "unix://"));
        return 0;
}
