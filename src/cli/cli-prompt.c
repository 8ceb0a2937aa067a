/* SPDX-License-Identifier: Apache-2.0 */
/* docker's confirmation prompt for destructive verbs (prune): the question on stdout, one answer
 * line from stdin; only y/yes says yes, and no terminal or end of input is a no. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kapsel-cli.h"

bool k_confirm(const char *warning) {
        printf("%s\nAre you sure you want to continue? [y/N] ", warning);
        fflush(stdout);
        char line[64];
        bool got = fgets(line, sizeof(line), stdin) != NULL;
        if (!isatty(STDIN_FILENO))
                putchar('\n');        /* no echoed answer ended the line */
        if (!got)
                return false;
        line[strcspn(line, "\r\n")] = 0;
        return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}
