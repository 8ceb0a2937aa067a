/* SPDX-License-Identifier: Apache-2.0 */
/* Path helpers, and symlink-safe resolution inside a directory tree (a container rootfs).
 *
 * Everything that acts on a path inside a rootfs goes through open_in_root(): openat2() with
 * RESOLVE_IN_ROOT, so ".." and absolute symlinks cannot leave the tree, and magic links
 * (/proc/self/fd/N, /proc/self/cwd) are refused. This is what closes the CVE-2021-30465
 * class (mount destination swapped for a symlink) and CVE-2019-16884 class. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

static inline bool path_is_absolute(const char *p) {
        return p && p[0] == '/';
}

/* Join `a` and `b` with exactly one '/' between them. NULL on ENOMEM. */
char *path_join(const char *a, const char *b);
/* Collapse "//" and "/./", drop a trailing '/'. Returns -EINVAL on ".." components when
 * `forbid_dotdot`. Result is a new string in *ret. */
int path_normalize(const char *p, bool forbid_dotdot, char **ret);

/* mkdir -p for a host path (not inside a rootfs): each missing parent is created 0755, `path`
 * itself with `mode`; directories that exist are left as they are. */
int mkdir_p(const char *path, mode_t mode);

/* open `path` (absolute or relative; both taken relative to rootfd) inside rootfd's tree. */
int open_in_root(int rootfd, const char *path, int flags, mode_t mode);
/* mkdir -p inside the tree; returns an O_PATH|O_DIRECTORY fd to the last directory. */
int mkdir_p_in_root(int rootfd, const char *path, mode_t mode);
/* Make sure `path` exists inside the tree as a directory (`dir`) or an empty regular file,
 * creating parents; returns an O_PATH fd to it, verified to be of the wanted kind. */
int ensure_in_root(int rootfd, const char *path, bool dir, mode_t mode);
