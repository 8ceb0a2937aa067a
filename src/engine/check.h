/* SPDX-License-Identifier: Apache-2.0 */
/* Crash recovery: find and repair what a kill -9 of any kapsel process left behind. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

typedef enum EngineCheckVerdict {
        ENGINE_CHECK_FIXED,
        ENGINE_CHECK_WOULD_FIX,         /* dry run: left as it is */
        ENGINE_CHECK_CANNOT_FIX,        /* the user must act: `what` says how */
} EngineCheckVerdict;

/* Called for each problem found: `what` says what it is, `id` names the container/volume/object. */
typedef void (*EngineCheckReport)(const char *what, const char *id, EngineCheckVerdict verdict, void *userdata);

typedef struct EngineCheckSummary {
        unsigned found;         /* problems fixed (or, in a dry run, that would be) */
        unsigned unsolved;      /* problems the check cannot repair */
        uint64_t freed;         /* bytes of unreferenced image data collected */
} EngineCheckSummary;

/* Check the whole root: rows whose monitor died (marked exited, resources released), rows without
 * a directory, containers whose image layers are gone (cannot fix), directories and runtime state
 * without a row (but those of a running `kapsel build` step, kbuild-<step id>), leftover mounts, cgroups, volume
 * directories, network objects of stopped containers, and (unless dry_run) unreferenced image
 * data. `ret` (may be NULL) gets the counts. */
int engine_check(Engine *e, bool dry_run, EngineCheckReport report, void *userdata, EngineCheckSummary *ret,
                 KError **err);
