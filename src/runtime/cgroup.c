/* SPDX-License-Identifier: Apache-2.0 */
/* The cgroup front end: layout detection, path policy, and the operations shared by both
 * back-ends (signal everything, tear down). Version-specific work is in cgroup-v1.c and
 * cgroup-v2.c behind CgroupOps. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fd-util.h"
#include "path-util.h"
#include "string-util.h"

#define KAPSEL_CGROUP_PARENT "/kapsel"

int cgroup_detect(const char *fs_root, CgroupMode *ret, KError **err) {
        struct statfs sfs;
        if (statfs(fs_root, &sfs) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "cgroup filesystem %s", fs_root);
        if (sfs.f_type == CGROUP2_SUPER_MAGIC)
                *ret = CGROUP_MODE_V2;
        else if (sfs.f_type == TMPFS_MAGIC)
                *ret = CGROUP_MODE_V1;  /* legacy or hybrid: controllers live on v1 */
        else
                return kerr_msg(err, KERR_HOST, -ENOMEDIUM,
                                "%s is neither a cgroup2 mount nor a tmpfs of cgroup v1 hierarchies", fs_root);
        return 0;
}

int cgroup_resolve_path(const char *cgroups_path, const char *id, char **ret, KError **err) {
        _cleanup_free_ char *joined = NULL;
        if (!cgroups_path || !*cgroups_path)
                joined = path_join(KAPSEL_CGROUP_PARENT, id);
        else if (strchr(cgroups_path, ':') && !strchr(cgroups_path, '/'))
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "linux.cgroupsPath \"%s\" uses systemd's \"slice:prefix:name\" form: systemd cgroup "
                                "management (--systemd-cgroup) is not supported; give a path like \"/mygroup/%s\"",
                                cgroups_path, id);
        else if (cgroups_path[0] == '/')
                joined = strdup(cgroups_path);
        else
                joined = path_join(KAPSEL_CGROUP_PARENT, cgroups_path);
        if (!joined)
                return kerr(err, -ENOMEM, "cgroup path");
        _cleanup_free_ char *norm = NULL;
        int r = path_normalize(joined, true, &norm);
        if (r == -EINVAL || (norm && streq(norm, "/")))
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "linux.cgroupsPath \"%s\": must name a cgroup below the root, without \"..\"",
                                cgroups_path ? cgroups_path : "");
        if (r < 0)
                return kerr(err, r, "cgroup path");
        *ret = TAKE_PTR(norm);
        return 0;
}

static int cgroup_new(const char *fs_root, CgroupMode mode, const char *path, Cgroup **ret, KError **err) {
        _cleanup_(cgroup_freep) Cgroup *cg = calloc(1, sizeof(*cg));
        if (!cg || !(cg->fs_root = strdup(fs_root)) || !(cg->path = strdup(path)))
                return kerr(err, -ENOMEM, "cgroup %s", path);
        cg->mode = mode;
        cg->ops = mode == CGROUP_MODE_V2 ? &cgroup_v2_ops : &cgroup_v1_ops;
        *ret = TAKE_PTR(cg);
        return 0;
}

int cgroup_create(const char *fs_root, CgroupMode mode, const char *path, const SpecResources *res, Cgroup **ret,
                  KError **err) {
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_(cgroup_plan_freep) CgroupPlan *plan = NULL;
        int r;
        /* Plan first: a resource this cgroup version cannot express fails before anything exists. */
        if ((r = cgroup_plan_resources(mode, res, &plan, err)) < 0 || (r = cgroup_new(fs_root, mode, path, &cg, err)) < 0)
                return r;
        if ((r = cg->ops->create(cg, err)) < 0)
                return r;
        if ((r = cg->ops->apply(cg, plan, res, err)) < 0) {
                (void) cg->ops->destroy(cg, NULL);
                return r;
        }
        *ret = TAKE_PTR(cg);
        return 0;
}

int cgroup_open(const char *fs_root, CgroupMode mode, const char *path, Cgroup **ret, KError **err) {
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        int r = cgroup_new(fs_root, mode, path, &cg, err);
        if (r < 0)
                return r;
        if ((r = cg->ops->open(cg, err)) < 0)
                return r;
        *ret = TAKE_PTR(cg);
        return 0;
}

