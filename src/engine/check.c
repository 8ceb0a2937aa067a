/* SPDX-License-Identifier: Apache-2.0 */
/* engine_check: compare the state store with what exists (monitors, runtime state, mounts,
 * cgroups, directories, volumes, image blobs) and repair every difference, so that a kill -9 of
 * any kapsel process at any moment costs nothing that this check cannot collect. `kapsel system
 * check` prints its reports; kapseld runs it at start. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cgroup.h"
#include "check.h"
#include "container.h"
#include "ctr-ops.h"
#include "overlay.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"

typedef struct Check {
        Engine *e;
        bool dry_run;
        unsigned found;
        unsigned unsolved;      /* problems the check cannot repair: the user must act */
        EngineCheckReport report;
        void *userdata;
} Check;

static void report(Check *c, const char *what, const char *id) {
        c->found++;
        if (c->report)
                c->report(what, id, c->dry_run ? ENGINE_CHECK_WOULD_FIX : ENGINE_CHECK_FIXED, c->userdata);
}

static void report_unsolved(Check *c, const CtrRecord *rec, const char *missing) {
        c->unsolved++;
        _cleanup_free_ char *what = NULL;
        if (c->report && asprintf(&what, "container %s: %s: it cannot start again; remove it (kapsel rm -f %s) or "
                                  "load or pull its image again", rec->name, missing, rec->name) >= 0)
                c->report(what, rec->id, ENGINE_CHECK_CANNOT_FIX, c->userdata);
}

static bool is_mounted(const char *path) {
        struct statfs sf;
        struct stat st, parent;
        _cleanup_free_ char *up = path_join(path, "..");
        return statfs(path, &sf) == 0 && stat(path, &st) == 0 && up && stat(up, &parent) == 0 && st.st_dev != parent.st_dev;
}

static bool has_runtime_state(const Engine *e, const char *id) {
        _cleanup_free_ char *p = path_join(e->runtime_root, id);
        return p && access(p, F_OK) == 0;
}

/* A container that is not running holds nothing: no runtime state, no mount. */
static void check_stopped(Check *c, const CtrRecord *r) {
        _cleanup_free_ char *rootfs = engine_ctr_path(c->e, r->id, "rootfs");
        bool mounted = rootfs && is_mounted(rootfs), state = has_runtime_state(c->e, r->id);
        if (!mounted && !state)
                return;
        report(c, mounted ? "leftover rootfs mount of container" : "leftover runtime state of container", r->id);
        if (!c->dry_run)
                (void) ctr_release(c->e, r->id, NULL);
}

static int check_rows(Check *c, char ***ret_known, KError **err) {
        CtrRecord **list = NULL;
        size_t n = 0;
        int r = db_ctr_list(c->e->db, &list, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                CtrRecord *rec = list[i];
                (void) strv_extend(ret_known, rec->id);
                bool live = rec->state == CTR_RUNNING || rec->state == CTR_PAUSED || rec->state == CTR_RESTARTING;
                if (live && !ctr_monitor_alive(rec)) {
                        report(c, "container whose monitor died", rec->id);
                        if (!c->dry_run)
                                (void) ctr_repair(c->e, rec, NULL);
                        live = false;
                }
                _cleanup_free_ char *dir = engine_ctr_path(c->e, rec->id, NULL);
                if (dir && access(dir, F_OK) < 0) {
                        report(c, "container row without its directory", rec->id);
                        if (!c->dry_run) {
                                (void) ctr_release(c->e, rec->id, NULL);
                                (void) db_ctr_delete(c->e->db, rec->id, NULL);
                        }
                        continue;
                }
                if (!live)
                        check_stopped(c, rec);
                _cleanup_free_ char *missing = NULL;
                if (engine_ctr_image_missing(c->e, rec, &missing) > 0)
                        report_unsolved(c, rec, missing);
        }
        ctr_record_list_free(list, n);
        return 0;
}

/* Is `name` kbuild-<id>, a RUN step of `kapsel build` in progress? Steps have no container row; a
 * step's work directory build/step-<id> lives as long as its builder (build_gc(), which runs before
 * the check, removed those of dead builders with their containers and networks). A step whose
 * directory is gone is a leftover like any other. */
static bool build_step_lives(Check *c, const char *name) {
        const char *id = startswith(name, "kbuild-");
        _cleanup_free_ char *dir = NULL;
        if (!id || asprintf(&dir, "%s/build/step-%s", c->e->root, id) < 0)
                return false;
        return access(dir, F_OK) >= 0;
}

