/* SPDX-License-Identifier: Apache-2.0 */
/* The instructions that change only the image config (ENV, ARG, LABEL, CMD, ENTRYPOINT, EXPOSE,
 * VOLUME, USER, WORKDIR's path, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER), one table
 * entry each. Keys follow the image-spec / docker config ("Env", "Cmd", "Healthcheck"...). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-internal.h"
#include "json-util.h"
#include "string-util.h"
#include "time-util.h"

typedef struct Ctx {
        Builder *b;
        Stage *st;
        const DfInstr *in;
        json_t *cc;
        KError **err;
} Ctx;

static int expand(Ctx *c, const char *s, char **ret) {
        return dockerfile_expand(s, c->b->plan.df->escape, build_lookup, c->st, ret, c->err);
}

static int bad(Ctx *c, const char *fmt, const char *what) {
        return kerr_msg(c->err, KERR_USAGE, -EINVAL, "%s%s", fmt, what ? what : "");
}

static void env_set(json_t *cc, const char *k, const char *v) {
        json_t *env = json_object_get(cc, "Env");
        if (!json_is_array(env))
                json_object_set_new(cc, "Env", env = json_array());
        char *kv = NULL;
        if (asprintf(&kv, "%s=%s", k, v) < 0)
                return;
        size_t l = strlen(k), i;
        json_t *e;
        json_array_foreach(env, i, e) {
                const char *s = json_string_value(e);
                if (s && strncmp(s, k, l) == 0 && s[l] == '=') {
                        json_array_set_new(env, i, json_string(kv));
                        free(kv);
                        return;
                }
        }
        json_array_append_new(env, json_string(kv));
        free(kv);
}

/* ENV/LABEL: every value is substituted with what was in scope before the instruction (docker:
 * "ENV a=1 b=$a" gives b the old a), then all are set. */
static int do_env(Ctx *c) {
        _cleanup_strv_free_ char **kv = NULL;
        for (size_t k = 0; k < c->in->n_args; k++) {
                _cleanup_free_ char *v = NULL;
                int r = expand(c, c->in->args[k], &v);
                if (r < 0 || strv_extend(&kv, v) < 0)
                        return r < 0 ? r : -ENOMEM;
        }
        for (char **p = kv; p && p[0] && p[1]; p += 2) {
                if (c->in->kind == DF_ENV) {
                        env_set(c->cc, p[0], p[1]);
                        continue;
                }
                json_t *l = json_object_get(c->cc, "Labels");
                if (!json_is_object(l))
                        json_object_set_new(c->cc, "Labels", l = json_object());
                json_object_set_new(l, p[0], json_string(p[1]));
        }
        return 0;
}

/* ARG: in scope from here; --build-arg wins, then the default, then a global ARG's value. */
static int do_arg(Ctx *c) {
        BuildPlan *p = &c->b->plan;
        for (size_t k = 0; k + 1 < c->in->n_args; k += 2) {
                const char *name = c->in->args[k];
                json_t *given = json_object_get(p->build_args, name);
                json_object_set_new(c->b->used_args, name, json_true());
                if (given) {
                        json_object_set(c->st->args, name, given);
                        continue;
                }
                if (c->in->arg_has_default[k / 2]) {
                        _cleanup_free_ char *v = NULL;
                        int r = expand(c, c->in->args[k + 1], &v);
                        if (r < 0)
                                return r;
                        json_object_set_new(c->st->args, name, json_string(v));
                        continue;
                }
                json_t *g = json_object_get(p->global_args, name);
                json_object_set(c->st->args, name, g ? g : json_null());
        }
        return 0;
}

static int shell_or_exec(Ctx *c, json_t **ret) {
        if (c->in->json)
                return (*ret = json_from_strv(c->in->args)) ? 0 : -ENOMEM;
        json_t *shell = json_object_get(c->cc, "Shell");
        json_t *a = json_is_array(shell) && json_array_size(shell) ? json_deep_copy(shell) : json_pack("[s,s]", "/bin/sh", "-c");
        if (!a)
                return -ENOMEM;
        json_array_append_new(a, json_string(c->in->args[0]));
        *ret = a;
        return 0;
}

