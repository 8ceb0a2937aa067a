/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel system check [--dry-run]: the engine's crash recovery (check.h), one line per problem. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "check.h"
#include "kapsel-cli.h"
#include "path-util.h"

static void print_problem(const char *what, const char *id, EngineCheckVerdict verdict, void *userdata) {
        (void) userdata;
        if (verdict == ENGINE_CHECK_CANNOT_FIX)
                printf("cannot fix: %s\n", what);
        else
                printf("%s: %s %.12s\n", verdict == ENGINE_CHECK_WOULD_FIX ? "would fix" : "fixed", what, id);
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
        EngineCheckSummary c = { 0 };
        int r = k_open(g, &e, err);
        if (r < 0)
                return r;
        /* interrupted `kapsel build` steps first: what they held becomes unreferenced image data */
        int builds = dry_run ? 0 : build_gc(e, NULL);
        if (builds > 0)
                printf("fixed: %d work director%s of interrupted builds removed\n", builds, builds == 1 ? "y" : "ies");
        if ((r = engine_check(e, dry_run, print_problem, NULL, &c, err)) < 0)
                return r;
        c.found += builds > 0 ? (unsigned) builds : 0;
        if (c.freed)
                printf("collected %.2f MB of image data no image uses (not a problem)\n", (double) c.freed / 1e6);
        if (c.found + c.unsolved == 0)
                printf("no problems found\n");
        else if (c.found)
                printf("%u problem%s %s\n", c.found, c.found == 1 ? "" : "s", dry_run ? "found" : "fixed");
        if (c.unsolved)
                printf("%u problem%s need%s you (\"cannot fix\" above)\n", c.unsolved, c.unsolved == 1 ? "" : "s",
                       c.unsolved == 1 ? "s" : "");
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
        /* every option is kapseld's, handed on as it is: --host (repeatable, unix:// or tcp:// with
         * mutual TLS, docs/kapseld.md), the TLS files, the web console's (docs/web-console.md) */
        static const struct option opts[] = { { "host", required_argument, NULL, 'H' }, { "help", no_argument, NULL, 'h' },
                { "tlsverify", no_argument, NULL, 'V' },       { "tlscacert", required_argument, NULL, 'W' },
                { "web-listen", required_argument, NULL, 'W' }, { "tlscert", required_argument, NULL, 'W' },
                { "tlskey", required_argument, NULL, 'W' }, { "web-session-ttl", required_argument, NULL, 'W' },
                {} };
        enum { MAX_PASSED = 24 };
        _cleanup_free_ char *bin = kapseld_binary();
        if (!bin)
                return -ENOMEM;
        char *args[MAX_PASSED + 4] = { bin, (char *) "--root", (char *) g->root };
        int o, idx = -1, n = 3, r = 0;
        while ((o = getopt_long(argc, argv, "+H:", opts, &idx)) >= 0) {
                if (o == 'h')
                        return k_help("system-service");
                if (o != 'H' && o != 'V' && o != 'W')
                        return k_usage(err, "system service", "unknown option");
                if (n == MAX_PASSED + 3) {
                        r = k_usage(err, "system service", "too many options");
                        break;
                }
                const char *name = o == 'H' ? "host" : opts[idx].name;
                if ((o == 'V' ? asprintf(&args[n], "--%s", name) : asprintf(&args[n], "--%s=%s", name, optarg)) < 0) {
                        r = -ENOMEM;
                        break;
                }
                n++;
                idx = -1;
        }
        if (r == 0 && optind != argc)
                r = k_usage(err, "system service", "no arguments expected");
        if (r == 0) {
                args[n] = NULL;
                execvp(bin, args);
                r = kerr(err, -errno, "run %s (is kapseld installed?)", bin);
        }
        for (int i = 3; i < n; i++)
                free(args[i]);
        return r;
}
