/* SPDX-License-Identifier: Apache-2.0 */
/* Listing text as docker prints it: `--format 'table …'` headers named after the template's fields,
 * and tab-separated cells aligned into columns (each column as wide as its widest cell plus 3
 * spaces, at least 10: the layout of docker's tabwriter). Pure text in, text out. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* One column of a listing: its default-table header, the row field it shows, and how it is cut. */
typedef struct KColumn {
        const char *header;
        const char *field;
        int width;      /* unused by the aligned output; kept for old tables */
        int max;        /* truncate to this many characters (0: no limit) */
        bool quote;     /* "command…" (unused: ps rows carry docker's quoted COMMAND) */
        bool extra;     /* not in the default table; only names the header of a template field */
} KColumn;

/* Write `text` (lines of '\t'-separated cells) to `out` with the cells aligned: every cell that a
 * tab ends is padded to its column's width; the last cell of a line is not. Widths count UTF-8
 * characters. Returns 0 or -errno. */
int k_table_write(const char *text, FILE *out);

/* The header line of a `table TEMPLATE` format: `tmpl` (without "table ") with each {{.Field}}
 * (or {{json .Field}}) replaced by the header of the column showing Field in `cols` (NULL-header
 * terminated), else by docker's name for it, else by the field's name in capitals. Literal text is
 * kept. Returns a malloc'd string or NULL on ENOMEM. */
char *k_table_header(const char *tmpl, const KColumn *cols);

/* "table" or "table " at the start of a --format: the template after it ("" for a bare "table"),
 * else NULL. */
const char *k_table_template(const char *format);
