/* SPDX-License-Identifier: Apache-2.0 */
/* --mount and the Docker API's HostConfig.Mounts: docker's {Type, Source, Target, ReadOnly,
 * TmpfsOptions} objects, turned into the Binds and Tmpfs entries the rest of the engine uses. */
#pragma once

#include <jansson.h>

#include "engine.h"

/* Parse one --mount value ("type=bind,source=/a,target=/b,readonly") into a Mounts object. */
int ctr_mount_parse(const char *arg, json_t **ret, KError **err);

/* Move HostConfig.Mounts into HostConfig.Binds / HostConfig.Tmpfs (an anonymous volume gets a
 * new volume name; volumes are created later with the other -v volumes, so a request that fails
 * validation leaves none). Idempotent: Mounts is removed once converted. */
int ctr_mounts_normalize(json_t *config, KError **err);
