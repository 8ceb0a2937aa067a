/* SPDX-License-Identifier: Apache-2.0 */
/* checkpoint and restore: part of runc's command line, but kapsel-runtime has no CRIU
 * support; they answer --help and otherwise fail with a clear message. */
#include <getopt.h>
#include <string.h>

#include "runtime-cli.h"
#include "string-util.h"

static int unsupported(const char *verb, int argc, char **argv, KError **err) {
        for (int i = 1; i < argc && argv[i][0] == '-'; i++)
                if (streq(argv[i], "-h") || streq(argv[i], "--help") || streq(argv[i], "-help")) {
                        rt_print_verb_help(verb);
                        return 0;
                }
        return kerr_msg(err, KERR_CONFIG, -EOPNOTSUPP,
                        "%s: kapsel-runtime cannot checkpoint or restore containers (no CRIU support); stop and "
                        "re-create the container instead", verb);
}

RT_VERB(checkpoint) {
        (void) g;
        return unsupported("checkpoint", argc, argv, err);
}

RT_VERB(restore) {
        (void) g;
        return unsupported("restore", argc, argv, err);
}