/* Directories (containers/, runtime/) whose id has no row: a crash between steps of create or rm. */
static void check_orphan_dirs(Check *c, const char *sub, char **known) {
        _cleanup_free_ char *path = path_join(c->e->root, sub);
        _cleanup_(closedirp) DIR *d = path ? opendir(path) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.' || strv_contains(known, de->d_name))
                        continue;
                if (build_step_lives(c, de->d_name))
                        continue;
                report(c, streq(sub, "runtime") ? "orphan runtime state" : "orphan container directory", de->d_name);
                if (c->dry_run)
                        continue;
                (void) container_delete(c->e->runtime_root, de->d_name, true, NULL);
                _cleanup_free_ char *dir = path_join(path, de->d_name);
                if (streq(sub, "containers") && dir) {
                        (void) overlay_umount(dir, NULL);
                        (void) rm_rf(dir);
                }
        }
}

/* cgroups named after our containers that are not running (the runtime could not remove them). */
static void check_cgroups(Check *c, char **known) {
        CgroupMode mode;
        if (cgroup_detect("/sys/fs/cgroup", &mode, NULL) < 0)
                return;
        for (char **id = known; id && *id; id++) {
                _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
                if (db_ctr_get(c->e->db, *id, &rec, NULL) >= 0 && (rec->state == CTR_RUNNING || rec->state == CTR_PAUSED))
                        continue;
                _cleanup_free_ char *path = NULL;
                _cleanup_(cgroup_freep) Cgroup *cg = NULL;
                if (asprintf(&path, "/kapsel/%s", *id) < 0 || cgroup_open("/sys/fs/cgroup", mode, path, &cg, NULL) < 0)
                        continue;
                char probe[512];
                snprintf(probe, sizeof(probe), "/sys/fs/cgroup/%s%s", mode == CGROUP_MODE_V2 ? "" : "pids", path);
                if (access(probe, F_OK) < 0)
                        continue;
                report(c, "leftover cgroup of container", *id);
                if (!c->dry_run)
                        (void) cgroup_destroy(cg, NULL);
        }
}

static void check_volumes(Check *c) {
        _cleanup_free_ char *path = path_join(c->e->root, "volumes");
        _cleanup_(closedirp) DIR *d = path ? opendir(path) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.' || db_vol_exists(c->e->db, de->d_name) != 0)
                        continue;
                report(c, "volume directory without its row", de->d_name);
                _cleanup_free_ char *dir = path_join(path, de->d_name);
                if (!c->dry_run && dir)
                        (void) rm_rf(dir);
        }
}

/* The network objects of RUN steps in progress are theirs (kbuild-<step id>, see build_step_lives). */
static int add_build_steps(Check *c, char ***live) {
        _cleanup_free_ char *path = path_join(c->e->root, "build");
        _cleanup_(closedirp) DIR *d = path ? opendir(path) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                const char *id = startswith(de->d_name, "step-");
                _cleanup_free_ char *name = NULL;
                if (id && (asprintf(&name, "kbuild-%s", id) < 0 || strv_extend(live, name) < 0))
                        return -ENOMEM;
        }
        return 0;
}

/* Network objects (veths, taps, rules, addresses, files) of containers that are not running. */
static void check_network(Check *c) {
        NetCtx *ctx;
        CtrRecord **list = NULL;
        size_t n = 0;
        if (c->dry_run || engine_net(c->e, &ctx, NULL) < 0 || db_ctr_list(c->e->db, &list, &n, NULL) < 0)
                return;
        _cleanup_strv_free_ char **live = NULL, **removed = NULL;
        for (size_t i = 0; i < n; i++)
                if (list[i]->state == CTR_RUNNING || list[i]->state == CTR_PAUSED || list[i]->state == CTR_RESTARTING)
                        (void) strv_extend(&live, list[i]->id);
        ctr_record_list_free(list, n);
        if (add_build_steps(c, &live) < 0 || net_gc(ctx, live, &removed, NULL) < 0)
                return;
        for (char **p = removed; p && *p; p++)
                report(c, "network leftover:", *p);
}

int engine_check(Engine *e, bool dry_run, EngineCheckReport report_fn, void *userdata, EngineCheckSummary *ret,
                 KError **err) {
        Check c = { .e = e, .dry_run = dry_run, .report = report_fn, .userdata = userdata };
        _cleanup_strv_free_ char **known = NULL;
        int r = check_rows(&c, &known, err);
        if (r < 0)
                return r;
        check_orphan_dirs(&c, "containers", known);
        check_orphan_dirs(&c, "runtime", known);
        check_cgroups(&c, known);
        check_volumes(&c);
        check_network(&c);
        ImageStore *s;
        uint64_t freed = 0;
        if (!dry_run && engine_images(e, &s, NULL) >= 0)
                (void) image_gc(s, &freed, NULL);
        if (ret)
                *ret = (EngineCheckSummary) { .found = c.found, .unsolved = c.unsolved, .freed = freed };
        return 0;
}
