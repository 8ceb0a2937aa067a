/* SPDX-License-Identifier: Apache-2.0 */
/* Image references, normalized as docker does (distribution/reference grammar, re-implemented
 * from its documented rules): [domain[:port]/]path[:tag][@digest]. A first component with a '.'
 * or ':' or equal to "localhost" is a registry host; otherwise the domain is docker.io and a
 * single-component path gets "library/". A missing tag becomes "latest" unless a digest is given. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "image.h"
#include "string-util.h"

#define DEFAULT_DOMAIN "docker.io"
#define NAME_TOTAL_MAX 255
#define TAG_MAX 128

void image_ref_done(ImageRef *r) {
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        *r = (ImageRef) {};
}

static bool is_alnum_lower(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static bool path_component_valid(const char *s, size_t n) {
        size_t i = 0;
        if (n == 0 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
                return false;
        while (i < n) {
                if (is_alnum_lower(s[i])) {
                        i++;
                        continue;
                }
                size_t j = i;
                while (j < n && !is_alnum_lower(s[j]))
                        j++;
                size_t l = j - i;
                bool ok = (l == 1 && (s[i] == '.' || s[i] == '_' || s[i] == '-')) ||
                          (l == 2 && s[i] == '_' && s[i + 1] == '_') || strspn(s + i, "-") >= l;
                if (!ok)
                        return false;
                i = j;
        }
        return true;
}

/* host[:port], host = labels of [A-Za-z0-9-] joined by '.', or a bracketed IPv6 literal. */
static bool domain_valid(const char *s, size_t n) {
        if (!s || n == 0)
                return false;
        const char *colon = memrchr(s, ':', n);
        size_t hl = n;
        if (s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (!close)
                        return false;
                hl = (size_t) (close - s) + 1;
                colon = hl < n ? s + hl : NULL;
                if (colon && *colon != ':')
                        return false;
        } else if (colon)
                hl = (size_t) (colon - s);
        if (colon) {
                size_t pl = n - hl - 1;
                if (pl == 0 || pl > 5 || strspn(colon + 1, "0123456789") < pl)
                        return false;
        }
        if (s[0] == '[')
                return hl > 2 && strspn(s + 1, "0123456789abcdefABCDEF:.") == hl - 2;
        if (hl == 0 || s[0] == '-' || s[hl - 1] == '-' || s[0] == '.' || s[hl - 1] == '.')
                return false;
        for (size_t i = 0; i < hl; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '-' && !(s[i] == '.' && s[i + 1] != '.'))
                        return false;
        return true;
}

static bool tag_valid(const char *t) {
        size_t n = strlen(t);
        if (n == 0 || n > TAG_MAX || !(isalnum((unsigned char) t[0]) || t[0] == '_'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) t[i]) && !strchr("_.-", t[i]))
                        return false;
        return true;
}

static int ref_error(KError **err, const char *ref, const char *why) {
        return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid image reference '%s': %s", ref, why);
}

static int split_digest(const char *ref, char **name, ImageRef *out, KError **err) {
        const char *at = strchr(ref, '@');
        *name = at ? strndup(ref, (size_t) (at - ref)) : strdup(ref);
        if (!*name)
                return -ENOMEM;
        if (!at)
                return 0;
        int r = digest_parse(at + 1, NULL);
        if (r == -EOPNOTSUPP)
                return ref_error(err, ref, "only sha256 digests are supported");
        if (r < 0)
                return ref_error(err, ref, "the digest must be sha256:<64 lowercase hex digits>");
        out->digest = strdup(at + 1);
        return out->digest ? 0 : -ENOMEM;
}

