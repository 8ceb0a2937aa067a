/* SPDX-License-Identifier: Apache-2.0 */
/* Stages, --target and ARG scoping (see plan.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build-plan.h"
#include "string-util.h"

static const char *const proxy_args[] = {
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
        "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
};

bool plan_is_proxy_arg(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(proxy_args); i++)
                if (streq(name, proxy_args[i]))
                        return true;
        return false;
}

void build_plan_done(BuildPlan *p) {
        for (size_t i = 0; i < p->n_stages; i++) {
                free(p->stages[i].name);
                free(p->stages[i].base);
        }
        free(p->stages);
        dockerfile_free(p->df);
        json_decref(p->global_args);
        json_decref(p->build_args);
        *p = (BuildPlan) {};
}

static const char *lookup_json(void *ud, const char *name) {
        return json_string_value(json_object_get(ud, name));
}

static int parse_build_args(char *const *args, json_t *out, KError **err) {
        for (char *const *a = args; a && *a; a++) {
                const char *eq = strchr(*a, '=');
                _cleanup_free_ char *k = eq ? strndup(*a, (size_t) (eq - *a)) : strdup(*a);
                if (!k)
                        return kerr(err, -ENOMEM, "--build-arg");
                if (!*k)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--build-arg '%s': expected NAME=VALUE or NAME", *a);
                const char *v = eq ? eq + 1 : getenv(k);
                if (v)
                        json_object_set_new(out, k, json_string(v));
        }
        return 0;
}

/* Global ARGs: the value from --build-arg, else the default. */
static int global_arg(BuildPlan *p, const DfInstr *in, KError **err) {
        for (size_t k = 0; k + 1 < in->n_args; k += 2) {
                const char *name = in->args[k];
                json_t *given = json_object_get(p->build_args, name);
                if (given) {
                        json_object_set(p->global_args, name, given);
                        continue;
                }
                if (!in->arg_has_default[k / 2]) {
                        json_object_set_new(p->global_args, name, json_null());
                        continue;
                }
                _cleanup_free_ char *v = NULL;
                int r = dockerfile_expand(in->args[k + 1], p->df->escape, lookup_json, p->global_args, &v, err);
                if (r < 0)
                        return kerr_prefix(err, r, "%s:%u: ARG", p->df->name, in->line);
                json_object_set_new(p->global_args, name, json_string(v));
        }
        return 0;
}

static ssize_t stage_by_name(const BuildPlan *p, const char *name, size_t limit) {
        for (size_t i = 0; i < limit; i++)
                if (p->stages[i].name && strcasecmp(p->stages[i].name, name) == 0)
                        return (ssize_t) i;
        return -1;
}

static int add_stage(BuildPlan *p, size_t idx, KError **err) {
        const DfInstr *in = &p->df->v[idx];
        PlanStage *v = realloc(p->stages, (p->n_stages + 1) * sizeof(PlanStage));
        if (!v)
                return kerr(err, -ENOMEM, "plan");
        p->stages = v;
        PlanStage *s = &v[p->n_stages];
        *s = (PlanStage) { .first = idx, .end = idx + 1, .base_stage = -1 };
        p->n_stages++;
        int r = dockerfile_expand(in->args[0], p->df->escape, lookup_json, p->global_args, &s->base, err);
        if (r < 0)
                return kerr_prefix(err, r, "%s:%u: FROM", p->df->name, in->line);
        if (!*s->base)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s:%u: FROM: '%s' names no image (is a build arg unset?)", p->df->name,
                                in->line, in->args[0]);
        if (in->n_args == 3) {
                if (!(s->name = strdup(in->args[2])))
                        return kerr(err, -ENOMEM, "plan");
                for (char *c = s->name; *c; c++)
                        *c = (char) tolower((unsigned char) *c);
                if (stage_by_name(p, s->name, p->n_stages - 1) >= 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "%s:%u: FROM: stage name '%s' is used twice", p->df->name,
                                        in->line, s->name);
        }
        s->base_stage = stage_by_name(p, s->base, p->n_stages - 1);
        return 0;
}

