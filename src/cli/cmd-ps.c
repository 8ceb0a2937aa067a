/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "ctr-inspect.h"
#include "ctr-ops.h"
#include "json-util.h"
#include "kapsel-cli.h"
#include "string-util.h"

K_VERB(ps) {
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' }, { "quiet", no_argument, NULL, 'q' },
                { "no-trunc", no_argument, NULL, 'N' }, { "format", required_argument, NULL, 'f' },
                { "kind", required_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' }, {}
        };
        static const KColumn cols[] = {
                { "CONTAINER ID", "ID", 14 }, { "KIND", "Kind", 10 }, { "IMAGE", "Image", 24 },
                { "COMMAND", "Command", 22, 20, true }, { "CREATED", "RunningFor", 18 }, { "STATUS", "Status", 26 },
                { "NAMES", "Names" }, {}
        };
        KListFormat f = { .quiet_field = "ID" };
        bool all = false, no_trunc = false;
        int kind = -1;
        int c;
        while ((c = getopt_long(argc, argv, "+aq", opts, NULL)) >= 0)
                switch (c) {
                case 'a': all = true; break;
                case 'q': f.quiet = true; break;
                case 'N': no_trunc = true; break;
                case 'f': f.format = optarg; break;
                case 'k':
                        if ((kind = ctr_kind_from_string(optarg)) < 0)
                                return k_usage(err, "ps", "--kind \"%s\": expected container or vm", optarg);
                        break;
                case 'h': return k_help("ps");
                default: return k_usage(err, "ps", "unknown option");
                }
        _cleanup_(engine_freep) Engine *e = NULL;
        CtrRecord **list;
        size_t n;
        int r = k_open_list(g, &e, &list, &n, err);
        if (r < 0)
                return r;
        json_t *rows = json_array();
        for (size_t i = n; i-- > 0;) {          /* newest first, as docker */
                bool running = list[i]->state == CTR_RUNNING || list[i]->state == CTR_PAUSED ||
                               list[i]->state == CTR_RESTARTING;
                if ((all || running) && (kind < 0 || (int) list[i]->kind == kind))
                        json_array_append_new(rows, ctr_ps_json(list[i], no_trunc));
        }
        ctr_record_list_free(list, n);
        r = k_print_list(rows, &f, cols, err);
        json_decref(rows);
        return r < 0 ? r : 0;
}
