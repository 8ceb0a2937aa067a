/* SPDX-License-Identifier: Apache-2.0 */
/* The build plan: a parsed Dockerfile cut into stages, the stage to stop at (--target), the
 * global ARGs (before the first FROM) with the command line's --build-arg applied, and each
 * stage's dependencies (FROM <stage>, COPY --from=<stage|index>) resolved. Pure: unknown stages,
 * references to a stage that is not built before (a cycle) and instructions before FROM are
 * refused here, before anything runs. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "dockerfile.h"
#include "error.h"

typedef struct PlanStage {
        size_t first, end;      /* instructions [first, end) of the Dockerfile; v[first] is the FROM */
        char *name;             /* "AS name" lowercased, or NULL */
        char *base;             /* FROM's image after substitution ("scratch" included) */
        ssize_t base_stage;     /* an earlier stage it starts from, or -1 */
} PlanStage;

typedef struct BuildPlan {
        Dockerfile *df;
        PlanStage *stages;
        size_t n_stages;
        size_t target;          /* the last stage built (the result) */
        json_t *global_args;    /* ARGs before the first FROM: name -> string or null */
        json_t *build_args;     /* --build-arg: name -> string */
        size_t n_steps;         /* instructions of stages 0..target: the M of "Step N/M" */
} BuildPlan;

/* The ARGs docker predefines: usable in RUN without an ARG line, kept out of the cache key. */
bool plan_is_proxy_arg(const char *name);

/* Take `df` (also on failure). `build_args`: "K=V" or "K" (value from getenv; unset: ignored). */
int build_plan(Dockerfile *df, char *const *build_args, const char *target, BuildPlan *ret, KError **err);
void build_plan_done(BuildPlan *p);

/* Resolve COPY --from's value for stage `cur`: an earlier stage's index in *ret_stage, or -1 and
 * the value is an image reference. A later (or the same) stage is a cycle: an error. */
int plan_resolve_from(const BuildPlan *p, size_t cur, const char *from, ssize_t *ret_stage, KError **err);
