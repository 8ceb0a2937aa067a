/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-runtime: runc's command line over the runtime library. Each verb lives in its own
 * rt-<verb>.c: parse options, make one library call, print. */
#pragma once

#include <stdbool.h>

#include "error.h"

typedef struct RtGlobals {
        const char *root;
        bool debug;
        bool systemd_cgroup;
} RtGlobals;

typedef struct RtVerb {
        const char *name;
        int (*run)(const RtGlobals *g, int argc, char **argv, KError **err);
        const char *usage;              /* one line: arguments */
        const char *summary;
        bool enters_container;          /* re-exec from a sealed copy first (CVE-2019-5736) */
} RtVerb;

#define RT_VERB(name) int rt_##name(const RtGlobals *g, int argc, char **argv, KError **err)
RT_VERB(create);
RT_VERB(start);
RT_VERB(run);
RT_VERB(state);
RT_VERB(kill);
RT_VERB(delete);
RT_VERB(exec);
RT_VERB(ps);
RT_VERB(list);
RT_VERB(pause);
RT_VERB(resume);
RT_VERB(update);
RT_VERB(features);
RT_VERB(spec);
RT_VERB(events);
RT_VERB(checkpoint);
RT_VERB(restore);

/* Usage error for verb `verb`: KERR_USAGE with a pointer to --help. */
int rt_usage_error(KError **err, const char *verb, const char *fmt, ...) _printf_(3, 4);
/* Print the usage of one verb (for -h/--help). */
void rt_print_verb_help(const char *verb);
/* Exactly one positional container id after options, else a usage error. */
int rt_want_id(int argc, char **argv, int optind_, const char *verb, const char **ret, KError **err);
