/* SPDX-License-Identifier: Apache-2.0 */
#include "spec-json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "path-util.h"
#include "string-util.h"

const char *sp_field(char buf[static FIELD_MAX], const char *where, const char *key) {
        if (!where || !*where)
                snprintf(buf, FIELD_MAX, "%s", key);
        else
                snprintf(buf, FIELD_MAX, "%s.%s", where, key);
        return buf;
}

const char *sp_index(char buf[static FIELD_MAX], const char *where, size_t i) {
        snprintf(buf, FIELD_MAX, "%s[%zu]", where, i);
        return buf;
}

int sp_fail(const SpecCtx *c, const char *field, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                return kerr(c->err, -ENOMEM, "%s: %s", c->origin, field);
        return kerr_msg(c->err, KERR_CONFIG, -EINVAL, "%s: %s: %s", c->origin, field, msg);
}

static const char *type_name(const json_t *j) {
        static const char *const names[] = {
                [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
                [JSON_INTEGER] = "an integer", [JSON_REAL] = "a number", [JSON_TRUE] = "a boolean",
                [JSON_FALSE] = "a boolean", [JSON_NULL] = "null",
        };
        return names[json_typeof(j)];
}

/* Look up `key`; NULL when absent or null. */
static json_t *member(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        return json_is_null(v) ? NULL : v;
}

static int typed(const SpecCtx *c, json_t *obj, const char *where, const char *key, json_type want,
                 const char *want_name, json_t **ret) {
        json_t *v = member(obj, key);
        *ret = NULL;
        if (!v)
                return 0;
        if (json_typeof(v) != want) {
                char f[FIELD_MAX];
                return sp_fail(c, sp_field(f, where, key), "expected %s, got %s", want_name, type_name(v));
        }
        *ret = v;
        return 1;
}

int sp_object(const SpecCtx *c, json_t *obj, const char *where, const char *key, json_t **ret) {
        return typed(c, obj, where, key, JSON_OBJECT, "an object", ret);
}

int sp_array(const SpecCtx *c, json_t *obj, const char *where, const char *key, json_t **ret) {
        return typed(c, obj, where, key, JSON_ARRAY, "an array", ret);
}

int sp_string(const SpecCtx *c, json_t *obj, const char *where, const char *key, char **ret) {
        json_t *v;
        int r = typed(c, obj, where, key, JSON_STRING, "a string", &v);
        if (r <= 0)
                return r;
        char *s = strdup(json_string_value(v));
        if (!s)
                return kerr(c->err, -ENOMEM, "%s", c->origin);
        if (strlen(s) != json_string_length(v)) {
                free(s);
                char f[FIELD_MAX];
                return sp_fail(c, sp_field(f, where, key), "string contains a NUL byte");
        }
        free(*ret);
        *ret = s;
        return 1;
}

int sp_string_req(const SpecCtx *c, json_t *obj, const char *where, const char *key, char **ret) {
        int r = sp_string(c, obj, where, key, ret);
        if (r == 0) {
                char f[FIELD_MAX];
                return sp_fail(c, sp_field(f, where, key), "missing (required)");
        }
        return r;
}

int sp_abs_path(const SpecCtx *c, json_t *obj, const char *where, const char *key, bool required, char **ret) {
        int r = required ? sp_string_req(c, obj, where, key, ret) : sp_string(c, obj, where, key, ret);
        if (r <= 0)
                return r;
        if (!path_is_absolute(*ret)) {
                char f[FIELD_MAX];
                return sp_fail(c, sp_field(f, where, key), "\"%s\" is not an absolute path", *ret);
        }
        return r;
}

int sp_bool(const SpecCtx *c, json_t *obj, const char *where, const char *key, bool *ret, bool *has) {
        json_t *v = member(obj, key);
        if (has)
                *has = false;
        if (!v)
                return 0;
        if (!json_is_boolean(v)) {
                char f[FIELD_MAX];
                return sp_fail(c, sp_field(f, where, key), "expected a boolean, got %s", type_name(v));
        }
        *ret = json_is_true(v);
        if (has)
                *has = true;
        return 1;
}

/* Integers. jansson keeps integers as int64 and rejects larger literals at decode time with a
 * line/column message; an integral real (1e9) is accepted for unsigned fields. */
static int number(const SpecCtx *c, json_t *obj, const char *where, const char *key, bool is_signed,
                  int64_t *ret_i, uint64_t *ret_u, bool *has) {
        json_t *v = member(obj, key);
        char f[FIELD_MAX];
        if (has)
                *has = false;
        if (!v)
                return 0;
        if (json_is_integer(v)) {
                json_int_t i = json_integer_value(v);
                if (!is_signed && i < 0)
                        return sp_fail(c, sp_field(f, where, key), "must not be negative (got %lld)", (long long) i);
                if (is_signed)
                        *ret_i = i;
                else
                        *ret_u = (uint64_t) i;
        } else if (json_is_real(v) && !is_signed) {
                double d = json_real_value(v);
                /* 2^64 as a double is where 18446744073709551615 rounds to: take it as UINT64_MAX. */
                if (d < 0 || d > 18446744073709551616.0 ||
                    (d < 18446744073709551616.0 && d != (double) (uint64_t) d))
                        return sp_fail(c, sp_field(f, where, key), "expected an unsigned 64-bit integer, got %g", d);
                *ret_u = d >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t) d;
        } else
                return sp_fail(c, sp_field(f, where, key), "expected an integer, got %s", type_name(v));
        if (has)
                *has = true;
        return 1;
}

