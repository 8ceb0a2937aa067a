/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers of untrusted registry input (see registry-parse.h). References follow the grammar of
 * distribution's reference package; challenges RFC 7235 §2.1 / §4.1; manifests OCI image-spec
 * v1.1 (descriptor.md, manifest.md, image-index.md) and Docker image manifest v2 schema 2. */
#include "digest.h"
#include "registry-parse.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "json-util.h"
#include "string-util.h"

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128
#define HOST_MAX_LEN 255
#define CHALLENGE_MAX_LEN (16u << 10)
#define TOKEN_MAX_LEN (64u << 10)
#define SUMMARY_MAX_LEN 300

bool registry_digest_valid(const char *s) {
        return digest_is_valid(s);      /* the store's rule: sha256, 64 lowercase hex digits */
}

/* Quote untrusted text for an error message: printable ASCII only, bounded. */
static const char *printable(const char *s, char buf[static 84]) {
        size_t i = 0;
        for (; s[i] && i < 80; i++)
                buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
        if (s[i])
                buf[i - 1] = buf[i - 2] = buf[i - 3] = '.';
        buf[i] = '\0';
        return buf;
}

/* ---- references ---- */

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*; separator := [_.] | "__" | "-"+ */
static bool name_component_valid(const char *s, size_t n) {
        size_t i = 0;
        while (i < n) {
                if (!is_lower_alnum(s[i]))
                        return false;
                while (i < n && is_lower_alnum(s[i]))
                        i++;
                if (i == n)
                        return true;
                size_t sep = i;
                if (s[i] == '.')
                        i++;
                else if (s[i] == '_')
                        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
                else
                        while (i < n && s[i] == '-')
                                i++;
                if (i == sep || i == n)
                        return false;
        }
        return n > 0;
}

static bool name_valid(const char *s) {
        size_t len = strlen(s);
        if (len == 0 || len > NAME_MAX_LEN)
                return false;
        for (const char *p = s;;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);
                if (!name_component_valid(p, n))
                        return false;
                if (!slash)
                        return true;
                p = slash + 1;
        }
}

