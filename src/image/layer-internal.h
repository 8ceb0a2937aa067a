/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between layer.c (stream, hashes, loop) and layer-entry.c (one tar entry -> the tree). */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include "layer.h"

typedef struct DeferredDir {
        char *path;                     /* cleaned, relative to the layer root */
        mode_t mode;
        struct timespec times[2];
} DeferredDir;

typedef struct Unpack {
        const LayerUnpackOptions *o;
        LayerUnpackResult *res;
        KError **err;
        int in_fd, root_fd;
        struct archive *raw, *tar;      /* raw: decompression only; tar: parses raw's output */
        Sha256 raw_hash, tar_hash;
        char *inbuf;
        bool can_chown, keep_setid, can_mknod;
        const char *opaque_xattr;
        char *cached_parent;            /* last parent directory opened, and its fd */
        int cached_fd;
        DeferredDir *dirs;
        size_t n_dirs, cap_dirs;
        const char *entry;              /* current entry name, for messages */
} Unpack;

int unpack_entry(Unpack *u, struct archive_entry *e);
/* Apply modes and times of directories after their children exist (creating a child changes the
 * parent's mtime; a read-only mode would block an unprivileged unpack). */
int unpack_finish_dirs(Unpack *u);
int unpack_fail(Unpack *u, int r, const char *fmt, ...) _printf_(3, 4);
