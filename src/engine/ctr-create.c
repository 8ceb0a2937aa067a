/* SPDX-License-Identifier: Apache-2.0 */
/* ctr_create: one request ({"Config","HostConfig"}, image, name) from the CLI's flags or the Docker
 * API's body; the same validation and the same error texts for both. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctr-create.h"
#include "events.h"
#include "ctr-mounts.h"
#include "ctr-net.h"
#include "ctr-ops.h"
#include "engine-pull.h"
#include "overlay.h"
#include "rm-rf.h"
#include "spec-gen.h"
#include "string-util.h"
#include "vm-isolation.h"
#include "vm-ops.h"
#include "volume.h"

static const char *const restart_names[] = { "", "no", "always", "on-failure", "unless-stopped", NULL };

int ctr_create_validate(json_t *config, KError **err) {
        json_t *host = json_object_get(config, "HostConfig");
        json_t *rp = json_object_get(host, "RestartPolicy");
        const char *name = json_string_value(json_object_get(rp, "Name"));
        if (name && !strv_contains((char **) restart_names, name))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--restart \"%s\": expected no, on-failure[:N], always or unless-stopped", name);
        json_int_t max = json_integer_value(json_object_get(rp, "MaximumRetryCount"));
        if (max < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--restart %s: the retry count must not be negative", name);
        if (max > 0 && name && !streq(name, "on-failure"))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--restart %s: only on-failure takes a retry count", name);
        if (json_is_true(json_object_get(host, "AutoRemove")) && name && *name && !streq(name, "no"))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--rm and --restart cannot be combined");
        return 0;
}

/* The image, pulled first when the request says so (docker's --pull missing|always|never). */
static int create_image(Engine *e, const CtrCreateRequest *req, Image **ret, KError **err) {
        _cleanup_kerr_ KError *lerr = NULL;
        int r = req->pull == CTR_PULL_ALWAYS ? -ENOENT : engine_image_lookup(e, req->image, ret, &lerr);
        if (r != -ENOENT || req->pull == CTR_PULL_NEVER) {
                if (r < 0 && err && !*err)
                        *err = TAKE_PTR(lerr);
                return r;
        }
        _cleanup_kerr_ KError *perr = NULL;
        r = engine_image_pull(e, req->image, NULL, NULL, NULL, &perr);
        if (r < 0) {
                if (req->pull == CTR_PULL_ALWAYS || !lerr)
                        return kerr_msg(err, perr ? perr->kind : KERR_GENERIC, r, "pull %s: %s", req->image,
                                        perr ? perr->msg : strerror(-r));
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "%s (pulling it failed: %s)", lerr->msg,
                                perr ? perr->msg : strerror(-r));
        }
        return engine_image_lookup(e, req->image, ret, err);
}

/* Validate what can be validated now (entrypoint/cmd, capabilities, memory, network, isolation):
 * a bad flag is an error of `run`, not a container that fails later. */
static int create_validate(Engine *e, const CtrCreateRequest *req, const Image *img, KError **err) {
        int r;
        /* no --isolation: the network's or the image's io.kapsel.isolation label decides */
        if ((r = vm_isolation_apply_default(e, req->config, img->config_json, req->image, err)) < 0)
                return r;
        _cleanup_strv_free_ char **args = NULL;
        if ((r = spec_gen_args(&img->config, req->config, &args, err)) < 0)
                return r;
        SpecGenInput probe = { .image = &img->config, .config = req->config, .rootfs = "/", .volumes_dir = "/" };
        json_t *spec = NULL;
        if ((r = spec_gen(&probe, &spec, err)) < 0)
                return r;
        json_decref(spec);
        if (json_object_get(json_object_get(req->config, "HostConfig"), "VmKernel") && !vm_isolation_enabled(req->config))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--kernel is for --isolation=vm: a container runs on the host's kernel");
        /* a VM's own limits first: --network container:NAME is refused before NAME is looked up */
        if (vm_isolation_enabled(req->config) && (r = vm_isolation_check(req->config, err)) < 0)
                return r;
        if ((r = ctr_net_validate(e, req->config, err)) < 0)
                return r;
        if (vm_isolation_enabled(req->config) && (r = vm_check_kvm(err)) < 0)
                return kerr_prefix(err, r, "--isolation=vm");
        return 0;
}

int ctr_create(Engine *e, const CtrCreateRequest *req, char ret_id[static 65], KError **err) {
        if (req->name && !ctr_name_valid(req->name))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "invalid container name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*", req->name);
        int r = ctr_create_validate(req->config, err);
        if (r < 0)
                return r;
        _cleanup_(image_freep) Image *img = NULL;
        if ((r = create_image(e, req, &img, err)) < 0)
                return r;
        /* --mount / HostConfig.Mounts become Binds and Tmpfs before anything reads those */
        if ((r = ctr_mounts_normalize(req->config, err)) < 0 || (r = create_validate(e, req, img, err)) < 0)
                return r;
        json_t *cfg = json_object_get(req->config, "Config");
        if (cfg && !json_object_get(cfg, "Image"))
                json_object_set_new(cfg, "Image", json_string(req->image));

        if ((r = volume_ensure_for(e, req->config, err)) < 0)
                return r;
        if ((r = engine_new_id(ret_id)) < 0)
                return kerr(err, r, "new container id");
        _cleanup_free_ char *gen = req->name ? NULL : engine_random_name();
        CtrRecord rec = { .id = ret_id, .name = (char *) (req->name ?: gen), .image = (char *) req->image,
                          .image_id = img->id, .config = req->config, .state = CTR_CREATED, .created = engine_now() };
        if (!rec.name)
                return kerr(err, -ENOMEM, "container name");
        _cleanup_free_ char *dir = engine_ctr_path(e, ret_id, NULL);
        if (!dir)
                return kerr(err, -ENOMEM, "container dir");
        /* the directory first, the row last: a crash in between leaves a directory without a row,
         * which `system check` collects; never a row pointing nowhere */
        if (mkdir(dir, 0700) < 0)
                return kerr(err, -errno, "create %s", dir);
        if ((r = overlay_prepare(dir, err)) < 0 || (r = db_ctr_insert(e->db, &rec, err)) < 0) {
                (void) rm_rf(dir);
                return r;
        }
        events_emit(e->root, "container", "create", rec.id, events_ctr_attrs(rec.image, rec.name, rec.config));
        return 0;
}
