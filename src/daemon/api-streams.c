/* SPDX-License-Identifier: Apache-2.0 */
/* Long answers: wait (the headers at once, the body when the condition holds, as docker's clients
 * expect before they start the container) and logs (docker's multiplexed frames without a tty). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctr-ops.h"
#include "ctr-state.h"
#include "daemon.h"
#include "logs.h"
#include "string-util.h"

typedef enum WaitCond { WAIT_NOT_RUNNING, WAIT_NEXT_EXIT, WAIT_REMOVED } WaitCond;

typedef struct WaitJob {
        char *root, *id;
        WaitCond cond;
        int64_t since;          /* when the wait began: an exit after it is the "next" one */
} WaitJob;

static void wait_job_free(void *p) {
        WaitJob *w = p;
        free(w->root);
        free(w->id);
        free(w);
}

/* Has the client gone (the read end of our pipe closed)? */
static bool peer_gone(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        return poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP));
}

static void wait_run(int fd, void *data) {
        WaitJob *w = data;
        _cleanup_(engine_freep) Engine *e = NULL;
        int code = 0;
        bool seen_live = false;
        if (engine_open(w->root, &e, NULL) < 0)
                return;
        while (!peer_gone(fd)) {
                _cleanup_(ctr_record_freep) CtrRecord *r = NULL;
                if (db_ctr_get(e->db, w->id, &r, NULL) < 0) {
                        /* gone: an --rm container; its attach stream saw the code */
                        (void) exit_code_get(w->id, &code);
                        break;
                }
                (void) ctr_repair(e, r, NULL);
                bool live = ctr_is_live(r);
                seen_live |= live;
                if (!live)
                        code = r->exit_code;
                /* a run can start and end between two looks: its finish time tells */
                bool ran = seen_live || r->finished >= w->since;
                if (!live && (w->cond == WAIT_NOT_RUNNING || (w->cond == WAIT_NEXT_EXIT && ran)))
                        break;
                if (live)
                        (void) ctr_wait_monitor(r->monitor_pid, 100);
                else
                        usleep(20 * 1000);
        }
        char buf[80];
        int n = snprintf(buf, sizeof(buf), "{\"Error\":null,\"StatusCode\":%d}\n", code);
        (void) api_write_frame(fd, false, 0, buf, (size_t) n);
}

int api_ctr_wait(ApiReq *rq, ApiResp *rs, KError **err) {
        static const char *const conds[] = { [WAIT_NOT_RUNNING] = "not-running", [WAIT_NEXT_EXIT] = "next-exit",
                                             [WAIT_REMOVED] = "removed" };
        const char *c = api_query(rq, "condition");
        WaitCond cond = WAIT_NOT_RUNNING;
        if (c && *c) {
                for (cond = 0; cond < 3 && !streq(c, conds[cond]); cond++)
                        ;
                if (cond == 3)
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "wait condition \"%s\": expected not-running, next-exit or removed", c);
        }
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0)
                return r;
        WaitJob *w = calloc(1, sizeof(*w));
        if (!w || !(w->root = strdup(rq->cfg->root)) || !(w->id = strdup(rec->id))) {
                if (w)
                        wait_job_free(w);
                return -ENOMEM;
        }
        w->cond = cond;
        w->since = engine_now();
        return api_stream(rs, "application/json", wait_run, w, wait_job_free, err);
}

typedef struct LogsJob {
        char *root, *id, *path;
        LogsOptions o;
        bool mux, want_out, want_err, gone;
        int fd;
        Engine *e;
} LogsJob;

static void logs_job_free(void *p) {
        LogsJob *j = p;
        free(j->root);
        free(j->id);
        free(j->path);
        engine_free(j->e);
        free(j);
}

static int logs_sink(void *userdata, bool is_stderr, const char *data, size_t len) {
        LogsJob *j = userdata;
        if ((is_stderr && !j->want_err) || (!is_stderr && !j->want_out))
                return 0;
        int r = api_write_frame(j->fd, j->mux, is_stderr ? 2 : 1, data, len);
        if (r < 0)
                j->gone = true;
        return r;
}

static bool logs_alive(void *userdata) {
        LogsJob *j = userdata;
        _cleanup_(ctr_record_freep) CtrRecord *r = NULL;
        if (j->gone || peer_gone(j->fd) || db_ctr_get(j->e->db, j->id, &r, NULL) < 0)
                return false;
        return ctr_is_live(r) && ctr_monitor_alive(r);
}

static void logs_run(int fd, void *data) {
        LogsJob *j = data;
        j->fd = fd;
        if (engine_open(j->root, &j->e, NULL) < 0)
                return;
        (void) logs_print(j->path, &j->o, NULL);
}

int api_ctr_logs(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0)
                return r;
        const char *tail = api_query(rq, "tail");
        long n = -1;
        if (tail && *tail && !streq(tail, "all") && (r = api_query_int(rq, "tail", -1, &n, err)) < 0)
                return r;
        LogsJob *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        bool tty = json_is_true(json_object_get(json_object_get(rec->config, "Config"), "Tty"));
        *j = (LogsJob) { .mux = !tty, .want_out = api_query_bool(rq, "stdout"), .want_err = api_query_bool(rq, "stderr"),
                         .root = strdup(rq->cfg->root), .id = strdup(rec->id), .path = engine_ctr_path(rq->e, rec->id, "ctr.log"),
                         .o = { .tail = n, .follow = api_query_bool(rq, "follow"), .timestamps = api_query_bool(rq, "timestamps"),
                                .alive = logs_alive, .sink = logs_sink } };
        j->o.userdata = j;
        if (!j->root || !j->id || !j->path) {
                logs_job_free(j);
                return -ENOMEM;
        }
        return api_stream(rs, tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
                          logs_run, j, logs_job_free, err);
}
