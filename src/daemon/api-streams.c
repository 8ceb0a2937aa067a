/* SPDX-License-Identifier: Apache-2.0 */
/* Long answers: wait (the headers at once, the body when the condition holds, as docker's clients
 * expect before they start the container) and logs (docker's multiplexed frames without a tty). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ctr-ops.h"
#include "ctr-state.h"
#include "ctr-stats.h"
#include "fd-util.h"
#include "json-util.h"
#include "proc-util.h"
#include "vm-ops.h"
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

/* Every change of a container's row is a write to the database's files in the root (and its events
 * to events.jsonl there): a watch on the root wakes a waiter at once, instead of at its next look.
 * -1 when inotify is not there, or when 16 waiters have one already (inotify instances are counted
 * per user, 128 by default, and other programs of root's need theirs): the waiter looks every
 * 20 ms, as it always may. */
#define ROOT_WATCHES_MAX 16
static unsigned root_watches;

static int root_watch(const char *root) {
        if (__atomic_add_fetch(&root_watches, 1, __ATOMIC_RELAXED) > ROOT_WATCHES_MAX) {
                __atomic_sub_fetch(&root_watches, 1, __ATOMIC_RELAXED);
                return -1;
        }
        int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (ifd >= 0 && inotify_add_watch(ifd, root, IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_TO) < 0)
                ifd = safe_close(ifd);
        if (ifd < 0)
                __atomic_sub_fetch(&root_watches, 1, __ATOMIC_RELAXED);
        return ifd;
}

static void root_unwatch(int *ifd) {
        if (*ifd < 0)
                return;
        *ifd = safe_close(*ifd);
        __atomic_sub_fetch(&root_watches, 1, __ATOMIC_RELAXED);
}

/* Until the root changes, 20 ms at most (a write may land between our look and the watch's wake-up). */
static void root_changed(int ifd) {
        if (ifd < 0) {
                usleep(20 * 1000);
                return;
        }
        struct pollfd p = { .fd = ifd, .events = POLLIN };
        if (poll(&p, 1, 20) > 0) {
                char buf[4096];
                while (read(ifd, buf, sizeof(buf)) > 0)
                        ;
        }
}

static void wait_run(int fd, void *data) {
        WaitJob *w = data;
        _cleanup_(engine_freep) Engine *e = NULL;
        int code = 0;
        bool seen_live = false;
        if (engine_open(w->root, &e, NULL) < 0)
                return;
        _cleanup_(root_unwatch) int ifd = root_watch(w->root);
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
                        root_changed(ifd);
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
        /* docker sends unix seconds (with a fraction); logs_parse_time also takes RFC 3339 */
        int64_t bounds[2] = { 0, 0 };
        static const char *const names[] = { "since", "until" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const char *v = api_query(rq, names[i]);
                if (v && *v && !streq(v, "0") && logs_parse_time(v, engine_now(), &bounds[i]) < 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "%s=\"%s\": expected unix seconds or RFC 3339",
                                        names[i], v);
        }
        LogsJob *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        bool tty = json_is_true(json_object_get(json_object_get(rec->config, "Config"), "Tty"));
        *j = (LogsJob) { .mux = !tty, .want_out = api_query_bool(rq, "stdout"), .want_err = api_query_bool(rq, "stderr"),
                         .root = strdup(rq->cfg->root), .id = strdup(rec->id), .path = engine_ctr_path(rq->e, rec->id, "ctr.log"),
                         .o = { .tail = n, .follow = api_query_bool(rq, "follow"), .timestamps = api_query_bool(rq, "timestamps"),
                                .since = bounds[0], .until = bounds[1], .alive = logs_alive, .sink = logs_sink } };
        j->o.userdata = j;
        if (!j->root || !j->id || !j->path) {
                logs_job_free(j);
                return -ENOMEM;
        }
        return api_stream(rs, tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
                          logs_run, j, logs_job_free, err);
}

typedef struct StatsJob {
        char *root, *id, *name;
        bool stream;
        Engine *e;
} StatsJob;

static void stats_job_free(void *p) {
        StatsJob *j = p;
        free(j->root);
        free(j->id);
        free(j->name);
        engine_free(j->e);
        free(j);
}

static uint64_t system_cpu_ns(void) {
        /* /proc/stat's first line: jiffies of every state, as docker's system_cpu_usage */
        _cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
        unsigned long long v[10] = { 0 };
        if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                         &v[6], &v[7]) != 8)
                return 0;
        uint64_t sum = 0;
        for (int i = 0; i < 8; i++)
                sum += v[i];
        return sum * (1000000000ULL / (uint64_t) sysconf(_SC_CLK_TCK));
}

static json_t *cpu_json(const CgroupStats *s, uint64_t sys) {
        return json_pack("{s:{s:I, s:I, s:I}, s:I, s:I, s:{s:I, s:I, s:I}}", "cpu_usage", "total_usage",
                         (json_int_t) s->cpu_usage_ns, "usage_in_kernelmode", (json_int_t) 0, "usage_in_usermode",
                         (json_int_t) 0, "system_cpu_usage", (json_int_t) sys, "online_cpus",
                         (json_int_t) sysconf(_SC_NPROCESSORS_ONLN), "throttling_data", "periods", (json_int_t) 0,
                         "throttled_periods", (json_int_t) 0, "throttled_time", (json_int_t) 0);
}

