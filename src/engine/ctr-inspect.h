/* SPDX-License-Identifier: Apache-2.0 */
/* How containers are shown: docker's inspect document and the rows of ps. */
#pragma once

#include <jansson.h>

#include "engine.h"

/* docker inspect's main fields: Id, Created, Path, Args, State{...}, Image, Name, RestartCount,
 * Driver, LogPath, Config, HostConfig, GraphDriver, Mounts. */
json_t *ctr_inspect_json(const Engine *e, const CtrRecord *r);
/* One ps row: ID, Names, Image, Command, CreatedAt, RunningFor, Status, State. */
json_t *ctr_ps_json(const CtrRecord *r, bool no_trunc);
/* "Up 3 minutes", "Exited (1) 2 seconds ago", "Created", "Paused" ... */
char *ctr_status_text(const CtrRecord *r);
/* "3 minutes" style duration. */
void human_duration(int64_t ns, char buf[static 32]);
