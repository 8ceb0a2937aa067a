/* SPDX-License-Identifier: Apache-2.0 */
#include "json-util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fd-util.h"

char *json_dump_string(const json_t *j, bool pretty) {
        return json_dumps(j, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
}

int json_print(const json_t *j, bool pretty) {
        _cleanup_free_ char *s = json_dump_string(j, pretty);
        if (!s)
                return -ENOMEM;
        size_t n = strlen(s);
        s[n] = '\n';    /* replace the terminator: write() does not need it */
        return write_all(STDOUT_FILENO, s, n + 1);
}

json_t *json_from_strv(char *const *v) {
        json_t *a = json_array();
        for (size_t i = 0; a && v && v[i]; i++)
                if (json_array_append_new(a, json_string(v[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}
