/* SPDX-License-Identifier: Apache-2.0 */
/* What every handler uses: query parameters, the engine, responses, streamed bodies. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctr-ops.h"
#include "daemon.h"
#include "fd-util.h"
#include "string-util.h"

const char *api_query(const ApiReq *rq, const char *name) {
        return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool api_query_bool(const ApiReq *rq, const char *name) {
        const char *v = api_query(rq, name);
        return v && (streq(v, "1") || streq(v, "true") || streq(v, "True"));
}

int api_query_int(const ApiReq *rq, const char *name, long def, long *ret, KError **err) {
        const char *v = api_query(rq, name);
        *ret = def;
        if (!v || !*v)
                return 0;
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || *end)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "query parameter %s=\"%s\": expected a number", name, v);
        *ret = n;
        return 0;
}

/* One connection to the state database stays open for the daemon's life, from the first request
 * that opens the engine on: whenever the last connection to a WAL database closes, sqlite
 * checkpoints the WAL into the database (two fdatasyncs) and deletes its -wal and -shm files, and
 * that was the end of every request, and of every monitor's and CLI command's connection. With one
 * connection open, checkpoints run when the WAL reaches 1000 pages (docs/daemon.md). */
static void keep_db_open(const char *root) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static Engine *kept;
        static bool done;
        if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
                return;
        pthread_mutex_lock(&lock);
        if (!kept && engine_open(root, &kept, NULL) < 0)
                kept = NULL;            /* the request's own open says why */
        __atomic_store_n(&done, kept != NULL, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&lock);
}

int api_engine(ApiReq *rq, Engine **ret, KError **err) {
        if (!rq->e) {
                int r = engine_open(rq->cfg->root, &rq->e, err);
                if (r < 0)
                        return r;
                keep_db_open(rq->cfg->root);
        }
        *ret = rq->e;
        return 0;
}

int api_ctr_find(ApiReq *rq, const char *ref, CtrRecord **ret, KError **err) {
        Engine *e;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = db_ctr_get(e->db, ref, ret, err)) < 0)
                return r;
        return ctr_repair(e, *ret, err);
}

int api_json(ApiResp *rs, unsigned status, json_t *j) {
        rs->status = status;
        rs->json = j;
        return j ? 0 : -ENOMEM;
}

int api_empty(ApiResp *rs, unsigned status) {
        rs->status = status;
        rs->raw = MHD_create_response_from_buffer(0, (char *) "", MHD_RESPMEM_PERSISTENT);
        return rs->raw ? 0 : -ENOMEM;
}

typedef struct Stream {
        int fd;
        void (*fn)(int fd, void *data);
        void *data;
        void (*free_data)(void *data);
} Stream;

static void *stream_thread(void *arg) {
        Stream *s = arg;
        s->fn(s->fd, s->data);
        close(s->fd);
        if (s->free_data)
                s->free_data(s->data);
        free(s);
        return NULL;
}

int api_stream(ApiResp *rs, const char *content_type, void (*fn)(int fd, void *data), void *data,
               void (*free_data)(void *data), KError **err) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
                if (free_data)
                        free_data(data);
                return kerr(err, -errno, "pipe for a streamed response");
        }
        Stream *s = malloc(sizeof(*s));
        rs->raw = s ? MHD_create_response_from_pipe(p[0]) : NULL;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (s)
                *s = (Stream) { .fd = p[1], .fn = fn, .data = data, .free_data = free_data };
        if (!rs->raw || pthread_create(&t, &attr, stream_thread, s) != 0) {
                pthread_attr_destroy(&attr);
                if (rs->raw)
                        MHD_destroy_response(rs->raw);  /* closes p[0] */
                else
                        close(p[0]);
                rs->raw = NULL;
                close(p[1]);
                free(s);
                if (free_data)
                        free_data(data);
                return kerr(err, -ENOMEM, "start a streamed response");
        }
        pthread_attr_destroy(&attr);
        rs->status = 200;
        rs->content_type = content_type;
        return 0;
}

int api_write_frame(int fd, bool mux, int stream, const void *data, size_t len) {
        if (mux) {
                uint8_t h[8] = { (uint8_t) stream, 0, 0, 0, (uint8_t) (len >> 24), (uint8_t) (len >> 16),
                                 (uint8_t) (len >> 8), (uint8_t) len };
                int r = write_all(fd, h, sizeof(h));
                if (r < 0)
                        return r;
        }
        return write_all(fd, data, len);
}
