/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny driver over image.h for the integration tests (tests/integration/test_image_store.py)
 * until the kapsel CLI grows its image verbs:
 *   test-image-driver ROOT import-oci DIR NAME | load ARCHIVE | layers REF | save ARCHIVE REF | rmi REF | gc
 * Prints results on stdout, the error on stderr, exits with the error kind's exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"

static int run(ImageStore *s, int argc, char **argv, KError **err) {
        const char *verb = argv[2];
        if (!strcmp(verb, "import-oci") && argc == 5) {
                char *id = NULL;
                int r = image_import_oci_layout(s, argv[3], NULL, argv[4], &id, err);
                if (r >= 0)
                        printf("%s\n", id);
                free(id);
                return r;
        }
        if (!strcmp(verb, "load") && argc == 4) {
                char **names = NULL;
                int r = image_load(s, argv[3], &names, err);
                for (size_t i = 0; r >= 0 && names && names[i]; i++)
                        printf("%s\n", names[i]);
                strv_free(names);
                return r;
        }
        if (!strcmp(verb, "layers") && argc == 4) {
                Image *img = NULL;
                int r = image_lookup(s, argv[3], &img, err);
                for (size_t i = 0; r >= 0 && i < img->n_layers; i++)
                        printf("%s\n", img->layer_dirs[i]);
                image_free(img);
                return r;
        }
        if (!strcmp(verb, "save") && argc == 5) {
                char *refs[] = { argv[4], NULL };
                return image_save(s, refs, argv[3], err);
        }
        if (!strcmp(verb, "rmi") && argc == 4)
                return image_remove(s, argv[3], true, NULL, err);
        if (!strcmp(verb, "gc") && argc == 3) {
                uint64_t freed = 0;
                int r = image_gc(s, &freed, err);
                if (r >= 0)
                        printf("%llu\n", (unsigned long long) freed);
                return r;
        }
        return kerr_msg(err, KERR_USAGE, -22, "usage: test-image-driver ROOT import-oci|load|layers|save|rmi|gc ...");
}

int main(int argc, char **argv) {
        KError *err = NULL;
        ImageStore *s = NULL;
        if (argc < 3) {
                fprintf(stderr, "usage: test-image-driver ROOT VERB ARGS...\n");
                return 2;
        }
        int r = image_store_open(argv[1], &s, &err);
        if (r >= 0)
                r = run(s, argc, argv, &err);
        image_store_free(s);
        if (r < 0) {
                fprintf(stderr, "test-image-driver: %s\n", err ? err->msg : "error");
                int code = kerr_exit_code(err);
                kerr_free(err);
                return code;
        }
        return 0;
}
