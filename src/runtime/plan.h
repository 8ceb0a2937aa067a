/* SPDX-License-Identifier: Apache-2.0 */
/* Plan: the pure translation of a validated Spec into what the apply layer does, so the whole
 * decision logic is golden-tested without root: which namespaces to create or join, the mount
 * list with parsed flags (in order), the device nodes to create, the device-cgroup rules.
 * Nothing here touches the host except resolving the bundle-relative rootfs/source paths. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

typedef enum PlanMountKind {
        PLAN_MOUNT_FS,          /* a new filesystem instance: proc, sysfs, tmpfs, devpts, mqueue, ... */
        PLAN_MOUNT_BIND,        /* bind or rbind of a host path */
        PLAN_MOUNT_CGROUP,      /* "cgroup" type: the container's own cgroup tree, read-only unless ns */
} PlanMountKind;

typedef struct PlanMount {
        PlanMountKind kind;
        char *source;           /* FS: the source string; BIND: absolute host path */
        char *dest;             /* normalized absolute path inside the rootfs */
        char *fstype;           /* FS only */
        unsigned long flags;    /* MS_RDONLY, MS_NOSUID, ... (no MS_BIND/MS_REC/propagation) */
        unsigned long propagation; /* MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE (+MS_REC), or 0 */
        bool recursive;         /* rbind */
        bool recursive_ro;      /* "rro": read-only down to every submount (mount_setattr) */
        char *data;             /* filesystem options joined by ',' (NULL if none) */
} PlanMount;

typedef struct PlanDevice {
        char *path;             /* absolute, inside the container */
        mode_t mode;            /* S_IFCHR/S_IFBLK/S_IFIFO | permissions */
        dev_t rdev;
        uid_t uid;
        gid_t gid;
} PlanDevice;

typedef struct Plan {
        /* namespaces: new ones and joined ones (by path) */
        bool ns_new[_NS_TYPE_MAX];
        char *ns_join[_NS_TYPE_MAX];
        int clone_flags;        /* CLONE_NEW* the init is cloned with (no CGROUP/TIME: later) */

        char *rootfs;           /* absolute host path */
        bool readonly_root;
        unsigned long rootfs_propagation;  /* applied to "/" in the new mount ns */
        bool no_mount_ns;       /* neither new nor joined: chroot into rootfs, mount nothing */

        PlanMount *mounts;
        size_t n_mounts;
        bool dev_is_bind;       /* /dev is bind-mounted from the host: create no device nodes */
        bool has_proc_mount;

        PlanDevice *devices;    /* default set + spec devices, later ones replace by path */
        size_t n_devices;

        SpecDeviceRule *device_rules;   /* default allow list + spec rules, in order */
        size_t n_device_rules;

        char **masked_paths;
        char **readonly_paths;
        bool userns;            /* a user namespace is created or joined */
} Plan;

void plan_free(Plan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Plan *, plan_free)

/* Build the plan. `bundle` is the absolute bundle directory (relative root.path and bind
 * sources resolve against it). Errors are KERR_CONFIG naming the mount/field. */
int plan_build(const Spec *spec, const char *bundle, Plan **ret, KError **err);

/* Parse a mount's options into flags/propagation/data. Exposed for tests. */
int plan_parse_mount_options(char *const *options, size_t n, PlanMount *m, KError **err);

/* Print the plan in a stable text form (golden tests, `--debug`). */
void plan_dump(const Plan *p, FILE *f);
