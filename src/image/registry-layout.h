/* SPDX-License-Identifier: Apache-2.0 */
/* The client's side of an OCI image layout (image-spec image-layout.md): blobs/sha256/<hex> files,
 * oci-layout, index.json. A blob only ever gets its final name after its digest and size were
 * verified; names come only from digests that passed registry_digest_valid(). */
#pragma once

#include "digest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "registry-parse.h"

typedef struct Layout {
        char *path;
        int dirfd;
        int blobsfd;            /* blobs/sha256 */
} Layout;

/* Open `path` as a layout; with `create`, make it (and blobs/sha256) when missing. */
int layout_open(const char *path, bool create, Layout *ret, KError **err);
void layout_close(Layout *l);

/* sha256 of a buffer / of an fd's whole content, as "sha256:<hex>". */

/* 1 when blob `digest` is present with `size` bytes and the right content, 0 when not. */
int layout_blob_present(const Layout *l, const char *digest, uint64_t size);
/* Open a blob read-only (no symlinks followed); its size in ret_size. */
int layout_blob_open(const Layout *l, const char *digest, int *ret_fd, uint64_t *ret_size, KError **err);
/* Read a small blob whole (at most `max` bytes), checking its digest. */
int layout_blob_read(const Layout *l, const char *digest, size_t max, char **ret, size_t *ret_len, KError **err);
/* Store `data` as blob `digest` after checking it. */
int layout_blob_write(const Layout *l, const char *digest, const void *data, size_t len, KError **err);

/* A staging file in blobs/sha256, unlinked by layout_tmp_done() unless committed. */
typedef struct LayoutTmp {
        int fd;
        char name[64];
        const Layout *layout;
} LayoutTmp;
int layout_tmp_open(const Layout *l, LayoutTmp *ret, KError **err);
/* Give the staging file its final name `digest` (atomic rename). */
int layout_tmp_commit(LayoutTmp *t, const char *digest, KError **err);
void layout_tmp_done(LayoutTmp *t);

/* Write oci-layout, and index.json listing `desc` annotated with `ref_name` (replacing an entry of
 * the same name, keeping the others). */
int layout_write_index(const Layout *l, const RegistryDescriptor *desc, const char *ref_name, KError **err);
