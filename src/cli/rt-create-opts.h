/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "container.h"

typedef struct RunExtras {
        bool detach;
        bool keep;
} RunExtras;

/* Options shared by create and run (run passes `x`). Returns 1 after printing --help. */
int rt_parse_create_opts(const char *verb, int argc, char **argv, CreateOptions *o, RunExtras *x, KError **err);
