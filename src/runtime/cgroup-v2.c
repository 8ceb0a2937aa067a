/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v2: one directory in the unified tree. Controllers must be enabled in every
 * ancestor's cgroup.subtree_control (Documentation/admin-guide/cgroup-v2.rst, "Enabling and
 * Disabling"); only leaves hold processes ("no internal processes" rule). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup-internal.h"
#include "cgroup-bpf.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"

/* Controllers a container may need, enabled on the way down when the host offers them. */
static const char *const wanted_controllers[] = { "cpuset", "cpu", "io", "memory", "pids", "hugetlb" };

static bool word_in(const char *list, const char *word) {
        size_t l = strlen(word);
        for (const char *s = list; *s;) {
                s += strspn(s, " \n");
                size_t n = strcspn(s, " \n");
                if (n == l && strncmp(s, word, l) == 0)
                        return true;
                s += n;
        }
        return false;
}

/* Enable in `dir`'s subtree_control every wanted controller that `dir` has. */
static int enable_controllers(const char *dir, KError **err) {
        _cleanup_free_ char *avail = NULL, *enabled = NULL;
        if (cg_read(dir, "cgroup.controllers", &avail) < 0)
                return 0;       /* not a cgroup2 directory we can manage: nothing to enable */
        (void) cg_read(dir, "cgroup.subtree_control", &enabled);
        for (size_t i = 0; i < ELEMENTSOF(wanted_controllers); i++) {
                const char *c = wanted_controllers[i];
                if (!word_in(avail, c) || (enabled && word_in(enabled, c)))
                        continue;
                char buf[32];
                snprintf(buf, sizeof(buf), "+%s", c);
                int r = cg_write(dir, "cgroup.subtree_control", buf);
                if (r < 0)
                        return kerr_kind(err, KERR_HOST, r,
                                         "cgroup %s: enable controller %s (a cgroup with processes cannot delegate "
                                         "controllers; use a cgroupsPath outside the runtime's own cgroup)", dir, c);
        }
        return 0;
}

static int v2_open(Cgroup *cg, KError **err) {
        cg->dir = path_join(cg->fs_root, cg->path);
        if (!cg->dir)
                return kerr(err, -ENOMEM, "cgroup");
        return 0;
}

static int v2_create(Cgroup *cg, KError **err) {
        int r = v2_open(cg, err);
        if (r < 0)
                return r;
        /* Walk the ancestors from the root: enable, then descend (mkdir as needed). */
        _cleanup_free_ char *cur = strdup(cg->fs_root), *first_new = NULL;
        if (!cur)
                return kerr(err, -ENOMEM, "cgroup");
        for (const char *s = cg->path; *s;) {
                while (*s == '/')
                        s++;
                size_t n = strcspn(s, "/");
                if (n == 0)
                        break;
                if ((r = enable_controllers(cur, err)) < 0)
                        goto fail;
                char *next;
                if (asprintf(&next, "%s/%.*s", cur, (int) n, s) < 0) {
                        r = kerr(err, -ENOMEM, "cgroup");
                        goto fail;
                }
                free(cur);
                cur = next;
                if (mkdir(cur, 0755) >= 0) {
                        if (!first_new && !(first_new = strdup(cur))) {
                                r = kerr(err, -ENOMEM, "cgroup");
                                goto fail;
                        }
                } else if (errno != EEXIST) {
                        r = kerr_kind(err, KERR_HOST, -errno, "create cgroup %s", cur);
                        goto fail;
                }
                s += n;
        }
        cg->existed = !first_new;
        /* A cgroup somebody froze beforehand would stop the init in D state for good. */
        _cleanup_free_ char *frozen = NULL;
        if (!first_new && cg_read(cg->dir, "cgroup.freeze", &frozen) >= 0 && streq(frozen, "1")) {
                r = kerr_msg(err, KERR_GENERIC, -EBUSY, "container's cgroup unexpectedly frozen: %s has cgroup.freeze "
                             "1; thaw it (echo 0 > cgroup.freeze) or use another cgroupsPath", cg->dir);
                goto fail;
        }
        return 0;
fail:
        if (first_new)
                (void) cg_rmdir_tree(first_new);
        return r;
}

static int v2_apply(Cgroup *cg, const CgroupPlan *plan, const SpecResources *res, KError **err) {
        for (size_t i = 0; i < plan->n_writes; i++) {
                const CgroupWrite *w = &plan->writes[i];
                int r = cg_write(cg->dir, w->file, w->value);
                if (r == -ENOENT)
                        return kerr_msg(err, KERR_HOST, r,
                                        "cgroup %s: no %s here (is the %s controller available and enabled?)", cg->dir,
                                        w->file, w->controller ? w->controller : "matching");
                if (r == -EINVAL || r == -ERANGE)       /* the value, not the host (status 1, as runc) */
                        return kerr_kind(err, KERR_GENERIC, r, "cgroup %s: the kernel refused \"%s\" for %s", cg->dir,
                                         w->value, w->file);
                if (r < 0)
                        return kerr_kind(err, KERR_HOST, r, "cgroup %s: write \"%s\" to %s", cg->dir, w->value, w->file);
        }
        if (plan->needs_device_bpf)
                return cgroup_bpf_devices_apply(cg->dir, res->devices, res->n_devices, err);
        return 0;
}

