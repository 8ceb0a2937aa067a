/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the image-spec document parsers (oci.h): index, manifest, config, platform selection. */
#include <stddef.h>
#include <stdint.h>

#include "oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *j = NULL;
        KError *e = NULL;
        if (oci_json_load((const char *) data, size, "fuzz", &j, &e) < 0) {
                kerr_free(e);
                return 0;
        }
        OciKind kind;
        (void) oci_kind(j, "fuzz", &kind, NULL);
        OciIndex idx;
        if (oci_index_parse(j, "fuzz", &idx, NULL) >= 0) {
                size_t pick;
                (void) oci_index_select(&idx, "latest", NULL, "fuzz", &pick, NULL);
                (void) oci_index_select(&idx, NULL, "arm64", "fuzz", &pick, NULL);
                oci_index_done(&idx);
        }
        OciManifest m;
        if (oci_manifest_parse(j, "fuzz", &m, NULL) >= 0)
                oci_manifest_done(&m);
        OciConfig c;
        if (oci_config_parse(j, "fuzz", &c, NULL) >= 0) {
                json_t *back = image_config_to_json(&c.config);
                json_decref(back);
                oci_config_done(&c);
        }
        json_decref(j);
        return 0;
}
