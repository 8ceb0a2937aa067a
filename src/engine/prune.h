/* SPDX-License-Identifier: Apache-2.0 */
/* What `container prune`, `volume prune`, `image prune` and `system prune` remove, and how much
 * space that gives back. The selection is pure (prune_filter_*, prune_volume_wanted) so it is unit
 * tested; the CLI asks the user, then calls prune_containers / prune_volumes. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

/* docker's prune filters: label=KEY, label=KEY=VALUE, label!=KEY[=VALUE], until=TIMESTAMP. */
typedef struct PruneFilter {
        char **labels;          /* KEY or KEY=VALUE that must be present */
        char **not_labels;      /* KEY or KEY=VALUE that must be absent */
        int64_t until;          /* unix ns: only objects created before; 0 = no limit */
} PruneFilter;

/* Add one --filter value; a usage error names what is accepted. */
int prune_filter_add(PruneFilter *f, const char *spec, KError **err);
void prune_filter_done(PruneFilter *f);
/* Does an object with these labels (a JSON object of strings, or NULL) created at `created` (unix
 * ns) pass the filter? */
bool prune_filter_match(const PruneFilter *f, const json_t *labels, int64_t created);

/* The label docker puts on the volumes it creates for `-v /path` (anonymous volumes). */
#define VOLUME_ANONYMOUS_LABEL "com.docker.volume.anonymous"
/* Is an unused volume to be pruned? Without `all` only anonymous ones are. */
bool prune_volume_wanted(const json_t *labels, bool all);

/* Sum of the apparent sizes of the regular files and symlinks under `path` (hard links counted
 * once), as docker's size columns. A missing path is 0. */
int disk_usage(const char *path, uint64_t *ret, KError **err);

/* docker's human size: 4 significant digits, decimal units ("0B", "1.234kB", "12.3MB"). */
void format_human_size(uint64_t bytes, char buf[static 16]);

/* Remove stopped (exited or created) containers and micro-VMs that pass the filter. ret_ids (may be NULL): the
 * ids removed, NULL-terminated; ret_space: the bytes their writable layers held. */
int prune_containers(Engine *e, const PruneFilter *f, char ***ret_ids, uint64_t *ret_space, KError **err);
/* Remove volumes no container uses that pass the filter (only anonymous ones unless `all`). */
int prune_volumes(Engine *e, const PruneFilter *f, bool all, char ***ret_names, uint64_t *ret_space, KError **err);
/* Remove images without names (every image no container uses, with `all`), then the blobs and
 * layers no image needs; the count and the bytes freed. */
int prune_images(Engine *e, bool all, size_t *ret_removed, uint64_t *ret_space, KError **err);
