/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli-table.h"
#include "string-util.h"

enum { TABLE_MIN_WIDTH = 10, TABLE_PADDING = 3 };

/* display width of n bytes of UTF-8: continuation bytes do not count */
static size_t text_width(const char *s, size_t n) {
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
                w += ((unsigned char) s[i] & 0xc0) != 0x80;
        return w;
}

int k_table_write(const char *text, FILE *out) {
        _cleanup_free_ size_t *widths = NULL;
        size_t n_widths = 0;
        /* pass 1: the widest tab-ended cell of each column */
        for (const char *line = text; *line;) {
                size_t len = strcspn(line, "\n"), col = 0;
                for (const char *c = line, *end = line + len; c < end; col++) {
                        const char *tab = memchr(c, '\t', (size_t) (end - c));
                        if (!tab)
                                break;
                        if (col >= n_widths) {
                                size_t *nw = realloc(widths, (col + 1) * sizeof(*nw));
                                if (!nw)
                                        return -ENOMEM;
                                widths = nw;
                                for (; n_widths <= col; n_widths++)
                                        widths[n_widths] = TABLE_MIN_WIDTH;
                        }
                        size_t w = text_width(c, (size_t) (tab - c)) + TABLE_PADDING;
                        if (w > widths[col])
                                widths[col] = w;
                        c = tab + 1;
                }
                line += len + (line[len] == '\n');
        }
        /* pass 2: print, padding every tab-ended cell */
        for (const char *line = text; *line;) {
                size_t len = strcspn(line, "\n"), col = 0;
                const char *c = line, *end = line + len;
                for (const char *tab; (tab = memchr(c, '\t', (size_t) (end - c))); c = tab + 1, col++) {
                        size_t n = (size_t) (tab - c);
                        fwrite(c, 1, n, out);
                        for (size_t w = text_width(c, n); w < widths[col]; w++)
                                fputc(' ', out);
                }
                fwrite(c, 1, (size_t) (end - c), out);
                if (line[len] == '\n')
                        fputc('\n', out);
                line += len + (line[len] == '\n');
        }
        return ferror(out) ? -EIO : 0;
}

/* docker's header names for fields no column of the listing shows */
static const struct {
        const char *field, *header;
} docker_headers[] = {
        { "ID", "ID" },                 { "Names", "NAMES" },       { "Image", "IMAGE" },
        { "Command", "COMMAND" },       { "CreatedAt", "CREATED AT" }, { "RunningFor", "CREATED" },
        { "CreatedSince", "CREATED" },  { "Status", "STATUS" },     { "State", "STATE" },
        { "Ports", "PORTS" },           { "Size", "SIZE" },         { "Labels", "LABELS" },
        { "Mounts", "MOUNTS" },         { "Networks", "NETWORKS" }, { "LocalVolumes", "LOCAL VOLUMES" },
        { "Repository", "REPOSITORY" }, { "Tag", "TAG" },           { "Digest", "DIGEST" },
        { "Driver", "DRIVER" },         { "Name", "NAME" },         { "Scope", "SCOPE" },
        { "Mountpoint", "MOUNTPOINT" }, { "IPv6", "IPV6" },         { "Internal", "INTERNAL" },
        { "Kind", "KIND" },             { "Platform", "PLATFORM" }, { "Label", "LABEL" },
};

static void put_header(FILE *f, const char *field, size_t len, const KColumn *cols) {
        for (const KColumn *c = cols; c && c->header; c++)
                if (strlen(c->field) == len && strncmp(c->field, field, len) == 0) {
                        fputs(c->header, f);
                        return;
                }
        for (size_t i = 0; i < ELEMENTSOF(docker_headers); i++)
                if (strlen(docker_headers[i].field) == len && strncmp(docker_headers[i].field, field, len) == 0) {
                        fputs(docker_headers[i].header, f);
                        return;
                }
        for (size_t i = 0; i < len; i++)
                fputc(toupper((unsigned char) field[i]), f);
}

char *k_table_header(const char *tmpl, const KColumn *cols) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        for (const char *p = tmpl; *p;) {
                const char *end = startswith(p, "{{") ? strstr(p, "}}") : NULL;
                if (!end) {
                        if (p[0] == '\\' && (p[1] == 't' || p[1] == 'n')) {
                                fputc(p[1] == 't' ? '\t' : '\n', f);
                                p += 2;
                        } else
                                fputc(*p++, f);
                        continue;
                }
                /* the action's last ".Field" path names the column: {{.A.B}} -> B, {{json .X}} -> X */
                const char *field = NULL;
                for (const char *q = p + 2; q < end; q++)
                        if (*q == '.' && q + 1 < end && (isalnum((unsigned char) q[1]) || q[1] == '_'))
                                field = q + 1;
                if (field)
                        put_header(f, field, strspn(field, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"), cols);
                p = end + 2;
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

const char *k_table_template(const char *format) {
        const char *rest = format ? startswith(format, "table") : NULL;
        if (!rest || (*rest && !isspace((unsigned char) *rest)))
                return NULL;
        return rest + strspn(rest, " ");
}
