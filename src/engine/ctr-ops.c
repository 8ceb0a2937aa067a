/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container.h"
#include "ctr-net.h"
#include "ctr-ops.h"
#include "events.h"
#include "monitor.h"
#include "overlay.h"
#include "rm-rf.h"
#include "string-util.h"
#include "vm-ops.h"

int ctr_modify(Engine *e, const char *id, void (*fn)(CtrRecord *r, void *userdata), void *userdata, KError **err) {
        int r = db_begin(e->db, err);
        if (r < 0)
                return r;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        r = db_ctr_get(e->db, id, &rec, err);
        if (r >= 0) {
                fn(rec, userdata);
                r = db_ctr_update(e->db, rec, err);
        }
        if (r < 0) {
                db_rollback(e->db);
                return r;
        }
        return db_commit(e->db, err);
}

int ctr_release(Engine *e, const char *id, KError **err) {
        /* runtime state first (kills what is left, removes the cgroup), then the mount */
        _cleanup_kerr_ KError *derr = NULL;
        int r = container_delete(e->runtime_root, id, true, &derr);
        if (r < 0 && r != -ENOENT && derr && derr->kind != KERR_NOT_FOUND) {
                if (err && !*err)
                        *err = TAKE_PTR(derr);
                return r;
        }
        (void) ctr_net_teardown(e, id, NULL);
        _cleanup_free_ char *dir = engine_ctr_path(e, id, NULL);
        if (!dir)
                return kerr(err, -ENOMEM, "release");
        return overlay_umount(dir, err);
}

