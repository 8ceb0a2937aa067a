/* SPDX-License-Identifier: Apache-2.0 */
/* One way to print a listing (ps, images, volume ls, network ls): the rows are JSON objects (the
 * same ones `--format json` prints), the table is described by columns, and a Go-like template
 * renders anything else. */
#include <stdio.h>
#include <string.h>

#include "kapsel-cli.h"
#include "json-util.h"
#include "string-util.h"
#include "template.h"

static void cell_text(const json_t *v, const KColumn *col, char *buf, size_t size) {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (json_is_boolean(v))
                s = json_is_true(v) ? "true" : "false";
        else if (json_is_integer(v)) {
                snprintf(buf, size, "%lld", (long long) json_integer_value(v));
                return;
        }
        s = s ?: "";
        int max = col->max ? col->max : (int) size - 1;
        if (col->quote)         /* docker's COMMAND column: "sh -c 'sl… */
                snprintf(buf, size, "\"%.*s%s", max - 1, s, strlen(s) + 1 < (size_t) max ? "\"" : "");
        else
                snprintf(buf, size, "%.*s", max, s);
}

static void print_table_row(const KColumn *cols, const json_t *row) {
        for (const KColumn *c = cols; c->header; c++) {
                char cell[512];
                if (row)
                        cell_text(json_object_get(row, c->field), c, cell, sizeof(cell));
                const char *text = row ? cell : c->header;
                if (c[1].header)
                        printf("%-*s ", c->width, text);
                else
                        printf("%s\n", text);
        }
}

int k_print_list(json_t *rows, const KListFormat *f, const KColumn *cols, KError **err) {
        size_t i;
        json_t *row;
        if (f->quiet) {
                json_array_foreach(rows, i, row)
                        printf("%s\n", json_string_value(json_object_get(row, f->quiet_field)) ?: "");
                return 0;
        }
        if (!f->format || streq(f->format, "table")) {
                print_table_row(cols, NULL);
                json_array_foreach(rows, i, row)
                        print_table_row(cols, row);
                return 0;
        }
        if (streq(f->format, "json"))
                return json_print(rows, true);
        json_array_foreach(rows, i, row) {
                int r = template_render(f->format, row, stdout, err);
                if (r < 0)
                        return r;
                putchar('\n');
        }
        return 0;
}

int k_parse_list_opts(const char *verb, int argc, char **argv, KListFormat *f, KError **err) {
        static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' }, { "format", required_argument, NULL, 'f' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        int c;
        while ((c = getopt_long(argc, argv, "+qf:", opts, NULL)) >= 0)
                switch (c) {
                case 'q': f->quiet = true; break;
                case 'f': f->format = optarg; break;
                case 'h': return k_help(verb), 1;
                default: return k_usage(err, verb, "unknown option");
                }
        return 0;
}
