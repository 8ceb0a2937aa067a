/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include "ctr-ops.h"
#include "kapsel-cli.h"
#include "logs.h"
#include "string-util.h"

typedef struct Follow {
        Engine *e;
        const char *id;
} Follow;

/* follow ends when the container is not running any more (and no restart is pending) */
static bool still_running(void *userdata) {
        Follow *f = userdata;
        _cleanup_(ctr_record_freep) CtrRecord *r = NULL;
        if (db_ctr_get(f->e->db, f->id, &r, NULL) < 0)
                return false;
        return ctr_monitor_alive(r) && r->state != CTR_EXITED;
}

K_VERB(logs) {
        static const struct option opts[] = { { "follow", no_argument, NULL, 'f' }, { "timestamps", no_argument, NULL, 't' },
                                               { "tail", required_argument, NULL, 'n' }, { "since", required_argument, NULL, 'S' },
                                               { "until", required_argument, NULL, 'U' }, { "help", no_argument, NULL, 'h' }, {} };
        LogsOptions o = { .tail = -1, .alive = still_running };
        int c;
        while ((c = getopt_long(argc, argv, "+ftn:", opts, NULL)) >= 0) {
                int64_t n;
                switch (c) {
                case 'f': o.follow = true; break;
                case 't': o.timestamps = true; break;
                case 'n':
                        if (streq(optarg, "all"))
                                o.tail = -1;
                        else if (parse_int64(optarg, &n) < 0 || n < 0)
                                return k_usage(err, "logs", "--tail \"%s\": expected a number of lines or \"all\"", optarg);
                        else
                                o.tail = n;
                        break;
                case 'S':
                case 'U':
                        if (logs_parse_time(optarg, engine_now(), c == 'S' ? &o.since : &o.until) < 0)
                                return k_usage(err, "logs",
                                               "--%s \"%s\": expected a time (2026-11-23T09:00:00Z, a unix timestamp) or a "
                                               "duration back from now (10m, 1h30m)",
                                               c == 'S' ? "since" : "until", optarg);
                        break;
                case 'h': return k_help("logs");
                default: return k_usage(err, "logs", "unknown option");
                }
        }
        if (argc - optind != 1)
                return k_usage(err, "logs", "expected exactly one CONTAINER");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open_one(g, argv[optind], &e, &rec, err);
        if (r < 0)
                return r;
        Follow f = { e, rec->id };
        o.userdata = &f;
        _cleanup_free_ char *path = engine_ctr_path(e, rec->id, "ctr.log");
        return logs_print(path, &o, err);
}