/* tag := [\w][\w.-]{0,127} */
static bool tag_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > TAG_MAX_LEN || !(isalnum((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(isascii((unsigned char) s[i]) &&
                      (isalnum((unsigned char) s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-')))
                        return false;
        return true;
}

/* host := domain-name | "[" ipv6 "]", optional ":" port. Only characters that are safe in a URL. */
static bool host_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > HOST_MAX_LEN)
                return false;
        const char *port = NULL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close == s + 1)
                        return false;
                for (const char *p = s + 1; p < close; p++)
                        if (!isxdigit((unsigned char) *p) && *p != ':' && *p != '.')
                                return false;
                if (close[1] && close[1] != ':')
                        return false;
                port = close[1] ? close + 2 : NULL;
        } else {
                const char *colon = strchr(s, ':');
                size_t hn = colon ? (size_t) (colon - s) : n;
                if (hn == 0 || s[0] == '-' || s[0] == '.')
                        return false;
                for (size_t i = 0; i < hn; i++)
                        if (!(isascii((unsigned char) s[i]) &&
                              (isalnum((unsigned char) s[i]) || s[i] == '-' || s[i] == '.')))
                                return false;
                port = colon ? colon + 1 : NULL;
        }
        if (port) {
                size_t pn = strlen(port);
                if (pn == 0 || pn > 5 || strspn(port, "0123456789") != pn)
                        return false;
        }
        return true;
}

/* The first component is a host when it could not be a repository name component. */
static bool component_is_host(const char *s, size_t n) {
        return memchr(s, '.', n) || memchr(s, ':', n) || (n > 0 && s[0] == '[') ||
               (n == 9 && strncmp(s, "localhost", 9) == 0);
}

void registry_ref_done(RegistryRef *r) {
        if (!r)
                return;
        free(r->host);
        free(r->api_host);
        free(r->name);
        free(r->tag);
        free(r->digest);
        *r = (RegistryRef) {};
}

static int ref_split(char *s, RegistryRef *r) {
        char *at = strchr(s, '@');
        if (at) {
                *at = '\0';
                if (!(r->digest = strdup(at + 1)))
                        return -ENOMEM;
        }
        char *slash = strchr(s, '/');
        if (slash && component_is_host(s, (size_t) (slash - s))) {
                *slash = '\0';
                r->host = strdup(s);
                s = slash + 1;
        } else
                r->host = strdup("docker.io");
        if (!r->host)
                return -ENOMEM;
        char *last = strrchr(s, '/');
        char *colon = strchr(last ? last : s, ':');
        if (colon) {
                *colon = '\0';
                if (!(r->tag = strdup(colon + 1)))
                        return -ENOMEM;
        } else if (!r->digest && !(r->tag = strdup("latest")))
                return -ENOMEM;
        bool library = streq(r->host, "docker.io") && !strchr(s, '/');
        if (asprintf(&r->name, "%s%s", library ? "library/" : "", s) < 0) {
                r->name = NULL;
                return -ENOMEM;
        }
        r->api_host = strdup(streq(r->host, "docker.io") ? "registry-1.docker.io" : r->host);
        return r->api_host ? 0 : -ENOMEM;
}

int registry_ref_parse(const char *s, RegistryRef *ret, KError **err) {
        char buf[84];
        if (!s || strlen(s) > 1024)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid image reference: too long");
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return kerr(err, -ENOMEM, "parse reference");
        RegistryRef r = {};
        int k = ref_split(copy, &r);
        if (k < 0) {
                registry_ref_done(&r);
                return kerr(err, k, "parse reference");
        }
        const char *why = !host_valid(r.host)                   ? "bad registry host"
                          : !name_valid(r.name)                 ? "bad repository name (lowercase letters, digits, separators)"
                          : r.tag && !tag_valid(r.tag)          ? "bad tag"
                          : r.digest && !registry_digest_valid(r.digest) ? "bad digest (only sha256:<64 hex> is supported)"
                                                                : NULL;
        if (why) {
                registry_ref_done(&r);
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid image reference '%s': %s", printable(s, buf), why);
        }
        *ret = r;
        return 0;
}

const char *registry_ref_reference(const RegistryRef *r) {
        return r->digest ? r->digest : r->tag;
}

bool registry_host_is_loopback(const char *host) {
        static const char *const loopback[] = { "localhost", "127.0.0.1", "[::1]", "::1" };
        for (size_t i = 0; i < ELEMENTSOF(loopback); i++) {
                const char *rest = startswith(host, loopback[i]);
                if (rest && (*rest == '\0' || (*rest == ':' && i != 3)))
                        return true;
        }
        return false;
}

/* ---- WWW-Authenticate (RFC 7235 §2.1: challenge = auth-scheme [ 1*SP #auth-param ]) ---- */

static bool is_tchar(char c) {
        /* RFC 7230 §3.2.6 tchar, plus '/' so that token68 credentials do not stop the parse */
        return (c > 0 && isalnum((unsigned char) c)) || (c && strchr("!#$%&'*+-.^_`|~/", c));
}

static void skip_ws(const char **p) {
        while (**p == ' ' || **p == '\t')
                (*p)++;
}

static size_t token_len(const char *p) {
        size_t n = 0;
        while (is_tchar(p[n]))
                n++;
        return n;
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE */
static int parse_quoted(const char **p, char **ret) {
        const char *s = *p + 1;
        _cleanup_free_ char *out = malloc(strlen(s) + 1);
        if (!out)
                return -ENOMEM;
        size_t n = 0;
        for (;; s++) {
                if (*s == '\0')
                        return -EINVAL;
                if (*s == '"')
                        break;
                if (*s == '\\' && *++s == '\0')
                        return -EINVAL;
                if ((unsigned char) *s < 0x20 && *s != '\t')
                        return -EINVAL;
                out[n++] = *s;
        }
        out[n] = '\0';
        *p = s + 1;
        *ret = TAKE_PTR(out);
        return 0;
}

/* One auth-param value: quoted-string or token (token68 padding '=' tolerated). */
static int parse_param_value(const char **p, char **ret) {
        if (**p == '"')
                return parse_quoted(p, ret);
        size_t n = token_len(*p);
        if (!(*ret = strndup(*p, n)))
                return -ENOMEM;
        *p += n;
        while (**p == '=')
                (*p)++;
        return 0;
}

static void challenge_set(RegistryChallenge *c, const char *name, size_t n, char **value) {
        static const struct { const char *name; size_t offset; } params[] = {
                { "realm", offsetof(RegistryChallenge, realm) },
                { "service", offsetof(RegistryChallenge, service) },
                { "scope", offsetof(RegistryChallenge, scope) },
        };
        for (size_t i = 0; i < ELEMENTSOF(params); i++) {
                char **field = (char **) ((char *) c + params[i].offset);
                if (strlen(params[i].name) == n && strncasecmp(name, params[i].name, n) == 0 && !*field) {
                        *field = TAKE_PTR(*value);
                        return;
                }
        }
}

/* Parse the params after a scheme into `c`, stopping before the next scheme. */
static int parse_params(const char **p, RegistryChallenge *c) {
        for (;;) {
                skip_ws(p);
                if (**p == ',') {
                        (*p)++;
                        continue;
                }
                if (**p == '\0')
                        return 0;
                const char *name = *p;
                size_t n = token_len(name);
                if (n == 0)
                        return -EINVAL;
                const char *q = name + n;
                skip_ws(&q);
                if (*q != '=')
                        return 0;       /* a new challenge starts here */
                q++;
                skip_ws(&q);
                _cleanup_free_ char *value = NULL;
                int r = parse_param_value(&q, &value);
                if (r < 0)
                        return r;
                if (c)
                        challenge_set(c, name, n, &value);
                *p = q;
                skip_ws(p);
                if (**p != ',' && **p != '\0' && token_len(*p) == 0)
                        return -EINVAL;
        }
}

void registry_challenge_done(RegistryChallenge *c) {
        if (!c)
                return;
        free(c->realm);
        free(c->service);
        free(c->scope);
        *c = (RegistryChallenge) {};
}

static RegistryAuthScheme scheme_from(const char *s, size_t n) {
        if (n == 5 && strncasecmp(s, "Basic", 5) == 0)
                return REGISTRY_AUTH_BASIC;
        if (n == 6 && strncasecmp(s, "Bearer", 6) == 0)
                return REGISTRY_AUTH_BEARER;
        return REGISTRY_AUTH_NONE;
}

int registry_challenge_parse(const char *value, RegistryChallenge *ret) {
        if (!value || strlen(value) > CHALLENGE_MAX_LEN)
                return -EINVAL;
        RegistryChallenge best = {};
        const char *p = value;
        int r = 0;
        for (;;) {
                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                if (*p == '\0')
                        break;
                size_t n = token_len(p);
                if (n == 0) {
                        r = -EINVAL;
                        break;
                }
                RegistryAuthScheme scheme = scheme_from(p, n);
                p += n;
                RegistryChallenge cur = { .scheme = scheme };
                bool take = scheme != REGISTRY_AUTH_NONE && scheme > best.scheme;
                r = parse_params(&p, take ? &cur : NULL);
                if (r < 0) {
                        registry_challenge_done(&cur);
                        break;
                }
                if (take) {
                        registry_challenge_done(&best);
                        best = cur;
                }
        }
        if (r >= 0 && best.scheme == REGISTRY_AUTH_NONE)
                r = -ENOENT;
        if (r < 0) {
                registry_challenge_done(&best);
                return r;
        }
        *ret = best;
        return 0;
}

/* ---- token and error replies ---- */

static json_t *load_json(const char *body, size_t len, const char *what, KError **err) {
        json_error_t jerr;
        json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: invalid JSON at line %d column %d: %s", what,
                         jerr.line, jerr.column, jerr.text);
        else if (!json_is_object(j)) {
                kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: not a JSON object", what);
                json_decref(j);
                j = NULL;
        }
        return j;
}

int registry_token_parse(const char *body, size_t len, char **ret, KError **err) {
        _cleanup_json_ json_t *j = load_json(body, len, "token reply", err);
        if (!j)
                return -EBADMSG;
        const char *t = json_string_value(json_object_get(j, "token"));
        if (!t || !*t)
                t = json_string_value(json_object_get(j, "access_token"));
        if (!t || !*t)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "token reply: no \"token\" or \"access_token\"");
        /* It goes into an HTTP header: no CR/LF/controls, bounded */
        size_t n = strlen(t);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) t[i] < 0x20 || t[i] == 0x7f)
                        return kerr_msg(err, KERR_GENERIC, -EBADMSG, "token reply: token contains control characters");
        if (n > TOKEN_MAX_LEN)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "token reply: token longer than %u bytes", TOKEN_MAX_LEN);
        if (!(*ret = strdup(t)))
                return kerr(err, -ENOMEM, "token reply");
        return 0;
}

