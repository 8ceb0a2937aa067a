/* SPDX-License-Identifier: Apache-2.0 */
/* One way to print a listing (ps, images, volume ls, network ls): the rows are JSON objects (the
 * same ones `--format json` prints), the table is described by columns, and a Go-like template
 * renders anything else. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kapsel-cli.h"
#include "json-util.h"
#include "string-util.h"
#include "template.h"

static void cell_text(const json_t *v, const KColumn *col, FILE *out) {
        char num[32];
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (json_is_boolean(v))
                s = json_is_true(v) ? "true" : "false";
        else if (json_is_integer(v)) {
                snprintf(num, sizeof(num), "%lld", (long long) json_integer_value(v));
                s = num;
        }
        s = s ?: "";
        /* cut at `max` characters (UTF-8 aware), as docker's short ids */
        size_t n = 0, chars = 0;
        while (s[n] && (!col->max || chars < (size_t) col->max || ((unsigned char) s[n] & 0xc0) == 0x80))
                chars += ((unsigned char) s[n++] & 0xc0) != 0x80;
        for (size_t i = 0; i < n; i++)          /* a tab or newline in a value must not break the table */
                fputc(s[i] == '\t' || s[i] == '\n' ? ' ' : s[i], out);
}

static void default_table(const json_t *rows, const KColumn *cols, FILE *out) {
        const char *sep = "";
        for (const KColumn *c = cols; c->header; c++)
                if (!c->extra) {
                        fprintf(out, "%s%s", sep, c->header);
                        sep = "\t";
                }
        fputc('\n', out);
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
                sep = "";
                for (const KColumn *c = cols; c->header; c++)
                        if (!c->extra) {
                                fputs(sep, out);
                                cell_text(json_object_get(row, c->field), c, out);
                                sep = "\t";
                        }
                fputc('\n', out);
        }
}

static int template_rows(const json_t *rows, const char *tmpl, const KColumn *cols, bool header, FILE *out,
                         KError **err) {
        if (header) {
                _cleanup_free_ char *h = k_table_header(tmpl, cols);
                if (!h)
                        return -ENOMEM;
                fprintf(out, "%s\n", h);
        }
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
                int r = template_render(tmpl, row, out, err);
                if (r < 0)
                        return r;
                fputc('\n', out);
        }
        return 0;
}

int k_print_list(json_t *rows, const KListFormat *f, const KColumn *cols, KError **err) {
        size_t i;
        json_t *row;
        if (f->quiet) {
                json_array_foreach(rows, i, row)
                        printf("%s\n", json_string_value(json_object_get(row, f->quiet_field)) ?: "");
                return 0;
        }
        if (f->format && streq(f->format, "json")) {       /* docker: one object a line */
                json_array_foreach(rows, i, row) {
                        _cleanup_free_ char *s = json_dumps(row, JSON_COMPACT);
                        if (!s)
                                return -ENOMEM;
                        printf("%s\n", s);
                }
                return 0;
        }
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        if (!out)
                return kerr(err, -ENOMEM, "listing");
        const char *tmpl = k_table_template(f->format);
        int r = 0;
        if (!f->format || (tmpl && !*tmpl))
                default_table(rows, cols, out);
        else
                r = template_rows(rows, tmpl ?: f->format, cols, tmpl != NULL, out, err);
        if (fclose(out) != 0 && r >= 0)
                r = kerr(err, -ENOMEM, "listing");
        if (r >= 0 && text)
                r = k_table_write(text, stdout);
        return r;
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
