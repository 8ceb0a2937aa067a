/* SPDX-License-Identifier: Apache-2.0 */
/* The engine's use of the image store: opened on demand, the built-in busybox image, and the
 * image plan handed to the monitor. Kept apart from engine.c so that the monitor binary, which
 * links engine.c, does not pull in the image store and its libraries. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "fd-util.h"
#include "json-util.h"
#include "path-util.h"
#include "string-util.h"

#ifndef KAPSEL_BUSYBOX_IMAGE
#define KAPSEL_BUSYBOX_IMAGE ""
#endif

int engine_images(Engine *e, ImageStore **ret, KError **err) {
        if (!e->images) {
                _cleanup_free_ char *p = path_join(e->root, "image");
                if (!p)
                        return kerr(err, -ENOMEM, "image store");
                int r = image_store_open(p, &e->images, err);
                if (r < 0)
                        return r;
                e->free_images = image_store_free;
        }
        *ret = e->images;
        return 0;
}

/* The embedded default: the busybox image the build made from Debian's busybox-static. */
static bool is_builtin_busybox(const char *ref) {
        return streq(ref, "busybox") || streq(ref, "busybox:latest") ||
               streq(ref, "docker.io/library/busybox:latest") || streq(ref, "docker.io/library/busybox");
}

static const char *builtin_busybox_dir(void) {
        const char *env = getenv("KAPSEL_BUSYBOX_IMAGE");
        if (env && *env)
                return env;
        return KAPSEL_BUSYBOX_IMAGE[0] ? KAPSEL_BUSYBOX_IMAGE : NULL;
}

int engine_image_lookup(Engine *e, const char *ref, Image **ret, KError **err) {
        ImageStore *s;
        int r = engine_images(e, &s, err);
        if (r < 0)
                return r;
        _cleanup_kerr_ KError *lerr = NULL;
        r = image_lookup(s, ref, ret, &lerr);
        if (r != -ENOENT || !is_builtin_busybox(ref) || !builtin_busybox_dir()) {
                if (r < 0 && err && !*err)
                        *err = TAKE_PTR(lerr);
                return r;
        }
        _cleanup_free_ char *id = NULL;
        r = image_import_oci_layout(s, builtin_busybox_dir(), NULL, "docker.io/library/busybox:latest", &id, err);
        if (r < 0)
                return kerr_prefix(err, r, "import the built-in busybox image");
        return image_lookup(s, "docker.io/library/busybox:latest", ret, err);
}


int engine_ctr_image_missing(Engine *e, const CtrRecord *rec, char **ret_what) {
        *ret_what = NULL;
        if (rec->kind != CTR_KIND_CONTAINER || !rec->image_id)
                return 0;
        _cleanup_(image_freep) Image *img = NULL;
        int r = engine_image_lookup(e, rec->image_id, &img, NULL);
        if (r == -ENOENT)
                return asprintf(ret_what, "image %.19s is gone from the store", rec->image_id) < 0 ? -ENOMEM : 1;
        if (r < 0)
                return r;
        for (size_t i = 0; i < img->n_layers; i++)
                if (access(img->layer_dirs[i], F_OK) < 0)
                        return asprintf(ret_what, "layer %zu of image %.19s is gone from the store", i + 1,
                                        rec->image_id) < 0 ? -ENOMEM : 1;
        return 0;
}

static json_t *strv_json(char **v) {
        return v ? json_from_strv(v) : json_null();
}

int image_plan_write(Engine *e, const char *id, const Image *img, KError **err) {
        json_t *layers = json_array();
        for (size_t i = 0; i < img->n_layers; i++)
                json_array_append_new(layers, json_string(img->layer_dirs[i]));
        const ImageConfig *c = &img->config;
        json_t *plan = json_pack("{s:s, s:o, s:{s:o, s:o, s:o, s:s?, s:s?, s:o, s:s?}}", "id", img->id, "layers", layers,
                                 "config", "env", strv_json(c->env), "entrypoint", strv_json(c->entrypoint), "cmd",
                                 strv_json(c->cmd), "working_dir", c->working_dir, "user", c->user, "exposed_ports",
                                 strv_json(c->exposed_ports), "stop_signal", c->stop_signal);
        _cleanup_free_ char *text = plan ? json_dumps(plan, JSON_COMPACT) : NULL;
        json_decref(plan);
        _cleanup_free_ char *dir = engine_ctr_path(e, id, NULL);
        _cleanup_close_ int dfd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (!text || dfd < 0)
                return kerr(err, text ? -errno : -ENOMEM, "write the image plan of %s", id);
        int r = write_file_atomic_at(dfd, "image.json", text, strlen(text), 0600);
        return r < 0 ? kerr(err, r, "write %s/image.json", dir) : 0;
}
