/* SPDX-License-Identifier: Apache-2.0 */
/* POST /build (docker's classic builder over the API) and POST /build/prune. The context is the
 * request body, spooled by the server to an unnamed file in the root (up to the upload cap); the
 * handler checks the parameters and finds the Dockerfile in the tar, so a bad request is a 4xx
 * before anything streams. The build then runs in the stream's worker through build_run() (the
 * CLI's `kapsel build` calls the same) and its progress goes out as docker's JSON lines:
 * {"stream": ...} for steps and RUN output, {"aux":{"ID":...}} for the result, and
 * {"errorDetail":{"message":...},"error":...} for a failure after the 200. A client that goes away
 * interrupts the build as Ctrl-C does the CLI's: the RUN container is killed, its work dir removed.
 * Builds run one at a time: the builder's interrupt flag is per process. The daemon's own signal
 * handlers stay (no_signals): SIGTERM stops kapseld also during a build. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "daemon.h"
#include "fd-util.h"
#include "json-util.h"
#include "prune.h"
#include "string-util.h"

typedef struct BuildJob {
        char *root;
        int ctx_fd;                     /* the context tar (a dup of the upload's file) */
        char *dockerfile;               /* its text, read from the context */
        size_t dockerfile_len;
        char *dockerfile_name;
        char **tags, **args, **labels;
        char *target, *network, *isolation;
        bool quiet, no_cache, pull;
        int fd;                         /* the response pipe */
        int sock;                       /* the client's connection (the library's; only polled) */
        bool gone;                      /* the client went away */
        volatile bool done;             /* the build returned: the watcher stops */
        char pending[4];                /* an incomplete UTF-8 sequence of RUN output */
        size_t n_pending;
} BuildJob;

static void build_job_free(void *p) {
        BuildJob *j = p;
        if (!j)
                return;
        free(j->root);
        if (j->ctx_fd >= 0)
                close(j->ctx_fd);
        free(j->dockerfile);
        free(j->dockerfile_name);
        strv_free(j->tags);
        strv_free(j->args);
        strv_free(j->labels);
        free(j->target);
        free(j->network);
        free(j->isolation);
        free(j);
}

char *api_json_line(const json_t *m) {
        char *text = json_dumps(m, JSON_COMPACT);
        size_t len = text ? strlen(text) : 0;
        char *t = text ? realloc(text, len + 3) : NULL;
        if (!t) {
                free(text);
                return NULL;
        }
        memcpy(t + len, "\r\n", 3);
        return t;
}

static bool peer_gone(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        return poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP));
}

/* The library notices a closed client only when it has data to send, so while a RUN step is
 * quiet the pipe stays open: the connection itself tells (hung up, or its reading side shut). */
static bool client_gone(const BuildJob *j) {
        struct pollfd p = { .fd = j->sock, .events = POLLRDHUP };
        if (peer_gone(j->fd))
                return true;
        return j->sock >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* One JSON message with docker's "\r\n"; takes `m`. A failed write means the client is gone. */
static void emit(BuildJob *j, json_t *m) {
        _cleanup_free_ char *text = m && !j->gone ? api_json_line(m) : NULL;
        json_decref(m);
        if (!text)
                return;
        /* one write: clients that decode each chunk (docker-compose) need whole messages */
        if (write_all(j->fd, text, strlen(text)) < 0) {
                j->gone = true;
                if (!j->done)
                        build_interrupt();
        }
}

static void emit_stream(BuildJob *j, const char *text, size_t len, bool newline) {
        _cleanup_free_ char *out = malloc(len + j->n_pending + 2), *in = malloc(len + j->n_pending + 1);
        if (!out || !in)
                return;
        memcpy(in, j->pending, j->n_pending);
        memcpy(in + j->n_pending, text, len);
        size_t n = j->n_pending + len;
        size_t used = api_utf8_clean(in, n, out, newline);
        j->n_pending = n - used;
        memcpy(j->pending, in + used, j->n_pending);
        if (newline)
                strcat(out, "\n");
        if (*out)
                emit(j, json_pack("{s:s}", "stream", out));
}

static void progress(void *userdata, BuildEventKind kind, const char *text, size_t len) {
        BuildJob *j = userdata;
        if (j->quiet)
                return;
        emit_stream(j, text, len, kind != BUILD_EVENT_OUTPUT);
}

/* Stops the build when the client goes away while nothing is written (a quiet RUN step). */
static void *watch(void *arg) {
        BuildJob *j = arg;
        while (!j->done) {
                if (client_gone(j)) {
                        j->gone = true;
                        build_interrupt();
                        break;
                }
                usleep(200 * 1000);
        }
        return NULL;
}

static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

static void build_worker(int fd, void *data) {
        BuildJob *j = data;
        j->fd = fd;
        BuildOptions bo = { .context_tar_fd = j->ctx_fd, .dockerfile_text = j->dockerfile,
                            .dockerfile_len = j->dockerfile_len, .tags = j->tags, .target = j->target,
                            .build_args = j->args, .labels = j->labels, .no_cache = j->no_cache, .pull = j->pull,
                            .network = j->network, .isolation = j->isolation, .no_signals = true };
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_kerr_ KError *err = NULL;
        _cleanup_free_ char *id = NULL;
        pthread_mutex_lock(&build_lock);
        pthread_t w;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        bool watching = !client_gone(j) && pthread_create(&w, &attr, watch, j) == 0;
        pthread_attr_destroy(&attr);
        int r = watching ? 0 : -ECONNABORTED;
        if (r >= 0 && lseek(j->ctx_fd, 0, SEEK_SET) < 0)
                r = kerr(&err, -errno, "build: rewind the context");
        if (r >= 0)
                r = engine_open(j->root, &e, &err);
        if (r >= 0)
                r = build_run(e, &bo, progress, j, &id, &err);
        j->done = true;
        if (watching)
                pthread_join(w, NULL);
        pthread_mutex_unlock(&build_lock);
        if (j->n_pending)
                emit_stream(j, "", 0, true);
        if (r < 0) {
                const char *msg = err ? err->msg : strerror(-r);
                emit(j, json_pack("{s:{s:s}, s:s}", "errorDetail", "message", msg, "error", msg));
                return;
        }
        emit(j, json_pack("{s:{s:s}}", "aux", "ID", id));
        if (j->quiet) {
                _cleanup_free_ char *line = NULL;
                if (asprintf(&line, "%s\n", id) >= 0)
                        emit(j, json_pack("{s:s}", "stream", line));
        }
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        (void) kind;
        char ***v = ((void **) cls)[0];
        const char *want = ((void **) cls)[1];
        if (key && value && *value && streq(key, want))
                (void) strv_extend(v, value);
        return MHD_YES;
}

char **api_query_all(const ApiReq *rq, const char *name) {
        char **v = NULL;
        void *cls[2] = { &v, (void *) name };
        MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, collect, cls);
        return v;
}

