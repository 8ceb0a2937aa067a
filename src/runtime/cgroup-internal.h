/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between cgroup.c and its back-ends (cgroup-v1.c, cgroup-v2.c). */
#pragma once

#include "cgroup.h"

/* A v1 hierarchy the container's cgroup lives in: "<fs_root>/<mount>/<path>". */
typedef struct CgroupHier {
        char *name;             /* mount directory name: "cpu,cpuacct", "memory", "systemd" */
        char *root;             /* its mount point */
        char *dev;              /* "major:minor" from mountinfo (NULL for a plain directory) */
        char *dir;              /* the container's directory in it */
} CgroupHier;

void cgroup_hier_clear(CgroupHier *h);
/* Add the v1 hierarchies mounted below cg->fs_root that mountinfo text lists. */
int cgroup_v1_parse_mountinfo(Cgroup *cg, const char *text);

struct Cgroup {
        char *fs_root;
        CgroupMode mode;
        char *path;             /* "/kapsel/<id>", relative to each hierarchy's root */
        const CgroupOps *ops;
        CgroupHier *hier;       /* v1 */
        size_t n_hier;
        char *dir;              /* v2: "<fs_root><path>" */
        bool existed;           /* create found the leaf already there (in some hierarchy) */
};

extern const CgroupOps cgroup_v1_ops;
extern const CgroupOps cgroup_v2_ops;

/* Helpers used by both back-ends. */
int cg_write(const char *dir, const char *file, const char *value);
int cg_read(const char *dir, const char *file, char **ret);        /* trailing newline stripped */
int cg_read_u64(const char *dir, const char *file, uint64_t *ret); /* "max" -> UINT64_MAX */
/* Append every pid listed in dir/cgroup.procs and in all descendants. */
int cg_collect_pids(const char *dir, pid_t **pids, size_t *n);
/* Remove dir and its descendant cgroups, deepest first. Missing is fine. */
int cg_rmdir_tree(const char *dir);
/* mkdir -p "dir" (each level 0755); *ret_first_new = first directory created, or NULL. */
int cg_mkdir_p(const char *dir, char **ret_first_new);
/* Poll `check` every 1 ms for up to `timeout_ms`; returns 1 when it held, 0 on timeout. */
int cg_poll(int (*check)(Cgroup *cg, void *data), Cgroup *cg, void *data, unsigned timeout_ms);
