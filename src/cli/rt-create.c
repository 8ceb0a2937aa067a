/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdlib.h>

#include "container.h"
#include "rt-create-opts.h"
#include "runtime-cli.h"
#include "string-util.h"

int rt_parse_create_opts(const char *verb, int argc, char **argv, CreateOptions *o, RunExtras *x, KError **err) {
        static const struct option opts[] = {
                { "bundle", required_argument, NULL, 'b' },
                { "pid-file", required_argument, NULL, 'p' },
                { "console-socket", required_argument, NULL, 'c' },
                { "preserve-fds", required_argument, NULL, 'P' },
                { "no-pivot", no_argument, NULL, 'N' },
                { "no-new-keyring", no_argument, NULL, 'K' },
                { "detach", no_argument, NULL, 'd' },
                { "keep", no_argument, NULL, 'k' },
                { "no-subreaper", no_argument, NULL, 'S' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        o->bundle = ".";
        o->console_fd = -1;
        int c;
        while ((c = getopt_long_only(argc, argv, "+b:dh", opts, NULL)) >= 0) {
                int64_t n;
                switch (c) {
                case 'b': o->bundle = optarg; break;
                case 'p': o->pid_file = optarg; break;
                case 'c': o->console_socket = optarg; break;
                case 'P':
                        if (parse_int64(optarg, &n) < 0 || n < 0 || n > 1024)
                                return rt_usage_error(err, verb, "--preserve-fds: \"%s\" is not a count 0..1024", optarg);
                        o->preserve_fds = (int) n;
                        break;
                case 'N': o->no_pivot = true; break;
                case 'K': o->no_new_keyring = true; break;
                case 'S': break;
                case 'd':
                        if (!x)
                                return rt_usage_error(err, verb, "--detach is an option of run");
                        x->detach = true;
                        break;
                case 'k':
                        if (!x)
                                return rt_usage_error(err, verb, "--keep is an option of run");
                        x->keep = true;
                        break;
                case 'h': rt_print_verb_help(verb); return 1;
                default: return rt_usage_error(err, verb, "unknown option");
                }
        }
        return rt_want_id(argc, argv, optind, verb, &o->id, err) < 0 ? -EINVAL : 0;
}

RT_VERB(create) {
        CreateOptions o = { .root = g->root };
        int r = rt_parse_create_opts("create", argc, argv, &o, NULL, err);
        if (r != 0)
                return r < 0 ? r : 0;
        return container_create(&o, NULL, err);
}