void cgroup_hier_clear(CgroupHier *h) {
        free(h->name);
        free(h->root);
        free(h->dev);
        free(h->dir);
        *h = (CgroupHier) { 0 };
}

void cgroup_free(Cgroup *cg) {
        if (!cg)
                return;
        for (size_t i = 0; i < cg->n_hier; i++)
                cgroup_hier_clear(&cg->hier[i]);
        free(cg->hier);
        free(cg->dir);
        free(cg->path);
        free(cg->fs_root);
        free(cg);
}

bool cgroup_existed(const Cgroup *cg) {
        return cg->existed;
}

const char *cgroup_path(const Cgroup *cg) {
        return cg->path;
}

CgroupMode cgroup_mode(const Cgroup *cg) {
        return cg->mode;
}

int cgroup_enter(Cgroup *cg, pid_t pid, KError **err) {
        return cg->ops->enter(cg, pid, err);
}

static bool list_has(const char *list, const char *word) {
        size_t l = strlen(word);
        for (const char *s = list; *s;) {
                size_t n = strcspn(s, ",");
                if (n == l && strncmp(s, word, l) == 0)
                        return true;
                s += n + (s[n] == ',');
        }
        return false;
}

void cgroup_join_free(CgroupJoin *j) {
        if (!j)
                return;
        for (size_t i = 0; i < j->n; i++) {
                safe_close(j->fds[i]);
                free(j->dirs[i]);
        }
        free(j->fds);
        free(j->dirs);
        free(j);
}

static bool hier_is_freezer(const CgroupHier *h) {
        return list_has(h->name, "freezer");
}

int cgroup_join_prepare(Cgroup *cg, CgroupJoin **ret, KError **err) {
        *ret = NULL;
        if (cg->mode != CGROUP_MODE_V1)
                return 0;
        _cleanup_(cgroup_join_freep) CgroupJoin *j = calloc(1, sizeof(*j));
        if (!j || !(j->fds = calloc(cg->n_hier, sizeof(int))) || !(j->dirs = calloc(cg->n_hier, sizeof(char *))))
                return kerr(err, -ENOMEM, "cgroup");
        /* two passes: every hierarchy but the freezer, then the freezer */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < cg->n_hier; i++) {
                        const CgroupHier *h = &cg->hier[i];
                        if (hier_is_freezer(h) != (pass == 1))
                                continue;
                        _cleanup_free_ char *p = path_join(h->dir, "tasks");
                        if (!p || !(j->dirs[j->n] = strdup(h->dir)))
                                return kerr(err, -ENOMEM, "cgroup");
                        j->fds[j->n] = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
                        if (j->fds[j->n] < 0) {
                                int r = -errno;
                                free(j->dirs[j->n]);
                                return kerr_kind(err, KERR_HOST, r, "open %s to join the cgroup", p);
                        }
                        j->n++;
                }
        *ret = TAKE_PTR(j);
        return 0;
}

int cgroup_join_self(CgroupJoin *j, KError **err) {
        int r = 0;
        for (size_t i = 0; i < j->n; i++) {
                if (r >= 0 && write(j->fds[i], "0", 1) != 1)
                        r = kerr_kind(err, KERR_HOST, -errno, "move the container's process into cgroup %s", j->dirs[i]);
                j->fds[i] = safe_close(j->fds[i]);
        }
        return r;
}

