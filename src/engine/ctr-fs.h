/* SPDX-License-Identifier: Apache-2.0 */
/* A container's filesystem against its image: `diff` (what its writable layer changed) and `export`
 * (the whole merged tree as a tar). */
#pragma once

#include <jansson.h>

#include "engine.h"

/* docker's change kinds (the API's "Kind" numbers) */
typedef enum CtrChangeKind {
        CTR_CHANGE_MODIFIED = 0,
        CTR_CHANGE_ADDED = 1,
        CTR_CHANGE_DELETED = 2,
} CtrChangeKind;

/* Pure: the kind of one entry of the upper dir. An overlay whiteout (a 0:0 character device) is a
 * deletion; anything the image has at that path is a modification, else an addition. */
CtrChangeKind ctr_change_kind(bool whiteout, bool in_image);

/* The changes of container `ref` as [{"Path":"/etc/x","Kind":n}], sorted by path (docker's
 * /containers/{id}/changes). */
int ctr_diff(Engine *e, const char *ref, json_t **ret, KError **err);
/* Write the container's merged filesystem (image layers and its changes, not its volumes) as a tar
 * to `fd`. Reads through a read-only overlay in a private mount namespace: nothing stays mounted
 * if we die. */
int ctr_export(Engine *e, const char *ref, int fd, KError **err);