/* RUN steps' network: docker's "default" is the default bridge (as the CLI); user networks are
 * checked by the builder before anything runs. */
static int build_network(const char *mode, char **ret, KError **err) {
        (void) err;
        if (!mode || !*mode || streq(mode, "default"))
                mode = "bridge";
        return (*ret = strdup(mode)) ? 0 : -ENOMEM;
}

static int build_job_new(ApiReq *rq, BuildJob **ret, KError **err) {
        BuildJob *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->ctx_fd = -1;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        j->sock = ci ? ci->connect_fd : -1;
        *ret = j;
        const char *remote = api_query(rq, "remote");
        if (remote && *remote)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "build: remote contexts (remote=%s) are not supported: send the context as a tar in the "
                                "request body", remote);
        struct stat st;
        if (rq->body_fd < 0 || fstat(rq->body_fd, &st) < 0 || st.st_size == 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "build: send the build context as a tar in the request body");
        int r;
        j->tags = api_query_all(rq, "t");
        for (char **t = j->tags; t && *t; t++) {
                _cleanup_free_ char *norm = NULL;
                if ((r = image_ref_normalize(*t, &norm, err)) < 0)
                        return kerr_prefix(err, r, "build: tag %s", *t);
        }
        if ((r = api_build_kv(api_query(rq, "buildargs"), "buildargs", &j->args, err)) < 0 ||
            (r = api_build_kv(api_query(rq, "labels"), "labels", &j->labels, err)) < 0 ||
            (r = build_network(api_query(rq, "networkmode"), &j->network, err)) < 0)
                return r;
        /* docker's isolation (default|process|hyperv on Windows): ours container or vm */
        const char *target = api_query(rq, "target"), *df = api_query(rq, "dockerfile"), *iso = api_query(rq, "isolation");
        if ((target && *target && !(j->target = strdup(target))) || !(j->root = strdup(rq->cfg->root)) ||
            (iso && *iso && !(j->isolation = strdup(iso))))
                return -ENOMEM;
        j->quiet = api_query_bool(rq, "q");
        j->no_cache = api_query_bool(rq, "nocache");
        j->pull = api_query_bool(rq, "pull");
        if ((j->ctx_fd = fcntl(rq->body_fd, F_DUPFD_CLOEXEC, 3)) < 0)
                return kerr(err, -errno, "build: keep the context");
        /* the Dockerfile comes from the context, never from the daemon's file system */
        return api_build_dockerfile(j->ctx_fd, df, &j->dockerfile, &j->dockerfile_len, err);
}

void api_no_idle_timeout(ApiReq *rq) {
        (void) MHD_set_connection_option(rq->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
}

int api_build(ApiReq *rq, ApiResp *rs, KError **err) {
        BuildJob *j = NULL;
        int r = build_job_new(rq, &j, err);
        if (r < 0) {
                build_job_free(j);
                return r;
        }
        /* a RUN step may be quiet for longer than the idle timeout; a gone client is noticed by
         * the watcher */
        api_no_idle_timeout(rq);
        /* X-Registry-Config (credentials for FROM pulls) is accepted; base images come from the store
         * or the engine's pull */
        return api_stream(rs, "application/json", build_worker, j, build_job_free, err);
}

/* The build cache is the intermediate images of earlier builds: unnamed, so dangling. */
int api_build_prune(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        size_t removed = 0;
        uint64_t space = 0;
        int r = api_engine(rq, &e, err);
        /* never named images, also with all=1: those are not cache */
        if (r < 0 || (r = prune_images(e, false, &removed, &space, err)) < 0)
                return r;
        return api_json(rs, 200, json_pack("{s:[], s:I}", "CachesDeleted", "SpaceReclaimed", (json_int_t) space));
}
