/* SPDX-License-Identifier: Apache-2.0 */
/* The build executor: stages in order, one image per step, the layer cache, progress lines as
 * docker's classic builder prints them (see build.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"
#include "engine-pull.h"
#include "digest.h"
#include "fd-util.h"
#include "json-util.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"

volatile sig_atomic_t build_interrupted;

void build_emit(Builder *b, BuildEventKind kind, const char *fmt, ...) {
        if (!b->cb)
                return;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *s = NULL;
        if (vasprintf(&s, fmt, ap) >= 0)
                b->cb(b->userdata, kind, s, strlen(s));
        va_end(ap);
}

json_t *build_cc(Stage *st) {
        json_t *cc = json_object_get(st->config, "config");
        if (!json_is_object(cc)) {
                cc = json_object();
                json_object_set_new(st->config, "config", cc);
        }
        return cc;
}

const char *build_lookup(void *userdata, const char *name) {
        Stage *st = userdata;
        size_t l = strlen(name), i;
        json_t *e;
        json_array_foreach(json_object_get(build_cc(st), "Env"), i, e) {
                const char *kv = json_string_value(e);
                if (kv && strncmp(kv, name, l) == 0 && kv[l] == '=')
                        return kv + l + 1;
        }
        return json_string_value(json_object_get(st->args, name));
}

static const char *short_id(const char *id) {
        const char *h = startswith(id, "sha256:");
        static __thread char buf[13];
        snprintf(buf, sizeof(buf), "%s", h ? h : id);
        return buf;
}

/* --- the cache: <root>/build/cache/<sha256 of parent, step, content> holds an image id --- */

static void cache_key(const Stage *st, const char *desc, const char *content, char out[static DIGEST_STR_MAX]) {
        Sha256 h;
        const char *parent = st->img ? st->img->id : "scratch";
        if (sha256_init(&h) < 0) {
                out[0] = '\0';
                return;
        }
        sha256_update(&h, parent, strlen(parent) + 1);
        sha256_update(&h, desc, strlen(desc) + 1);
        sha256_update(&h, content ? content : "", content ? strlen(content) : 0);
        sha256_final(&h, out);
}

static char *cache_path(Builder *b, const char *key) {
        char *p = NULL;
        const char *hex = startswith(key, "sha256:");
        return hex && asprintf(&p, "%s/build/cache/%s", b->e->root, hex) >= 0 ? p : NULL;
}

static int cache_get(Builder *b, const char *key, Image **ret) {
        _cleanup_free_ char *p = cache_path(b, key), *id = NULL;
        size_t len;
        if (!p || b->o->no_cache || read_full_file_at(AT_FDCWD, p, 128, &id, &len) < 0)
                return 0;
        id[strcspn(id, "\n")] = '\0';
        return image_lookup(b->s, id, ret, NULL) >= 0 ? 1 : 0;
}

static void cache_put(Builder *b, const char *key, const char *id) {
        _cleanup_free_ char *p = cache_path(b, key), *dir = NULL;
        if (!p || asprintf(&dir, "%s/build/cache", b->e->root) < 0 || mkdir_p(dir, 0700) < 0)
                return;
        _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) write_file_atomic_at(dfd, strrchr(p, '/') + 1, id, strlen(id), 0600);
}

/* Make `id` the stage's current image. */
static int stage_set_image(Builder *b, Stage *st, const char *id, KError **err) {
        Image *img = NULL;
        int r = image_lookup(b->s, id, &img, err);
        if (r < 0)
                return r;
        image_free(st->img);
        st->img = img;
        json_decref(st->config);
        st->config = json_deep_copy(img->config_json);
        return st->config ? 0 : kerr(err, -ENOMEM, "image config");
}

/* Commit the step: with a layer from w (when given and changed), else config only. */
static int step_commit(Builder *b, Stage *st, WorkDir *w, const char *desc, const char *key, KError **err) {
        _cleanup_free_ char *id = NULL, *upper = w && !workdir_unchanged(w) ? path_join(w->dir, "diff") : NULL;
        int r = image_commit_build(b->s, st->img, upper, st->config, desc, &id, err);
        if (r < 0)
                return r;
        if (key)
                cache_put(b, key, id);
        build_emit(b, BUILD_EVENT_INFO, " ---> %s", short_id(id));
        return stage_set_image(b, st, id, err);
}

