/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the Dockerfile parser and the word expander with untrusted Dockerfile text: every parsed
 * instruction's arguments are expanded as the builder would. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(void *ud, const char *name) {
        (void) ud;
        return name[0] == 'A' ? "a b" : name[0] == 'E' ? "" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 65536)
                return 0;
        Dockerfile *d = NULL;
        KError *e = NULL;
        if (dockerfile_parse((const char *) data, size, "fuzz", &d, &e) >= 0) {
                for (size_t i = 0; i < d->n; i++)
                        for (size_t k = 0; k < d->v[i].n_args; k++) {
                                char *r = NULL, **w = NULL;
                                KError *e2 = NULL;
                                if (dockerfile_expand(d->v[i].args[k], d->escape, lookup, NULL, &r, &e2) >= 0)
                                        free(r);
                                kerr_free(e2);
                                e2 = NULL;
                                if (dockerfile_expand_words(d->v[i].args[k], d->escape, lookup, NULL, &w, &e2) >= 0)
                                        strv_free(w);
                                kerr_free(e2);
                        }
                dockerfile_free(d);
        }
        kerr_free(e);
        return 0;
}
