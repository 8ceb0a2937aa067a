/* SPDX-License-Identifier: Apache-2.0 */
/* diff, export: a container's filesystem (ctr-fs.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctr-fs.h"
#include "kapsel-cli.h"
#include "string-util.h"

K_VERB(diff) {
        if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h")))
                return k_help("diff");
        if (argc != 2)
                return k_usage(err, "diff", "expected exactly one CONTAINER");
        static const char letter[] = { [CTR_CHANGE_MODIFIED] = 'C', [CTR_CHANGE_ADDED] = 'A', [CTR_CHANGE_DELETED] = 'D' };
        _cleanup_(engine_freep) Engine *e = NULL;
        json_t *changes = NULL;
        int r = k_open(g, &e, err);
        if (r < 0 || (r = ctr_diff(e, argv[1], &changes, err)) < 0)
                return r;
        size_t i;
        json_t *c;
        json_array_foreach(changes, i, c) {
                json_int_t k = json_integer_value(json_object_get(c, "Kind"));
                printf("%c %s\n", k >= 0 && k < (json_int_t) sizeof(letter) ? letter[k] : '?',
                       json_string_value(json_object_get(c, "Path")));
        }
        json_decref(changes);
        return 0;
}

K_VERB(export) {
        static const struct option opts[] = { { "output", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' }, {} };
        const char *output = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) >= 0)
                switch (c) {
                case 'o': output = optarg; break;
                case 'h': return k_help("export");
                default: return k_usage(err, "export", "unknown option");
                }
        if (argc - optind != 1)
                return k_usage(err, "export", "expected exactly one CONTAINER");
        if (!output && isatty(STDOUT_FILENO))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "Cowardly refusing to save to a terminal. Use the -o flag or redirect");
        _cleanup_(engine_freep) Engine *e = NULL;
        int r = k_open(g, &e, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = output ? open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -EBADF;
        if (output && fd < 0)
                return kerr(err, -errno, "create %s", output);
        r = ctr_export(e, argv[optind], output ? fd : STDOUT_FILENO, err);
        if (r < 0 && output)
                (void) unlink(output);
        return r;
}
