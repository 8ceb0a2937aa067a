/* SPDX-License-Identifier: Apache-2.0 */
/* The image store: content-addressed blobs, layers unpacked once and shared, names (refs) pointing
 * at images. Layout under the store root (<kapsel root>/image):
 *
 *   blobs/sha256/<hex>          every blob (manifests, configs, compressed layers), verified
 *   layers/<diffid-hex>/        one unpacked layer (overlayfs lower dir, whiteouts in overlay form)
 *   images/<config-hex>.json    image record: manifest digest, config digest, layer diff-ids, names
 *   refs.json                   "name:tag" -> image id
 *   tmp/                        staging; anything here after a crash is garbage, collected on open
 *
 * Every mutation stages in tmp/ and publishes with rename(2) under an flock on <root>/lock, so many
 * kapsel processes may use one store and a kill -9 at any point leaves the old or the new state.
 * Image ids are the config digest ("sha256:<hex>"), as in docker. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "error.h"

typedef struct ImageStore ImageStore;

/* The runtime-relevant part of an image config (OCI image-spec config.config). */
typedef struct ImageConfig {
        char **env;             /* NULL-terminated, "K=V" */
        char **entrypoint;      /* NULL-terminated or NULL */
        char **cmd;             /* NULL-terminated or NULL */
        char *working_dir;      /* or NULL */
        char *user;             /* or NULL */
        char **exposed_ports;   /* "80/tcp", ... NULL-terminated or NULL */
        char **volumes;         /* container paths, NULL-terminated or NULL */
        char *stop_signal;      /* or NULL */
} ImageConfig;

typedef struct Image {
        char *id;               /* "sha256:<hex>" of the config blob */
        char *manifest_digest;  /* "sha256:<hex>" */
        char **names;           /* "docker.io/library/busybox:latest"-style refs pointing here */
        char **layer_dirs;      /* unpacked layers, lowest first, absolute paths; NULL-terminated */
        size_t n_layers;
        ImageConfig config;
        char *created;          /* RFC 3339 from the config, or NULL */
        char *os, *architecture;
        uint64_t size;          /* sum of unpacked layer sizes in bytes */
        json_t *config_json;    /* the whole config blob (for inspect/history) */
} Image;

/* Open (creating if needed) the store under `root`, collecting staging garbage. */
int image_store_open(const char *root, ImageStore **ret, KError **err);
void image_store_free(ImageStore *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageStore *, image_store_free)
const char *image_store_root(const ImageStore *s);
/* Unpack as an unprivileged user would (no chown, no devices, no setuid, user.overlay.* xattrs)
 * even when root: for rootless containers and tests. Default: rootless when euid != 0. */
void image_store_set_rootless(ImageStore *s, bool rootless);

void image_free(Image *img);
DEFINE_TRIVIAL_CLEANUP_FUNC(Image *, image_free)

/* Normalize a user reference: "busybox" -> "docker.io/library/busybox:latest",
 * "127.0.0.1:5000/x" -> "127.0.0.1:5000/x:latest", digests kept. KERR_USAGE on a malformed ref. */
int image_ref_normalize(const char *ref, char **ret, KError **err);

/* A parsed reference: domain ("docker.io", "127.0.0.1:5000"), path ("library/busybox"), tag (NULL
 * only when a digest is given), digest ("sha256:..." or NULL). */
typedef struct ImageRef {
        char *domain, *path, *tag, *digest;
} ImageRef;
int image_ref_parse(const char *ref, ImageRef *ret, KError **err);
void image_ref_done(ImageRef *r);
/* "domain/path[:tag][@digest]"; NULL on ENOMEM. */
char *image_ref_format(const ImageRef *r);
/* Short form for display: "docker.io/library/busybox:latest" -> "busybox:latest"; NULL on ENOMEM. */
char *image_ref_familiar(const char *name);
/* Up to `max` of `names` close to `query` (edit distance), closest first, in familiar form. */
int image_ref_suggest(const char *query, char *const *names, size_t max, char ***ret);

/* Find an image by name, full id, or unique id prefix (>= 4 hex chars). Not found: KERR_NOT_FOUND
 * with a message that suggests close names ("did you mean") and `kapsel pull`. */
int image_lookup(ImageStore *s, const char *ref, Image **ret, KError **err);
/* All images, newest first. */
int image_list(ImageStore *s, Image ***ret, size_t *ret_n, KError **err);
void image_list_free(Image **list, size_t n);

/* Imports. Each verifies every digest, unpacks new layers safely (see layer.h), and names the
 * result; they return the image id. */
int image_import_oci_layout(ImageStore *s, const char *dir, const char *select_ref, const char *name,
                            char **ret_id, KError **err);
/* `kapsel load`: an OCI archive or a `docker save` archive (tar, optionally compressed). All images in
 * it are imported with the names they carry; ret_names lists them. */
int image_load(ImageStore *s, const char *archive, char ***ret_names, KError **err);
/* `kapsel import`: a plain rootfs tarball becomes a one-layer image named `name`. */
int image_import_rootfs(ImageStore *s, const char *tarball, const char *name, const ImageConfig *cfg,
                        char **ret_id, KError **err);
/* `kapsel save`: images to an OCI archive (docker-archive compatible manifest.json included). */
int image_save(ImageStore *s, char *const *refs, const char *archive, KError **err);
/* Write an OCI image layout for one image (blobs hard-linked when possible), for `push`. */
int image_export_oci_layout(ImageStore *s, const char *ref, const char *dir, KError **err);

int image_tag(ImageStore *s, const char *ref, const char *new_name, KError **err);
/* Remove a name; when no name is left, remove the image record. `force` removes the image
 * with all its names. Layers and blobs go in image_gc(). */
int image_remove(ImageStore *s, const char *ref, bool force, char **ret_untagged, KError **err);
/* rmi -f of an image a container uses: only names go (by name: that one; by id: all of them), the
 * record stays, so its layers stay until the last container is gone and a prune or rmi removes
 * it. The removed names in *ret_untagged (NULL-terminated, maybe empty). */
int image_untag(ImageStore *s, const char *ref, char ***ret_untagged, KError **err);
/* Remove images without names (all unused images with `all`) except those in `keep_ids` (in use
 * by containers); ret_removed counts them. */
int image_prune(ImageStore *s, bool all, char *const *keep_ids, size_t *ret_removed, KError **err);
/* Delete blobs and layers no image record references; bytes freed in ret_freed. */
int image_gc(ImageStore *s, uint64_t *ret_freed, KError **err);

/* `kapsel commit`: the upper dir of a container's overlay (overlay whiteouts) becomes a new layer on
 * top of `parent`, with config `cfg` and an optional name. Returns the new image id. */
int image_commit(ImageStore *s, const Image *parent, const char *upper_dir, const ImageConfig *cfg,
                 const char *name, const char *comment, char **ret_id, KError **err);
/* `kapsel build`: a new unnamed image on top of `parent` (NULL: scratch) with `config` (a whole image
 * config; its rootfs and history are the parent's plus this step) and, when `upper_dir` is given,
 * one new layer from it (overlay whiteouts converted). A step without a layer is recorded as an
 * empty_layer history entry. Returns the new image id. */
int image_commit_build(ImageStore *s, const Image *parent, const char *upper_dir, const json_t *config,
                       const char *created_by, char **ret_id, KError **err);
