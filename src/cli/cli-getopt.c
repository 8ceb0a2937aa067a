/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli-getopt.h"

static char bad_option[128];
static bool list_mode, listed;

void k_getopt_list_options(void) {
        list_mode = true;
}

bool k_getopt_listed(void) {
        return listed;
}

static void print_options(const char *optstring, const struct option *longopts) {
        for (const struct option *o = longopts; o && o->name; o++)
                printf("--%s\n", o->name);
        for (const char *p = optstring; *p; p++)
                if (*p != '+' && *p != '-' && *p != ':')
                        printf("-%c\n", *p);
        fflush(stdout);
}

const char *k_getopt_bad_option(void) {
        return bad_option[0] ? bad_option : NULL;
}

static const struct option *find_long(const struct option *longopts, const char *name, size_t len) {
        for (const struct option *o = longopts; o && o->name; o++)
                if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                        return o;
        return NULL;
}

/* How many argv entries the short-option cluster `arg` ("-abc") takes: 1, or 2 when its last
 * option wants a separate value. */
static int short_cluster_len(const char *optstring, const char *arg) {
        for (const char *p = arg + 1; *p; p++) {
                const char *spec = *p == ':' ? NULL : strchr(optstring, *p);
                if (!spec || spec[1] != ':')
                        continue;
                if (spec[2] == ':')     /* optional value: only attached */
                        return 1;
                return p[1] ? 1 : 2;
        }
        return 1;
}

/* 0 when every long option of argv[start..] is an exact name, else -1 with bad_option set. */
static int check_exact(int argc, char *const argv[], int start, const char *optstring, const struct option *longopts) {
        bool in_order = optstring[0] == '+' || optstring[0] == '-';
        for (int i = start; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--") == 0)
                        return 0;
                if (a[0] != '-' || a[1] == 0) {
                        if (in_order)
                                return 0;
                        continue;
                }
                if (a[1] != '-') {
                        i += short_cluster_len(optstring, a) - 1;
                        continue;
                }
                const char *name = a + 2;
                size_t len = strcspn(name, "=");
                const struct option *o = find_long(longopts, name, len);
                if (!o) {
                        snprintf(bad_option, sizeof(bad_option), "--%.*s", (int) (len > 100 ? 100 : len), name);
                        return -1;
                }
                if (o->has_arg == required_argument && !name[len])
                        i++;
        }
        return 0;
}

#undef getopt_long
int k_getopt_long(int argc, char *const argv[], const char *optstring, const struct option *longopts, int *longindex) {
        if (list_mode) {
                list_mode = false;
                listed = true;
                print_options(optstring, longopts);
                return '?';
        }
        if (optind <= 1) {
                bad_option[0] = 0;
                if (check_exact(argc, argv, 1, optstring, longopts) < 0) {
                        optind = argc;  /* nothing more to parse: the caller stops at '?' */
                        return '?';
                }
        }
        return getopt_long(argc, argv, optstring, longopts, longindex);
}
