/* SPDX-License-Identifier: Apache-2.0 */
/* A small libcurl wrapper for the registry client: one request in, status + the few headers the
 * distribution protocol uses + a bounded body (or a body streamed into a file while hashing) out.
 * It knows nothing about auth or registries: registry-client.c builds on it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

typedef struct HttpRequest {
        const char *method;             /* "GET", "HEAD", "POST", "PUT" */
        const char *url;
        const char *authorization;      /* full "Authorization" value, or NULL */
        const char *accept;             /* "Accept" value, or NULL */
        const char *content_type;       /* for bodies */
        /* Request body: memory, or `body_fd` (read with pread from offset 0, `body_size` bytes). */
        const void *body;
        size_t body_len;
        int body_fd;                    /* -1 when unused */
        uint64_t body_size;
        /* Response body of a 2xx reply: into memory (at most max_body bytes, more is an error) or,
         * when sink_fd >= 0, appended to that file while hashing (sha256), at most max_body bytes.
         * Non-2xx bodies always go to memory (bounded), for the error message. */
        int sink_fd;
        uint64_t max_body;
        bool follow_redirects;
        bool insecure;                  /* skip TLS verification */
        const char *progress_label;     /* non-NULL: per-transfer progress line on stderr */
} HttpRequest;

#define HTTP_REQUEST_INIT { .body_fd = -1, .sink_fd = -1, .max_body = 1u << 20 }

typedef struct HttpResponse {
        long status;
        char *body;                     /* NUL-terminated; for sink_fd 2xx replies NULL */
        size_t body_len;
        uint64_t sunk;                  /* bytes written to sink_fd */
        char sink_digest[DIGEST_STR_MAX]; /* "sha256:<hex>" of what went to sink_fd */
        char *www_authenticate;         /* all such headers of the final reply joined by ", " */
        char *location, *content_type, *docker_content_digest;
} HttpResponse;

/* Perform the request. Transport failures (connection refused, TLS, timeouts, a body over the
 * bound, a failing sink) are errors naming the method and URL; any HTTP status is a success for
 * this layer. */
int http_request(const HttpRequest *req, HttpResponse *ret, KError **err);
void http_response_done(HttpResponse *resp);

/* Resolve `ref` (absolute, or relative such as a Location header) against `base`; when `query` is
 * non-NULL, append it as one URL-encoded "key=value" query parameter. */
int http_url_resolve(const char *base, const char *ref, const char *query, char **ret);
/* "Basic <base64(user:password)>". */
int http_basic_auth(const char *user, const char *password, char **ret);
