/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>

#include "container.h"
#include "json-util.h"
#include "runtime-cli.h"
#include "string-util.h"

RT_VERB(list) {
        static const struct option opts[] = {
                { "format", required_argument, NULL, 'f' }, { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' }, {}
        };
        bool json = false, quiet = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+f:qh", opts, NULL)) >= 0) {
                switch (c) {
                case 'f':
                        if (!streq(optarg, "json") && !streq(optarg, "table"))
                                return rt_usage_error(err, "list", "--format: \"%s\" is not table or json", optarg);
                        json = streq(optarg, "json");
                        break;
                case 'q': quiet = true; break;
                case 'h': rt_print_verb_help("list"); return 0;
                default: return rt_usage_error(err, "list", "unknown option");
                }
        }
        _cleanup_json_ json_t *all = NULL;
        int r = container_list(g->root, &all, err);
        if (r < 0)
                return r;
        if (json)
                return json_print(all, false);
        if (!quiet)
                printf("%-24s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
        size_t i;
        json_t *s;
        json_array_foreach(all, i, s) {
                const char *id = json_string_value(json_object_get(s, "id"));
                if (quiet) {
                        printf("%s\n", id);
                        continue;
                }
                printf("%-24s %-8lld %-10s %-40s %s\n", id, json_integer_value(json_object_get(s, "pid")),
                       json_string_value(json_object_get(s, "status")),
                       json_string_value(json_object_get(s, "bundle")) ?: "",
                       json_string_value(json_object_get(s, "created")) ?: "");
        }
        return 0;
}