/* Split "name[:tag]" where the tag is after the last '/', then the domain off the name. */
static int split_name(const char *ref, char *name, ImageRef *out, KError **err) {
        char *slash = strrchr(name, '/');
        char *colon = strrchr(slash ? slash : name, ':');
        if (colon) {
                *colon = '\0';
                if (!tag_valid(colon + 1))
                        return ref_error(err, ref, "a tag is up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
                out->tag = strdup(colon + 1);
                if (!out->tag)
                        return -ENOMEM;
        }
        char *first_end = strchr(name, '/');
        const char *path = name;
        if (first_end) {
                size_t fl = (size_t) (first_end - name);
                if (memchr(name, '.', fl) || memchr(name, ':', fl) || (fl == 9 && !strncmp(name, "localhost", 9)) ||
                    (fl > 0 && name[0] == '[')) {
                        if (!domain_valid(name, fl))
                                return ref_error(err, ref, "malformed registry host");
                        out->domain = strndup(name, fl);
                        path = first_end + 1;
                }
        }
        if (!out->domain || streq(out->domain, "index.docker.io")) {
                free(out->domain);
                out->domain = strdup(DEFAULT_DOMAIN);
        }
        if (!out->domain)
                return -ENOMEM;
        if (streq(out->domain, DEFAULT_DOMAIN) && !strchr(path, '/'))
                return asprintf(&out->path, "library/%s", path) < 0 ? -ENOMEM : 0;
        out->path = strdup(path);
        return out->path ? 0 : -ENOMEM;
}

static int check_path(const char *ref, const char *path, KError **err) {
        const char *s = path;
        for (;;) {
                const char *e = strchrnul(s, '/');
                if (!path_component_valid(s, (size_t) (e - s))) {
                        for (const char *c = s; c < e; c++)
                                if (isupper((unsigned char) *c))
                                        return ref_error(err, ref, "repository names must be lowercase");
                        return ref_error(err, ref, "each name component is [a-z0-9] separated by '.', '_', '__' or '-'");
                }
                if (!*e)
                        return 0;
                s = e + 1;
        }
}

int image_ref_parse(const char *ref, ImageRef *ret, KError **err) {
        ImageRef out = {};
        _cleanup_free_ char *name = NULL;
        if (!ref || !*ref)
                return ref_error(err, ref ? ref : "", "empty");
        if (digest_hex_is_valid(ref))
                return ref_error(err, ref, "a 64-hex-digit string is an image id, not a name");
        int r = split_digest(ref, &name, &out, err);
        if (r >= 0 && !*name)
                r = ref_error(err, ref, "empty name");
        if (r >= 0)
                r = split_name(ref, name, &out, err);
        if (r >= 0)
                r = check_path(ref, out.path, err);
        if (r >= 0 && strlen(out.domain) + 1 + strlen(out.path) > NAME_TOTAL_MAX)
                r = ref_error(err, ref, "name longer than 255 characters");
        if (r >= 0 && !out.tag && !out.digest && !(out.tag = strdup("latest")))
                r = -ENOMEM;
        if (r < 0) {
                image_ref_done(&out);
                return r == -ENOMEM ? kerr(err, r, "parse image reference") : r;
        }
        *ret = out;
        return 0;
}

char *image_ref_format(const ImageRef *r) {
        char *s = NULL;
        if (asprintf(&s, "%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "", r->tag ? r->tag : "",
                     r->digest ? "@" : "", r->digest ? r->digest : "") < 0)
                return NULL;
        return s;
}

int image_ref_normalize(const char *ref, char **ret, KError **err) {
        ImageRef r = {};
        int k = image_ref_parse(ref, &r, err);
        if (k < 0)
                return k;
        *ret = image_ref_format(&r);
        image_ref_done(&r);
        return *ret ? 0 : kerr(err, -ENOMEM, "normalize image reference");
}

char *image_ref_familiar(const char *name) {
        const char *s = startswith(name, DEFAULT_DOMAIN "/");
        if (s) {
                const char *lib = startswith(s, "library/");
                if (lib && !strchr(lib, '/'))
                        s = lib;
        } else
                s = name;
        return strdup(s);
}

/* Levenshtein distance, two rows (strings here are short). */
static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        _cleanup_free_ size_t *row = calloc(lb + 1, sizeof(size_t));
        if (!row)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t best = diag + (a[i - 1] != b[j - 1]);
                        if (up + 1 < best)
                                best = up + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

/* Distance from what the user typed to a stored name, in the form closest to the user's: the
 * familiar name, and without ":latest" when the user gave no tag. */
static size_t name_distance(const char *query, const char *name) {
        _cleanup_free_ char *fam = image_ref_familiar(name);
        if (!fam)
                return SIZE_MAX;
        const char *q_slash = strrchr(query, '/');
        if (!strchr(q_slash ? q_slash : query, ':')) {
                char *c = strrchr(fam, ':');
                if (c && streq(c, ":latest"))
                        *c = '\0';
        }
        size_t d1 = edit_distance(query, fam), d2 = edit_distance(query, name);
        return d1 < d2 ? d1 : d2;
}

int image_ref_suggest(const char *query, char *const *names, size_t max, char ***ret) {
        size_t n = strv_length(names), limit = strlen(query) / 3;
        if (limit < 2)
                limit = 2;
        _cleanup_free_ size_t *dist = calloc(n + 1, sizeof(size_t));
        if (!dist)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                dist[i] = name_distance(query, names[i]);
        _cleanup_strv_free_ char **out = NULL;
        for (size_t d = 0; d <= limit; d++)
                for (size_t i = 0; i < n && strv_length(out) < max; i++) {
                        if (dist[i] != d)
                                continue;
                        _cleanup_free_ char *fam = image_ref_familiar(names[i]);
                        if (!fam || strv_extend(&out, fam) < 0)
                                return -ENOMEM;
                }
        *ret = TAKE_PTR(out);
        return 0;
}
