/* SPDX-License-Identifier: Apache-2.0 */
/* The guest's writer of a build step's changes (guest-tar.c): an overlayfs upper dir as an OCI
 * layer tar (image-spec layer.md), so the host never mounts a filesystem the guest wrote; it reads
 * the tar with its layer code (src/image/layer.c) instead. A writer only, no parser: plain ustar
 * headers, PAX extended headers ('x') where ustar has no room (long paths and link targets, big
 * sizes and ids) and for xattrs (SCHILY.xattr.NAME, raw values as GNU tar and libarchive write).
 *
 * What the tar holds, in name order, parents before children, the root itself left out:
 *   directories "DIR/", regular files with their data, symlinks, char/block devices and FIFOs;
 *   modes (setuid/setgid/sticky included), owners, mtimes (seconds), xattrs except the overlay's own;
 *   a second name of a regular file, symlink or device (st_nlink > 1) as a hardlink entry naming
 *   the first one written;
 *   overlay whiteouts (a char device 0:0, or an empty regular file with the xattr
 *   <prefix>whiteout: overlayfs' "xwhiteout") as an empty file ".wh.NAME";
 *   an opaque directory (<prefix>opaque = "y") as DIR/ followed by "DIR/.wh..wh..opq".
 * Sockets are left out (a layer cannot hold them). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The overlay xattr prefix of a guest's overlay (root, no userxattr). */
#define GUEST_TAR_OVERLAY_PREFIX "trusted.overlay."

typedef struct GuestTarResult {
        uint64_t size;          /* bytes written, end-of-archive blocks included */
        uint64_t entries;       /* entries written (PAX headers not counted) */
        char where[256];        /* on failure: the path (relative to the tree) that failed, or "" */
} GuestTarResult;

/* Write the tree at `dirfd` to `fd` as a tar ending with the two end-of-archive blocks.
 * `overlay_prefix` names the overlay's xattrs ("trusted.overlay." or "user.overlay."): they mark
 * whiteouts and opaque directories and are not copied. Returns 0 or -errno (ret->where says
 * where). Reads xattrs through /proc/self/fd (proc must be mounted). */
int guest_tar_write_tree(int dirfd, int fd, const char *overlay_prefix, GuestTarResult *ret);