int sp_int64(const SpecCtx *c, json_t *obj, const char *where, const char *key, int64_t *ret, bool *has) {
        return number(c, obj, where, key, true, ret, NULL, has);
}

int sp_uint64(const SpecCtx *c, json_t *obj, const char *where, const char *key, uint64_t *ret, bool *has) {
        return number(c, obj, where, key, false, NULL, ret, has);
}

int sp_range(const SpecCtx *c, json_t *obj, const char *where, const char *key, uint64_t min, uint64_t max,
             uint64_t *ret, bool *has) {
        uint64_t v = 0;
        int r = number(c, obj, where, key, false, NULL, &v, has);
        if (r <= 0)
                return r;
        if (v < min || v > max) {
                char f[FIELD_MAX];
                return sp_fail(c, sp_field(f, where, key), "%llu is out of range (%llu..%llu)",
                               (unsigned long long) v, (unsigned long long) min, (unsigned long long) max);
        }
        *ret = v;
        return 1;
}

int sp_strv(const SpecCtx *c, json_t *obj, const char *where, const char *key, char ***ret, size_t *n) {
        json_t *a;
        char f[FIELD_MAX], fi[FIELD_MAX];
        int r = sp_array(c, obj, where, key, &a);
        if (r <= 0)
                return r;
        sp_field(f, where, key);
        _cleanup_strv_free_ char **v = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!v)
                return kerr(c->err, -ENOMEM, "%s", c->origin);
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e) {
                if (!json_is_string(e))
                        return sp_fail(c, sp_index(fi, f, i), "expected a string, got %s", type_name(e));
                if (strlen(json_string_value(e)) != json_string_length(e))
                        return sp_fail(c, sp_index(fi, f, i), "string contains a NUL byte");
                v[i] = strdup(json_string_value(e));
                if (!v[i])
                        return kerr(c->err, -ENOMEM, "%s", c->origin);
        }
        if (n)
                *n = json_array_size(a);
        strv_free(*ret);
        *ret = TAKE_PTR(v);
        return 1;
}

int sp_string_map(const SpecCtx *c, json_t *obj, const char *where, const char *key, char ***ret) {
        json_t *o;
        char f[FIELD_MAX], fk[FIELD_MAX];
        int r = sp_object(c, obj, where, key, &o);
        if (r <= 0)
                return r;
        sp_field(f, where, key);
        _cleanup_strv_free_ char **v = calloc(2 * json_object_size(o) + 1, sizeof(char *));
        if (!v)
                return kerr(c->err, -ENOMEM, "%s", c->origin);
        size_t i = 0;
        const char *k;
        json_t *e;
        json_object_foreach(o, k, e) {
                if (!json_is_string(e))
                        return sp_fail(c, sp_field(fk, f, k), "expected a string, got %s", type_name(e));
                v[i] = strdup(k);
                v[i + 1] = strdup(json_string_value(e));
                if (!v[i] || !v[i + 1])
                        return kerr(c->err, -ENOMEM, "%s", c->origin);
                i += 2;
        }
        strv_free(*ret);
        *ret = TAKE_PTR(v);
        return 1;
}

void *sp_grow(void **array, size_t *n, size_t size) {
        char *a = realloc(*array, (*n + 1) * size);
        if (!a)
                return NULL;
        *array = a;
        memset(a + *n * size, 0, size);
        return a + (*n)++ * size;
}
