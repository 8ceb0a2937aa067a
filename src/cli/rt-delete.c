/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>

#include "container.h"
#include "runtime-cli.h"

RT_VERB(delete) {
        static const struct option opts[] = {
                { "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, {}
        };
        bool force = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+fh", opts, NULL)) >= 0) {
                if (c == 'f')
                        force = true;
                else if (c == 'h') {
                        rt_print_verb_help("delete");
                        return 0;
                } else
                        return rt_usage_error(err, "delete", "unknown option");
        }
        const char *id;
        int r = rt_want_id(argc, argv, optind, "delete", &id, err);
        if (r < 0)
                return r;
        r = container_delete(g->root, id, force, err);
        /* runc: deleting a container that does not exist with --force is not an error */
        if (r < 0 && force && err && *err && (*err)->kind == KERR_NOT_FOUND) {
                kerr_free(*err);
                *err = NULL;
                return 0;
        }
        return r;
}
