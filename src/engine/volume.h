/* SPDX-License-Identifier: Apache-2.0 */
/* Named volumes: directories under root/volumes/<name>/_data that outlive containers. A row in the
 * state store says the volume exists; the directory is made before the row (a crash leaves an
 * orphan directory that `system check` collects, never a row without its directory). */
#pragma once

#include <stdbool.h>

#include "engine.h"

bool volume_name_valid(const char *name);
/* Create `name` (NULL: a random 64-hex name), idempotent when `exist_ok`. Returns the name. */
int volume_create(Engine *e, const char *name, json_t *labels, bool exist_ok, char **ret_name, KError **err);
/* Names of containers whose -v uses the volume (NULL-terminated, maybe empty). */
int volume_users(Engine *e, const char *name, char ***ret, KError **err);
/* Remove; refuses while a container uses it unless force. */
int volume_remove(Engine *e, const char *name, bool force, KError **err);
/* root/volumes/<name>/_data */
char *volume_data_path(const Engine *e, const char *name);
/* Create every named volume a container's -v flags refer to. */
int volume_ensure_for(Engine *e, const json_t *config, KError **err);
