/* SPDX-License-Identifier: Apache-2.0 */
/* Control groups: one interface, two back-ends (cgroup v1 incl. hybrid hosts, cgroup v2).
 *
 * Plan, then apply: cgroup_plan_resources() is pure and turns linux.resources into an ordered
 * list of (controller, file, value) writes for a given mode (golden-tested without root);
 * the back-ends create directories, perform the writes, move processes and tear down.
 * The filesystem root ("/sys/fs/cgroup") is a parameter so tests can run against a fake tree. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

typedef enum CgroupMode {
        CGROUP_MODE_V1,         /* legacy, or hybrid (v1 controllers + an empty unified tree) */
        CGROUP_MODE_V2,         /* unified: one cgroup2 tree with controllers */
} CgroupMode;

/* One planned write. For v1, `controller` names the hierarchy ("memory", "cpu", ...);
 * for v2 it is the controller that must be enabled in the parent's subtree_control. */
typedef struct CgroupWrite {
        const char *controller;         /* static string */
        char *file;                     /* "memory.limit_in_bytes", "memory.max", ... */
        char *value;
} CgroupWrite;

typedef struct CgroupPlan {
        CgroupWrite *writes;
        size_t n_writes;
        /* v2 device rules compile to a BPF program instead of writes; v1 they are writes. */
        bool needs_device_bpf;
} CgroupPlan;

void cgroup_plan_free(CgroupPlan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(CgroupPlan *, cgroup_plan_free)

/* Pure: resources -> writes for `mode`. Unsupported combinations (e.g. kernel memory on v2,
 * realtime on v2) are KERR_CONFIG errors naming the field. */
int cgroup_plan_resources(CgroupMode mode, const SpecResources *res, CgroupPlan **ret, KError **err);

typedef struct Cgroup Cgroup;

/* Detect the host's layout under `fs_root` (statfs: cgroup2 magic -> v2, tmpfs -> v1). */
int cgroup_detect(const char *fs_root, CgroupMode *ret, KError **err);

/* Resolve the container's cgroup path: spec cgroupsPath if set (absolute = from the hierarchy
 * root; relative = under "/kapsel"), else "/kapsel/<id>". "slice:prefix:name" (systemd syntax)
 * is a KERR_CONFIG error saying --systemd-cgroup is not supported. */
int cgroup_resolve_path(const char *cgroups_path, const char *id, char **ret, KError **err);

/* Create the cgroup (all v1 hierarchies, or the v2 directory with controllers enabled on the
 * way down), then apply `res` (may be NULL). On failure everything created is removed. */
int cgroup_create(const char *fs_root, CgroupMode mode, const char *path, const SpecResources *res,
                  Cgroup **ret, KError **err);
/* Open an existing cgroup (for state, kill --all, pause, update, delete). */
int cgroup_open(const char *fs_root, CgroupMode mode, const char *path, Cgroup **ret, KError **err);
void cgroup_free(Cgroup *cg);
DEFINE_TRIVIAL_CLEANUP_FUNC(Cgroup *, cgroup_free)

const char *cgroup_path(const Cgroup *cg);
/* create found the cgroup already there (shared with other processes, maybe). */
bool cgroup_existed(const Cgroup *cg);
CgroupMode cgroup_mode(const Cgroup *cg);

/* Move `pid` into the cgroup (every hierarchy on v1). */
int cgroup_enter(Cgroup *cg, pid_t pid, KError **err);
/* exec --cgroup: each of `subs` is [CONTROLLER[,CONTROLLER...]:]PATH, PATH below the container's
 * cgroup (".." refused); hierarchies no entry names get the container's cgroup itself. */
int cgroup_enter_sub(Cgroup *cg, pid_t pid, char *const *subs, KError **err);

/* A process that joins by itself. Moving another process into a v1 cgroup (its pid written to
 * cgroup.procs) takes the kernel's global cgroup_threadgroup_rwsem for writing, which waits for
 * an RCU grace period: 5-20 ms, most of a container start. A single-threaded task that writes
 * "0" to a hierarchy's `tasks` file moves only itself and skips that lock (0.3 ms for all of
 * them). So the runtime opens every hierarchy's `tasks` file (the kernel checks the opener's
 * credentials, so this works after the process entered a user namespace) and the new process
 * writes "0" to each before it runs anything of the container's: cgroup_join_self(). The
 * freezer comes last: a frozen freezer stops the process only once it is in every other one.
 * v2 has no such path (its cgroup.procs always takes the lock): *ret = NULL, use cgroup_enter. */
typedef struct CgroupJoin {
        int *fds;               /* O_WRONLY|O_CLOEXEC fds of <dir>/tasks */
        char **dirs;            /* for messages */
        size_t n;
} CgroupJoin;
int cgroup_join_prepare(Cgroup *cg, CgroupJoin **ret, KError **err);
/* In the process itself (single-threaded): join, then close the fds. */
int cgroup_join_self(CgroupJoin *j, KError **err);
void cgroup_join_free(CgroupJoin *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(CgroupJoin *, cgroup_join_free)
/* Apply resources to an existing cgroup (`update`). */
int cgroup_apply(Cgroup *cg, const SpecResources *res, KError **err);
/* Freeze or thaw; waits until the kernel reports the new state, bounded (never hangs). */
int cgroup_freeze(Cgroup *cg, bool frozen, KError **err);
int cgroup_is_frozen(Cgroup *cg, bool *ret);
/* Every pid in the cgroup (and its descendants). */
int cgroup_pids(Cgroup *cg, pid_t **ret, size_t *ret_n, KError **err);
/* Send `sig` to every process; SIGKILL on a frozen cgroup thaws it so the kill lands. */
int cgroup_kill_all(Cgroup *cg, int sig, KError **err);
/* Kill what is left, wait for it to go (bounded), remove the directories. Missing = success. */
int cgroup_destroy(Cgroup *cg, KError **err);

typedef struct CgroupStats {
        uint64_t cpu_usage_ns;
        uint64_t memory_usage, memory_limit;    /* limit UINT64_MAX = none */
        uint64_t pids_current, pids_limit;      /* limit UINT64_MAX = none */
        uint64_t blkio_read_bytes, blkio_write_bytes;
        uint64_t oom_kills;                     /* tasks the OOM killer took in this cgroup */
} CgroupStats;
int cgroup_stats(Cgroup *cg, CgroupStats *ret, KError **err);

/* Back-end interface; each back-end (cgroup-v1.c, cgroup-v2.c) provides one. */
typedef struct CgroupOps {
        CgroupMode mode;
        int (*create)(Cgroup *cg, KError **err);       /* resolve directories and make them */
        int (*open)(Cgroup *cg, KError **err);         /* resolve existing directories only */
        int (*enter)(Cgroup *cg, pid_t pid, KError **err);
        int (*apply)(Cgroup *cg, const CgroupPlan *plan, const SpecResources *res, KError **err);
        int (*freeze)(Cgroup *cg, bool frozen, KError **err);
        int (*is_frozen)(Cgroup *cg, bool *ret);
        int (*pids)(Cgroup *cg, pid_t **ret, size_t *ret_n, KError **err);
        int (*destroy)(Cgroup *cg, KError **err);
        int (*stats)(Cgroup *cg, CgroupStats *ret, KError **err);
} CgroupOps;