int cgroup_enter_sub(Cgroup *cg, pid_t pid, char *const *subs, KError **err) {
        if (!subs || !subs[0])
                return cgroup_enter(cg, pid, err);
        size_t n = cg->mode == CGROUP_MODE_V1 ? cg->n_hier : 1;
        _cleanup_free_ const char **chosen = calloc(n, sizeof(char *));
        if (!chosen)
                return kerr(err, -ENOMEM, "cgroup");
        for (size_t i = 0; subs[i]; i++) {
                const char *colon = strchr(subs[i], ':');
                const char *path = colon ? colon + 1 : subs[i];
                _cleanup_free_ char *ctrls = colon ? strndup(subs[i], (size_t) (colon - subs[i])) : NULL;
                _cleanup_free_ char *joined = path_join("/", path), *norm = NULL;
                if (!joined || (colon && !ctrls))
                        return kerr(err, -ENOMEM, "cgroup");
                if (path_normalize(joined, true, &norm) < 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "exec --cgroup: %s is not a sub cgroup path", path);
                for (const char *c = ctrls; c && *c;) {
                        size_t l = strcspn(c, ",");
                        _cleanup_free_ char *one = strndup(c, l);
                        bool known = cg->mode != CGROUP_MODE_V1;
                        for (size_t h = 0; one && h < n && !known; h++)
                                known = list_has(cg->hier[h].name, one);
                        if (!one || !known)
                                return kerr_msg(err, KERR_USAGE, -EINVAL, "exec --cgroup: unknown controller \"%s\"",
                                                one ? one : "");
                        c += l + (c[l] == ',');
                }
                for (size_t h = 0; h < n; h++) {
                        bool match = !ctrls || cg->mode != CGROUP_MODE_V1;
                        for (const char *c = ctrls; c && *c && !match;) {
                                size_t l = strcspn(c, ",");
                                _cleanup_free_ char *one = strndup(c, l);
                                match = one && list_has(cg->hier[h].name, one);
                                c += l + (c[l] == ',');
                        }
                        if (match)
                                chosen[h] = path;
                }
        }
        char buf[16];
        snprintf(buf, sizeof(buf), "%d", (int) pid);
        for (size_t h = 0; h < n; h++) {
                const char *base = cg->mode == CGROUP_MODE_V1 ? cg->hier[h].dir : cg->dir;
                _cleanup_free_ char *dir = chosen[h] ? path_join(base, chosen[h]) : strdup(base);
                if (!dir)
                        return kerr(err, -ENOMEM, "cgroup");
                int r = cg_write(dir, "cgroup.procs", buf);
                if (r < 0) {
                        /* runc's wording, which scripts match */
                        char what[128];
                        snprintf(what, sizeof(what), "%s", strerror(-r));
                        what[0] = (char) tolower((unsigned char) what[0]);
                        return kerr_msg(err, KERR_HOST, r, "exec --cgroup: adding pid %d to cgroups: write %s/cgroup.procs: "
                                        "%s (the sub-cgroup must exist)", (int) pid, dir, what);
                }
        }
        return 0;
}

int cgroup_apply(Cgroup *cg, const SpecResources *res, KError **err) {
        _cleanup_(cgroup_plan_freep) CgroupPlan *plan = NULL;
        int r = cgroup_plan_resources(cg->mode, res, &plan, err);
        if (r < 0)
                return r;
        return cg->ops->apply(cg, plan, res, err);
}

int cgroup_freeze(Cgroup *cg, bool frozen, KError **err) {
        return cg->ops->freeze(cg, frozen, err);
}

int cgroup_is_frozen(Cgroup *cg, bool *ret) {
        return cg->ops->is_frozen(cg, ret);
}

int cgroup_pids(Cgroup *cg, pid_t **ret, size_t *ret_n, KError **err) {
        return cg->ops->pids(cg, ret, ret_n, err);
}

int cgroup_stats(Cgroup *cg, CgroupStats *ret, KError **err) {
        *ret = (CgroupStats) { .memory_limit = UINT64_MAX, .pids_limit = UINT64_MAX };
        return cg->ops->stats(cg, ret, err);
}

int cgroup_kill_all(Cgroup *cg, int sig, KError **err) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r = cg->ops->pids(cg, &pids, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (kill(pids[i], sig) < 0 && errno != ESRCH)
                        return kerr(err, -errno, "signal %d to pid %d of cgroup %s", sig, (int) pids[i], cg->path);
        /* A frozen task only dies once thawed; other signals stay pending until resume. */
        bool frozen = false;
        if (sig == SIGKILL && cg->ops->is_frozen(cg, &frozen) >= 0 && frozen)
                return cg->ops->freeze(cg, false, err);
        return 0;
}