static int do_cmd(Ctx *c) {
        json_t *a = NULL;
        if (c->in->kind == DF_ENTRYPOINT && !c->in->json && !*c->in->args[0])
                a = json_null();        /* ENTRYPOINT "" (shell form, empty): none */
        else if (shell_or_exec(c, &a) < 0)
                return -ENOMEM;
        if (c->in->kind == DF_CMD) {
                json_object_set_new(c->cc, "Cmd", a);
                c->st->cmd_set = true;
        } else {
                json_object_set_new(c->cc, "Entrypoint", a);
                if (!c->st->cmd_set)
                        json_object_set_new(c->cc, "Cmd", json_null());
        }
        return 0;
}

static int do_set(Ctx *c, json_t **ret_words) {
        _cleanup_strv_free_ char **words = NULL;
        for (size_t k = 0; k < c->in->n_args; k++) {
                _cleanup_strv_free_ char **w = NULL;
                int r = dockerfile_expand_words(c->in->args[k], c->b->plan.df->escape, build_lookup, c->st, &w, c->err);
                for (char **p = w; r >= 0 && p && *p; p++)
                        r = strv_extend(&words, *p);
                if (r < 0)
                        return r;
        }
        json_t *o = json_object();
        for (char **p = words; o && p && *p; p++) {
                _cleanup_free_ char *port = NULL;
                if (c->in->kind == DF_EXPOSE && !strchr(*p, '/') && asprintf(&port, "%s/tcp", *p) < 0)
                        return -ENOMEM;
                if (c->in->kind == DF_EXPOSE && !isdigit((unsigned char) **p)) {
                        json_decref(o);
                        return bad(c, "not a port: ", *p);
                }
                json_object_set_new(o, port ? port : *p, json_object());
        }
        *ret_words = o;
        return o ? 0 : -ENOMEM;
}

static int do_ports_volumes(Ctx *c) {
        json_t *add = NULL;
        int r = do_set(c, &add);
        if (r < 0)
                return r;
        const char *key = c->in->kind == DF_EXPOSE ? "ExposedPorts" : "Volumes";
        json_t *cur = json_object_get(c->cc, key);
        if (!json_is_object(cur))
                json_object_set_new(c->cc, key, cur = json_object());
        json_object_update(cur, add);
        json_decref(add);
        return 0;
}

static int do_string(Ctx *c) {
        _cleanup_free_ char *v = NULL;
        int r = expand(c, c->in->args[0], &v);
        if (r < 0)
                return r;
        switch (c->in->kind) {
        case DF_USER: json_object_set_new(c->cc, "User", json_string(v)); break;
        case DF_STOPSIGNAL: {
                int sig;
                if (parse_signal(v, &sig) < 0)
                        return bad(c, "unknown signal ", v);
                json_object_set_new(c->cc, "StopSignal", json_string(v));
                break;
        }
        default: {
                /* WORKDIR: relative to the current one, cleaned */
                const char *cur = json_string_value(json_object_get(c->cc, "WorkingDir"));
                _cleanup_free_ char *joined = NULL, *clean = NULL;
                if (asprintf(&joined, "%s/%s", v[0] == '/' ? "" : (cur && *cur ? cur : ""), v) < 0 ||
                    !(clean = dockerignore_clean(joined)))
                        return -ENOMEM;
                _cleanup_free_ char *abs = NULL;
                if (asprintf(&abs, "/%s", streq(clean, ".") ? "" : clean) < 0)
                        return -ENOMEM;
                json_object_set_new(c->cc, "WorkingDir", json_string(abs));
        }
        }
        return 0;
}

static int do_healthcheck(Ctx *c) {
        json_t *hc = json_object();
        if (!hc)
                return -ENOMEM;
        json_object_set_new(c->cc, "Healthcheck", hc);
        if (c->in->hc_none) {
                json_object_set_new(hc, "Test", json_pack("[s]", "NONE"));
                return 0;
        }
        json_t *test = c->in->json ? json_from_strv(c->in->args) : json_pack("[s]", c->in->args[0]);
        if (!test)
                return -ENOMEM;
        json_array_insert_new(test, 0, json_string(c->in->json ? "CMD" : "CMD-SHELL"));
        json_object_set_new(hc, "Test", test);
        static const struct { const char *flag, *key; } durations[] = {
                { "interval", "Interval" }, { "timeout", "Timeout" }, { "start-period", "StartPeriod" }, { "start-interval", "StartInterval" },
        };
        for (size_t i = 0; i < ELEMENTSOF(durations); i++) {
                const char *v = df_flag(c->in, durations[i].flag, NULL);
                int64_t ns;
                if (!v)
                        continue;
                if (parse_duration_ns(v, &ns) < 0)
                        return bad(c, "bad duration ", v);
                json_object_set_new(hc, durations[i].key, json_integer(ns));
        }
        const char *retries = df_flag(c->in, "retries", NULL);
        if (retries) {
                char *end;
                long n = strtol(retries, &end, 10);
                if (*end || n < 0)
                        return bad(c, "bad --retries ", retries);
                json_object_set_new(hc, "Retries", json_integer(n));
        }
        return 0;
}

