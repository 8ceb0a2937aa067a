/* SPDX-License-Identifier: Apache-2.0 */
/* events: the engine's journal (events.h) as docker prints it, following until Ctrl-C (or --until). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "kapsel-cli.h"
#include "string-util.h"
#include "template.h"

static volatile int stop_requested;

static void on_signal(int sig) {
        (void) sig;
        stop_requested = 1;
}

typedef struct Printer {
        const char *format;
        KError **err;
} Printer;

static int print_event(const json_t *ev, void *userdata) {
        Printer *p = userdata;
        if (p->format) {
                int r = template_render(p->format, ev, stdout, p->err);
                if (r < 0)
                        return r;
                putchar('\n');
        } else {
                _cleanup_free_ char *line = events_format_line(ev);
                printf("%s\n", line ?: "");
        }
        fflush(stdout);
        return 0;
}

K_VERB(events) {
        static const struct option opts[] = { { "since", required_argument, NULL, 'S' }, { "until", required_argument, NULL, 'U' },
                                               { "filter", required_argument, NULL, 'f' }, { "format", required_argument, NULL, 'F' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        EventFilter filter = {};
        EventQuery q = { .filter = &filter, .follow = true, .stop = &stop_requested };
        Printer p = { .err = err };
        int64_t now = engine_now();
        int c, r = 0;
        while (r >= 0 && (c = getopt_long(argc, argv, "+f:h", opts, NULL)) >= 0)
                switch (c) {
                case 'S': r = events_parse_time(optarg, now, &q.since, err); q.history = true; break;
                case 'U': r = events_parse_time(optarg, now, &q.until, err); q.history = true; break;
                case 'f': r = event_filter_add(&filter, optarg, err); break;
                case 'F': p.format = streq(optarg, "json") ? "{{json .}}" : optarg; break;
                case 'h': event_filter_done(&filter); return k_help("events");
                default: r = k_usage(err, "events", "unknown option");
                }
        if (r >= 0 && optind < argc)
                r = k_usage(err, "events", "takes no arguments (\"%s\")", argv[optind]);
        if (r < 0) {
                event_filter_done(&filter);
                return kerr_prefix(err, r, "events");
        }
        /* docker: with --until in the past, print the history and return */
        q.follow = !q.until || q.until > now;
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        _cleanup_(engine_freep) Engine *e = NULL;
        if ((r = k_open(g, &e, err)) >= 0)
                r = events_read(e->root, &q, print_event, &p, err);
        event_filter_done(&filter);
        return r < 0 ? r : 0;
}