static void summary_append(char *out, size_t *n, const char *s) {
        if (*n > 0 && *n + 2 < SUMMARY_MAX_LEN) {
                out[(*n)++] = ';';
                out[(*n)++] = ' ';
        }
        for (; *s && *n < SUMMARY_MAX_LEN; s++)
                out[(*n)++] = ((unsigned char) *s < 0x20 || *s == 0x7f) ? ' ' : *s;
        out[*n] = '\0';
}

char *registry_error_summary(const char *body, size_t len) {
        if (!body || len == 0 || len > REGISTRY_ERROR_BODY_MAX)
                return NULL;
        _cleanup_json_ json_t *j = load_json(body, len, "error", NULL);
        json_t *errors = j ? json_object_get(j, "errors") : NULL;
        if (!json_is_array(errors))
                return NULL;
        char *out = malloc(SUMMARY_MAX_LEN + 1);
        if (!out)
                return NULL;
        size_t n = 0, i;
        json_t *e;
        out[0] = '\0';
        json_array_foreach(errors, i, e) {
                const char *msg = json_string_value(json_object_get(e, "message"));
                if (!msg || !*msg)
                        msg = json_string_value(json_object_get(e, "code"));
                if (msg && *msg)
                        summary_append(out, &n, msg);
        }
        if (n == 0)
                return mfree(out);
        return out;
}

