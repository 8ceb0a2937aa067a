/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the config.json parser (untrusted input: bundles come from images and orchestrators)
 * and the process.json / resources documents parsed by `exec` and `update`. */
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        KError *e = NULL;
        Spec *s = NULL;
        if (spec_parse(text, size, "fuzz.json", &s, &e) >= 0)
                spec_free(s);
        kerr_free(e);

        e = NULL;
        SpecProcess *p = NULL;
        if (spec_parse_process(text, size, "fuzz.json", &p, &e) >= 0)
                spec_process_free(p);
        kerr_free(e);

        SpecResources *r = NULL;
        if (spec_parse_resources(text, size, "fuzz.json", &r, NULL) >= 0)
                spec_resources_free(r);
        return 0;
}
