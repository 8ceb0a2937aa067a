/* SPDX-License-Identifier: Apache-2.0 */
/* Create a container: the one entry point for `kapsel run/create` and the Docker API's
 * POST /containers/create. Both fill the same request: docker's {"Config": ..., "HostConfig": ...}
 * document, the image reference and an optional name. */
#pragma once

#include <jansson.h>

#include "engine.h"

typedef struct CtrCreateRequest {
        json_t *config;         /* {"Config": {...}, "HostConfig": {...}}: borrowed; ctr_create may add
                                 * defaults (isolation, image, the pulled image's id) to it */
        const char *image;      /* reference as the user gave it */
        const char *name;       /* NULL: a generated name */
        int pull;               /* CTR_PULL_*: when to fetch the image from its registry */
} CtrCreateRequest;

enum {
        CTR_PULL_MISSING = 0,   /* docker's default: only when the store does not have it */
        CTR_PULL_ALWAYS,
        CTR_PULL_NEVER,
};

/* Check HostConfig fields that every caller must respect (restart policy names, --rm with a
 * restart policy), with the CLI's texts. */
int ctr_create_validate(json_t *config, KError **err);

/* Validate the request (name, image, command, capabilities, limits, network, isolation), then
 * allocate the id, prepare the overlay and write the row. The directory is made before the row,
 * so a crash in between leaves only what `system check` collects. */
int ctr_create(Engine *e, const CtrCreateRequest *req, char ret_id[static 65], KError **err);
