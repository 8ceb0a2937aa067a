/* SPDX-License-Identifier: Apache-2.0 */
/* Test driver for the registry client (tests/integration/test_registry.py):
 *
 *   registry-tool pull REF DIR [--user U --password P] [--platform os/arch[/variant]] [--insecure] [--progress]
 *   registry-tool push DIR REF [--user U --password P] [--insecure] [--progress]
 *
 * Exit 0 on success; otherwise the error message on stderr and the kind's exit code. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "registry.h"
#include "string-util.h"

static int usage(void) {
        fprintf(stderr, "usage: registry-tool pull REF DIR [--user U --password P] [--platform os/arch[/variant]]\n"
                        "       registry-tool push DIR REF [--user U --password P]\n");
        return 2;
}

/* "os/arch[/variant]" split in place. */
static int parse_platform(char *s, RegistryOptions *o) {
        o->os = strtok(s, "/");
        o->architecture = strtok(NULL, "/");
        o->variant = strtok(NULL, "/");
        return o->os && o->architecture && !strtok(NULL, "/") ? 0 : -1;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "user", required_argument, NULL, 'u' },     { "password", required_argument, NULL, 'p' },
                { "platform", required_argument, NULL, 'P' }, { "insecure", no_argument, NULL, 'k' },
                { "progress", no_argument, NULL, 'g' },       {},
        };
        RegistryOptions o = {};
        int c;
        /* GNU getopt permutes: options may come after the positional arguments */
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'u': o.username = optarg; break;
                case 'p': o.password = optarg; break;
                case 'P':
                        if (parse_platform(optarg, &o) < 0)
                                return usage();
                        break;
                case 'k': o.insecure = true; break;
                case 'g': o.progress = true; break;
                default: return usage();
                }
        if (argc - optind != 3)
                return usage();
        char **pos = argv + optind;
        _cleanup_kerr_ KError *err = NULL;
        int r;
        if (streq(pos[0], "pull"))
                r = registry_pull(pos[1], &o, pos[2], &err);
        else if (streq(pos[0], "push"))
                r = registry_push(pos[1], pos[2], &o, &err);
        else
                return usage();
        if (r < 0) {
                fprintf(stderr, "registry-tool: %s\n", err ? err->msg : strerror(-r));
                return kerr_exit_code(err);
        }
        return 0;
}