/* ---- manifests and indexes ---- */

static const struct {
        const char *type;
        RegistryManifestKind kind;
} manifest_types[] = {
        { MEDIA_TYPE_OCI_MANIFEST, REGISTRY_MANIFEST_IMAGE },
        { MEDIA_TYPE_DOCKER_MANIFEST, REGISTRY_MANIFEST_IMAGE },
        { MEDIA_TYPE_OCI_INDEX, REGISTRY_MANIFEST_INDEX },
        { MEDIA_TYPE_DOCKER_LIST, REGISTRY_MANIFEST_INDEX },
};

static void descriptor_done(RegistryDescriptor *d) {
        free(d->media_type);
        free(d->digest);
        free(d->platform.os);
        free(d->platform.architecture);
        free(d->platform.variant);
        free(d->ref_name);
}

void registry_manifest_free(RegistryManifest *m) {
        if (!m)
                return;
        free(m->media_type);
        descriptor_done(&m->config);
        for (size_t i = 0; i < m->n_descs; i++)
                descriptor_done(&m->descs[i]);
        free(m->descs);
        free(m);
}

/* A short printable string field; absent is fine unless `required`. */
static int get_string(json_t *obj, const char *key, bool required, const char *where, char **ret, KError **err) {
        json_t *v = json_object_get(obj, key);
        if (!v && !required)
                return 0;
        const char *s = json_string_value(v);
        if (!s || !*s)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: \"%s\" must be a non-empty string", where, key);
        if (strlen(s) > 255)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: \"%s\" is too long", where, key);
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: \"%s\" contains control characters", where, key);
        if (!(*ret = strdup(s)))
                return kerr(err, -ENOMEM, "%s", where);
        return 0;
}

static int parse_platform(json_t *obj, const char *where, RegistryDescriptor *d, KError **err) {
        json_t *p = json_object_get(obj, "platform");
        if (!p)
                return 0;
        if (!json_is_object(p))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: \"platform\" must be an object", where);
        int r = get_string(p, "os", true, where, &d->platform.os, err);
        if (r >= 0)
                r = get_string(p, "architecture", true, where, &d->platform.architecture, err);
        if (r >= 0)
                r = get_string(p, "variant", false, where, &d->platform.variant, err);
        d->has_platform = r >= 0;
        return r;
}

