/* SPDX-License-Identifier: Apache-2.0 */
/* The subset of Go templates docker's --format users rely on: literal text with {{.Field}} and
 * {{.A.B}} paths into a JSON object, {{json .Field}} (or {{json .}}) for JSON output, and \t \n
 * escapes. Anything else is an error naming the action. */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "error.h"

int template_render(const char *tmpl, const json_t *obj, FILE *out, KError **err);
