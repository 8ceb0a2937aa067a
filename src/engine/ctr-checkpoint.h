/* SPDX-License-Identifier: Apache-2.0 */
/* docker's checkpoint verbs (`kapsel checkpoint create|ls|rm`, `kapsel start --checkpoint`, and
 * kapseld's /containers/{id}/checkpoints routes) for containers run with --isolation=vm. Their
 * payload is a kapsel-vmm guest, so a checkpoint is a snapshot of the whole machine (vm-snapshot.h:
 * kapsel-vmm's state and memory, a copy of the container's upper disk) in the container's directory,
 * containers/<id>/snapshots/<NAME>/; starting from it resumes the guest where it was (its processes
 * go on, no boot). A micro-VM row (kind vm) is served the same way: its checkpoints are its
 * snapshots. kapsel has no CRIU: a plain container gets a clear refusal saying what to do. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "engine.h"

/* Is `rec` one whose state can be checkpointed (its payload is kapsel-vmm)? A KERR_USAGE error
 * (-EOPNOTSUPP) naming the container and --isolation=vm when not. */
int ctr_checkpoint_check(const CtrRecord *rec, KError **err);

/* Save the running (or paused) container's state as checkpoint `name`; then stop it, as docker
 * does, unless `leave_running`. Nothing is left behind on error. */
int ctr_checkpoint_create(Engine *e, const CtrRecord *rec, const char *name, bool leave_running, KError **err);

/* [{"Name", "Created", "Memory", "Cpus", "Disks", "SizeBytes"}], oldest first (a new reference). */
int ctr_checkpoint_list(const Engine *e, const CtrRecord *rec, json_t **ret, KError **err);

int ctr_checkpoint_remove(Engine *e, const CtrRecord *rec, const char *name, KError **err);

/* `start --checkpoint NAME`: a created or stopped container resumes checkpoint `name` (its upper
 * disk goes back to the checkpoint's copy). A running one is refused: stop it first. */
int ctr_checkpoint_start(Engine *e, const CtrRecord *rec, const char *name, bool attach_wait, KError **err);
