/* SPDX-License-Identifier: Apache-2.0 */
/* Pure parsers for what a registry sends back and what a user types: image references,
 * WWW-Authenticate challenges (RFC 7235 §4.1), token replies, error bodies (distribution spec
 * "Error Codes"), manifests and indexes (OCI image-spec manifest.md / image-index.md, Docker
 * schema 2), and platform selection from an index. No I/O: everything here is unit-tested and
 * fuzzed (tests/fuzz/fuzz-registry.c), because every byte of it comes from the network. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Upper bounds on what is read from a registry. */
#define REGISTRY_MANIFEST_MAX (4u << 20)        /* manifest / index body */
#define REGISTRY_SMALL_REPLY_MAX (1u << 20)     /* token reply */
#define REGISTRY_ERROR_BODY_MAX (64u << 10)     /* error body kept for the message */
#define REGISTRY_DESCRIPTORS_MAX 4096           /* layers of a manifest, entries of an index */

#define REGISTRY_DIGEST_LEN (7 + 64)            /* "sha256:" + 64 hex */

#define MEDIA_TYPE_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_TYPE_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* True only for "sha256:" followed by exactly 64 lowercase hex digits: the one digest form that
 * may ever become a file name (blobs/sha256/<hex>). */
bool registry_digest_valid(const char *s);

/* A parsed image reference "host[:port]/name[:tag][@sha256:...]". */
typedef struct RegistryRef {
        char *host;             /* as written ("127.0.0.1:5000", "docker.io") */
        char *api_host;         /* where the API lives ("registry-1.docker.io" for docker.io) */
        char *name;             /* repository, e.g. "library/busybox" */
        char *tag;              /* NULL when only a digest was given */
        char *digest;           /* NULL when none */
} RegistryRef;

/* Parse and validate `s` (distribution reference grammar). A missing host means docker.io (and
 * one-component names get "library/"); neither tag nor digest means ":latest". */
int registry_ref_parse(const char *s, RegistryRef *ret, KError **err);
void registry_ref_done(RegistryRef *r);
/* The reference the manifest endpoint takes: the digest when given, else the tag. */
const char *registry_ref_reference(const RegistryRef *r);
/* Loopback registries are spoken to over plain http without asking. */
bool registry_host_is_loopback(const char *host);

typedef enum RegistryAuthScheme {
        REGISTRY_AUTH_NONE = 0,
        REGISTRY_AUTH_BASIC,
        REGISTRY_AUTH_BEARER,
} RegistryAuthScheme;

typedef struct RegistryChallenge {
        RegistryAuthScheme scheme;
        char *realm, *service, *scope;  /* any may be NULL */
} RegistryChallenge;

/* Parse a WWW-Authenticate value (possibly several challenges, comma separated, as when several
 * headers are folded). Bearer is preferred over Basic; unknown schemes are skipped. -EINVAL when
 * the value is malformed, -ENOENT when it names no scheme we speak. */
int registry_challenge_parse(const char *value, RegistryChallenge *ret);
void registry_challenge_done(RegistryChallenge *c);

/* The token of a token-endpoint reply: {"token": ...} or {"access_token": ...}. */
int registry_token_parse(const char *body, size_t len, char **ret, KError **err);

/* One line summarizing a distribution-spec error body ({"errors":[{"code","message"}...]}):
 * the messages joined with "; ", control characters replaced, at most ~300 bytes. NULL when the
 * body is not such a document. */
char *registry_error_summary(const char *body, size_t len);

typedef struct RegistryPlatform {
        char *os, *architecture, *variant;      /* variant may be NULL */
} RegistryPlatform;

typedef struct RegistryDescriptor {
        char *media_type;
        char *digest;           /* valid per registry_digest_valid() */
        uint64_t size;
        bool has_platform;
        RegistryPlatform platform;
        char *ref_name;         /* org.opencontainers.image.ref.name annotation, or NULL */
} RegistryDescriptor;

typedef enum RegistryManifestKind {
        REGISTRY_MANIFEST_IMAGE,        /* OCI image manifest or Docker schema 2 manifest */
        REGISTRY_MANIFEST_INDEX,        /* OCI image index or Docker manifest list */
} RegistryManifestKind;

typedef struct RegistryManifest {
        RegistryManifestKind kind;
        char *media_type;               /* the effective media type */
        RegistryDescriptor config;      /* IMAGE only */
        RegistryDescriptor *descs;      /* IMAGE: layers; INDEX: manifests */
        size_t n_descs;
} RegistryManifest;

/* Parse a manifest or index. The media type comes from the body's mediaType, else from the
 * Content-Type (`content_type`, may be NULL, parameters ignored), else from the shape (OCI).
 * Schema 1 and unknown types are refused with a message saying so; every descriptor must carry
 * a valid sha256 digest, a size and a media type. */
int registry_manifest_parse(const char *body, size_t len, const char *content_type,
                            RegistryManifest **ret, KError **err);
void registry_manifest_free(RegistryManifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(RegistryManifest *, registry_manifest_free)

/* Default platform for `uname -m`'s machine string ("x86_64" -> linux/amd64, "armv7l" ->
 * linux/arm/v7). Fields point to static strings. -EOPNOTSUPP for an unknown machine. */
int registry_platform_for_machine(const char *machine, const char **ret_arch, const char **ret_variant);

/* Pick the entry of `index` for `want` (os and architecture required, variant optional): an exact
 * variant match first; with no variant wanted, an entry without variant (or the architecture's
 * default one: arm64 -> v8), else the first of that os/arch. Entries without a platform never
 * match. -ENOENT with a message listing the platforms the index offers. */
int registry_index_select(const RegistryManifest *index, const RegistryPlatform *want, size_t *ret,
                          KError **err);
