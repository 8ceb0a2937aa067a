/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>

#include "container.h"
#include "json-util.h"
#include "runtime-cli.h"

/* Verbs whose only argument is the id: start, pause, resume, state. */
static int only_id(const char *verb, int argc, char **argv, const char **ret, KError **err) {
        static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, {} };
        int c;
        while ((c = getopt_long_only(argc, argv, "+h", opts, NULL)) >= 0) {
                if (c == 'h') {
                        rt_print_verb_help(verb);
                        return 1;
                }
                return rt_usage_error(err, verb, "unknown option");
        }
        return rt_want_id(argc, argv, optind, verb, ret, err);
}

RT_VERB(start) {
        const char *id;
        int r = only_id("start", argc, argv, &id, err);
        return r != 0 ? (r < 0 ? r : 0) : container_start(g->root, id, err);
}

RT_VERB(pause) {
        const char *id;
        int r = only_id("pause", argc, argv, &id, err);
        return r != 0 ? (r < 0 ? r : 0) : container_pause(g->root, id, true, err);
}

RT_VERB(resume) {
        const char *id;
        int r = only_id("resume", argc, argv, &id, err);
        return r != 0 ? (r < 0 ? r : 0) : container_pause(g->root, id, false, err);
}

RT_VERB(state) {
        const char *id;
        int r = only_id("state", argc, argv, &id, err);
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_json_ json_t *j = NULL;
        r = container_state(g->root, id, &j, err);
        if (r < 0)
                return r;
        return json_print(j, true);
}
