/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel system check [--dry-run]: the engine's crash recovery (check.h), one line per problem. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "kapsel-cli.h"
#include "path-util.h"

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

/* kapseld: $KAPSELD, next to us (installed), or in the build tree (src/daemon beside src/cli). */
static char *kapseld_binary(void) {
        const char *env = getenv("KAPSELD");
        if (env && *env)
                return strdup(env);
        _cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
        const char *dir = self ? dirname(self) : NULL;
        static const char *const rel[] = { "kapseld", "../daemon/kapseld" };
        for (size_t i = 0; dir && i < ELEMENTSOF(rel); i++) {
                char *p = path_join(dir, rel[i]);
                if (p && access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return strdup("kapseld");
}

/* kapsel system service: the daemon is its own binary (it links the HTTP library, the CLI does
 * not); this verb only runs it with our root. */
K_VERB(system_service) {
        static const struct option opts[] = { { "host", required_argument, NULL, 'H' }, { "help", no_argument, NULL, 'h' },
                /* the web console's options, handed to kapseld as they are (docs/web-console.md) */
                { "web-listen", required_argument, NULL, 'W' }, { "tlscert", required_argument, NULL, 'W' },
                { "tlskey", required_argument, NULL, 'W' }, { "web-session-ttl", required_argument, NULL, 'W' },
                {} };
        const char *host = NULL;
        char *web[8] = {};
        int o, idx = 0, nweb = 0;
        while ((o = getopt_long(argc, argv, "+H:", opts, &idx)) >= 0) {
                if (o == 'h')
                        return k_help("system-service");
                if (o == 'W') {
                        if (nweb == 8 || asprintf(&web[nweb++], "--%s=%s", opts[idx].name, optarg) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (o != 'H')
                        return k_usage(err, "system service", "unknown option");
                host = optarg;
        }
        if (optind != argc)
                return k_usage(err, "system service", "no arguments expected");
        _cleanup_free_ char *bin = kapseld_binary();
        if (!bin)
                return -ENOMEM;
        char *args[16] = { bin, (char *) "--root", (char *) g->root };
        int n = 3;
        if (host) {
                args[n++] = (char *) "--host";
                args[n++] = (char *) host;
        }
        for (int i = 0; i < nweb; i++)
                args[n++] = web[i];
        args[n] = NULL;
        execvp(bin, args);
        return kerr(err, -errno, "run %s (is kapseld installed?)", bin);
}
