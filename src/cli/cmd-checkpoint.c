/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel checkpoint create [--leave-running] CONTAINER NAME, kapsel checkpoint ls CONTAINER,
 * kapsel checkpoint rm CONTAINER NAME: thin callers of the engine's ctr-checkpoint.h (`start
 * --checkpoint` is in cmd-lifecycle.c). */
#include <getopt.h>
#include <stdio.h>

#include "cmd-checkpoint.h"
#include "ctr-checkpoint.h"
#include "string-util.h"

enum { OPT_CHECKPOINT_DIR = 0x100 };

/* docker's --checkpoint-dir: kapsel keeps checkpoints with the container, so it is refused by name */
static int refuse_checkpoint_dir(const char *verb, KError **err) {
        return k_usage(err, verb, "--checkpoint-dir is not supported: checkpoints are kept in the container's own "
                       "directory (leave the option out)");
}

K_VERB(checkpoint_create) {
        static const struct option opts[] = { { "leave-running", no_argument, NULL, 'l' },
                                               { "checkpoint-dir", required_argument, NULL, OPT_CHECKPOINT_DIR },
                                               { "help", no_argument, NULL, 'h' }, {} };
        bool leave_running = false;
        int c;
        while ((c = getopt_long(argc, argv, "+", opts, NULL)) >= 0)
                switch (c) {
                case 'l': leave_running = true; break;
                case 'h': return k_help("checkpoint-create");
                case OPT_CHECKPOINT_DIR: return refuse_checkpoint_dir("checkpoint-create", err);
                default: return k_usage(err, "checkpoint-create", "unknown option");
                }
        if (argc - optind != 2)
                return k_usage(err, "checkpoint-create", "expected CONTAINER NAME");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open_one(g, argv[optind], &e, &rec, err);
        if (r >= 0)
                r = ctr_checkpoint_create(e, rec, argv[optind + 1], leave_running, err);
        if (r >= 0)
                printf("%s\n", argv[optind + 1]);
        return r;
}

K_VERB(checkpoint_ls) {
        KListFormat f = { .quiet_field = "Name" };
        /* options before or after CONTAINER: `kapsel checkpoint ls c1 --format json` */
        int r = k_parse_list_opts("checkpoint-ls", argc, argv, &f, err);
        if (r != 0)
                return r < 0 ? r : 0;
        if (optind >= argc)
                return k_usage(err, "checkpoint-ls", "expected CONTAINER");
        int ctr = optind;
        optind = 0;
        if ((r = k_parse_list_opts("checkpoint-ls", argc - ctr, argv + ctr, &f, err)) != 0)
                return r < 0 ? r : 0;
        if (optind != argc - ctr)
                return k_usage(err, "checkpoint-ls", "expected one CONTAINER");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        _cleanup_(json_decrefp) json_t *rows = NULL;
        if ((r = k_open_one(g, argv[ctr], &e, &rec, err)) < 0 || (r = ctr_checkpoint_list(e, rec, &rows, err)) < 0)
                return r;
        static const KColumn cols[] = {
                { "CHECKPOINT NAME", "Name", 24, 0, false }, { "CREATED", "Created", 12, 0, false },
                { "MEMORY", "Memory", 12, 0, false }, { "SIZE", "SizeBytes", 0, 0, false }, {}
        };
        return k_print_list(rows, &f, cols, err);
}

K_VERB(checkpoint_rm) {
        static const struct option opts[] = { { "checkpoint-dir", required_argument, NULL, OPT_CHECKPOINT_DIR },
                                               { "help", no_argument, NULL, 'h' }, {} };
        int c;
        while ((c = getopt_long(argc, argv, "+", opts, NULL)) >= 0)
                switch (c) {
                case 'h': return k_help("checkpoint-rm");
                case OPT_CHECKPOINT_DIR: return refuse_checkpoint_dir("checkpoint-rm", err);
                default: return k_usage(err, "checkpoint-rm", "unknown option");
                }
        if (argc - optind < 2)
                return k_usage(err, "checkpoint-rm", "expected CONTAINER NAME...");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open_one(g, argv[optind], &e, &rec, err);
        for (int i = optind + 1; r >= 0 && i < argc; i++)
                if ((r = ctr_checkpoint_remove(e, rec, argv[i], err)) >= 0)
                        printf("%s\n", argv[i]);
        return r;
}