static int do_misc(Ctx *c) {
        switch (c->in->kind) {
        case DF_SHELL: json_object_set_new(c->cc, "Shell", json_from_strv(c->in->args)); break;
        case DF_MAINTAINER: json_object_set_new(c->st->config, "author", json_string(c->in->args[0])); break;
        default: {
                /* ONBUILD: the trigger's text, run by the stages built FROM this image */
                const char *t = c->in->text + strlen("ONBUILD");
                while (*t == ' ' || *t == '\t')
                        t++;
                json_t *ob = json_object_get(c->cc, "OnBuild");
                if (!json_is_array(ob))
                        json_object_set_new(c->cc, "OnBuild", ob = json_array());
                json_array_append_new(ob, json_string(t));
        }
        }
        return 0;
}

static int (*const handlers[_DF_KIND_MAX])(Ctx *c) = {
        [DF_ENV] = do_env, [DF_LABEL] = do_env, [DF_ARG] = do_arg, [DF_CMD] = do_cmd, [DF_ENTRYPOINT] = do_cmd,
        [DF_EXPOSE] = do_ports_volumes, [DF_VOLUME] = do_ports_volumes, [DF_USER] = do_string,
        [DF_STOPSIGNAL] = do_string, [DF_WORKDIR] = do_string, [DF_HEALTHCHECK] = do_healthcheck,
        [DF_SHELL] = do_misc, [DF_MAINTAINER] = do_misc, [DF_ONBUILD] = do_misc,
};

/* The step's history text: docker's "#(nop) " form with the arguments after substitution. */
static char *describe(Ctx *c) {
        json_t *a = json_array();
        for (size_t k = 0; a && k < c->in->n_args; k++) {
                char *v = NULL;
                if (df_kind_expands(c->in->kind) && c->in->kind != DF_ARG &&
                    dockerfile_expand(c->in->args[k], c->b->plan.df->escape, build_lookup, c->st, &v, NULL) >= 0) {
                        json_array_append_new(a, json_string(v));
                        free(v);
                } else
                        json_array_append_new(a, json_string(c->in->args[k]));
        }
        _cleanup_free_ char *args = a ? json_dumps(a, JSON_COMPACT) : NULL, *flags = NULL;
        json_t *f = json_from_strv(c->in->flags);
        flags = f ? json_dumps(f, JSON_COMPACT) : NULL;
        json_decref(f);
        json_decref(a);
        char *s = NULL;
        if (!args || !flags ||
            asprintf(&s, "/bin/sh -c #(nop) %s %s%s%s", df_kind_name(c->in->kind), c->in->kind == DF_ONBUILD ? c->in->text : args,
                     c->in->flags[0] ? " " : "", c->in->flags[0] ? flags : "") < 0)
                return NULL;
        return s;
}

int config_apply(Builder *b, Stage *st, const DfInstr *in, char **ret_desc, KError **err) {
        Ctx c = { .b = b, .st = st, .in = in, .cc = build_cc(st), .err = err };
        if (!handlers[in->kind])
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s:%u: %s: not a config instruction", b->plan.df->name, in->line,
                                df_kind_name(in->kind));
        /* the description first: ENV's values after substitution with what was in scope before it */
        _cleanup_free_ char *desc = describe(&c);
        if (!desc)
                return kerr(err, -ENOMEM, "%s", in->text);
        int r = handlers[in->kind](&c);
        if (r < 0)
                return r == -ENOMEM ? kerr(err, r, "%s", in->text) : kerr_prefix(err, r, "%s:%u: %s", b->plan.df->name, in->line, df_kind_name(in->kind));
        /* ARG values are part of what a later step means: put them in the key */
        if (in->kind == DF_ARG) {
                _cleanup_free_ char *vals = json_dumps(st->args, JSON_COMPACT | JSON_SORT_KEYS);
                char *d = NULL;
                if (!vals || asprintf(&d, "%s %s", desc, vals) < 0)
                        return kerr(err, -ENOMEM, "%s", in->text);
                free(desc);
                desc = d;
        }
        *ret_desc = TAKE_PTR(desc);
        return 0;
}
