/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctr-ops.h"
#include "monitor.h"
#include "vm-migrate.h"
#include "vm-ops.h"

#define INCOMING_KEY "Incoming"

const char *vm_incoming_listen(const json_t *config) {
        return json_string_value(json_object_get(json_object_get(config, INCOMING_KEY), "Listen"));
}

const char *vm_incoming_token(const json_t *config) {
        return json_string_value(json_object_get(json_object_get(config, INCOMING_KEY), "Token"));
}

static void set_incoming(CtrRecord *r, void *userdata) {
        if (userdata)
                json_object_set(r->config, INCOMING_KEY, userdata);
        else
                json_object_del(r->config, INCOMING_KEY);
}

int vm_receive_start(Engine *e, const char *id, const char *listen, const char *token, KError **err) {
        if (!token || !*token || strlen(token) > 256)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "receive: --token of 1 to 256 characters is required (the "
                                "source's 'kapsel vm migrate' gives the same)");
        if (strncmp(listen, "unix:", 5) != 0 && strncmp(listen, "tcp:", 4) != 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "receive: --listen %s: expected unix:PATH or tcp:ADDR:PORT",
                                listen);
        _cleanup_(json_decrefp) json_t *in = json_pack("{s:s, s:s}", "Listen", listen, "Token", token);
        if (!in)
                return kerr(err, -ENOMEM, "receive");
        /* for this one start; the row then forgets it (the token too) */
        int r = ctr_modify(e, id, set_incoming, in, err);
        if (r >= 0)
                r = monitor_spawn(e, id, false, err);
        (void) ctr_modify(e, id, set_incoming, NULL, NULL);
        return r;
}

/* Connect to unix:PATH or tcp:ADDR:PORT (numeric), with the stream's timeouts: kapsel-vmm gets
 * this fd with the request (its seccomp filter lets it open no connection itself). */
static int connect_target(const char *to, KError **err) {
        _cleanup_close_ int fd = -1;
        int r;
        if (strncmp(to, "unix:", 5) == 0) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                if (!to[5] || strlen(to + 5) >= sizeof(sa.sun_path))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "migrate: --to %s: bad socket path", to);
                strcpy(sa.sun_path, to + 5);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                r = fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ? -errno : 0;
        } else if (strncmp(to, "tcp:", 4) == 0) {
                char host[128];
                const char *colon = strrchr(to + 4, ':');
                size_t hl = colon ? (size_t) (colon - (to + 4)) : 0;
                if (!colon || hl == 0 || hl >= sizeof(host))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "migrate: --to %s: expected tcp:ADDR:PORT", to);
                memcpy(host, to + 4, hl);
                host[hl] = 0;
                if (host[0] == '[' && host[hl - 1] == ']') {
                        memmove(host, host + 1, hl - 2);
                        host[hl - 2] = 0;
                }
                struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
                if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "migrate: --to %s: a numeric address and port", to);
                fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                r = fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? -errno : 0;
                freeaddrinfo(ai);
        } else
                return kerr_msg(err, KERR_USAGE, -EINVAL, "migrate: --to %s: expected unix:PATH or tcp:ADDR:PORT", to);
        if (r < 0)
                return kerr(err, r, "migrate: connect to %s (is 'kapsel vm receive' waiting there?)", to);
        struct timeval tv = { .tv_sec = 60 };
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return TAKE_FD(fd);
}

/* The last "migrated to ..." line kapsel-vmm left in the VM's log (json lines). */
static char *find_report(Engine *e, const CtrRecord *rec) {
        _cleanup_free_ char *log = engine_ctr_path(e, rec->id, "ctr.log");
        _cleanup_fclose_ FILE *f = log ? fopen(log, "re") : NULL;
        char *report = NULL, *line = NULL;
        size_t cap = 0;
        while (f && getline(&line, &cap, f) > 0) {
                json_t *j = json_loads(line, 0, NULL);
                const char *s = json_string_value(json_object_get(j, "log"));
                const char *at = s ? strstr(s, "migrated to ") : NULL;
                if (at) {
                        free(report);
                        report = strndup(at, strcspn(at, "\n"));
                }
                json_decref(j);
        }
        free(line);
        return report;
}

static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

int vm_migrate(Engine *e, const CtrRecord *rec, const char *to, const char *token, unsigned max_downtime_ms,
               unsigned timeout_s, char **ret_report, KError **err) {
        if (rec->kind != CTR_KIND_VM)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "migrate: %s is a container, not a micro-VM", rec->name);
        if (rec->state != CTR_RUNNING)
                return kerr_msg(err, KERR_STATE, -EINVAL, "migrate: VM %s is %s; only a running VM migrates", rec->name,
                                ctr_state_to_string(rec->state));
        _cleanup_(json_decrefp) json_t *req = json_pack("{s:s, s:s, s:s}", "cmd", "migrate", "to", to, "token",
                                                        token ?: "");
        if (req && max_downtime_ms)
                json_object_set_new(req, "max_downtime_ms", json_integer(max_downtime_ms));
        _cleanup_free_ char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
        if (!line)
                return kerr(err, -ENOMEM, "migrate");
        _cleanup_close_ int conn = connect_target(to, err);
        if (conn < 0)
                return conn;
        int r = vm_control_line_fd(e, rec, line, conn, 60, NULL, err);
        if (r < 0)
                return r;
        /* the monitor records that kapsel-vmm ended (0: migrated) */
        if (rec->monitor_pid > 0)
                (void) kill(rec->monitor_pid, SIGUSR1);
        for (unsigned waited = 0; waited < timeout_s * 10; waited++) {
                _cleanup_free_ char *st = NULL;
                if (vm_control(e, rec, "stats", &st, NULL) < 0)
                        break;          /* kapsel-vmm is gone: done, or it died */
                _cleanup_(json_decrefp) json_t *j = json_loads(st, 0, NULL);
                json_t *mig = json_object_get(j, "migration");
                if (json_is_object(mig) && strcmp(json_string_value(json_object_get(mig, "state")) ?: "", "failed") == 0)
                        return kerr_msg(err, KERR_STATE, -EIO, "migrate VM %s: %s; it keeps running here", rec->name,
                                        json_string_value(json_object_get(mig, "error")) ?: "failed");
                sleep_ms(100);
        }
        if (!ctr_wait_monitor(rec->monitor_pid, 10000))
                return kerr_msg(err, KERR_STATE, -ETIMEDOUT, "migrate VM %s: not done after %u s", rec->name, timeout_s);
        int code = 0;
        if ((r = ctr_wait(e, rec->id, &code, err)) < 0)
                return r;
        _cleanup_free_ char *report = find_report(e, rec);
        if (code != 0 || !report)
                return kerr_msg(err, KERR_STATE, -EIO, "migrate VM %s: kapsel-vmm ended with status %d before the "
                                "target took over (kapsel vm logs %s)", rec->name, code, rec->name);
        *ret_report = TAKE_PTR(report);
        return 0;
}
