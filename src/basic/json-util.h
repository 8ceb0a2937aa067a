/* SPDX-License-Identifier: Apache-2.0 */
/* jansson glue: cleanup helpers and small builders used by the state and CLI code. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "cleanup.h"

/* jansson provides json_decrefp() itself. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Serialize in insertion order, pretty (indent 2) or compact. Caller frees. */
char *json_dump_string(const json_t *j, bool pretty);
/* Write `j` + newline to stdout. Returns negative errno. */
int json_print(const json_t *j, bool pretty);
/* Build a JSON array of strings from a NULL-terminated vector. */
json_t *json_from_strv(char *const *v);
