/* SPDX-License-Identifier: Apache-2.0 */
/* Safe layer unpacking (OCI image-spec layer.md): one pass over the blob computes its digest, the
 * diff-id (sha256 of the uncompressed tar) and writes the entries below a directory fd.
 *
 * Every entry is resolved relative to the layer directory with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS): a path with ".." above the root, a parent that is a symlink (planted by an
 * earlier entry), a hardlink whose target is outside or behind a symlink fail the whole layer,
 * with a message naming the layer and the entry. Files are created O_EXCL|O_NOFOLLOW, so an
 * existing symlink is replaced, never written through. Whiteouts become overlayfs whiteouts:
 * ".wh.NAME" -> char device 0:0 NAME, ".wh..wh..opq" -> "overlay.opaque"="y" on the directory. */
#pragma once

#include "rm-rf.h"

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

typedef enum LayerCompression {
        LAYER_COMPRESSION_NONE,
        LAYER_COMPRESSION_GZIP,
        LAYER_COMPRESSION_ZSTD,
        LAYER_COMPRESSION_OTHER,        /* xz, bzip2: readable, but no OCI media type */
} LayerCompression;

typedef struct LayerUnpackOptions {
        const char *label;              /* names the layer in messages, e.g. "layer sha256:..." */
        const char *expect_digest;      /* digest of the raw input (the blob), or NULL */
        const char *expect_diff_id;     /* digest of the uncompressed tar, or NULL */
        int tee_fd;                     /* the input is copied here as it streams, or -1 */
        bool tee_uncompressed;          /* copy the uncompressed tar to tee_fd instead of the input */
        bool rootless;                  /* behave as an unprivileged user even when root */
        bool no_whiteouts;              /* keep ".wh." entries as plain files (not an image layer) */
} LayerUnpackOptions;

typedef struct LayerUnpackResult {
        char digest[DIGEST_STR_MAX];    /* of the raw input */
        char diff_id[DIGEST_STR_MAX];   /* of the uncompressed tar */
        uint64_t raw_size, tar_size;
        uint64_t unpacked_size;         /* sum of regular file sizes */
        LayerCompression compression;
        unsigned skipped_devices;       /* device nodes not created (unprivileged) */
        unsigned skipped_owners;        /* lchown refused (unmapped ids) or not attempted */
        unsigned skipped_xattrs;        /* xattrs refused by the filesystem or forbidden (overlay.*) */
} LayerUnpackResult;

/* The compression of a layer blob from its first bytes (`n` of them at `head`): GZIP or ZSTD by
 * their magic numbers, NONE for anything else (plain tar, or a format we store uncompressed). */
LayerCompression layer_compression_sniff(const void *head, size_t n);

/* Unpack the tar stream read from `in_fd` (gzip, zstd, xz, bzip2 or plain; detected) into the
 * directory `dest_dirfd`. On failure the directory holds garbage: the caller removes it. */
int layer_unpack(int in_fd, int dest_dirfd, const LayerUnpackOptions *o, LayerUnpackResult *ret, KError **err);

/* The xattr prefix overlayfs reads whiteout metadata from: "trusted.overlay." for root in the
 * initial user namespace, "user.overlay." otherwise (mount with -o userxattr). */
const char *layer_overlay_xattr_prefix(bool rootless);
/* Root in the initial user namespace: may create device nodes. */
bool layer_host_privileged(void);

/* Lexically clean a tar path: strip leading '/', drop "." and empty components, apply "..".
 * -EXDEV when ".." climbs above the root. "" for the root itself. */
int layer_clean_path(const char *path, char **ret);

/* Add a gzip filter to a tar being written, without the time of day in its header: the same
 * tar compresses to the same blob (same digest) whenever it is written, as Docker's and
 * buildah's layers do. */
struct archive;
void layer_add_gzip(struct archive *a);

/* Write a directory with overlayfs whiteouts (a container's upper dir) as a gzip layer tar to fd:
 * whiteout devices become ".wh.NAME", opaque directories get ".wh..wh..opq", overlay xattrs are
 * dropped, entries are in name order (commit.c). */
int commit_write_layer(const char *upper_dir, int fd, KError **err);