int plan_resolve_from(const BuildPlan *p, size_t cur, const char *from, ssize_t *ret_stage, KError **err) {
        const DfInstr *in = &p->df->v[p->stages[cur].first];
        char *end;
        long idx = strtol(from, &end, 10);
        if (*from && !*end) {
                if (idx < 0 || (size_t) idx >= cur)
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "--from=%s: stage %ld is not built before stage %zu (cycle or unknown stage)",
                                        from, idx, cur);
                *ret_stage = idx;
                return 0;
        }
        *ret_stage = stage_by_name(p, from, cur);
        if (*ret_stage < 0 && stage_by_name(p, from, p->n_stages) >= 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--from=%s in the stage starting at line %u: stage '%s' is not built before it (cycle)",
                                from, in->line, from);
        return 0;
}

/* Check every stage's references before anything runs. */
static int check_refs(BuildPlan *p, KError **err) {
        for (size_t s = 0; s < p->n_stages; s++) {
                PlanStage *st = &p->stages[s];
                ssize_t later = stage_by_name(p, st->base, p->n_stages);
                if (st->base_stage < 0 && later >= 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "%s:%u: FROM %s: stage '%s' is not built before it (cycle)",
                                        p->df->name, p->df->v[st->first].line, st->base, st->base);
                for (size_t i = st->first + 1; i < st->end; i++) {
                        const DfInstr *in = &p->df->v[i];
                        const char *from = in->kind == DF_COPY ? df_flag(in, "from", NULL) : NULL;
                        ssize_t dep;
                        _cleanup_free_ char *v = NULL;
                        if (!from)
                                continue;
                        int r = dockerfile_expand(from, p->df->escape, lookup_json, p->global_args, &v, err);
                        if (r >= 0 && !*v)
                                r = kerr_msg(err, KERR_USAGE, -EINVAL, "--from needs a stage or an image");
                        if (r >= 0)
                                r = plan_resolve_from(p, s, v, &dep, err);
                        if (r < 0)
                                return kerr_prefix(err, r, "%s:%u: COPY", p->df->name, in->line);
                }
        }
        return 0;
}

int build_plan(Dockerfile *df, char *const *build_args, const char *target, BuildPlan *ret, KError **err) {
        BuildPlan p = { .df = df, .global_args = json_object(), .build_args = json_object() };
        int r = p.global_args && p.build_args ? parse_build_args(build_args, p.build_args, err) : kerr(err, -ENOMEM, "plan");
        for (size_t i = 0; r >= 0 && i < df->n; i++) {
                const DfInstr *in = &df->v[i];
                if (in->kind == DF_FROM)
                        r = add_stage(&p, i, err);
                else if (p.n_stages > 0)
                        p.stages[p.n_stages - 1].end = i + 1;
                else if (in->kind == DF_ARG)
                        r = global_arg(&p, in, err);
                else
                        r = kerr_msg(err, KERR_USAGE, -EINVAL, "%s:%u: %s: only ARG may come before the first FROM", df->name,
                                     in->line, df_kind_name(in->kind));
        }
        if (r >= 0 && p.n_stages == 0)
                r = kerr_msg(err, KERR_USAGE, -EINVAL, "%s: no FROM instruction", df->name);
        if (r >= 0)
                r = check_refs(&p, err);
        p.target = p.n_stages ? p.n_stages - 1 : 0;
        if (r >= 0 && target) {
                ssize_t t = stage_by_name(&p, target, p.n_stages);
                if (t < 0)
                        r = kerr_msg(err, KERR_USAGE, -EINVAL, "--target %s: no stage of that name in %s", target, df->name);
                else
                        p.target = (size_t) t;
        }
        for (size_t s = 0; r >= 0 && s <= p.target; s++)
                p.n_steps += p.stages[s].end - p.stages[s].first;
        if (r < 0) {
                build_plan_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}
