/* SPDX-License-Identifier: Apache-2.0 */
/* events: a stats line every --interval, an "oom" line when the OOM killer takes a task of
 * the container, until the container stops. `--stats` prints one stats line and exits. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cgroup.h"
#include "container.h"
#include "json-util.h"
#include "runtime-cli.h"
#include "string-util.h"
#include "time-util.h"

/* A Go-style duration: "5s", "100ms", "1m30s"; at least a millisecond. */
static int parse_duration_ms(const char *s, uint64_t *ret) {
        int64_t ns;
        if (parse_duration_ns(s, &ns) < 0 || ns < 1000000)
                return -EINVAL;
        *ret = (uint64_t) ns / 1000000;
        return 0;
}

static json_t *limit_json(uint64_t v) {
        return json_integer(v == UINT64_MAX ? 0 : (json_int_t) v);
}

static int print_stats(const char *id, const CgroupStats *st) {
        _cleanup_json_ json_t *j = json_pack(
                "{s:s, s:s, s:{s:{s:{s:I}}, s:{s:{s:I, s:o}}, s:{s:I, s:o}, s:{s:I, s:I}}}", "type", "stats", "id", id,
                "data", "cpu", "usage", "total", (json_int_t) st->cpu_usage_ns, "memory", "usage", "usage",
                (json_int_t) st->memory_usage, "limit", limit_json(st->memory_limit), "pids", "current",
                (json_int_t) st->pids_current, "limit", limit_json(st->pids_limit), "blkio", "read_bytes",
                (json_int_t) st->blkio_read_bytes, "write_bytes", (json_int_t) st->blkio_write_bytes);
        if (!j)
                return -ENOMEM;
        int r = json_print(j, false);
        fflush(stdout);
        return r;
}

RT_VERB(events) {
        static const struct option opts[] = {
                { "interval", required_argument, NULL, 'i' }, { "stats", no_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' }, {}
        };
        uint64_t interval_ms = 5000;
        bool once = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+h", opts, NULL)) >= 0) {
                switch (c) {
                case 'i':
                        if (parse_duration_ms(optarg, &interval_ms) < 0)
                                return rt_usage_error(err, "events", "--interval: \"%s\" is not a duration like 5s or "
                                                      "100ms", optarg);
                        break;
                case 's': once = true; break;
                case 'h': rt_print_verb_help("events"); return 0;
                default: return rt_usage_error(err, "events", "unknown option");
                }
        }
        const char *id;
        int r = rt_want_id(argc, argv, optind, "events", &id, err);
        if (r < 0)
                return r;
        CgroupStats st;
        if ((r = container_stats(g->root, id, &st, err)) < 0)
                return r;
        if (once)
                return print_stats(id, &st);
        /* The OOM counter is looked at every 100 ms so an "oom" line follows promptly; stats
         * lines go out every interval. The loop ends when the container is gone or stopped. */
        uint64_t ooms = st.oom_kills, since_stats = interval_ms;
        for (;;) {
                if (since_stats >= interval_ms) {
                        if ((r = print_stats(id, &st)) < 0)
                                return r;
                        since_stats = 0;
                }
                struct timespec ts = { .tv_nsec = 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);
                since_stats += 100;
                if (container_stats(g->root, id, &st, NULL) < 0)
                        return 0;
                if (st.oom_kills > ooms) {
                        ooms = st.oom_kills;
                        printf("{\"type\":\"oom\",\"id\":\"%s\"}\n", id);
                        fflush(stdout);
                }
        }
}
