/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP side of kapseld over libmicrohttpd: a unix socket (0660, group kapsel when it exists),
 * one thread per connection (handlers may block on the engine), a connection cap, an idle
 * timeout, a cap on header memory (the library's per-connection pool) and on body sizes. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

#define SERVER_STACK ((size_t) 256 * 1024)

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
                *state = u;     /* freed by the completion callback, whatever happens next */
                /* a TCP client whose certificate did not check out gets nothing (the handshake
                 * already refuses it: this holds should the library let one through) */
                if (cfg->mtls && !listen_peer_verified(c))
                        return send_error(c, 403, "a client certificate signed by the daemon's --tlscacert is required");
                u->max = is_upload_path(method, url) ? cfg->max_upload : cfg->max_body;
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

/* When the last connection closes, the allocator gives its free pages back: the daemon's idle
 * memory does not keep the peak of its last burst (docs/daemon-memory.md). */
static atomic_uint open_connections;

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code) {
        /* a TLS session (TCP) requires the client's certificate; nothing for a unix socket */
        listen_require_client_cert(cls, c, socket_ctx, code);
        if (code == MHD_CONNECTION_NOTIFY_STARTED)
                atomic_fetch_add(&open_connections, 1);
        else if (atomic_fetch_sub(&open_connections, 1) == 1)
                malloc_trim(0);
}

static volatile sig_atomic_t stop_requested;
static int stop_pipe[2] = { -1, -1 };

/* Any thread may run this (a SIGTERM goes to whichever does not block it), and the main thread may
 * be between its look at the flag and its wait: the byte in the pipe wakes it either way. */
static void on_stop(int sig) {
        (void) sig;
        stop_requested = 1;
        int saved = errno;
        if (stop_pipe[1] >= 0)
                (void) !write(stop_pipe[1], "s", 1);
        errno = saved;
}

static void wait_for_stop(void) {
        while (!stop_requested) {
                struct pollfd p = { .fd = stop_pipe[0], .events = POLLIN };
                if (stop_pipe[0] < 0)
                        pause();
                else
                        (void) poll(&p, 1, -1);
        }
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

static DaemonTls tls;
static DaemonConfig tcp_cfg;

int server_check(const DaemonConfig *cfg, KError **err) {
        daemon_tls_done(&tls);
        return listen_check(cfg, &tls, err);
}

int server_spawn_detached(void *(*fn)(void *), void *arg) {
        pthread_t t;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0)
                return -ENOMEM;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, SERVER_STACK);
        int r = pthread_create(&t, &attr, fn, arg);
        pthread_attr_destroy(&attr);
        return -r;
}

/* One libmicrohttpd daemon on the listening socket `fd` (taken): TLS with required client
 * certificates for TCP. */
static struct MHD_Daemon *serve(const DaemonConfig *cfg, const char *host, int fd, KError **err) {
        bool tcp = startswith(host, "tcp://");
        struct MHD_OptionItem o[16] = {
                { MHD_OPTION_LISTEN_SOCKET, fd, NULL },
                { MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL },
                { MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s, NULL },
                { MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL },
                { MHD_OPTION_THREAD_STACK_SIZE, SERVER_STACK, NULL },
                { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) on_completed, NULL },
                { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) on_connection, NULL },
        };
        size_t n = 7;
        if (tcp) {
                o[n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_CERT, 0, tls.cert };
                o[n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_KEY, 0, tls.key };
                o[n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_TRUST, 0, tls.ca };
                o[n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_PRIORITIES, 0,
                                                   (void *) "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1" };
        }
        o[n] = (struct MHD_OptionItem) { MHD_OPTION_END, 0, NULL };
        struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                                        MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG | (tcp ? MHD_USE_TLS : 0),
                                                0, NULL, NULL, on_request, (void *) (tcp ? &tcp_cfg : cfg),
                                                MHD_OPTION_ARRAY, o, MHD_OPTION_END);
        if (!d) {
                close(fd);
                (void) kerr_msg(err, KERR_HOST, -EIO, "start the HTTP server on %s%s", host,
                                tcp ? ": is libmicrohttpd built with TLS (kapseld's log has the library's reason)?" : "");
        }
        return d;
}

int server_run(const DaemonConfig *cfg, KError **err) {
        tcp_cfg = *cfg;
        tcp_cfg.mtls = true;
        int activated = activated_fd();
        signal(SIGPIPE, SIG_IGN);
        if (stop_pipe[0] < 0 && pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                stop_pipe[0] = stop_pipe[1] = -1;
        struct sigaction sa = { .sa_handler = on_stop };
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        /* the daemons live as long as the process: see below */
        bool made[DAEMON_MAX_HOSTS] = { false };
        int r = 0;
        for (size_t i = 0; i < cfg->n_hosts && r >= 0; i++) {
                const char *h = cfg->hosts[i];
                bool unix_sock = startswith(h, "unix://");
                /* systemd's socket (contrib/kapseld.socket) stands for the first unix host */
                bool from_systemd = unix_sock && activated >= 0;
                int fd = from_systemd ? TAKE_FD(activated) : unix_sock ? listen_unix(h, cfg->group, cfg->group_known, cfg->group_gid, err)
                                                                       : listen_tcp(h, err);
                made[i] = unix_sock && !from_systemd && fd >= 0;
                if (fd < 0 || !serve(cfg, h, fd, err))
                        r = fd < 0 ? fd : -EIO;
                else
                        log_info("kapseld: serving the Docker Engine API %s on %s%s", API_VERSION, h,
                                 unix_sock ? "" : " (mutual TLS)");
        }
        if (r >= 0)
                wait_for_stop();
        /* No draining: streams (wait, logs -f, attach) may last as long as their containers, and
         * nothing of the state lives here. The sockets go; the caller exits without waiting for
         * the connection threads (the library's teardown would). */
        for (size_t i = 0; i < cfg->n_hosts; i++)
                if (made[i])
                        (void) unlink(startswith(cfg->hosts[i], "unix://"));
        daemon_tls_done(&tls);
        return r;
}
