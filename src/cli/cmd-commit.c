/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel commit [-m MSG] [--pause=false] CONTAINER [NAME]: the container's changes (its overlay
 * upper dir) become a new layer on top of its image; its command, env, workdir and user become
 * the new image's defaults. A running container is paused meanwhile, as docker does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "ctr-ops.h"
#include "kapsel-cli.h"
#include "string-util.h"

static char **strv_of(const json_t *a) {
        char **v = calloc(1, sizeof(char *));
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e)
                if (v && json_is_string(e) && strv_extend(&v, json_string_value(e)) < 0) {
                        strv_free(v);
                        return NULL;
                }
        return v;
}

/* The image's config with the container's own settings on top. */
static void merge_config(const ImageConfig *base, const json_t *cfg, ImageConfig *out, char ***owned) {
        *out = *base;
        json_t *cmd = json_object_get(cfg, "Cmd"), *ep = json_object_get(cfg, "Entrypoint"), *env = json_object_get(cfg, "Env");
        if (json_is_array(cmd))
                out->cmd = owned[0] = strv_of(cmd);
        if (json_is_array(ep)) {
                out->entrypoint = owned[1] = strv_of(ep);
                if (!json_is_array(cmd))
                        out->cmd = NULL;
        }
        if (json_array_size(env) > 0) {
                char **merged = NULL;
                (void) strv_copy(base->env, &merged);
                size_t i;
                json_t *e;
                json_array_foreach(env, i, e) {
                        const char *kv = json_string_value(e) ?: "";
                        size_t klen = strcspn(kv, "=");
                        bool replaced = false;
                        for (char **p = merged; p && *p; p++)
                                if (strncmp(*p, kv, klen) == 0 && (*p)[klen] == '=') {
                                        free(*p);
                                        *p = strdup(kv);
                                        replaced = true;
                                }
                        if (!replaced)
                                (void) strv_extend(&merged, kv);
                }
                out->env = owned[2] = merged;
        }
        const char *wd = json_string_value(json_object_get(cfg, "WorkingDir")), *user = json_string_value(json_object_get(cfg, "User"));
        if (wd && *wd)
                out->working_dir = (char *) wd;
        if (user && *user)
                out->user = (char *) user;
}

K_VERB(commit) {
        static const struct option opts[] = { { "message", required_argument, NULL, 'm' }, { "author", required_argument, NULL, 'a' },
                                               { "pause", required_argument, NULL, 'p' }, { "help", no_argument, NULL, 'h' }, {} };
        const char *message = NULL;
        bool pause = true;
        int c;
        while ((c = getopt_long(argc, argv, "+m:a:", opts, NULL)) >= 0)
                switch (c) {
                case 'm': message = optarg; break;
                case 'a': break;
                case 'p': pause = !streq(optarg, "false"); break;
                case 'h': return k_help("commit");
                default: return k_usage(err, "commit", "unknown option");
                }
        if (argc - optind < 1 || argc - optind > 2)
                return k_usage(err, "commit", "expected CONTAINER [NAME]");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        _cleanup_(image_freep) Image *img = NULL;
        ImageStore *s;
        int r = k_open_one(g, argv[optind], &e, &rec, err);
        if (r >= 0)
                r = engine_image_lookup(e, rec->image_id, &img, err);
        if (r >= 0)
                r = engine_images(e, &s, err);
        if (r < 0)
                return r;
        bool paused_here = pause && rec->state == CTR_RUNNING &&
                           container_pause(e->runtime_root, rec->id, true, NULL) >= 0;
        char **owned[3] = { NULL, NULL, NULL };
        ImageConfig cfg;
        merge_config(&img->config, json_object_get(rec->config, "Config"), &cfg, owned);
        _cleanup_free_ char *upper = engine_ctr_path(e, rec->id, "diff"), *id = NULL;
        r = image_commit(s, img, upper, &cfg, argc - optind == 2 ? argv[optind + 1] : NULL, message, &id, err);
        if (paused_here)
                (void) container_pause(e->runtime_root, rec->id, false, NULL);
        for (size_t i = 0; i < ELEMENTSOF(owned); i++)
                strv_free(owned[i]);
        if (r >= 0)
                printf("%s\n", id);
        return r < 0 ? r : 0;
}
