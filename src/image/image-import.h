/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the import/export files (import.c, archive.c, docker-archive.c). */
#pragma once

#include <jansson.h>

#include "oci.h"
#include "store.h"

/* openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): symlinks inside `dirfd`'s tree are followed
 * (docker-save archives link layer.tar to blobs), nothing outside it is reachable. */
int open_in_dir(int dirfd, const char *path, int flags);
/* A file of an archive or layout (untrusted) for reading: open_in_dir() without blocking on a FIFO,
 * and only a regular file. Errors say what is wrong with `path` (`what`: "archive X", ...). */
int open_in_archive(int dirfd, const char *path, const char *what, KError **err);
/* Read and parse a JSON document under `dirfd`, verifying its digest when `expect`. */
int read_json_at(int dirfd, const char *path, const char *what, const char *expect, json_t **ret, KError **err);
int layout_read_index(int dirfd, const char *path, OciIndex *ret, KError **err);
/* Import the entry of `idx` selected by select_ref/platform. Lock held by the caller. */
int layout_import_one(ImageStore *s, int dirfd, const char *path, const OciIndex *idx, const char *select_ref,
                      const char *name, char **ret_id, char **ret_name, KError **err);
/* Normalized name carried by an index entry's annotations, or NULL. */
char *descriptor_name(const Descriptor *d);
/* `docker save` format in an unpacked directory: manifest.json + configs + layer tars. */
int docker_archive_import(ImageStore *s, int dirfd, const char *path, char ***ret_names, KError **err);
/* RepoTags of manifest.json entries by config digest (for OCI archives written by docker). */
int docker_archive_tags(int dirfd, const char *config_digest, char ***ret);
