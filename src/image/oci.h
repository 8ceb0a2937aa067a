/* SPDX-License-Identifier: Apache-2.0 */
/* OCI image-spec documents (and their Docker schema 2 twins): image index / manifest list,
 * image manifest, image config. Pure parsing of untrusted JSON, fuzzed by fuzz-manifest. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "error.h"
#include "image.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOTATION_IMAGE_NAME "io.containerd.image.name"

/* Larger JSON documents are refused before parsing (a manifest is a few KiB). */
#define OCI_JSON_MAX (4u << 20)

typedef struct Descriptor {
        char *media_type;
        char *digest;
        int64_t size;
        char *os, *architecture, *variant;      /* platform, index entries only */
        char *ref_name;                         /* org.opencontainers.image.ref.name */
        char *image_name;                       /* io.containerd.image.name */
} Descriptor;

typedef enum OciKind { OCI_KIND_INDEX, OCI_KIND_MANIFEST } OciKind;

typedef struct OciIndex {
        Descriptor *manifests;
        size_t n;
} OciIndex;

typedef struct OciManifest {
        char *media_type;
        Descriptor config;
        Descriptor *layers;
        size_t n_layers;
} OciManifest;

typedef struct OciConfig {
        char *os, *architecture, *created;
        char **diff_ids;
        size_t n_diff_ids;
        ImageConfig config;
} OciConfig;

void descriptor_done(Descriptor *d);
void oci_index_done(OciIndex *i);
void oci_manifest_done(OciManifest *m);
void oci_config_done(OciConfig *c);
void image_config_done(ImageConfig *c);
int image_config_copy(const ImageConfig *from, ImageConfig *to);

/* Parse JSON text (not NUL-terminated necessarily) into a document; errors name `what`. */
int oci_json_load(const char *text, size_t len, const char *what, json_t **ret, KError **err);
/* Which document a blob is (by its mediaType, else by its shape). */
int oci_kind(const json_t *j, const char *what, OciKind *ret, KError **err);
int oci_index_parse(const json_t *j, const char *what, OciIndex *ret, KError **err);
int oci_manifest_parse(const json_t *j, const char *what, OciManifest *ret, KError **err);
int oci_config_parse(const json_t *j, const char *what, OciConfig *ret, KError **err);
/* The "config" object of an image config for `c` (Env, Cmd, ...), new reference. */
json_t *image_config_to_json(const ImageConfig *c);

/* Host platform in GOARCH terms ("amd64", "arm64", ...) and its variant (or NULL). */
const char *oci_host_arch(const char **ret_variant);
/* Pick from an index: the entry whose ref name is `ref` (if given) and whose platform matches
 * os/arch (NULL = the host's). Entries without a platform match any. Index of the entry. */
int oci_index_select(const OciIndex *idx, const char *ref, const char *arch, const char *what, size_t *ret,
                     KError **err);
/* Media type for a layer blob of this compression (layer.h LayerCompression). */
const char *oci_layer_media_type(int compression);
