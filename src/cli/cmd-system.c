/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel system check [--dry-run]: the engine's crash recovery (check.h), one line per problem. */
#include <stdio.h>

#include "check.h"
#include "kapsel-cli.h"

static void print_problem(const char *what, const char *id, bool dry_run, void *userdata) {
        (void) userdata;
        printf("%s: %s %.12s\n", dry_run ? "would fix" : "fixed", what, id);
}

K_VERB(system_check) {
        static const struct option opts[] = { { "dry-run", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' }, {} };
        bool dry_run = false;
        int o;
        while ((o = getopt_long(argc, argv, "+n", opts, NULL)) >= 0) {
                if (o == 'h')
                        return k_help("system-check");
                if (o != 'n')
                        return k_usage(err, "system check", "unknown option");
                dry_run = true;
        }
        _cleanup_(engine_freep) Engine *e = NULL;
        unsigned found = 0;
        uint64_t freed = 0;
        int r = k_open(g, &e, err);
        if (r < 0 || (r = engine_check(e, dry_run, print_problem, NULL, &found, &freed, err)) < 0)
                return r;
        if (freed)
                printf("fixed: %.2f MB of unreferenced image data collected\n", (double) freed / 1e6);
        printf("%u problem%s %s\n", found, found == 1 ? "" : "s", dry_run ? "found" : "fixed");
        return 0;
}
