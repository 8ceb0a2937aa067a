/* SPDX-License-Identifier: Apache-2.0 */
/* getopt_long with exact long options only. glibc accepts any unambiguous prefix of a long option,
 * so `run --pid host` silently became `--pids-limit host`; docker users type docker's names, and a
 * name we do not have must be refused, not guessed. kapsel-cli.h maps getopt_long onto this. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

/* Same contract as getopt_long(3), except that a `--name` or `--name=value` whose name is not
 * exactly one of `longopts` returns '?' before anything is parsed (the whole command line is
 * checked on the first call of a parse, optind 0 or 1). Option values (`--name --x`, `-e --x`),
 * arguments after `--` and, with a leading '+' in `optstring`, everything after the first operand
 * are not options and are not checked. */
int k_getopt_long(int argc, char *const argv[], const char *optstring, const struct option *longopts, int *longindex);

/* The refused option of the last k_getopt_long parse ("--pid"), or NULL. */
const char *k_getopt_bad_option(void);

/* Completion mode (`kapsel --complete-options VERB`): the next parse prints the verb's options, one
 * a line ("--name", "-d"), and returns '?' without parsing anything. */
void k_getopt_list_options(void);
/* Whether a parse printed its options since k_getopt_list_options(). */
bool k_getopt_listed(void);
