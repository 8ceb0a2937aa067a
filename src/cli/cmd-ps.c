/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "ctr-inspect.h"
#include "ctr-ops.h"
#include "json-util.h"
#include "kapsel-cli.h"
#include "string-util.h"
#include "template.h"

K_VERB(ps) {
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' }, { "quiet", no_argument, NULL, 'q' },
                { "no-trunc", no_argument, NULL, 'N' }, { "format", required_argument, NULL, 'f' },
                { "kind", required_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' }, {}
        };
        bool all = false, quiet = false, no_trunc = false;
        const char *format = "table";
        int kind = -1;
        int c;
        while ((c = getopt_long(argc, argv, "+aq", opts, NULL)) >= 0)
                switch (c) {
                case 'a': all = true; break;
                case 'q': quiet = true; break;
                case 'N': no_trunc = true; break;
                case 'f': format = optarg; break;
                case 'k':
                        if ((kind = ctr_kind_from_string(optarg)) < 0)
                                return k_usage(err, "ps", "--kind \"%s\": expected container or vm", optarg);
                        break;
                case 'h': return k_help("ps");
                default: return k_usage(err, "ps", "unknown option");
                }
        _cleanup_(engine_freep) Engine *e = NULL;
        CtrRecord **list = NULL;
        size_t n = 0;
        int r = k_open(g, &e, err);
        if (r >= 0)
                r = db_ctr_list(e->db, &list, &n, err);
        if (r < 0)
                return r;
        json_t *rows = json_array();
        for (size_t i = n; i-- > 0;) {          /* newest first, as docker */
                (void) ctr_repair(e, list[i], NULL);
                bool running = list[i]->state == CTR_RUNNING || list[i]->state == CTR_PAUSED ||
                               list[i]->state == CTR_RESTARTING;
                if ((all || running) && (kind < 0 || (int) list[i]->kind == kind))
                        json_array_append_new(rows, ctr_ps_json(list[i], no_trunc));
        }
        ctr_record_list_free(list, n);
        size_t i;
        json_t *row;
        if (quiet) {
                json_array_foreach(rows, i, row)
                        printf("%s\n", json_string_value(json_object_get(row, "ID")));
        } else if (streq(format, "json")) {
                json_print(rows, true);
        } else if (streq(format, "table")) {
                printf("%-14s %-10s %-24s %-22s %-18s %-26s %s\n", "CONTAINER ID", "KIND", "IMAGE", "COMMAND", "CREATED",
                       "STATUS", "NAMES");
                json_array_foreach(rows, i, row) {
                        char cmd[21];
                        snprintf(cmd, sizeof(cmd), "\"%s", json_string_value(json_object_get(row, "Command")));
                        printf("%-14s %-10s %-24s %-22s %-18s %-26s %s\n", json_string_value(json_object_get(row, "ID")),
                               json_string_value(json_object_get(row, "Kind")), json_string_value(json_object_get(row, "Image")), strcat(cmd, strlen(cmd) < 20 ? "\"" : ""),
                               json_string_value(json_object_get(row, "RunningFor")),
                               json_string_value(json_object_get(row, "Status")),
                               json_string_value(json_object_get(row, "Names")));
                }
        } else
                json_array_foreach(rows, i, row) {
                        if ((r = template_render(format, row, stdout, err)) < 0)
                                break;
                        putchar('\n');
                }
        json_decref(rows);
        return r < 0 ? r : 0;
}
