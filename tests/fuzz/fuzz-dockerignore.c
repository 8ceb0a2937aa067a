/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the .dockerignore parser and matcher: the first line of the input is a path, the rest the
 * patterns; the path is also matched as a pattern against itself (COPY source globs). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dockerignore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 16384)
                return 0;
        char *text = strndup((const char *) data, size);
        if (!text)
                return 0;
        char *nl = strchr(text, '\n');
        const char *rest = nl ? nl + 1 : "";
        if (nl)
                *nl = '\0';
        DockerIgnore d = {};
        KError *e = NULL;
        if (dockerignore_parse(rest, strlen(rest), &d, &e) >= 0) {
                char *clean = dockerignore_clean(text);
                if (clean)
                        (void) dockerignore_excluded(&d, clean);
                for (size_t i = 0; i < d.n; i++)
                        (void) glob_match(d.patterns[i], text, false);
                free(clean);
                dockerignore_done(&d);
        }
        kerr_free(e);
        (void) glob_match(text, text, true);
        free(text);
        return 0;
}
