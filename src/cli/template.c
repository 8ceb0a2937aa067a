/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"
#include "template.h"

/* ".A.B" -> the value at that path, or NULL. "." alone is the object itself. */
static const json_t *lookup(const json_t *obj, const char *path) {
        if (streq(path, "."))
                return obj;
        const json_t *cur = obj;
        _cleanup_free_ char *copy = strdup(path);
        if (!copy || copy[0] != '.')
                return NULL;
        for (char *save = NULL, *k = strtok_r(copy + 1, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
                cur = json_object_get(cur, k);
        return cur;
}

static void print_value(const json_t *v, bool as_json, FILE *out) {
        if (!v) {
                fputs(as_json ? "null" : "<no value>", out);
                return;
        }
        if (!as_json && json_is_string(v)) {
                fputs(json_string_value(v), out);
                return;
        }
        if (!as_json && json_is_integer(v)) {
                fprintf(out, "%lld", (long long) json_integer_value(v));
                return;
        }
        if (!as_json && json_is_boolean(v)) {
                fputs(json_is_true(v) ? "true" : "false", out);
                return;
        }
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fputs(s ?: "", out);
        free(s);
}

int template_render(const char *tmpl, const json_t *obj, FILE *out, KError **err) {
        for (const char *p = tmpl; *p;) {
                if (p[0] == '\\' && (p[1] == 't' || p[1] == 'n')) {
                        fputc(p[1] == 't' ? '\t' : '\n', out);
                        p += 2;
                        continue;
                }
                if (!startswith(p, "{{")) {
                        fputc(*p++, out);
                        continue;
                }
                const char *end = strstr(p, "}}");
                if (!end)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--format: unterminated action in \"%s\"", tmpl);
                _cleanup_free_ char *action = strndup(p + 2, (size_t) (end - p - 2));
                if (!action)
                        return -ENOMEM;
                char *a = action + strspn(action, " ");
                for (char *t = a + strlen(a); t > a && t[-1] == ' ';)
                        *--t = 0;
                bool as_json = false;
                if (startswith(a, "json ")) {
                        as_json = true;
                        a += 5;
                        a += strspn(a, " ");
                }
                if (a[0] != '.')
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "--format: unsupported action \"{{%s}}\" (use {{.Field}} or {{json .Field}})", action);
                print_value(lookup(obj, a), as_json, out);
                p = end + 2;
        }
        return 0;
}
