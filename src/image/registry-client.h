/* SPDX-License-Identifier: Apache-2.0 */
/* One registry session for one repository: base URL, credentials, the last auth challenge and a
 * token cache per scope. registry_client_do() performs a request with whatever auth the registry
 * asked for (distribution spec "Authentication"; Docker token auth: 401 + WWW-Authenticate ->
 * token endpoint -> retry). Shared by registry-pull.c and registry-push.c. */
#pragma once

#include "registry-http.h"
#include "registry-parse.h"
#include "registry.h"

typedef struct RegistryToken {
        char *scope;
        char *token;
} RegistryToken;

typedef struct RegistryClient {
        RegistryRef ref;
        char *base;                     /* "http://127.0.0.1:5000" */
        bool insecure;
        const char *user, *password;    /* borrowed from the options, or the stored ones below */
        char *stored_user, *stored_password;    /* from opts->credentials */
        bool progress;                  /* options asked for it and stderr is a tty */
        RegistryChallenge challenge;    /* the latest one seen (ping or a 401) */
        RegistryToken *tokens;
        size_t n_tokens;
} RegistryClient;

/* Parse `ref`, pick http (loopback or opts->insecure) or https. */
int registry_client_new(const char *ref, const RegistryOptions *opts, RegistryClient **ret, KError **err);
void registry_client_free(RegistryClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(RegistryClient *, registry_client_free)

/* GET /v2/: is this a v2 registry, and which auth does it want? */
int registry_client_ping(RegistryClient *c, KError **err);
/* "<base>/v2/<name>/<kind>/<reference>" (kind "manifests", "blobs", "blobs/uploads/" with NULL ref). */
int registry_client_url(const RegistryClient *c, const char *kind, const char *reference, char **ret);
/* Perform `req` with auth for the repository scope "repository:<name>:<actions>"; retries once after
 * a 401 with fresh credentials. Any final HTTP status is returned in `resp` (check it). */
int registry_client_do(RegistryClient *c, HttpRequest *req, const char *actions, HttpResponse *resp, KError **err);
/* registry_client_do() on "<base>/v2/<name>/<kind>[/<reference>]" (returned in ret_url, for
 * messages); `req` carries method, body, sink. With `expect` non-zero any other final status is
 * recorded as an error (registry_client_status_error()). */
int registry_client_call(RegistryClient *c, HttpRequest *req, const char *kind, const char *reference,
                         const char *actions, long expect, char **ret_url, HttpResponse *resp, KError **err);
/* Record the error of an unexpected reply: "<registry's message> (HTTP <status> from <url>)", with
 * errno and kind from the status (404 -> -ENOENT/KERR_NOT_FOUND, 401 -> -EACCES, ...); a 401 says
 * whether credentials were missing or rejected. */
int registry_client_status_error(const RegistryClient *c, const HttpResponse *resp, const char *url, KError **err);
