/* SPDX-License-Identifier: Apache-2.0 */
/* Reading the image plan (engine.h) in the monitor: plain JSON, no image store. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fd-util.h"

/* A NULL-terminated array of pointers into the JSON (which keeps owning the strings). */
static char **borrow_strv(const json_t *a) {
        if (!json_is_array(a))
                return NULL;
        char **v = calloc(json_array_size(a) + 1, sizeof(char *));
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e)
                if (v)
                        v[i] = (char *) (json_string_value(e) ?: "");
        return v;
}

static char *borrow_str(const json_t *s) {
        return (char *) json_string_value(s);
}

int image_plan_read(const Engine *e, const char *id, ImagePlan *ret, KError **err) {
        _cleanup_free_ char *path = engine_ctr_path(e, id, "image.json");
        _cleanup_free_ char *text = NULL;
        int r = path ? read_full_file_at(AT_FDCWD, path, 1 << 20, &text, NULL) : -ENOMEM;
        if (r < 0)
                return kerr(err, r, "read the image plan %s", path ?: "");
        json_error_t je;
        json_t *j = json_loads(text, 0, &je);
        json_t *cfg = json_object_get(j, "config");
        if (!j || !json_is_array(json_object_get(j, "layers")))
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "%s: not an image plan (%s)", path, j ? "no layers" : je.text);
        ImagePlan p = { .json = j };
        p.layer_dirs = borrow_strv(json_object_get(j, "layers"));
        p.n_layers = json_array_size(json_object_get(j, "layers"));
        p.config = (ImageConfig) {
                .env = borrow_strv(json_object_get(cfg, "env")),
                .entrypoint = borrow_strv(json_object_get(cfg, "entrypoint")),
                .cmd = borrow_strv(json_object_get(cfg, "cmd")),
                .working_dir = borrow_str(json_object_get(cfg, "working_dir")),
                .user = borrow_str(json_object_get(cfg, "user")),
                .exposed_ports = borrow_strv(json_object_get(cfg, "exposed_ports")),
                .stop_signal = borrow_str(json_object_get(cfg, "stop_signal")),
        };
        if (!p.layer_dirs) {
                image_plan_done(&p);
                return kerr(err, -ENOMEM, "image plan");
        }
        *ret = p;
        return 0;
}

void image_plan_done(ImagePlan *p) {
        free(p->layer_dirs);
        free(p->config.env);
        free(p->config.entrypoint);
        free(p->config.cmd);
        free(p->config.exposed_ports);
        json_decref(p->json);
        *p = (ImagePlan) { 0 };
}
