/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the CLI's text parsers: --format templates (rendered over a row, and turned into a table
 * header), the aligned table writer, --detach-keys and logs' --since/--until times (also the
 * "time" of every stored log record). The input is split at the first NUL into a template and
 * the text for the other parsers. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-keys.h"
#include "cli-table.h"
#include "logs.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        const char *rest = s + strlen(s) < s + size ? s + strlen(s) + 1 : "";
        static const KColumn cols[] = { { "CONTAINER ID", "ID" }, { "NAMES", "Names" }, {} };
        FILE *null = fopen("/dev/null", "w");
        json_t *row = json_pack("{s:s, s:s, s:{s:s}, s:i}", "ID", "0123456789ab", "Names", "web", "Labels", "a", "b",
                                "Exit", 3);
        KError *e = NULL;
        if (null && row) {
                (void) template_render(s, row, null, &e);
                free(k_table_header(s, cols));
                (void) k_table_write(s, null);
                (void) k_table_write(rest, null);
        }
        kerr_free(e);
        KDetachKeys k;
        if (k_detach_keys_parse(rest, &k) == 0) {
                uint8_t out[64 + 16];
                size_t len, n = size < 64 ? size : 64;
                (void) k_detach_keys_filter(&k, data, n, out, &len);
        }
        int64_t t;
        (void) logs_parse_time(rest, 0, &t);
        json_decref(row);
        if (null)
                fclose(null);
        free(s);
        return 0;
}
