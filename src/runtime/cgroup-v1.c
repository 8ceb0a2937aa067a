/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v1 (and hybrid hosts): one directory per mounted hierarchy.
 *
 * Hierarchies are the "cgroup" mounts below the cgroup tmpfs in /proc/self/mountinfo
 * ("cpu,cpuacct", "memory", "name=systemd"); a hierarchy mounted twice (or reached through
 * the "cpu" -> "cpu,cpuacct" symlink) is used once. On hybrid hosts "unified" is the
 * (controller-less) cgroup2 tree and is not used. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup-internal.h"
#include "fd-util.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"

static bool hier_has(const CgroupHier *h, const char *controller) {
        size_t l = strlen(controller);
        for (const char *s = h->name; *s;) {
                size_t n = strcspn(s, ",");
                if (n == l && strncmp(s, controller, l) == 0)
                        return true;
                s += n;
                if (*s == ',')
                        s++;
        }
        return false;
}

static CgroupHier *find_hier(Cgroup *cg, const char *controller) {
        for (size_t i = 0; i < cg->n_hier; i++)
                if (hier_has(&cg->hier[i], controller))
                        return &cg->hier[i];
        return NULL;
}

/* Undo mountinfo's octal escapes ("\040" for a space) in place. */
static void unescape_octal(char *s) {
        char *w = s;
        for (char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = 0;
}

static int add_hier(Cgroup *cg, const char *name, const char *mount_point, const char *dev) {
        for (size_t i = 0; i < cg->n_hier; i++)
                if (cg->hier[i].dev && dev && streq(cg->hier[i].dev, dev))
                        return 0;  /* the same hierarchy mounted twice */
        CgroupHier *a = realloc(cg->hier, (cg->n_hier + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        cg->hier = a;
        CgroupHier *h = &a[cg->n_hier];
        *h = (CgroupHier) { .name = strdup(name), .root = strdup(mount_point), .dev = dev ? strdup(dev) : NULL,
                            .dir = path_join(mount_point, cg->path) };
        if (!h->name || !h->root || !h->dir || (dev && !h->dev)) {
                cgroup_hier_clear(h);
                return -ENOMEM;
        }
        cg->n_hier++;
        return 0;
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS".
 * A v1 hierarchy mounted below fs_root is added under its super options as controller list
 * ("rw,cpu,cpuacct", "rw,xattr,name=systemd"). */
static int parse_mountinfo_line(Cgroup *cg, char *line) {
        char *sep = strstr(line, " - ");
        if (!sep)
                return 0;
        *sep = 0;
        char *save = NULL, *f[5];
        size_t n = 0;
        for (char *t = strtok_r(line, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save))
                f[n++] = t;
        char *fstype = strtok_r(sep + 3, " ", &save);
        (void) strtok_r(NULL, " ", &save);
        char *superopts = strtok_r(NULL, " \n", &save);
        if (n < 5 || !fstype || !superopts || !streq(fstype, "cgroup"))
                return 0;
        char *mp = f[4];
        unescape_octal(mp);
        size_t l = strlen(cg->fs_root);
        while (l > 1 && cg->fs_root[l - 1] == '/')
                l--;
        if (strncmp(mp, cg->fs_root, l) != 0 || mp[l] != '/' || !mp[l + 1])
                return 0;
        return add_hier(cg, superopts, mp, f[2]);
}

int cgroup_v1_parse_mountinfo(Cgroup *cg, const char *text) {
        _cleanup_free_ char *copy = strdup(text);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                int r = parse_mountinfo_line(cg, line);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Directories without a mount (a tool's stray "mkdir /sys/fs/cgroup/hugetlb") are no hierarchy:
 * only what /proc/self/mountinfo lists counts. A fs_root without any cgroup mount (the unit
 * tests' fake trees) is taken as a tree of hierarchy directories. */
static int resolve_dirs(Cgroup *cg, KError **err) {
        _cleanup_(closedirp) DIR *d = opendir(cg->fs_root);
        if (!d)
                return kerr_kind(err, KERR_HOST, -errno, "list cgroup hierarchies in %s", cg->fs_root);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_type != DT_DIR || de->d_name[0] == '.' || streq(de->d_name, "unified"))
                        continue;
                _cleanup_free_ char *root = path_join(cg->fs_root, de->d_name);
                if (!root || add_hier(cg, de->d_name, root, NULL) < 0)
                        return kerr(err, -ENOMEM, "cgroup");
        }
        return 0;
}

static int resolve(Cgroup *cg, KError **err) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file_at(AT_FDCWD, "/proc/self/mountinfo", 4 << 20, &text, NULL);
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "read /proc/self/mountinfo to find the cgroup v1 hierarchies");
        if ((r = cgroup_v1_parse_mountinfo(cg, text)) < 0)
                return kerr(err, r, "cgroup");
        if (cg->n_hier == 0 && (r = resolve_dirs(cg, err)) < 0)
                return r;
        if (cg->n_hier == 0)
                return kerr_msg(err, KERR_HOST, -ENOENT, "no cgroup v1 hierarchy is mounted under %s", cg->fs_root);
        return 0;
}

/* A new cpuset cgroup starts with empty cpus/mems, and a task cannot join it until both are
 * set: copy them down from the parent level by level, as the kernel's clone_children would. */
static int cpuset_inherit(const char *hier_root, const char *path) {
        _cleanup_free_ char *cur = strdup(hier_root);
        if (!cur)
                return -ENOMEM;
        for (const char *s = path; *s;) {
                while (*s == '/')
                        s++;
                size_t n = strcspn(s, "/");
                if (n == 0)
                        break;
                char *next;
                if (asprintf(&next, "%s/%.*s", cur, (int) n, s) < 0)
                        return -ENOMEM;
                static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
                for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                        _cleanup_free_ char *mine = NULL, *parent = NULL;
                        if (cg_read(next, files[i], &mine) < 0 || *mine)
                                continue;
                        if (cg_read(cur, files[i], &parent) >= 0 && *parent)
                                (void) cg_write(next, files[i], parent);
                }
                free(cur);
                cur = next;
                s += n;
        }
        return 0;
}

static int v1_open(Cgroup *cg, KError **err) {
        return resolve(cg, err);
}

static int v1_create(Cgroup *cg, KError **err) {
        int r = resolve(cg, err);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **created = calloc(cg->n_hier + 1, sizeof(char *));
        if (!created)
                return kerr(err, -ENOMEM, "cgroup");
        size_t n_created = 0;
        for (size_t i = 0; i < cg->n_hier; i++) {
                char *first = NULL;
                r = cg_mkdir_p(cg->hier[i].dir, &first);
                if (first)
                        created[n_created++] = first;
                else
                        cg->existed = true;
                if (r < 0) {
                        kerr_kind(err, KERR_HOST, r, "create cgroup %s", cg->hier[i].dir);
                        goto fail;
                }
                if (hier_has(&cg->hier[i], "cpuset"))
                        (void) cpuset_inherit(cg->hier[i].root, cg->path);
                /* A cgroup somebody froze beforehand would stop the init in D state for good. */
                _cleanup_free_ char *state = NULL;
                if (!first && hier_has(&cg->hier[i], "freezer") &&
                    cg_read(cg->hier[i].dir, "freezer.state", &state) >= 0 && !streq(state, "THAWED")) {
                        r = kerr_msg(err, KERR_GENERIC, -EBUSY, "container's cgroup unexpectedly frozen: %s is %s; thaw "
                                     "it (echo THAWED > freezer.state) or use another cgroupsPath", cg->hier[i].dir, state);
                        goto fail;
                }
        }
        return 0;
fail:
        for (size_t i = 0; i < n_created; i++)
                (void) cg_rmdir_tree(created[i]);
        return r;
}

static int write_one(Cgroup *cg, const CgroupWrite *w, KError **err) {
        CgroupHier *h = find_hier(cg, w->controller);
        if (!h)
                return kerr_msg(err, KERR_HOST, -ENOENT,
                                "cgroup v1 controller \"%s\" is not mounted on this host (needed to set %s)",
                                w->controller, w->file);
        int r = cg_write(h->dir, w->file, w->value);
        if (r == -ENOENT)
                return kerr_msg(err, KERR_HOST, r, "cgroup %s: this kernel has no %s (e.g. swap accounting or kernel "
                                "memory limits are off): remove the setting", h->dir, w->file);
        if (r == -EINVAL || r == -ERANGE)       /* the value, not the host: a config error, status 1 as runc */
                return kerr_kind(err, KERR_GENERIC, r, "cgroup %s: the kernel refused \"%s\" for %s", h->dir, w->value,
                                 w->file);
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "cgroup %s: write \"%s\" to %s", h->dir, w->value, w->file);
        return 0;
}

static int v1_apply(Cgroup *cg, const CgroupPlan *plan, const SpecResources *res, KError **err) {
        for (size_t i = 0; i < plan->n_writes; i++) {
                const CgroupWrite *w = &plan->writes[i];
                /* memory.memsw.limit_in_bytes >= memory.limit_in_bytes must hold after every
                 * write: lowering both needs limit first, raising both needs memsw first. */
                if (streq(w->file, "memory.limit_in_bytes") && i + 1 < plan->n_writes &&
                    streq(plan->writes[i + 1].file, "memory.memsw.limit_in_bytes")) {
                        if (write_one(cg, w, NULL) < 0) {
                                int r = write_one(cg, &plan->writes[i + 1], err);
                                if (r < 0 || (r = write_one(cg, w, err)) < 0)
                                        return r;
                        } else {
                                int r = write_one(cg, &plan->writes[i + 1], err);
                                if (r < 0)
                                        return r;
                        }
                        i++;
                        continue;
                }
                /* A new period can be refused under the current quota (a parent's limit) and the
                 * other way round: when the first of the pair fails, write the quota first. */
                if (streq(w->file, "cpu.cfs_period_us") && i + 1 < plan->n_writes &&
                    streq(plan->writes[i + 1].file, "cpu.cfs_quota_us")) {
                        if (write_one(cg, w, NULL) >= 0)
                                continue;       /* the quota follows as usual */
                        int r = write_one(cg, &plan->writes[i + 1], err);
                        if (r < 0 || (r = write_one(cg, w, err)) < 0)
                                return r;
                        i++;
                        continue;
                }
                /* "no memory limit" must not stay below an old memory+swap limit (EINVAL): lift
                 * that too when the spec does not set it, as runc does. */
                if (streq(w->file, "memory.limit_in_bytes") && streq(w->value, "-1") && write_one(cg, w, NULL) < 0) {
                        CgroupWrite memsw = { .controller = "memory", .file = "memory.memsw.limit_in_bytes",
                                              .value = (char *) "-1" };
                        (void) write_one(cg, &memsw, NULL);
                }
                int r = write_one(cg, w, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int v1_enter(Cgroup *cg, pid_t pid, KError **err) {
        char buf[16];
        snprintf(buf, sizeof(buf), "%d", (int) pid);
        for (size_t i = 0; i < cg->n_hier; i++) {
                int r = cg_write(cg->hier[i].dir, "cgroup.procs", buf);
                if (r < 0)
                        return kerr_kind(err, KERR_HOST, r, "move pid %d into cgroup %s", (int) pid, cg->hier[i].dir);
        }
        return 0;
}

static int freezer_state_is(Cgroup *cg, void *want) {
        CgroupHier *h = find_hier(cg, "freezer");
        _cleanup_free_ char *state = NULL;
        return h && cg_read(h->dir, "freezer.state", &state) >= 0 && streq(state, want);
}

static int v1_freeze(Cgroup *cg, bool frozen, KError **err) {
        CgroupHier *h = find_hier(cg, "freezer");
        if (!h)
                return kerr_msg(err, KERR_HOST, -EOPNOTSUPP, "the freezer cgroup controller is not mounted on this host");
        const char *want = frozen ? "FROZEN" : "THAWED";
        int r = cg_write(h->dir, "freezer.state", want);
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "cgroup %s: write %s to freezer.state", h->dir, want);
        /* Freezing can stall on a task in uninterruptible sleep: bounded wait, then give up
         * and thaw, so nothing is left half-frozen. */
        if (cg_poll(freezer_state_is, cg, (void *) want, 2000))
                return 0;
        if (frozen)
                (void) cg_write(h->dir, "freezer.state", "THAWED");
        return kerr_kind(err, KERR_HOST, -ETIMEDOUT, "cgroup %s did not become %s within 2 s", h->dir, want);
}

static int v1_is_frozen(Cgroup *cg, bool *ret) {
        CgroupHier *h = find_hier(cg, "freezer");
        _cleanup_free_ char *state = NULL;
        *ret = false;
        if (!h)
                return 0;
        int r = cg_read(h->dir, "freezer.state", &state);
        if (r < 0)
                return r;
        *ret = streq(state, "FROZEN");
        return 0;
}

static int v1_pids(Cgroup *cg, pid_t **ret, size_t *ret_n, KError **err) {
        CgroupHier *h = find_hier(cg, "pids");
        if (!h)
                h = find_hier(cg, "memory");
        if (!h)
                h = &cg->hier[0];
        pid_t *pids = NULL;
        size_t n = 0;
        int r = cg_collect_pids(h->dir, &pids, &n);
        if (r < 0) {
                free(pids);
                return kerr(err, r, "list processes of cgroup %s", h->dir);
        }
        *ret = pids;
        *ret_n = n;
        return 0;
}

static int v1_destroy(Cgroup *cg, KError **err) {
        int ret = 0;
        for (size_t i = 0; i < cg->n_hier; i++) {
                int r = cg_rmdir_tree(cg->hier[i].dir);
                if (r < 0 && ret == 0)
                        ret = kerr_kind(err, KERR_HOST, r, "remove cgroup %s", cg->hier[i].dir);
        }
        return ret;
}

static void read_u64_of(Cgroup *cg, const char *controller, const char *file, uint64_t *ret) {
        CgroupHier *h = find_hier(cg, controller);
        uint64_t v;
        if (h && cg_read_u64(h->dir, file, &v) >= 0)
                *ret = v;
}

static int v1_stats(Cgroup *cg, CgroupStats *st, KError **err) {
        read_u64_of(cg, "cpuacct", "cpuacct.usage", &st->cpu_usage_ns);
        read_u64_of(cg, "memory", "memory.usage_in_bytes", &st->memory_usage);
        read_u64_of(cg, "memory", "memory.limit_in_bytes", &st->memory_limit);
        /* v1 reports "no limit" as the largest page-aligned value, not as "max". */
        if (st->memory_limit >= (UINT64_C(1) << 62))
                st->memory_limit = UINT64_MAX;
        read_u64_of(cg, "pids", "pids.current", &st->pids_current);
        read_u64_of(cg, "pids", "pids.max", &st->pids_limit);
        CgroupHier *m = find_hier(cg, "memory");
        _cleanup_free_ char *oom = NULL;
        const char *k;
        if (m && cg_read(m->dir, "memory.oom_control", &oom) >= 0 && (k = strstr(oom, "oom_kill ")))
                st->oom_kills = strtoull(k + strlen("oom_kill "), NULL, 10);
        CgroupHier *h = find_hier(cg, "blkio");
        _cleanup_free_ char *text = NULL;
        if (h && cg_read(h->dir, "blkio.throttle.io_service_bytes", &text) >= 0)
                for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                        char dev[32], op[16];
                        unsigned long long v;
                        if (sscanf(line, "%31s %15s %llu", dev, op, &v) != 3)
                                continue;
                        if (streq(op, "Read"))
                                st->blkio_read_bytes += v;
                        else if (streq(op, "Write"))
                                st->blkio_write_bytes += v;
                }
        return 0;
}

const CgroupOps cgroup_v1_ops = {
        .mode = CGROUP_MODE_V1,
        .create = v1_create,
        .open = v1_open,
        .enter = v1_enter,
        .apply = v1_apply,
        .freeze = v1_freeze,
        .is_frozen = v1_is_frozen,
        .pids = v1_pids,
        .destroy = v1_destroy,
        .stats = v1_stats,
};
