/* SPDX-License-Identifier: Apache-2.0 */
/* Registry session and auth (see registry-client.h). Token flow per the Docker registry token
 * authentication spec: the 401's Bearer challenge names realm, service and scope; a GET to the
 * realm (with basic credentials when we have them) returns {"token": ...}. */
#include "registry-client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "string-util.h"

int registry_client_new(const char *ref, const RegistryOptions *opts, RegistryClient **ret, KError **err) {
        static const RegistryOptions defaults = {};
        if (!opts)
                opts = &defaults;
        _cleanup_(registry_client_freep) RegistryClient *c = calloc(1, sizeof(*c));
        if (!c)
                return kerr(err, -ENOMEM, "registry client");
        int r = registry_ref_parse(ref, &c->ref, err);
        if (r < 0)
                return r;
        bool plain = opts->insecure || registry_host_is_loopback(c->ref.api_host);
        if (asprintf(&c->base, "%s://%s", plain ? "http" : "https", c->ref.api_host) < 0) {
                c->base = NULL;
                return kerr(err, -ENOMEM, "registry client");
        }
        c->insecure = opts->insecure;
        c->user = opts->username;
        c->password = opts->password;
        if (!c->user && opts->credentials) {
                r = opts->credentials(c->ref.host, &c->stored_user, &c->stored_password, opts->credentials_userdata);
                if (r < 0)
                        return kerr(err, r, "read the stored credentials for %s", c->ref.host);
                c->user = c->stored_user;
                c->password = c->stored_password;
        }
        c->progress = opts->progress && isatty(STDERR_FILENO);
        *ret = TAKE_PTR(c);
        return 0;
}

void registry_client_free(RegistryClient *c) {
        if (!c)
                return;
        registry_ref_done(&c->ref);
        free(c->stored_user);
        if (c->stored_password)
                explicit_bzero(c->stored_password, strlen(c->stored_password));
        free(c->stored_password);
        free(c->base);
        registry_challenge_done(&c->challenge);
        for (size_t i = 0; i < c->n_tokens; i++) {
                free(c->tokens[i].scope);
                free(c->tokens[i].token);
        }
        free(c->tokens);
        free(c);
}

