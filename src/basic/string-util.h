/* SPDX-License-Identifier: Apache-2.0 */
/* String and string-vector helpers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

/* Returns the rest of `s` after `prefix`, or NULL when `s` does not start with it. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

size_t strv_length(char *const *v);
/* Append a copy of `s` to a NULL-terminated vector (reallocating). Returns negative errno. */
int strv_extend(char ***v, const char *s);
/* Deep copy; NULL in, NULL out (returns -ENOMEM only on allocation failure). */
int strv_copy(char *const *v, char ***ret);
bool strv_contains(char *const *v, const char *s);

/* JSON string literal (with quotes) for `s`; NULL on ENOMEM. */
char *json_quote(const char *s);

/* Strict integer parsing: whole string, base 10 (or 0x hex for the _u64 variant). */
int parse_int64(const char *s, int64_t *ret);
/* A signal name or number: "TERM", "SIGKILL", "kill", "9". Returns -EINVAL when unknown. */
int parse_signal(const char *s, int *ret);
int parse_uint64(const char *s, uint64_t *ret);
/* "512", "64k", "1.5G", "100M" (binary units, case-insensitive, optional trailing "b"). */
int parse_size(const char *s, uint64_t *ret);
