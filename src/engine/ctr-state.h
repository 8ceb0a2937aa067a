/* SPDX-License-Identifier: Apache-2.0 */
/* State changes shared by the CLI verbs and kapseld: pause/unpause, remove with force, rename. */
#pragma once

#include <stdbool.h>

#include "engine.h"

/* Is the instance's process alive (running, paused or restarting)? */
bool ctr_is_live(const CtrRecord *rec);
/* Freeze or thaw a running container (or micro-VM): the state must be running (pause) or paused
 * (unpause), else a KERR_STATE error that says which. */
int ctr_pause(Engine *e, const CtrRecord *rec, bool pause, KError **err);
/* Remove a container; a live one only with `force` (stopped at once), else a KERR_STATE error. */
int ctr_remove_checked(Engine *e, const CtrRecord *rec, bool force, KError **err);
/* Rename after checking the new name. */
int ctr_rename(Engine *e, const CtrRecord *rec, const char *name, KError **err);
