/* SPDX-License-Identifier: Apache-2.0 */
/* Typed, validating accessors over jansson objects for the spec parser.
 *
 * Every accessor takes the parse context (origin file + error sink) and the JSON field path
 * of the parent ("linux.resources.memory"); errors read
 *     config.json: linux.resources.memory.limit: expected an integer, got a string
 * An absent key is never an error here (the caller decides what is required); a key of the
 * wrong type always is. null counts as absent, as in runc. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

typedef struct SpecCtx {
        const char *origin;
        KError **err;
} SpecCtx;

#define FIELD_MAX 256

/* "where.key" (or "key" at the top level) into buf. */
const char *sp_field(char buf[static FIELD_MAX], const char *where, const char *key);
/* "where[i]" into buf. */
const char *sp_index(char buf[static FIELD_MAX], const char *where, size_t i);

/* Record "<origin>: <field>: <message>" as a KERR_CONFIG error; returns -EINVAL. */
int sp_fail(const SpecCtx *c, const char *field, const char *fmt, ...) _printf_(3, 4);

/* Fetch a member of a given JSON type: *ret = NULL when absent (or null). */
int sp_object(const SpecCtx *c, json_t *obj, const char *where, const char *key, json_t **ret);
int sp_array(const SpecCtx *c, json_t *obj, const char *where, const char *key, json_t **ret);

/* Scalars. `has` (may be NULL) tells whether the key was present. */
int sp_string(const SpecCtx *c, json_t *obj, const char *where, const char *key, char **ret);
int sp_bool(const SpecCtx *c, json_t *obj, const char *where, const char *key, bool *ret, bool *has);
int sp_int64(const SpecCtx *c, json_t *obj, const char *where, const char *key, int64_t *ret, bool *has);
int sp_uint64(const SpecCtx *c, json_t *obj, const char *where, const char *key, uint64_t *ret, bool *has);
/* An unsigned integer in [min, max]. */
int sp_range(const SpecCtx *c, json_t *obj, const char *where, const char *key, uint64_t min, uint64_t max,
             uint64_t *ret, bool *has);

/* A required string: absent is an error saying so. */
int sp_string_req(const SpecCtx *c, json_t *obj, const char *where, const char *key, char **ret);
/* An absolute path (required or not). */
int sp_abs_path(const SpecCtx *c, json_t *obj, const char *where, const char *key, bool required, char **ret);

/* An array of strings into a NULL-terminated vector (NULL when absent); *n may be NULL. */
int sp_strv(const SpecCtx *c, json_t *obj, const char *where, const char *key, char ***ret, size_t *n);
/* An object of string values into alternating key, value vector. */
int sp_string_map(const SpecCtx *c, json_t *obj, const char *where, const char *key, char ***ret);

/* Grow an array by one zeroed element; returns a pointer to it or NULL on ENOMEM. */
void *sp_grow(void **array, size_t *n, size_t size);

/* Sections of the parser implemented in spec-parse-linux.c, used by spec-parse.c. */
struct SpecLinux;
struct SpecResources;
int spec_parse_linux_section(const SpecCtx *c, json_t *o, const char *where, struct SpecLinux *l);
int spec_parse_resources_section(const SpecCtx *c, json_t *o, const char *where, struct SpecResources *r);
void spec_linux_clear(struct SpecLinux *l);
void spec_resources_clear(struct SpecResources *r);
