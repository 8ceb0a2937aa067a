/* SPDX-License-Identifier: Apache-2.0 */
/* .dockerignore patterns and the glob matcher COPY/ADD sources share (see dockerignore.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dockerignore.h"
#include "string-util.h"

/* One character class at p ('[' already consumed); *ret_end after ']'. 1/0 match, -EINVAL bad. */
static int match_class(const char *p, char c, const char **ret_end) {
        bool neg = *p == '^' || *p == '!', hit = false, first = true;
        if (neg)
                p++;
        while (*p && (*p != ']' || first)) {
                first = false;
                char lo = *p, hi;
                if (lo == '\\' && p[1])
                        lo = *++p;
                p++;
                hi = lo;
                if (*p == '-' && p[1] && p[1] != ']') {
                        hi = *++p;
                        if (hi == '\\' && p[1])
                                hi = *++p;
                        p++;
                }
                if (lo <= c && c <= hi)
                        hit = true;
        }
        if (*p != ']')
                return -EINVAL;
        *ret_end = p + 1;
        return hit != neg;
}

/* Check a pattern's syntax once (unterminated class or trailing escape). */
static int check_pattern(const char *p) {
        for (; *p; p++) {
                if (*p == '\\') {
                        if (!*++p)
                                return -EINVAL;
                } else if (*p == '[') {
                        const char *end;
                        if (match_class(p + 1, 'a', &end) < 0)
                                return -EINVAL;
                        p = end - 1;
                }
        }
        return 0;
}

static int match(const char *p, const char *s, bool ds, unsigned depth) {
        if (depth > 64)
                return 0;
        for (;;) {
                switch (*p) {
                case '\0': return *s == '\0';
                case '*': {
                        if (ds && p[1] == '*') {
                                while (*p == '*')
                                        p++;
                                if (*p == '/') {
                                        /* "**" + "/": zero or more leading directories */
                                        for (const char *t = s;; t++) {
                                                if ((t == s || t[-1] == '/') && match(p + 1, t, ds, depth + 1) > 0)
                                                        return 1;
                                                if (!*t)
                                                        return 0;
                                        }
                                }
                                for (const char *t = s;; t++) {
                                        if (match(p, t, ds, depth + 1) > 0)
                                                return 1;
                                        if (!*t)
                                                return 0;
                                }
                        }
                        while (*p == '*')
                                p++;
                        for (const char *t = s;; t++) {
                                if (match(p, t, ds, depth + 1) > 0)
                                        return 1;
                                if (!*t || *t == '/')
                                        return 0;
                        }
                }
                case '?':
                        if (!*s || *s == '/')
                                return 0;
                        p++, s++;
                        break;
                case '[': {
                        const char *end;
                        if (!*s || *s == '/')
                                return 0;
                        int r = match_class(p + 1, *s, &end);
                        if (r <= 0)
                                return r;
                        p = end, s++;
                        break;
                }
                case '\\':
                        if (!p[1])
                                return -EINVAL;
                        p++;
                        /* fall through */
                default:
                        if (*p != *s)
                                return 0;
                        p++, s++;
                }
        }
}

int glob_match(const char *pattern, const char *str, bool doublestar) {
        int r = check_pattern(pattern);
        return r < 0 ? r : match(pattern, str, doublestar, 0);
}

char *dockerignore_clean(const char *p) {
        size_t n = strlen(p);
        char *out = malloc(n + 2);
        if (!out)
                return NULL;
        size_t o = 0;
        while (*p) {
                while (*p == '/')
                        p++;
                size_t l = strcspn(p, "/");
                if (l == 0)
                        break;
                if (l == 1 && p[0] == '.') {
                        /* skip */
                } else if (l == 2 && p[0] == '.' && p[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                } else {
                        if (o > 0)
                                out[o++] = '/';
                        memcpy(out + o, p, l);
                        o += l;
                }
                p += l;
        }
        if (o == 0)
                out[o++] = '.';
        out[o] = '\0';
        return out;
}

void dockerignore_done(DockerIgnore *d) {
        strv_free(d->patterns);
        free(d->exception);
        *d = (DockerIgnore) {};
}

int dockerignore_parse(const char *text, size_t len, DockerIgnore *ret, KError **err) {
        DockerIgnore d = { .patterns = calloc(1, sizeof(char *)) };
        unsigned line = 0;
        int r = d.patterns ? 0 : -ENOMEM;
        for (const char *p = text, *end = text + len; r >= 0 && p < end;) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                _cleanup_free_ char *l = strndup(p, n);
                p += n + 1;
                line++;
                if (!l) {
                        r = -ENOMEM;
                        break;
                }
                char *s = l;
                size_t k = strlen(s);
                while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\r'))
                        s[--k] = '\0';
                while (*s == ' ' || *s == '\t')
                        s++;
                if (!*s || *s == '#')
                        continue;
                bool exc = *s == '!';
                if (exc)
                        while (*++s == ' ' || *s == '\t')
                                ;
                _cleanup_free_ char *clean = dockerignore_clean(s);
                if (!clean) {
                        r = -ENOMEM;
                        break;
                }
                if (check_pattern(clean) < 0) {
                        r = kerr_msg(err, KERR_USAGE, -EINVAL, ".dockerignore:%u: bad pattern '%s' (unterminated [ or \\)", line, s);
                        break;
                }
                bool *e = realloc(d.exception, (d.n + 1) * sizeof(bool));
                if (e)
                        d.exception = e;
                if (!e || strv_extend(&d.patterns, clean) < 0) {
                        r = -ENOMEM;
                        break;
                }
                d.exception[d.n++] = exc;
                d.has_exceptions |= exc;
        }
        if (r < 0) {
                dockerignore_done(&d);
                return r == -ENOMEM ? kerr(err, r, "parse .dockerignore") : r;
        }
        *ret = d;
        return 0;
}

/* The pattern matches the path or one of its parent directories. */
static bool matches_or_parent(const char *pat, const char *path) {
        if (match(pat, path, true, 0) > 0)
                return true;
        _cleanup_free_ char *p = strdup(path);
        for (char *slash = p ? strrchr(p, '/') : NULL; slash; slash = strrchr(p, '/')) {
                *slash = '\0';
                if (match(pat, p, true, 0) > 0)
                        return true;
        }
        return false;
}

bool dockerignore_excluded(const DockerIgnore *d, const char *path) {
        bool excluded = false;
        for (size_t i = 0; i < d->n; i++)
                if (d->exception[i] != excluded)
                        continue;       /* cannot change the answer */
                else if (matches_or_parent(d->patterns[i], path))
                        excluded = !d->exception[i];
        return excluded;
}
