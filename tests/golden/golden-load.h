/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the golden drivers: read the config.json named on the command line and parse it.
 * Returns 0, or the driver's exit status: 2 for bad usage, 1 after printing "error: <msg>"
 * (the parse error is part of the golden output). */
#pragma once

#include <fcntl.h>
#include <stdio.h>

#include "fd-util.h"
#include "spec.h"

static inline int golden_load_spec(int argc, char **argv, Spec **ret) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s CONFIG.json\n", argv[0]);
                return 2;
        }
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (read_full_file_at(AT_FDCWD, argv[1], 1 << 20, &text, &len) < 0) {
                fprintf(stderr, "cannot read %s\n", argv[1]);
                return 2;
        }
        _cleanup_kerr_ KError *err = NULL;
        if (spec_parse(text, len, "config.json", ret, &err) < 0) {
                printf("error: %s\n", err->msg);
                return 1;
        }
        return 0;
}
