/* SPDX-License-Identifier: Apache-2.0 */
/* Pull an image from its registry into the store: the CLI's `pull`, `run --pull`, the Docker API's
 * POST /images/create. */
#pragma once

#include "engine.h"
#include "registry.h"

/* Pull `ref` (as the user wrote it) into the store through a staging directory inside it.
 * *ret_id (optional): the image id; *ret_ref (optional): the normalized reference. */
int engine_image_pull(Engine *e, const char *ref, const RegistryOptions *o, char **ret_id, char **ret_ref,
                      KError **err);
/* Push the store's `image` (name, id or id prefix) as `ref` (as the user wrote it; often the same)
 * through a staging directory inside the store; emits the image push event. *ret_ref (optional):
 * the normalized reference pushed. */
int engine_image_push(Engine *e, const char *image, const char *ref, const RegistryOptions *o, char **ret_ref,
                      KError **err);