static int parse_descriptor(json_t *obj, const char *where, RegistryDescriptor *d, KError **err) {
        char buf[84];
        if (!json_is_object(obj))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: not an object", where);
        int r = get_string(obj, "mediaType", true, where, &d->media_type, err);
        if (r < 0)
                return r;
        const char *digest = json_string_value(json_object_get(obj, "digest"));
        if (!digest)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: \"digest\" missing", where);
        if (!registry_digest_valid(digest))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: malformed or unsupported digest \"%s\" (want sha256:<64 hex>)",
                                where, printable(digest, buf));
        if (!(d->digest = strdup(digest)))
                return kerr(err, -ENOMEM, "%s", where);
        json_t *size = json_object_get(obj, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: \"size\" must be a non-negative integer", where);
        d->size = (uint64_t) json_integer_value(size);
        r = parse_platform(obj, where, d, err);
        if (r < 0)
                return r;
        json_t *ann = json_object_get(obj, "annotations");
        if (ann && !json_is_object(ann))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "%s: \"annotations\" must be an object", where);
        return ann ? get_string(ann, "org.opencontainers.image.ref.name", false, where, &d->ref_name, err) : 0;
}

static int parse_descriptor_array(json_t *arr, const char *key, RegistryManifest *m, KError **err) {
        if (!json_is_array(arr))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "manifest: \"%s\" must be an array", key);
        size_t n = json_array_size(arr);
        if (n > REGISTRY_DESCRIPTORS_MAX)
                return kerr_msg(err, KERR_GENERIC, -E2BIG, "manifest: more than %d entries in \"%s\"",
                                REGISTRY_DESCRIPTORS_MAX, key);
        if (n > 0 && !(m->descs = calloc(n, sizeof(RegistryDescriptor))))
                return kerr(err, -ENOMEM, "manifest");
        for (size_t i = 0; i < n; i++) {
                char where[64];
                snprintf(where, sizeof(where), "manifest: %s[%zu]", key, i);
                m->n_descs = i + 1;
                int r = parse_descriptor(json_array_get(arr, i), where, &m->descs[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* "type/subtype; params" -> does it name `type`? */
static bool content_type_is(const char *ct, const char *type) {
        size_t n = strlen(type);
        if (!ct || strncasecmp(ct, type, n) != 0)
                return false;
        ct += n;
        skip_ws(&ct);
        return *ct == '\0' || *ct == ';';
}

/* The effective media type: body's mediaType, else a known Content-Type, else the shape. */
static int manifest_type(json_t *j, const char *content_type, const char **ret, KError **err) {
        char buf[84];
        json_t *sv = json_object_get(j, "schemaVersion");
        if (json_is_integer(sv) && json_integer_value(sv) == 1)
                return kerr_msg(err, KERR_GENERIC, -EOPNOTSUPP,
                                "Docker schema 1 manifests are not supported (re-push the image with a current client)");
        if (sv && !(json_is_integer(sv) && json_integer_value(sv) == 2))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "manifest: \"schemaVersion\" must be 2");
        json_t *mt = json_object_get(j, "mediaType");
        if (mt && !json_is_string(mt))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "manifest: \"mediaType\" must be a string");
        const char *type = json_string_value(mt);
        for (size_t i = 0; !type && i < ELEMENTSOF(manifest_types); i++)
                if (content_type_is(content_type, manifest_types[i].type))
                        type = manifest_types[i].type;
        if (!type)
                type = json_object_get(j, "manifests") ? MEDIA_TYPE_OCI_INDEX : MEDIA_TYPE_OCI_MANIFEST;
        for (size_t i = 0; i < ELEMENTSOF(manifest_types); i++)
                if (streq(type, manifest_types[i].type)) {
                        *ret = manifest_types[i].type;
                        return 0;
                }
        if (startswith(type, "application/vnd.docker.distribution.manifest.v1"))
                return kerr_msg(err, KERR_GENERIC, -EOPNOTSUPP,
                                "Docker schema 1 manifests are not supported (re-push the image with a current client)");
        return kerr_msg(err, KERR_GENERIC, -EOPNOTSUPP, "unsupported manifest media type \"%s\"", printable(type, buf));
}

int registry_manifest_parse(const char *body, size_t len, const char *content_type,
                            RegistryManifest **ret, KError **err) {
        if (len > REGISTRY_MANIFEST_MAX)
                return kerr_msg(err, KERR_GENERIC, -EFBIG, "manifest larger than %u bytes", REGISTRY_MANIFEST_MAX);
        _cleanup_json_ json_t *j = load_json(body, len, "manifest", err);
        if (!j)
                return -EBADMSG;
        const char *type = NULL;
        int r = manifest_type(j, content_type, &type, err);
        if (r < 0)
                return r;
        _cleanup_(registry_manifest_freep) RegistryManifest *m = calloc(1, sizeof(*m));
        if (!m || !(m->media_type = strdup(type)))
                return kerr(err, -ENOMEM, "manifest");
        for (size_t i = 0; i < ELEMENTSOF(manifest_types); i++)
                if (streq(type, manifest_types[i].type))
                        m->kind = manifest_types[i].kind;
        if (m->kind == REGISTRY_MANIFEST_INDEX)
                r = parse_descriptor_array(json_object_get(j, "manifests"), "manifests", m, err);
        else {
                r = parse_descriptor(json_object_get(j, "config"), "manifest: config", &m->config, err);
                if (r >= 0)
                        r = parse_descriptor_array(json_object_get(j, "layers"), "layers", m, err);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* ---- platforms ---- */

static const struct {
        const char *machine, *arch, *variant;
} machine_table[] = {
        { "x86_64", "amd64", NULL },   { "amd64", "amd64", NULL },     { "i386", "386", NULL },
        { "i486", "386", NULL },       { "i586", "386", NULL },        { "i686", "386", NULL },
        { "aarch64", "arm64", "v8" },  { "arm64", "arm64", "v8" },     { "armv8l", "arm", "v7" },
        { "armv7l", "arm", "v7" },     { "armv6l", "arm", "v6" },      { "armv5tel", "arm", "v5" },
        { "ppc64le", "ppc64le", NULL }, { "s390x", "s390x", NULL },    { "riscv64", "riscv64", NULL },
        { "mips64", "mips64le", NULL }, { "loongarch64", "loong64", NULL },
};

int registry_platform_for_machine(const char *machine, const char **ret_arch, const char **ret_variant) {
        for (size_t i = 0; i < ELEMENTSOF(machine_table); i++)
                if (streq(machine, machine_table[i].machine)) {
                        *ret_arch = machine_table[i].arch;
                        *ret_variant = machine_table[i].variant;
                        return 0;
                }
        return -EOPNOTSUPP;
}

/* The variant an architecture implies when none is written (image-spec image-index.md). */
static const char *default_variant(const char *arch) {
        return streq(arch, "arm64") ? "v8" : NULL;
}

static bool variant_eq(const char *arch, const char *a, const char *b) {
        const char *def = default_variant(arch);
        return streq_ptr(a ? a : def, b ? b : def);
}

static bool os_arch_eq(const RegistryDescriptor *d, const RegistryPlatform *want) {
        return d->has_platform && streq(d->platform.os, want->os) && streq(d->platform.architecture, want->architecture);
}

static int no_match(const RegistryManifest *index, const RegistryPlatform *want, KError **err) {
        _cleanup_free_ char *list = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&list, &size);
        if (!f)
                return kerr(err, -ENOMEM, "select platform");
        for (size_t i = 0, shown = 0; i < index->n_descs && shown < 16; i++) {
                const RegistryPlatform *p = &index->descs[i].platform;
                if (!index->descs[i].has_platform)
                        continue;
                fprintf(f, "%s%s/%s%s%s", shown++ ? ", " : "", p->os, p->architecture, p->variant ? "/" : "",
                        p->variant ? p->variant : "");
        }
        if (fflush(f) != 0 || !list)
                return kerr(err, -ENOMEM, "select platform");
        return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "no image for platform %s/%s%s%s in the index (it has: %s)",
                        want->os, want->architecture, want->variant ? "/" : "", want->variant ? want->variant : "",
                        size ? list : "no platforms");
}

int registry_index_select(const RegistryManifest *index, const RegistryPlatform *want, size_t *ret, KError **err) {
        /* Pass 0: the wanted (or implied) variant exactly; pass 1 (no variant wanted): any variant. */
        for (int pass = 0; pass < (want->variant ? 1 : 2); pass++)
                for (size_t i = 0; i < index->n_descs; i++) {
                        const RegistryDescriptor *d = &index->descs[i];
                        if (os_arch_eq(d, want) &&
                            (pass == 1 || variant_eq(want->architecture, d->platform.variant, want->variant))) {
                                *ret = i;
                                return 0;
                        }
                }
        return no_match(index, want, err);
}