int ctr_remove(Engine *e, const char *id, KError **err) {
        int r = ctr_release(e, id, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *dir = engine_ctr_path(e, id, NULL);
        if (!dir)
                return kerr(err, -ENOMEM, "remove");
        /* the row goes last: a crash before it leaves a row whose files are gone, which rm repairs */
        if ((r = rm_rf(dir)) < 0)
                return kerr(err, r, "remove %s", dir);
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        (void) db_ctr_get(e->db, id, &rec, NULL);
        if ((r = db_ctr_delete(e->db, id, err)) >= 0)
                events_emit(e->root, "container", "destroy", id,
                            events_ctr_attrs(rec ? rec->image : NULL, rec ? rec->name : NULL, rec ? rec->config : NULL));
        return r;
}

bool ctr_monitor_alive(const CtrRecord *r) {
        return r->monitor_pid > 0 && engine_pid_alive(r->monitor_pid);
}

static void set_lost(CtrRecord *r, void *userdata) {
        (void) userdata;
        r->state = CTR_EXITED;
        r->pid = 0;
        r->monitor_pid = 0;
        r->exit_code = 137;
        r->finished = engine_now();
}

int ctr_repair(Engine *e, CtrRecord *r, KError **err) {
        if (r->state == CTR_CREATED || r->state == CTR_EXITED || ctr_monitor_alive(r))
                return 0;
        /* the monitor is gone (kill -9, reboot): kill what is left and record it as killed */
        /* kapsel-vmm dies with its monitor (PDEATHSIG): its recorded pid may be another process's by now */
        if (!ctr_runs_vmm(r))
                (void) container_kill(e->runtime_root, r->id, SIGKILL, true, NULL);
        int ret = ctr_release(e, r->id, err);
        if (ret < 0)
                return ret;
        if ((ret = ctr_modify(e, r->id, set_lost, NULL, err)) < 0)
                return ret;
        set_lost(r, NULL);
        return 0;
}

static int pidfd_open_(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

bool ctr_wait_monitor(pid_t pid, int timeout_ms) {
        if (pid <= 0)
                return true;
        _cleanup_close_ int pfd = pidfd_open_(pid);
        if (pfd < 0)
                return errno == ESRCH;
        struct pollfd p = { .fd = pfd, .events = POLLIN };
        int n;
        while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
                ;
        return n > 0;
}

int ctr_wait(Engine *e, const char *id, int *ret, KError **err) {
        for (;;) {
                _cleanup_(ctr_record_freep) CtrRecord *r = NULL;
                int rr = db_ctr_get(e->db, id, &r, err);
                if (rr < 0)
                        return rr;
                if ((rr = ctr_repair(e, r, err)) < 0)
                        return rr;
                if (r->state == CTR_EXITED || r->state == CTR_CREATED) {
                        *ret = r->exit_code;
                        return 0;
                }
                /* a restarting container comes back with the same monitor: re-read after each wake */
                (void) ctr_wait_monitor(r->monitor_pid, 200);
        }
}

bool ctr_name_valid(const char *n) {
        static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return *n && strlen(n) <= 128 && strchr(alnum, n[0]) && strspn(n, "abcdefghijklmnopqrstuvwxyz"
                                                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(n);
}

int ctr_stop_signal(const CtrRecord *r) {
        const char *s = json_string_value(json_object_get(json_object_get(r->config, "Config"), "StopSignal"));
        int sig;
        /* the same names and numbers `run --stop-signal` accepted */
        return s && parse_signal(s, &sig) >= 0 ? sig : SIGTERM;
}

int ctr_kill(Engine *e, const CtrRecord *rec, int sig, KError **err) {
        int r = ctr_runs_vmm(rec) ? vm_kill(e, rec, sig, err) : container_kill(e->runtime_root, rec->id, sig, sig == SIGKILL, err);
        if (r >= 0) {
                json_t *attrs = events_ctr_attrs(rec->image, rec->name, rec->config);
                if (attrs)
                        json_object_set_new(attrs, "signal", json_sprintf("%d", sig));
                events_emit(e->root, "container", "kill", rec->id, attrs);
        }
        return r;
}

int ctr_stop(Engine *e, const char *ref, int timeout, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *r = NULL;
        int rr = db_ctr_get(e->db, ref, &r, err);
        if (rr < 0)
                return rr;
        if ((rr = ctr_repair(e, r, err)) < 0)
                return rr;
        if (r->state == CTR_EXITED || r->state == CTR_CREATED)
                return 0;
        if (ctr_runs_vmm(r))
                return vm_stop(e, r, timeout, err);
        /* tell the monitor first, so it does not restart what we stop */
        if (r->monitor_pid > 0)
                (void) kill(r->monitor_pid, SIGUSR1);
        if (r->state == CTR_PAUSED)
                (void) container_pause(e->runtime_root, r->id, false, NULL);
        (void) container_kill(e->runtime_root, r->id, ctr_stop_signal(r), false, NULL);
        json_t *attrs = events_ctr_attrs(r->image, r->name, r->config);
        if (attrs)
                json_object_set_new(attrs, "signal", json_sprintf("%d", ctr_stop_signal(r)));
        events_emit(e->root, "container", "kill", r->id, attrs);
        if (!ctr_wait_monitor(r->monitor_pid, timeout * 1000)) {
                (void) container_kill(e->runtime_root, r->id, SIGKILL, true, NULL);
                if (!ctr_wait_monitor(r->monitor_pid, 10000))
                        return kerr(err, -ETIMEDOUT, "container %s did not stop after SIGKILL", r->name);
        }
        int code;
        if ((rr = ctr_wait(e, r->id, &code, err)) >= 0)
                events_emit(e->root, "container", "stop", r->id, events_ctr_attrs(r->image, r->name, r->config));
        return rr;
}

int ctr_restart(Engine *e, const CtrRecord *rec, int timeout, KError **err) {
        int r = ctr_stop(e, rec->id, timeout, err);
        if (r < 0 || (r = monitor_spawn(e, rec->id, false, err)) < 0)
                return r;
        events_emit(e->root, "container", "restart", rec->id, events_ctr_attrs(rec->image, rec->name, rec->config));
        return 0;
}
