/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "fd-util.h"
#include "json-util.h"
#include "runtime-cli.h"
#include "string-util.h"

static void print_proc(pid_t pid) {
        char path[64];
        _cleanup_free_ char *cmd = NULL;
        size_t len = 0;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
        if (read_full_file_at(AT_FDCWD, path, 4096, &cmd, &len) < 0)
                return;
        for (size_t i = 0; i + 1 < len; i++)
                if (cmd[i] == '\0')
                        cmd[i] = ' ';
        printf("%-8d %s\n", (int) pid, cmd);
}

RT_VERB(ps) {
        static const struct option opts[] = {
                { "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, {}
        };
        bool json = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+f:h", opts, NULL)) >= 0) {
                if (c == 'f') {
                        if (!streq(optarg, "json") && !streq(optarg, "table"))
                                return rt_usage_error(err, "ps", "--format: \"%s\" is not table or json", optarg);
                        json = streq(optarg, "json");
                } else if (c == 'h') {
                        rt_print_verb_help("ps");
                        return 0;
                } else
                        return rt_usage_error(err, "ps", "unknown option");
        }
        /* runc passes extra arguments to ps(1); the id is the first positional one */
        if (argc - optind < 1)
                return rt_usage_error(err, "ps", "missing container id");
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r = container_pids(g->root, argv[optind], &pids, &n, err);
        if (r < 0)
                return r;
        if (json) {
                _cleanup_json_ json_t *a = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(a, json_integer(pids[i]));
                return json_print(a, false);
        }
        printf("%-8s %s\n", "PID", "CMD");
        for (size_t i = 0; i < n; i++)
                print_proc(pids[i]);
        return 0;
}