static int step_filesystem(Builder *b, Stage *st, const DfInstr *in, KError **err);

/* Metadata-only and filesystem steps share the cache logic. */
static int step(Builder *b, Stage *st, const DfInstr *in, KError **err) {
        if (build_interrupted)
                return kerr(err, -EINTR, "build interrupted");
        if (in->kind == DF_RUN || in->kind == DF_COPY || in->kind == DF_ADD || in->kind == DF_WORKDIR)
                return step_filesystem(b, st, in, err);
        _cleanup_free_ char *desc = NULL;
        char key[DIGEST_STR_MAX];
        int r = config_apply(b, st, in, &desc, err);
        if (r < 0)
                return r;
        cache_key(st, desc, NULL, key);
        Image *hit = NULL;
        if (cache_get(b, key, &hit) > 0) {
                build_emit(b, BUILD_EVENT_INFO, " ---> Using cache");
                build_emit(b, BUILD_EVENT_INFO, " ---> %s", short_id(hit->id));
                r = stage_set_image(b, st, hit->id, err);
                image_free(hit);
                return r;
        }
        return step_commit(b, st, NULL, desc, key, err);
}

static int run_argv(Stage *st, const DfInstr *in, char ***ret) {
        if (in->json)
                return strv_copy(in->args, ret);
        json_t *shell = json_object_get(build_cc(st), "Shell");
        _cleanup_strv_free_ char **v = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(shell, i, e)
                if (strv_extend(&v, json_string_value(e) ?: "") < 0)
                        return -ENOMEM;
        if (!v && (strv_extend(&v, "/bin/sh") < 0 || strv_extend(&v, "-c") < 0))
                return -ENOMEM;
        if (strv_extend(&v, in->args[0]) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

static char *join_words(char **v) {
        size_t n = 1;
        for (char **p = v; p && *p; p++)
                n += strlen(*p) + 1;
        char *s = calloc(1, n);
        for (char **p = v; s && p && *p; p++) {
                if (p != v)
                        strcat(s, " ");
                strcat(s, *p);
        }
        return s;
}

static int step_filesystem(Builder *b, Stage *st, const DfInstr *in, KError **err) {
        _cleanup_free_ char *desc = NULL, *content = NULL, *argkey = NULL, *cmdline = NULL;
        _cleanup_strv_free_ char **argv = NULL, **extra_env = NULL;
        CopyPlan *cp = NULL;
        char key[DIGEST_STR_MAX], hash[72] = "";
        int r = 0;
        switch (in->kind) {
        case DF_RUN:
                if (run_argv(st, in, &argv) < 0 || build_run_env(b, st, &extra_env, &argkey) < 0 || !(cmdline = join_words(argv)) ||
                    asprintf(&desc, "%s%s", argkey, cmdline) < 0)
                        return kerr(err, -ENOMEM, "RUN");
                break;
        case DF_WORKDIR:
                r = config_apply(b, st, in, &desc, err);
                break;
        default:
                r = copy_plan(b, st, in, &cp, hash, &desc, err);
        }
        if (r < 0)
                return r;
        cache_key(st, desc, hash, key);
        Image *hit = NULL;
        if (cache_get(b, key, &hit) > 0) {
                copy_plan_free(cp);
                build_emit(b, BUILD_EVENT_INFO, " ---> Using cache");
                build_emit(b, BUILD_EVENT_INFO, " ---> %s", short_id(hit->id));
                r = stage_set_image(b, st, hit->id, err);
                image_free(hit);
                return r;
        }
        WorkDir w = {};
        r = workdir_open(b, st->img, &w, err);
        if (r >= 0)
                switch (in->kind) {
                case DF_RUN:
                        build_emit(b, BUILD_EVENT_INFO, " ---> Running in %s", w.id);
                        r = build_run_step(b, st, &w, argv, extra_env, err);
                        if (r < 0)
                                r = kerr_prefix(err, r, "%s:%u: RUN: the command '%s'", b->plan.df->name, in->line, cmdline);
                        break;
                case DF_WORKDIR: {
                        _cleanup_free_ char *root = path_join(w.dir, "rootfs");
                        _cleanup_close_ int rfd = root ? open(root, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
                        const char *wd = json_string_value(json_object_get(build_cc(st), "WorkingDir"));
                        _cleanup_close_ int dfd = rfd >= 0 && wd ? mkdir_p_in_root(rfd, wd, 0755) : -1;
                        if (dfd < 0)
                                r = kerr(err, dfd == -1 ? -errno : dfd, "%s:%u: WORKDIR %s: create it", b->plan.df->name, in->line,
                                         wd ? wd : "?");
                        break;
                }
                default:
                        r = copy_apply(b, st, cp, &w, err);
                }
        copy_plan_free(cp);
        if (w.mounted) {
                workdir_close(b, &w);   /* unmount first: commit reads diff/ */
                w.mounted = false;
        }
        if (r >= 0 && in->kind == DF_RUN)
                build_emit(b, BUILD_EVENT_INFO, "Removing intermediate container %s", w.id);
        if (r >= 0)
                r = step_commit(b, st, in->kind == DF_WORKDIR && workdir_unchanged(&w) ? NULL : &w, desc, key, err);
        if (w.dir) {
                (void) rm_rf(w.dir);
                free(w.dir);
        }
        return r;
}

/* FROM: the base image, an earlier stage's result, or scratch; then the base's ONBUILD triggers. */
static int stage_from(Builder *b, Stage *st, const PlanStage *ps, KError **err) {
        st->args = json_object();
        if (!st->args)
                return kerr(err, -ENOMEM, "stage");
        int r = 0;
        if (ps->base_stage >= 0)
                r = stage_set_image(b, st, b->stage_ids[ps->base_stage], err);
        else if (!streq(ps->base, "scratch")) {
                Image *img = NULL;
                r = engine_image_lookup(b->e, ps->base, &img, err);
                if (r >= 0) {
                        r = stage_set_image(b, st, img->id, err);
                        image_free(img);
                }
        } else if (!(st->config = json_pack("{s:s, s:s, s:{}}", "architecture", "amd64", "os", "linux", "config")))
                r = kerr(err, -ENOMEM, "scratch");
        if (r < 0)
                return kerr_prefix(err, r, "%s:%u: FROM %s", b->plan.df->name, b->plan.df->v[ps->first].line, ps->base);
        if (st->img)
                build_emit(b, BUILD_EVENT_INFO, " ---> %s", short_id(st->img->id));
        /* docker (and buildah) give every stage a PATH when its base has none */
        json_t *env = json_object_get(build_cc(st), "Env"), *e;
        bool has_path = false;
        size_t i;
        json_array_foreach(env, i, e)
                has_path |= startswith(json_string_value(e) ?: "", "PATH=") != NULL;
        if (!json_is_array(env))
                json_object_set_new(build_cc(st), "Env", env = json_array());
        if (!has_path)
                json_array_append_new(env, json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        json_t *triggers = json_deep_copy(json_object_get(build_cc(st), "OnBuild"));
        json_object_del(build_cc(st), "OnBuild");
        size_t n = json_array_size(triggers);
        json_t *t;
        if (n > 0)
                build_emit(b, BUILD_EVENT_INFO, "# Executing %zu build trigger%s", n, n == 1 ? "" : "s");
        json_array_foreach(triggers, i, t) {
                DfInstr in = {};
                r = dockerfile_parse_line(json_string_value(t) ?: "", b->plan.df->escape, "ONBUILD trigger", (unsigned) i + 1, &in, err);
                if (r >= 0)
                        r = step(b, st, &in, err);
                df_instr_done(&in);
                if (r < 0)
                        break;
        }
        json_decref(triggers);
        return r;
}

static int build_stage(Builder *b, size_t idx, KError **err) {
        const PlanStage *ps = &b->plan.stages[idx];
        Dockerfile *df = b->plan.df;
        Stage st = { .idx = idx };
        int r = 0;
        for (size_t i = ps->first; r >= 0 && i < ps->end; i++) {
                const DfInstr *in = &df->v[i];
                build_emit(b, BUILD_EVENT_STEP, "Step %zu/%zu : %s", ++b->step, b->plan.n_steps, in->text);
                r = i == ps->first ? stage_from(b, &st, ps, err) : step(b, &st, in, err);
        }
        /* a stage of FROM only on scratch still needs an image: commit the empty config */
        if (r >= 0 && !st.img)
                r = step_commit(b, &st, NULL, "#(nop) FROM scratch", NULL, err);
        if (r >= 0 && idx == b->plan.target && b->o->labels && b->o->labels[0]) {
                json_t *labels = json_object_get(build_cc(&st), "Labels");
                if (!json_is_object(labels))
                        json_object_set_new(build_cc(&st), "Labels", labels = json_object());
                for (char *const *l = b->o->labels; *l; l++) {
                        const char *eq = strchr(*l, '=');
                        _cleanup_free_ char *k = eq ? strndup(*l, (size_t) (eq - *l)) : strdup(*l);
                        if (k)
                                json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
                }
                r = step_commit(b, &st, NULL, "#(nop) LABEL (--label)", NULL, err);
        }
        if (r >= 0 && !(b->stage_ids[idx] = strdup(st.img->id)))
                r = kerr(err, -ENOMEM, "stage");
        image_free(st.img);
        json_decref(st.config);
        json_decref(st.args);
        return r;
}

static int load_dockerfile(Builder *b, Dockerfile **ret, KError **err) {
        const BuildOptions *o = b->o;
        if (o->dockerfile_text)
                return dockerfile_parse(o->dockerfile_text, o->dockerfile_len, "Dockerfile", ret, err);
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len;
        if (!o->dockerfile)
                path = path_join(b->ctx, "Dockerfile");
        else if (access(o->dockerfile, F_OK) == 0 || path_is_absolute(o->dockerfile))
                path = strdup(o->dockerfile);
        else
                path = path_join(b->ctx, o->dockerfile);
        if (!path)
                return kerr(err, -ENOMEM, "Dockerfile");
        int r = read_full_file_at(AT_FDCWD, path, 16 << 20, &text, &len);
        if (r < 0 && !o->dockerfile) {
                _cleanup_free_ char *alt = path_join(b->ctx, "Containerfile");
                if (alt && read_full_file_at(AT_FDCWD, alt, 16 << 20, &text, &len) >= 0) {
                        free(path);
                        path = TAKE_PTR(alt);
                        r = 0;
                }
        }
        if (r < 0)
                return kerr_kind(err, KERR_USAGE, r, "read the Dockerfile %s (give another with -f)", path);
        return dockerfile_parse(text, len, o->dockerfile ? o->dockerfile : "Dockerfile", ret, err);
}

/* Build-args nobody declared: docker warns, and so do we. */
static void warn_unused_args(Builder *b) {
        const char *k;
        json_t *v;
        _cleanup_free_ char *list = NULL;
        json_object_foreach(b->plan.build_args, k, v) {
                if (json_object_get(b->used_args, k) || json_object_get(b->plan.global_args, k) || plan_is_proxy_arg(k))
                        continue;
                char *n = NULL;
                if (asprintf(&n, "%s%s%s", list ? list : "", list ? " " : "", k) < 0)
                        return;
                free(list);
                list = n;
        }
        if (list)
                build_emit(b, BUILD_EVENT_WARNING, "[Warning] One or more build-args [%s] were not consumed", list);
}

static const char *lookup_global(void *ud, const char *name) {
        return json_string_value(json_object_get(ud, name));
}

/* An image the build names, in the store before a step runs: pulled from its registry when it is
 * missing, and with --pull always (once per build), as docker's classic builder does. */
static int need_image(Builder *b, const char *ref, char ***pulled, KError **err) {
        _cleanup_kerr_ KError *lerr = NULL;
        Image *img = NULL;
        if (b->o->pull && strv_contains(*pulled, ref))
                return 0;
        int r = b->o->pull ? -ENOENT : engine_image_lookup(b->e, ref, &img, &lerr);
        image_free(img);
        if (r != -ENOENT) {
                if (r < 0 && err && !*err)
                        *err = TAKE_PTR(lerr);
                return r;
        }
        _cleanup_kerr_ KError *perr = NULL;
        _cleanup_free_ char *id = NULL;
        r = engine_image_pull(b->e, ref, NULL, &id, NULL, &perr);
        if (r < 0) {
                const char *why = perr ? perr->msg : strerror(-r);
                if (b->o->pull)
                        return kerr_msg(err, perr ? perr->kind : KERR_GENERIC, r, "%s (--pull fetches every base image "
                                        "from its registry; without it the store's copy is used)", why);
                if (!lerr)
                        return kerr_msg(err, perr ? perr->kind : KERR_GENERIC, r, "%s", why);
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "%s (pulling it failed: %s)", lerr->msg, why);
        }
        build_emit(b, BUILD_EVENT_INFO, "Pulled %s: %s", ref, short_id(id));
        return strv_extend(pulled, ref) < 0 ? kerr(err, -ENOMEM, "pull") : 0;
}

/* Every image the build names (FROM, COPY --from) must be in the store before a step runs: a typo
 * fails at once, not after minutes of RUN steps. */
static int preflight(Builder *b, KError **err) {
        _cleanup_strv_free_ char **pulled = NULL;
        for (size_t s = 0; s <= b->plan.target; s++) {
                const PlanStage *ps = &b->plan.stages[s];
                int r = 0;
                if (ps->base_stage < 0 && !streq(ps->base, "scratch") && (r = need_image(b, ps->base, &pulled, err)) < 0)
                        return kerr_prefix(err, r, "%s:%u: FROM %s", b->plan.df->name, b->plan.df->v[ps->first].line, ps->base);
                for (size_t i = ps->first + 1; i < ps->end; i++) {
                        const DfInstr *in = &b->plan.df->v[i];
                        const char *from = in->kind == DF_COPY ? df_flag(in, "from", NULL) : NULL;
                        _cleanup_free_ char *v = NULL;
                        ssize_t stage;
                        if (!from || dockerfile_expand(from, b->plan.df->escape, lookup_global, b->plan.global_args, &v, NULL) < 0 ||
                            plan_resolve_from(&b->plan, s, v, &stage, NULL) < 0 || stage >= 0 || strchr(v, '$'))
                                continue;       /* stage args may still change it: checked at the step */
                        if ((r = need_image(b, v, &pulled, err)) < 0)
                                return kerr_prefix(err, r, "%s:%u: COPY --from=%s", b->plan.df->name, in->line, v);
                }
        }
        return 0;
}

int build_run(Engine *e, const BuildOptions *o, BuildProgress cb, void *userdata, char **ret_id, KError **err) {
        Builder b = { .e = e, .o = o, .cb = cb, .userdata = userdata, .used_args = json_object() };
        Dockerfile *df = NULL;
        (void) build_gc(e, NULL);
        build_interrupted = 0;
        int r = engine_images(e, &b.s, err);
        if (r >= 0)
                r = build_context_open(&b, err);
        if (r >= 0)
                r = load_dockerfile(&b, &df, err);
        if (r >= 0)
                r = build_plan(df, o->build_args, o->target, &b.plan, err);
        if (r >= 0 && !(b.stage_ids = calloc(b.plan.n_stages, sizeof(char *))))
                r = kerr(err, -ENOMEM, "build");
        if (r >= 0)
                r = build_network_check(&b, err);
        if (r >= 0)
                r = build_vm_check(&b, err);
        if (r >= 0)
                r = preflight(&b, err);
        bool signals = r >= 0 && !o->no_signals;
        if (signals)
                r = build_signals_install();
        for (size_t s = 0; r >= 0 && s <= b.plan.target; s++)
                r = build_stage(&b, s, err);
        if (signals)
                build_signals_restore();
        if (r >= 0)
                warn_unused_args(&b);
        if (r >= 0)
                build_emit(&b, BUILD_EVENT_INFO, "Successfully built %s", short_id(b.stage_ids[b.plan.target]));
        for (char *const *t = o->tags; r >= 0 && t && *t; t++) {
                r = image_tag(b.s, b.stage_ids[b.plan.target], *t, err);
                if (r >= 0)
                        build_emit(&b, BUILD_EVENT_INFO, "Successfully tagged %s", *t);
        }
        if (r >= 0 && ret_id && !(*ret_id = strdup(b.stage_ids[b.plan.target])))
                r = kerr(err, -ENOMEM, "build");
        for (size_t s = 0; b.stage_ids && s < b.plan.n_stages; s++)
                free(b.stage_ids[s]);
        free(b.stage_ids);
        build_plan_done(&b.plan);
        build_context_close(&b);
        json_decref(b.used_args);
        return r;
}
