/* SPDX-License-Identifier: Apache-2.0 */
/* Apply a Plan's filesystem part inside the container's new mount namespace.
 *
 * Every target is resolved inside the rootfs with open_in_root() (RESOLVE_IN_ROOT, no magic
 * links) and the mount lands on that verified fd through /proc/self/fd/N of the host's procfs
 * (still visible before pivot_root). Sources that the image controls are never trusted: the
 * /dev/null used for masking is the host's, opened and checked before anything else. */
#pragma once

#include <stdbool.h>

#include "cgroup.h"
#include "error.h"
#include "plan.h"

typedef struct RootfsContext {
        const Plan *plan;
        const char *cgroup_path;        /* the container's cgroup (for "cgroup" mounts) */
        bool cgroup_ns;                 /* the container has its own cgroup namespace */
        int devnull_fd;                 /* host /dev/null, verified char 1:3; owned, set by rootfs_prepare() */
        int rootfd;                     /* O_PATH fd of the rootfs mount (set by rootfs_prepare) */
        const int *bind_fds;            /* per plan mount: its bind source opened by the parent, or -1
                                         * (with a user namespace; NULL: open them here) */
} RootfsContext;

/* Host /dev/null, checked to be the real device (CVE-2025-31133 class). */
int rootfs_open_devnull(KError **err);
/* Make "/" non-propagating, bind the rootfs onto itself (pivot_root needs a mount point),
 * open ctx->rootfd. */
int rootfs_prepare(RootfsContext *ctx, KError **err);
/* The spec's mounts in order, then device nodes and the standard /dev symlinks. */
int rootfs_mount_all(RootfsContext *ctx, KError **err);
/* maskedPaths and readonlyPaths (after sysctls, before pivot). */
int rootfs_mask_and_protect(RootfsContext *ctx, KError **err);
/* pivot_root (or MS_MOVE + chroot with no_pivot), drop the old root, remount "/" read-only
 * if asked. The cwd ends at "/". */
int rootfs_pivot(RootfsContext *ctx, bool no_pivot, KError **err);
/* Without a mount namespace of its own: open the rootfs (rootfs_open) and later chroot into it
 * (rootfs_chroot); nothing is mounted. A process with CAP_SYS_CHROOT can leave a chroot: only
 * a mount namespace (pivot_root) confines the root for good. */
int rootfs_open(RootfsContext *ctx, KError **err);
int rootfs_chroot(RootfsContext *ctx, KError **err);
/* Bind the pty slave onto <rootfs>/dev/console. */
int rootfs_bind_console(RootfsContext *ctx, int slave_fd, KError **err);
