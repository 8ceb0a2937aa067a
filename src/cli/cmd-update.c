/* SPDX-License-Identifier: Apache-2.0 */
/* update: new limits and restart policy for containers (ctr-update.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctr-update.h"
#include "kapsel-cli.h"
#include "string-util.h"

enum { OPT_MEMORY = 1000, OPT_SWAP, OPT_CPUS, OPT_SHARES, OPT_PIDS, OPT_RESTART };

/* A size ("64m", "1g", bytes) or -1 for unlimited where `allow_unlimited`. */
static int parse_limit(const char *flag, const char *arg, bool allow_unlimited, int64_t *ret, KError **err) {
        uint64_t u;
        if (allow_unlimited && streq(arg, "-1")) {
                *ret = -1;
                return 0;
        }
        if (parse_size(arg, &u) < 0 || u == 0 || u > INT64_MAX)
                return k_usage(err, "update", "%s \"%s\": expected a size like 64m or 1g%s", flag, arg,
                               allow_unlimited ? " (or -1)" : "");
        *ret = (int64_t) u;
        return 0;
}

static int parse_update_opt(int c, const char *arg, CtrUpdate *u, KError **err) {
        char *end;
        switch (c) {
        case 'm':
        case OPT_MEMORY: u->has_memory = true; return parse_limit("--memory", arg, false, &u->memory, err);
        case OPT_SWAP: u->has_memory_swap = true; return parse_limit("--memory-swap", arg, true, &u->memory_swap, err);
        case OPT_CPUS: {
                double d = strtod(arg, &end);
                if (*end || d <= 0 || d > 1024)
                        return k_usage(err, "update", "--cpus \"%s\": expected a positive number like 0.5 or 2", arg);
                u->has_nano_cpus = true;
                u->nano_cpus = (int64_t) (d * 1e9);
                return 0;
        }
        case 'c':
        case OPT_SHARES:
                u->has_cpu_shares = true;
                return parse_int64(arg, &u->cpu_shares) < 0 ? k_usage(err, "update", "--cpu-shares \"%s\": expected a number", arg) : 0;
        case OPT_PIDS:
                u->has_pids_limit = true;
                return parse_int64(arg, &u->pids_limit) < 0 || u->pids_limit == 0
                               ? k_usage(err, "update", "--pids-limit \"%s\": expected a positive number (or -1)", arg)
                               : 0;
        case OPT_RESTART:
                json_decref(u->restart_policy);
                u->restart_policy = NULL;
                return ctr_restart_policy_parse(arg, &u->restart_policy, err);
        default: return k_usage(err, "update", "unknown option");
        }
}

K_VERB(update) {
        static const struct option opts[] = {
                { "memory", required_argument, NULL, OPT_MEMORY }, { "memory-swap", required_argument, NULL, OPT_SWAP },
                { "cpus", required_argument, NULL, OPT_CPUS },     { "cpu-shares", required_argument, NULL, OPT_SHARES },
                { "pids-limit", required_argument, NULL, OPT_PIDS }, { "restart", required_argument, NULL, OPT_RESTART },
                { "help", no_argument, NULL, 'h' },                {}
        };
        CtrUpdate u = {};
        int c, r = 0;
        while (r >= 0 && (c = getopt_long(argc, argv, "+m:c:h", opts, NULL)) >= 0) {
                if (c == 'h') {
                        json_decref(u.restart_policy);
                        return k_help("update");
                }
                r = parse_update_opt(c, optarg, &u, err);
        }
        if (r >= 0 && optind >= argc)
                r = k_usage(err, "update", "missing CONTAINER");
        if (r >= 0 && !(u.has_memory || u.has_memory_swap || u.has_nano_cpus || u.has_cpu_shares || u.has_pids_limit ||
                        u.restart_policy))
                r = k_usage(err, "update", "nothing to update: give --memory, --memory-swap, --cpus, --cpu-shares, "
                                           "--pids-limit or --restart");
        _cleanup_(engine_freep) Engine *e = NULL;
        if (r >= 0)
                r = k_open(g, &e, err);
        for (int i = optind; r >= 0 && i < argc; i++)
                if ((r = ctr_update(e, argv[i], &u, err)) >= 0)
                        printf("%s\n", argv[i]);
        json_decref(u.restart_policy);
        return r < 0 ? r : 0;
}
