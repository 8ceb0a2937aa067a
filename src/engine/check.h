/* SPDX-License-Identifier: Apache-2.0 */
/* Crash recovery: find and repair what a kill -9 of any kapsel process left behind. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

/* Called for each problem found: `what` says what it is, `id` names the container/volume/object,
 * `dry_run` whether it was left as it is. */
typedef void (*EngineCheckReport)(const char *what, const char *id, bool dry_run, void *userdata);

/* Check the whole root: rows whose monitor died (marked exited, resources released), rows without
 * a directory, directories and runtime state without a row, leftover mounts, cgroups, volume
 * directories, network objects of stopped containers, and (unless dry_run) unreferenced image
 * data. *ret_found: how many problems; *ret_freed: bytes of image data collected. */
int engine_check(Engine *e, bool dry_run, EngineCheckReport report, void *userdata, unsigned *ret_found,
                 uint64_t *ret_freed, KError **err);
