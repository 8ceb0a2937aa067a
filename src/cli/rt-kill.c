/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <signal.h>

#include "container.h"
#include "runtime-cli.h"
#include "string-util.h"

RT_VERB(kill) {
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' }, { "help", no_argument, NULL, 'h' }, {}
        };
        bool all = false;
        int c, sig = SIGTERM;
        while ((c = getopt_long_only(argc, argv, "+ah", opts, NULL)) >= 0) {
                if (c == 'a')
                        all = true;
                else if (c == 'h') {
                        rt_print_verb_help("kill");
                        return 0;
                } else
                        return rt_usage_error(err, "kill", "unknown option");
        }
        int n = argc - optind;
        if (n < 1 || n > 2)
                return rt_usage_error(err, "kill", n < 1 ? "missing container id" : "too many arguments");
        /* Signal 0 only asks whether the container can be signalled (runc and kill(1) accept it). */
        if (n == 2 && streq(argv[optind + 1], "0"))
                sig = 0;
        else if (n == 2 && parse_signal(argv[optind + 1], &sig) < 0)
                return rt_usage_error(err, "kill", "unknown signal \"%s\"", argv[optind + 1]);
        return container_kill(g->root, argv[optind], sig, all, err);
}
