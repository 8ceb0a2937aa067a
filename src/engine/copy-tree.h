/* SPDX-License-Identifier: Apache-2.0 */
/* Copying files into and out of a container's rootfs (`kapsel cp`). Every path inside the rootfs
 * is resolved with openat2(RESOLVE_IN_ROOT): a symlink in the container resolves against the
 * container's root, never the host's, so a hostile container cannot make cp read or write a host
 * file (the docker cp CVE-2018-15664/CVE-2019-14271 class). Symlinks are copied as symlinks. */
#pragma once

#include "error.h"

/* Copy `src` (file, dir or symlink; relative to src_dirfd) to `dst_name` inside dst_dirfd.
 * Ownership kept when we are root, modes and mtimes always. */
int copy_tree_at(int src_dirfd, const char *src, int dst_dirfd, const char *dst_name, KError **err);

/* `src` (relative to src_dirfd; a directory with everything under it) as a tar stream on out_fd,
 * its entries named `name`, `name`/... Regular files are read up to their size at stat time;
 * FIFOs and devices are written as such, never opened; symlinks are not followed. */
int copy_tree_to_tar(int src_dirfd, const char *src, const char *name, int out_fd, KError **err);
/* Unpack the tar stream on in_fd (plain or compressed) beneath dst_dirfd: nothing it names can
 * leave dst_dirfd (no "..", no absolute paths, no symlinked parents), `label` names it in errors. */
int copy_tar_into(int in_fd, int dst_dirfd, const char *label, KError **err);

/* Open `path` inside the tree at rootfd as its root (RESOLVE_IN_ROOT). flags as for openat. */
int open_in_container(int rootfd, const char *path, int flags);
