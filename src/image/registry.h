/* SPDX-License-Identifier: Apache-2.0 */
/* Registry v2 client (distribution spec): pull an image into an OCI image layout directory, push one
 * from such a directory. The store imports/exports layouts (image.h), so the client knows nothing
 * about the store. Auth: anonymous, basic, bearer token (WWW-Authenticate challenge). Manifests: OCI
 * and Docker schema 2, image indexes and manifest lists with platform selection. Every blob digest
 * is verified while it streams. */
#pragma once

#include <stdbool.h>

#include "error.h"

typedef struct RegistryOptions {
        const char *username, *password;        /* basic auth or token exchange; NULL = anonymous */
        bool insecure;          /* plain http (and no TLS verification); default for 127.0.0.1/localhost */
        const char *os, *architecture, *variant;/* platform to select from an index; NULL = host's */
        bool progress;          /* per-layer progress (bytes, bytes/s) on stderr; off when not a tty */
        /* Without a username: asked for the registry host's stored credentials (the engine's
         * docker config.json lookup); 0 with NULLs when there are none. May be NULL. */
        int (*credentials)(const char *host, char **ret_user, char **ret_password, void *userdata);
        void *credentials_userdata;
} RegistryOptions;

/* Pull `ref` (normalized, e.g. "127.0.0.1:5000/busybox:latest" or "...@sha256:...") into the OCI
 * layout `dir` (created with its parents; nothing is created when the manifest cannot be had).
 * An index / manifest list resolves to the platform's manifest (opts->os/architecture/variant or
 * the host's). index.json gets the manifest descriptor annotated org.opencontainers.image.ref.name
 * = the tag (the digest for a digest-only ref); entries of other names already in an existing
 * index.json are kept. Docker schema 2 manifests are stored as they are. Blobs already present and
 * intact are not fetched again. Network and registry errors name the URL and the HTTP status (and
 * the registry's error message); a digest or size mismatch names the blob, which is not kept. */
int registry_pull(const char *ref, const RegistryOptions *opts, const char *dir, KError **err);
/* Push the image in OCI layout `dir` to `ref`: the only entry of index.json, or the one whose
 * ref.name is ref's tag. Blobs the registry lacks (HEAD) are uploaded (POST + one PUT), then the
 * manifest with its own media type. An image index is pushed with its child manifests first. */
int registry_push(const char *dir, const char *ref, const RegistryOptions *opts, KError **err);
/* `login`: check credentials against `server` (host[:port]) with the auth it asks for (basic, or a
 * bearer token for a pull scope). A 401 says the credentials were rejected. */
int registry_login(const char *server, const RegistryOptions *opts, KError **err);