static int v2_enter(Cgroup *cg, pid_t pid, KError **err) {
        char buf[16];
        snprintf(buf, sizeof(buf), "%d", (int) pid);
        int r = cg_write(cg->dir, "cgroup.procs", buf);
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "move pid %d into cgroup %s", (int) pid, cg->dir);
        return 0;
}

static int events_field(Cgroup *cg, const char *key) {
        _cleanup_free_ char *text = NULL;
        if (cg_read(cg->dir, "cgroup.events", &text) < 0)
                return -1;
        size_t l = strlen(key);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
                if (strncmp(line, key, l) == 0 && line[l] == ' ')
                        return atoi(line + l + 1);
        return -1;
}

static int frozen_is(Cgroup *cg, void *want) {
        return events_field(cg, "frozen") == *(int *) want;
}

static int v2_freeze(Cgroup *cg, bool frozen, KError **err) {
        int want = frozen;
        int r = cg_write(cg->dir, "cgroup.freeze", frozen ? "1" : "0");
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "cgroup %s: write cgroup.freeze", cg->dir);
        if (cg_poll(frozen_is, cg, &want, 2000))
                return 0;
        if (frozen)
                (void) cg_write(cg->dir, "cgroup.freeze", "0");
        return kerr_kind(err, KERR_HOST, -ETIMEDOUT, "cgroup %s did not become %s within 2 s", cg->dir,
                         frozen ? "frozen" : "thawed");
}

static int v2_is_frozen(Cgroup *cg, bool *ret) {
        *ret = events_field(cg, "frozen") == 1;
        return 0;
}

static int v2_pids(Cgroup *cg, pid_t **ret, size_t *ret_n, KError **err) {
        pid_t *pids = NULL;
        size_t n = 0;
        int r = cg_collect_pids(cg->dir, &pids, &n);
        if (r < 0) {
                free(pids);
                return kerr(err, r, "list processes of cgroup %s", cg->dir);
        }
        *ret = pids;
        *ret_n = n;
        return 0;
}

static int v2_destroy(Cgroup *cg, KError **err) {
        int r = cg_rmdir_tree(cg->dir);
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "remove cgroup %s", cg->dir);
        return 0;
}

static void keyed_u64(const char *text, const char *key, uint64_t *ret) {
        size_t l = strlen(key);
        for (const char *s = text; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
                while (*s == ' ')
                        s++;
                if (strncmp(s, key, l) == 0 && s[l] == ' ') {
                        *ret = strtoull(s + l + 1, NULL, 10);
                        return;
                }
        }
}

static int v2_stats(Cgroup *cg, CgroupStats *st, KError **err) {
        _cleanup_free_ char *cpu = NULL, *io = NULL, *events = NULL;
        uint64_t v;
        if (cg_read(cg->dir, "memory.events", &events) >= 0)
                keyed_u64(events, "oom_kill", &st->oom_kills);
        if (cg_read(cg->dir, "cpu.stat", &cpu) >= 0) {
                uint64_t usec = 0;
                keyed_u64(cpu, "usage_usec", &usec);
                st->cpu_usage_ns = usec * 1000;
        }
        if (cg_read_u64(cg->dir, "memory.current", &v) >= 0)
                st->memory_usage = v;
        if (cg_read_u64(cg->dir, "memory.max", &v) >= 0)
                st->memory_limit = v;
        if (cg_read_u64(cg->dir, "pids.current", &v) >= 0)
                st->pids_current = v;
        if (cg_read_u64(cg->dir, "pids.max", &v) >= 0)
                st->pids_limit = v;
        if (cg_read(cg->dir, "io.stat", &io) >= 0)
                for (char *tok = strtok(io, " \n"); tok; tok = strtok(NULL, " \n")) {
                        const char *val;
                        if ((val = startswith(tok, "rbytes=")))
                                st->blkio_read_bytes += strtoull(val, NULL, 10);
                        else if ((val = startswith(tok, "wbytes=")))
                                st->blkio_write_bytes += strtoull(val, NULL, 10);
                }
        return 0;
}

const CgroupOps cgroup_v2_ops = {
        .mode = CGROUP_MODE_V2,
        .create = v2_create,
        .open = v2_open,
        .enter = v2_enter,
        .apply = v2_apply,
        .freeze = v2_freeze,
        .is_frozen = v2_is_frozen,
        .pids = v2_pids,
        .destroy = v2_destroy,
        .stats = v2_stats,
};
