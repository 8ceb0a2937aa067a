/* SPDX-License-Identifier: Apache-2.0 */
/* The monitor's health checks: a timerfd, one probe process at a time, the result in the row. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"
#include "ctr-ops.h"
#include "health.h"
#include "logs.h"
#include "string-util.h"

#define HEALTH_LOG_MAX 5

static int64_t ns_or(json_t *v, int64_t def) {
        return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t) json_integer_value(v) : def;
}

static void reset(CtrRecord *r, void *userdata) {
        (void) userdata;
        json_object_set_new(r->config, "Health", json_pack("{s:s, s:i, s:[]}", "Status", "starting", "FailingStreak", 0,
                                                           "Log"));
}

int health_setup(Health *h, Engine *e, const char *id, const CtrRecord *rec) {
        *h = (Health) { .timer_fd = -1 };
        json_t *hc = json_object_get(json_object_get(rec->config, "Config"), "Healthcheck");
        json_t *test = json_object_get(hc, "Test");
        const char *kind = json_string_value(json_array_get(test, 0));
        if (!kind || streq(kind, "NONE") || json_array_size(test) < 2)
                return 0;
        if (streq(kind, "CMD-SHELL")) {
                if (strv_extend(&h->test, "/bin/sh") < 0 || strv_extend(&h->test, "-c") < 0 ||
                    strv_extend(&h->test, json_string_value(json_array_get(test, 1)) ?: "") < 0)
                        return -ENOMEM;
        } else {
                size_t i;
                json_t *a;
                json_array_foreach(test, i, a)
                        if (i > 0 && strv_extend(&h->test, json_string_value(a) ?: "") < 0)
                                return -ENOMEM;
        }
        h->interval_ns = ns_or(json_object_get(hc, "Interval"), 30000000000LL);
        h->timeout_ns = ns_or(json_object_get(hc, "Timeout"), 30000000000LL);
        h->start_period_ns = ns_or(json_object_get(hc, "StartPeriod"), 0);
        h->retries = (int) ns_or(json_object_get(hc, "Retries"), 3);
        h->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (h->timer_fd < 0)
                return -errno;
        /* the first probe after one interval, as docker; the timer then ticks every 100 ms at most
         * so a probe's timeout is noticed */
        int64_t tick = h->interval_ns < 100000000 ? h->interval_ns : 100000000;
        struct itimerspec its = { .it_interval = { tick / 1000000000, tick % 1000000000 },
                                  .it_value = { tick / 1000000000, tick % 1000000000 } };
        if (timerfd_settime(h->timer_fd, 0, &its, NULL) < 0)
                return -errno;
        h->enabled = true;
        h->started = engine_now();
        (void) ctr_modify(e, id, reset, NULL, NULL);
        h->probe_started = h->started;  /* "last probe" time: the first comes one interval in */
        return 0;
}

typedef struct Result {
        int code;
        int retries;
        int64_t start, end, start_period, since_start;
        int *streak;
} Result;

static void record(CtrRecord *r, void *userdata) {
        Result *res = userdata;
        json_t *health = json_object_get(r->config, "Health");
        if (!json_is_object(health)) {
                health = json_pack("{s:s, s:i, s:[]}", "Status", "starting", "FailingStreak", 0, "Log");
                json_object_set_new(r->config, "Health", health);
        }
        const char *status = json_string_value(json_object_get(health, "Status")) ?: "starting";
        if (res->code == 0) {
                *res->streak = 0;
                status = "healthy";
        } else if (res->since_start >= res->start_period) {
                /* failures during the start period do not count, as docker */
                if (++*res->streak >= res->retries)
                        status = "unhealthy";
        }
        char a[40], b[40];
        logs_format_time(res->start, a);
        logs_format_time(res->end, b);
        json_t *log = json_object_get(health, "Log");
        json_array_append_new(log, json_pack("{s:s, s:s, s:i, s:s}", "Start", a, "End", b, "ExitCode", res->code,
                                             "Output", ""));
        while (json_array_size(log) > HEALTH_LOG_MAX)
                json_array_remove(log, 0);
        json_object_set_new(health, "Status", json_string(status));
        json_object_set_new(health, "FailingStreak", json_integer(*res->streak));
}

static void finish(Health *h, Engine *e, const char *id, int code) {
        Result res = { .code = code, .retries = h->retries, .start = h->probe_started, .end = engine_now(),
                       .start_period = h->start_period_ns, .since_start = h->probe_started - h->started,
                       .streak = &h->streak };
        h->probe = 0;
        (void) ctr_modify(e, id, record, &res, NULL);
}

void health_tick(Health *h, Engine *e, const char *runtime_root, const char *id) {
        uint64_t n;
        (void) !read(h->timer_fd, &n, sizeof(n));
        int64_t now = engine_now();
        if (h->probe) {
                if (now - h->probe_started > h->timeout_ns)
                        (void) kill(h->probe, SIGKILL);         /* reaped as a failure */
                return;
        }
        if (now - h->probe_started < h->interval_ns)
                return;
        SpecProcess *p = NULL;
        if (container_exec_base_process(runtime_root, id, &p, NULL) < 0)
                return;
        strv_free(p->args);
        p->args = NULL;
        if (strv_copy(h->test, &p->args) < 0) {
                spec_process_free(p);
                return;
        }
        p->terminal = false;
        h->probe_started = now;
        pid_t pid = fork();
        if (pid == 0) {
                /* the probe's stdio: nothing in, nothing kept */
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
                        _exit(125);
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                ExecOptions o = { .root = runtime_root, .id = id, .process = p, .console_fd = -1 };
                int status = 0;
                if (container_exec(&o, &status, NULL) < 0)
                        _exit(125);
                _exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
        }
        spec_process_free(p);
        if (pid > 0)
                h->probe = pid;
}

bool health_reaped(Health *h, Engine *e, const char *id, pid_t pid, int status) {
        if (!h->enabled || pid != h->probe)
                return false;
        finish(h, e, id, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return true;
}

void health_done(Health *h) {
        if (h->probe > 0) {
                (void) kill(h->probe, SIGKILL);
                (void) waitpid(h->probe, NULL, 0);
        }
        if (h->timer_fd >= 0)
                close(h->timer_fd);
        strv_free(h->test);
        *h = (Health) { .timer_fd = -1 };
}

const char *health_status_suffix(const CtrRecord *r) {
        const char *s = json_string_value(json_object_get(json_object_get(r->config, "Health"), "Status"));
        if (!s || (r->state != CTR_RUNNING && r->state != CTR_PAUSED))
                return "";
        return streq(s, "healthy") ? " (healthy)" : streq(s, "unhealthy") ? " (unhealthy)" : " (health: starting)";
}
