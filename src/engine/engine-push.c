/* SPDX-License-Identifier: Apache-2.0 */
/* engine_image_push: the store writes the image as an OCI layout in a staging directory inside it
 * (blobs hard-linked), the registry client uploads what the registry lacks. The CLI's `push` and
 * kapseld's POST /images/{name}/push. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine-pull.h"
#include "events.h"
#include "path-util.h"
#include "rm-rf.h"

static void staging_rm(char **dir) {
        if (*dir) {
                (void) rm_rf(*dir);
                free(*dir);
        }
}

int engine_image_push(Engine *e, const char *image, const char *ref, const RegistryOptions *o, char **ret_ref,
                      KError **err) {
        ImageStore *s;
        _cleanup_free_ char *norm = NULL, *tmp = NULL;
        _cleanup_(staging_rm) char *dir = NULL;
        int r = image_ref_normalize(ref, &norm, err);
        if (r < 0 || (r = engine_images(e, &s, err)) < 0)
                return r;
        tmp = path_join(image_store_root(s), "tmp");
        if (!tmp || asprintf(&dir, "%s/transfer-XXXXXX", tmp) < 0) {
                dir = NULL;
                return kerr(err, -ENOMEM, "push %s", ref);
        }
        if (!mkdtemp(dir)) {
                r = kerr(err, -errno, "create a staging directory under %s", tmp);
                free(TAKE_PTR(dir));
                return r;
        }
        RegistryOptions none = { 0 };
        if ((r = image_export_oci_layout(s, image, dir, err)) < 0 || (r = registry_push(dir, norm, o ?: &none, err)) < 0)
                return r;
        events_emit(e->root, "image", "push", norm, json_pack("{s:s}", "name", norm));
        if (ret_ref)
                *ret_ref = TAKE_PTR(norm);
        return 0;
}
