/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the image store shared by its files (layout in image.h). Locking: content writers
 * (imports, commit) hold LOCK_SH on <root>/lock for the whole operation, removers (rmi, prune, gc)
 * LOCK_EX, so gc never deletes a layer an import has decided to reuse but not yet recorded.
 * refs.json edits take <root>/refs.lock. Every file is published with rename/linkat. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "image.h"
#include "oci.h"

struct ImageStore {
        char *root;
        int root_fd, lock_fd, refs_lock_fd;
        int blobs_fd, layers_fd, images_fd, tmp_fd;     /* blobs_fd is blobs/sha256 */
        int lock_depth;
        bool rootless;
};

/* A layer as the store knows it. */
typedef struct LayerInfo {
        char digest[DIGEST_STR_MAX];    /* compressed blob */
        char diff_id[DIGEST_STR_MAX];
        char media_type[64];
        uint64_t size;                  /* blob bytes */
        uint64_t unpacked_size;
} LayerInfo;

/* images/<hex>.json */
typedef struct ImageRecord {
        char *id, *manifest_digest;
        char **diff_ids;
        int64_t added;                  /* unix seconds */
} ImageRecord;

/* Where an import reads blobs from (an OCI layout dir, an unpacked archive). */
typedef struct BlobSource {
        int (*open)(void *userdata, const char *digest, KError **err);     /* returns an fd */
        void *userdata;
        const char *what;               /* for messages: "OCI layout /x" */
} BlobSource;

int store_lock(ImageStore *s, bool exclusive, KError **err);
void store_unlock(ImageStore *s);
int store_refs_lock(ImageStore *s, KError **err);
void store_refs_unlock(ImageStore *s);

bool store_blob_exists(ImageStore *s, const char *digest);
int store_blob_open(ImageStore *s, const char *digest, KError **err);
/* Read a (JSON-sized) blob, verifying its digest. */
int store_blob_read(ImageStore *s, const char *digest, char **ret, size_t *ret_len, KError **err);
int store_blob_write(ImageStore *s, const void *data, size_t len, const char *expect, char ret_digest[static DIGEST_STR_MAX],
                     KError **err);
/* Copy a whole source blob into the store, verifying `expect` (NULL: any); digest in ret_digest
 * (DIGEST_STR_MAX bytes) when non-NULL. */
int store_blob_copy(ImageStore *s, int src_fd, const char *expect, const char *what, char *ret_digest, KError **err);

bool store_layer_exists(ImageStore *s, const char *diff_id);
int store_layer_read_info(ImageStore *s, const char *diff_id, uint64_t *ret_unpacked);
/* Make blob `expect_digest` (NULL = compute) and layer `expect_diff_id` (NULL = compute) present,
 * unpacking at most once, in one pass over src_fd. `media_type` NULL = from the compression. */
int store_layer_import(ImageStore *s, int src_fd, const char *expect_digest, const char *expect_diff_id,
                       const char *media_type, bool store_uncompressed, LayerInfo *ret, KError **err);

int store_record_write(ImageStore *s, const ImageRecord *rec, KError **err);
int store_record_read(ImageStore *s, const char *id, ImageRecord *ret, KError **err);
int store_record_delete(ImageStore *s, const char *id);
int store_record_ids(ImageStore *s, char ***ret, KError **err);
void image_record_done(ImageRecord *r);

int store_refs_load(ImageStore *s, json_t **ret, KError **err);
int store_refs_save(ImageStore *s, json_t *refs, KError **err);
/* Point normalized `name` at `id` (refs lock taken inside). */
int store_set_name(ImageStore *s, const char *name, const char *id, KError **err);

/* Import one manifest (blob already digest-known) and what it references; name it. Lock held. */
int store_import_manifest(ImageStore *s, const BlobSource *src, const char *manifest_digest, const char *name,
                          char **ret_id, KError **err);
/* Record an image whose manifest and config blobs are stored; name it when `name`. */
int store_publish_image(ImageStore *s, const char *manifest_digest, const char *config_digest, char *const *diff_ids,
                        const char *name, KError **err);
/* Store a manifest for config + layers (OCI media types), returning its digest. */
int store_write_manifest(ImageStore *s, const char *config_digest, uint64_t config_size, const LayerInfo *layers,
                         size_t n, char ret_digest[static DIGEST_STR_MAX], KError **err);
/* Resolve a ref to an image id (no Image built). */
int store_resolve(ImageStore *s, const char *ref, char **ret_id, KError **err);
/* "layers/<hex>" path of a diff-id under the store root. */
char *store_layer_path(ImageStore *s, const char *diff_id);

/* Internal helpers shared by store.c and store-layer.c. */
int store_tmpfile_open(ImageStore *s, KError **err);
int store_blob_publish(ImageStore *s, int fd, const char *digest, KError **err);