int registry_client_url(const RegistryClient *c, const char *kind, const char *reference, char **ret) {
        /* name, tag and digest were validated by registry_ref_parse(): nothing here needs escaping */
        int n = asprintf(ret, "%s/v2/%s/%s%s%s", c->base, c->ref.name, kind, reference ? "/" : "",
                         reference ? reference : "");
        if (n < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

static const struct {
        long status;
        int err;
        KErrorKind kind;
        const char *reason;
} status_table[] = {
        { 400, EINVAL, KERR_GENERIC, "bad request" },
        { 401, EACCES, KERR_HOST, "authentication required" },
        { 403, EPERM, KERR_HOST, "access denied" },
        { 404, ENOENT, KERR_NOT_FOUND, "not found" },
        { 405, EOPNOTSUPP, KERR_GENERIC, "operation not supported by this registry" },
        { 416, EINVAL, KERR_GENERIC, "range not satisfiable" },
        { 429, EBUSY, KERR_GENERIC, "too many requests" },
};

int registry_client_status_error(const RegistryClient *c, const HttpResponse *resp, const char *url, KError **err) {
        int e = resp->status >= 500 ? EIO : EPROTO;
        KErrorKind kind = KERR_GENERIC;
        const char *reason = resp->status >= 500 ? "registry error" : "unexpected reply";
        for (size_t i = 0; i < ELEMENTSOF(status_table); i++)
                if (status_table[i].status == resp->status) {
                        e = status_table[i].err;
                        kind = status_table[i].kind;
                        reason = status_table[i].reason;
                }
        _cleanup_free_ char *summary = registry_error_summary(resp->body, resp->body_len);
        const char *hint = resp->status != 401 || !c ? "" : c->user ? "; credentials rejected" : "; no credentials given";
        return kerr_msg(err, kind, -e, "%s (HTTP %ld from %s)%s", summary ? summary : reason, resp->status, url, hint);
}

static int remember_challenge(RegistryClient *c, const HttpResponse *resp, const char *url, KError **err) {
        RegistryChallenge ch = {};
        int r = registry_challenge_parse(resp->www_authenticate, &ch);
        if (r < 0)
                return kerr_msg(err, KERR_HOST, -EACCES, "authentication required, but the challenge %s (HTTP 401 from %s)",
                                resp->www_authenticate ? "names no scheme kapsel speaks (Basic, Bearer)" : "is missing",
                                url);
        registry_challenge_done(&c->challenge);
        c->challenge = ch;
        return 0;
}

int registry_client_ping(RegistryClient *c, KError **err) {
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/v2/", c->base) < 0) {
                url = NULL;
                return kerr(err, -ENOMEM, "ping");
        }
        HttpRequest req = HTTP_REQUEST_INIT;
        req.method = "GET";
        req.url = url;
        req.insecure = c->insecure;
        req.max_body = REGISTRY_SMALL_REPLY_MAX;
        _cleanup_(http_response_done) HttpResponse resp = {};
        int r = http_request(&req, &resp, err);
        if (r < 0)
                return r;
        if (resp.status == 401)
                return remember_challenge(c, &resp, url, err);
        if (resp.status != 200)
                return kerr_prefix(err, registry_client_status_error(c, &resp, url, err),
                                   "not a registry (distribution API v2)");
        return 0;
}

static RegistryToken *token_find(RegistryClient *c, const char *scope) {
        for (size_t i = 0; i < c->n_tokens; i++)
                if (streq(c->tokens[i].scope, scope))
                        return &c->tokens[i];
        return NULL;
}

static int token_store(RegistryClient *c, const char *scope, char *token) {
        RegistryToken *t = token_find(c, scope);
        if (!t) {
                RegistryToken *n = realloc(c->tokens, (c->n_tokens + 1) * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                c->tokens = n;
                t = &c->tokens[c->n_tokens];
                *t = (RegistryToken) { .scope = strdup(scope) };
                if (!t->scope)
                        return -ENOMEM;
                c->n_tokens++;
        }
        free(t->token);
        t->token = token;
        return 0;
}

/* realm?service=...&scope=... ; a challenge scope of several space-separated scopes becomes several
 * scope parameters (token auth spec "Requesting a Token"). */
static int token_url(const RegistryChallenge *ch, const char *scope, char **ret) {
        _cleanup_free_ char *url = NULL, *q = NULL;
        int r = http_url_resolve(ch->realm, NULL, NULL, &url);
        if (r < 0)
                return r;
        if (ch->service) {
                if (asprintf(&q, "service=%s", ch->service) < 0)
                        return -ENOMEM;
                char *n;
                if ((r = http_url_resolve(url, NULL, q, &n)) < 0)
                        return r;
                free(url);
                url = n;
                q = mfree(q);
        }
        if (asprintf(&q, "scope=%s", scope) < 0)
                return -ENOMEM;
        r = http_url_resolve(url, NULL, q, ret);
        return r;
}

static int fetch_token(RegistryClient *c, const char *scope, KError **err) {
        if (!c->challenge.realm)
                return kerr_msg(err, KERR_HOST, -EACCES, "bearer challenge of %s names no realm", c->base);
        _cleanup_free_ char *url = NULL, *basic = NULL, *token = NULL;
        int r = token_url(&c->challenge, scope, &url);
        if (r < 0)
                return kerr(err, r, "token realm '%s'", c->challenge.realm);
        if (c->user && (r = http_basic_auth(c->user, c->password, &basic)) < 0)
                return kerr(err, r, "token request");
        HttpRequest req = HTTP_REQUEST_INIT;
        req.method = "GET";
        req.url = url;
        req.authorization = basic;
        req.insecure = c->insecure;
        req.follow_redirects = true;
        req.max_body = REGISTRY_SMALL_REPLY_MAX;
        _cleanup_(http_response_done) HttpResponse resp = {};
        if ((r = http_request(&req, &resp, err)) < 0)
                return r;
        if (resp.status != 200)
                return kerr_prefix(err, registry_client_status_error(c, &resp, url, err), "get token");
        if ((r = registry_token_parse(resp.body, resp.body_len, &token, err)) < 0)
                return kerr_prefix(err, r, "token from %s", url);
        if (token_store(c, scope, token) < 0)
                return kerr(err, -ENOMEM, "token cache");
        TAKE_PTR(token);
        return 0;
}

/* The Authorization value for `scope` under the current challenge (NULL: anonymous). */
static int auth_for(RegistryClient *c, const char *scope, char **ret, KError **err) {
        *ret = NULL;
        switch (c->challenge.scheme) {
        case REGISTRY_AUTH_BASIC:
                return c->user ? http_basic_auth(c->user, c->password, ret) : 0;
        case REGISTRY_AUTH_BEARER: {
                const RegistryToken *t = token_find(c, scope);
                if (!t || !t->token) {
                        int r = fetch_token(c, scope, err);
                        if (r < 0)
                                return r;
                        t = token_find(c, scope);
                }
                return asprintf(ret, "Bearer %s", t->token) < 0 ? -ENOMEM : 0;
        }
        default:
                return 0;
        }
}

static void token_forget(RegistryClient *c, const char *scope) {
        RegistryToken *t = token_find(c, scope);
        if (t)
                t->token = mfree(t->token);
}

int registry_client_do(RegistryClient *c, HttpRequest *req, const char *actions, HttpResponse *resp, KError **err) {
        _cleanup_free_ char *scope = NULL;
        if (asprintf(&scope, "repository:%s:%s", c->ref.name, actions) < 0) {
                scope = NULL;
                return kerr(err, -ENOMEM, "registry request");
        }
        req->insecure = c->insecure;
        for (int attempt = 0;; attempt++) {
                _cleanup_free_ char *auth = NULL;
                int r = auth_for(c, scope, &auth, err);
                if (r < 0)
                        return r == -ENOMEM ? kerr(err, r, "registry request") : r;
                req->authorization = auth;
                r = http_request(req, resp, err);
                req->authorization = NULL;
                if (r < 0 || resp->status != 401 || attempt == 1)
                        return r;
                /* 401: the registry wants (other) credentials; learn how, then try once more */
                r = remember_challenge(c, resp, req->url, err);
                if (r < 0) {
                        http_response_done(resp);
                        return r;
                }
                token_forget(c, scope);
                if (c->challenge.scheme == REGISTRY_AUTH_BASIC && !c->user)
                        return 0;       /* nothing to retry with: the caller reports the 401 */
                http_response_done(resp);
        }
}

int registry_client_call(RegistryClient *c, HttpRequest *req, const char *kind, const char *reference,
                         const char *actions, long expect, char **ret_url, HttpResponse *resp, KError **err) {
        if (registry_client_url(c, kind, reference, ret_url) < 0)
                return kerr(err, -ENOMEM, "registry URL");
        req->url = *ret_url;
        int r = registry_client_do(c, req, actions, resp, err);
        if (r >= 0 && expect && resp->status != expect)
                r = registry_client_status_error(c, resp, *ret_url, err);
        return r;
}