static int cgroup_empty(Cgroup *cg, void *data) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        return cg->ops->pids(cg, &pids, &n, NULL) >= 0 && n == 0;
}

int cgroup_destroy(Cgroup *cg, KError **err) {
        (void) cgroup_kill_all(cg, SIGKILL, NULL);
        /* Killed tasks leave the cgroup asynchronously; rmdir fails with EBUSY until they have. */
        if (cg_poll(cgroup_empty, cg, NULL, 5000) == 0)
                return kerr_kind(err, KERR_HOST, -EBUSY, "cgroup %s: processes still present after SIGKILL", cg->path);
        return cg->ops->destroy(cg, err);
}

/* --- helpers shared by the back-ends --- */

int cg_write(const char *dir, const char *file, const char *value) {
        _cleanup_free_ char *p = path_join(dir, file);
        if (!p)
                return -ENOMEM;
        return write_string_file_at(AT_FDCWD, p, value);
}

int cg_read(const char *dir, const char *file, char **ret) {
        _cleanup_free_ char *p = path_join(dir, file);
        if (!p)
                return -ENOMEM;
        char *text = NULL;
        int r = read_full_file_at(AT_FDCWD, p, 1 << 20, &text, NULL);
        if (r < 0)
                return r;
        size_t l = strlen(text);
        while (l > 0 && text[l - 1] == '\n')
                text[--l] = '\0';
        *ret = text;
        return 0;
}

int cg_read_u64(const char *dir, const char *file, uint64_t *ret) {
        _cleanup_free_ char *text = NULL;
        int r = cg_read(dir, file, &text);
        if (r < 0)
                return r;
        if (streq(text, "max")) {
                *ret = UINT64_MAX;
                return 0;
        }
        return parse_uint64(text, ret);
}

int cg_collect_pids(const char *dir, pid_t **pids, size_t *n) {
        _cleanup_free_ char *text = NULL;
        int r = cg_read(dir, "cgroup.procs", &text);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                int64_t v;
                if (parse_int64(line, &v) < 0 || v <= 0)
                        continue;
                pid_t *a = realloc(*pids, (*n + 1) * sizeof(pid_t));
                if (!a)
                        return -ENOMEM;
                *pids = a;
                a[(*n)++] = (pid_t) v;
        }
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *sub = path_join(dir, de->d_name);
                if (!sub)
                        return -ENOMEM;
                if ((r = cg_collect_pids(sub, pids, n)) < 0)
                        return r;
        }
        return 0;
}

int cg_rmdir_tree(const char *dir) {
        /* the usual case, a leaf: one rmdir, no listing */
        if (rmdir(dir) >= 0 || errno == ENOENT)
                return 0;
        if (errno != EBUSY && errno != ENOTEMPTY)
                return -errno;
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *sub = path_join(dir, de->d_name);
                if (!sub)
                        return -ENOMEM;
                int r = cg_rmdir_tree(sub);
                if (r < 0)
                        return r;
        }
        if (rmdir(dir) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int cg_mkdir_p(const char *dir, char **ret_first_new) {
        if (ret_first_new)
                *ret_first_new = NULL;
        /* the usual case, the parent exists: one mkdir instead of one per level */
        if (mkdir(dir, 0755) >= 0) {
                if (ret_first_new && !(*ret_first_new = strdup(dir)))
                        return -ENOMEM;
                return 0;
        }
        if (errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;
        _cleanup_free_ char *p = strdup(dir);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char saved = *s;
                *s = '\0';
                if (mkdir(p, 0755) >= 0) {
                        if (ret_first_new && !*ret_first_new && !(*ret_first_new = strdup(p)))
                                return -ENOMEM;
                } else if (errno != EEXIST)
                        return -errno;
                *s = saved;
                if (!saved)
                        break;
        }
        return 0;
}

int cg_poll(int (*check)(Cgroup *cg, void *data), Cgroup *cg, void *data, unsigned timeout_ms) {
        const struct timespec tick = { .tv_nsec = 1000000 };
        for (unsigned waited = 0;; waited++) {
                if (check(cg, data))
                        return 1;
                if (waited >= timeout_ms)
                        return 0;
                nanosleep(&tick, NULL);
        }
}
