/* SPDX-License-Identifier: Apache-2.0 */
#include "string-util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"

size_t strv_length(char *const *v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

int strv_extend(char ***v, const char *s) {
        size_t n = strv_length(*v);
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        char **nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv) {
                free(c);
                return -ENOMEM;
        }
        nv[n] = c;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

int strv_copy(char *const *v, char ***ret) {
        _cleanup_strv_free_ char **c = NULL;
        if (!v) {
                *ret = NULL;
                return 0;
        }
        c = calloc(strv_length(v) + 1, sizeof(char *));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; v[i]; i++)
                if (!(c[i] = strdup(v[i])))
                        return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

bool strv_contains(char *const *v, const char *s) {
        for (size_t i = 0; v && v[i]; i++)
                if (streq(v[i], s))
                        return true;
        return false;
}

char *json_quote(const char *s) {
        size_t n = strlen(s);
        char *out = malloc(n * 6 + 3), *p = out;
        if (!out)
                return NULL;
        *p++ = '"';
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                switch (*c) {
                case '"':  *p++ = '\\'; *p++ = '"'; break;
                case '\\': *p++ = '\\'; *p++ = '\\'; break;
                case '\n': *p++ = '\\'; *p++ = 'n'; break;
                case '\t': *p++ = '\\'; *p++ = 't'; break;
                case '\r': *p++ = '\\'; *p++ = 'r'; break;
                default:
                        if (*c < 0x20)
                                p += sprintf(p, "\\u%04x", *c);
                        else
                                *p++ = (char) *c;
                }
        }
        *p++ = '"';
        *p = '\0';
        return out;
}

int parse_int64(const char *s, int64_t *ret) {
        if (!s || !*s || isspace((unsigned char) *s))
                return -EINVAL;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno)
                return -errno;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_uint64(const char *s, uint64_t *ret) {
        if (!s || !*s || isspace((unsigned char) *s) || *s == '-')
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno)
                return -errno;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct { char suffix; unsigned shift; } units[] = {
                { 'k', 10 }, { 'm', 20 }, { 'g', 30 }, { 't', 40 },
        };
        if (!s || !*s || *s == '-' || isspace((unsigned char) *s))
                return -EINVAL;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || !isfinite(v) || v < 0)
                return -EINVAL;
        unsigned shift = 0;
        if (*end) {
                char c = (char) tolower((unsigned char) *end);
                bool found = false;
                for (size_t i = 0; i < ELEMENTSOF(units); i++)
                        if (units[i].suffix == c) {
                                shift = units[i].shift;
                                found = true;
                        }
                if (found)
                        end++;
                if (*end == 'b' || *end == 'B')
                        end++;
                if (*end)
                        return -EINVAL;
        }
        double bytes = v * (double) (1ULL << shift);
        if (bytes >= 18446744073709551615.0)
                return -ERANGE;
        *ret = (uint64_t) bytes;
        return 0;
}

int parse_signal(const char *s, int *ret) {
        int64_t n;
        if (parse_int64(s, &n) == 0) {
                if (n <= 0 || n >= NSIG)
                        return -EINVAL;
                *ret = (int) n;
                return 0;
        }
        const char *name = startswith(s, "SIG") ? s + 3 : s;
        for (int i = 1; i < NSIG; i++) {
                const char *abbrev = sigabbrev_np(i);
                if (abbrev && strcasecmp(abbrev, name) == 0) {
                        *ret = i;
                        return 0;
                }
        }
        return -EINVAL;
}
