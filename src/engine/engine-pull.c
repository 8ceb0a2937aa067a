/* SPDX-License-Identifier: Apache-2.0 */
/* engine_image_pull: the registry client fills an OCI layout in a staging directory inside the
 * store (so the import renames blobs instead of copying), the store imports it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine-pull.h"
#include "path-util.h"
#include "rm-rf.h"

static void staging_rm(char **dir) {
        if (*dir) {
                (void) rm_rf(*dir);
                free(*dir);
        }
}

int engine_image_pull(Engine *e, const char *ref, const RegistryOptions *o, char **ret_id, char **ret_ref,
                      KError **err) {
        ImageStore *s;
        _cleanup_free_ char *norm = NULL, *tmp = NULL, *id = NULL;
        _cleanup_(staging_rm) char *dir = NULL;
        int r = image_ref_normalize(ref, &norm, err);
        if (r < 0 || (r = engine_images(e, &s, err)) < 0)
                return r;
        tmp = path_join(image_store_root(s), "tmp");
        if (!tmp || asprintf(&dir, "%s/transfer-XXXXXX", tmp) < 0) {
                dir = NULL;
                return kerr(err, -ENOMEM, "pull %s", ref);
        }
        if (!mkdtemp(dir)) {
                r = kerr(err, -errno, "create a staging directory under %s", tmp);
                free(TAKE_PTR(dir));
                return r;
        }
        RegistryOptions none = { 0 };
        if ((r = registry_pull(norm, o ?: &none, dir, err)) < 0 ||
            (r = image_import_oci_layout(s, dir, NULL, norm, &id, err)) < 0)
                return r;
        if (ret_id)
                *ret_id = TAKE_PTR(id);
        if (ret_ref)
                *ret_ref = TAKE_PTR(norm);
        return 0;
}