/* docker's stats document: the CPU numbers with the previous sample's (precpu) so clients compute
 * a percentage, memory, pids, block I/O. */
static json_t *stats_doc(const StatsJob *j, const CgroupStats *s, uint64_t sys, const CgroupStats *pre, uint64_t pre_sys,
                         int64_t pre_time) {
        char now[40], then[40];
        logs_format_time(engine_now(), now);
        logs_format_time(pre_time, then);
        uint64_t limit = s->memory_limit == UINT64_MAX ? (uint64_t) sysconf(_SC_PHYS_PAGES) * (uint64_t) sysconf(_SC_PAGESIZE)
                                                       : s->memory_limit;
        return json_pack("{s:s, s:s, s:s, s:s, s:{s:I}, s:o, s:o, s:{s:I, s:I, s:{}}, s:{s:[{s:i, s:i, s:s, s:I},"
                         " {s:i, s:i, s:s, s:I}]}, s:{}}",
                         "read", now, "preread", then, "id", j->id, "name", j->name, "pids_stats", "current",
                         (json_int_t) s->pids_current, "cpu_stats", cpu_json(s, sys), "precpu_stats", cpu_json(pre, pre_sys),
                         "memory_stats", "usage", (json_int_t) s->memory_usage, "limit", (json_int_t) limit, "stats",
                         "blkio_stats", "io_service_bytes_recursive", "major", 0, "minor", 0, "op", "read", "value",
                         (json_int_t) s->blkio_read_bytes, "major", 0, "minor", 0, "op", "write", "value",
                         (json_int_t) s->blkio_write_bytes, "networks");
}

static void stats_run(int fd, void *data) {
        StatsJob *j = data;
        if (engine_open(j->root, &j->e, NULL) < 0)
                return;
        CgroupStats pre = { 0 }, cur;
        uint64_t pre_sys = 0;
        int64_t pre_time = 0;
        for (bool first = true; !peer_gone(fd); first = false) {
                _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
                if (db_ctr_get(j->e->db, j->id, &rec, NULL) < 0 || !ctr_is_live(rec) ||
                    ctr_stats(j->e, rec, &cur, NULL) < 0)
                        cur = (CgroupStats) { .memory_limit = UINT64_MAX };
                uint64_t sys = system_cpu_ns();
                /* one answer needs two samples (a CPU percentage): the first is only the baseline */
                if (!first) {
                        _cleanup_json_ json_t *doc = stats_doc(j, &cur, sys, &pre, pre_sys, pre_time);
                        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
                        if (!text || api_write_frame(fd, false, 0, text, strlen(text)) < 0 ||
                            api_write_frame(fd, false, 0, "\n", 1) < 0 || !j->stream || !rec || !ctr_is_live(rec))
                                return;
                }
                pre = cur;
                pre_sys = sys;
                pre_time = engine_now();
                usleep(first ? 500 * 1000 : 1000 * 1000);
        }
}

int api_ctr_stats(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0)
                return r;
        const char *stream = api_query(rq, "stream");
        StatsJob *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (StatsJob) { .root = strdup(rq->cfg->root), .id = strdup(rec->id), .name = NULL,
                          .stream = !stream || api_query_bool(rq, "stream") };
        if (asprintf(&j->name, "/%s", rec->name) < 0)
                j->name = NULL;
        if (!j->root || !j->id || !j->name) {
                stats_job_free(j);
                return -ENOMEM;
        }
        return api_stream(rs, "application/json", stats_run, j, stats_job_free, err);
}

int api_ctr_top(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0)
                return r;
        if (rec->state != CTR_RUNNING && rec->state != CTR_PAUSED)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container %s is not running", rec->name);
        if (ctr_runs_vmm(rec))
                return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP,
                                "%s runs in a micro-VM: its processes are the guest's (use kapsel top)", rec->name);
        if ((r = ctr_top_pids(rec, &pids, &n, err)) < 0)
                return r;
        json_t *procs = json_array();
        for (size_t i = 0; i < n; i++) {
                char row[600], user[64] = "", cmd[520] = "";
                int pid = 0;
                (void) proc_top_row(pids[i], row, sizeof(row));
                row[strcspn(row, "\n")] = 0;
                /* "PID USER CMD...": the command keeps its spaces */
                if (sscanf(row, "%d %63s %519[^\n]", &pid, user, cmd) < 2)
                        continue;
                char p[16];
                snprintf(p, sizeof(p), "%d", pid);
                json_array_append_new(procs, json_pack("[s, s, s]", p, user, cmd));
        }
        return api_json(rs, 200, json_pack("{s:[s, s, s], s:o}", "Titles", "PID", "USER", "CMD", "Processes", procs));
}
