/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshots of micro-VMs (`kapsel vm snapshot|restore|clone`). A snapshot lives in its VM's
 * directory, containers/<id>/snapshots/<NAME>/:
 *
 *   state, memory       kapsel-vmm's (docs/vm-snapshots.md), written while the VM is paused
 *   disk-<i>.img        copies of the VM's writable disks, taken in the same pause
 *   snapshot.json       {"Name", "Created", "Memory", "Cpus", "Disks"}
 *
 * A restore puts the disk copies back and starts the VM with kapsel-vmm --restore; a clone is a
 * new VM with the same configuration and its own copies of the disks that resumes the snapshot,
 * its RAM mapped copy-on-write from the snapshot's memory file (shared by all clones).
 *
 * An --isolation=vm container's checkpoints (ctr-checkpoint.h) are the same snapshots in the same
 * place; their one writable disk is the container's upper disk (disk-1.img, the guest's vdb). */
#pragma once

#include <jansson.h>

#include "engine.h"

/* Pause (if running), snapshot, copy the disks, resume. The VM must be running or paused. */
int vm_snapshot_create(Engine *e, const CtrRecord *rec, const char *name, KError **err);
/* [{"Name", "Created", "Memory", "Cpus", "Disks", "SizeBytes"}], oldest first (a new reference). */
int vm_snapshot_list(const Engine *e, const CtrRecord *rec, json_t **ret, KError **err);
int vm_snapshot_remove(Engine *e, const CtrRecord *rec, const char *name, KError **err);
/* Resume a stopped VM from `name`: its writable disks go back to the snapshot's copies, then it
 * starts with kapsel-vmm --restore. */
int vm_snapshot_restore(Engine *e, const CtrRecord *rec, const char *name, KError **err);
/* A new VM `new_name` (or a generated name) from snapshot `name`, running. */
int vm_snapshot_clone(Engine *e, const CtrRecord *rec, const char *name, const char *new_name,
                      char ret_id[static 65], KError **err);

/* The same for any instance whose payload is kapsel-vmm (a VM, or an --isolation=vm container's
 * checkpoints: ctr-checkpoint.h), its messages in the words of its kind. The caller checks the kind. */
/* vm_snapshot_save pauses a running instance for the save, and resumes it unless `then_halt`:
 * then kapsel-vmm is ended while still paused (vm_halt_paused), so nothing the guest does after
 * the saved state (a shutdown handler releasing a lock, say) happens, as docker's checkpoint
 * (without --leave-running) ends the processes it dumped. */
int vm_snapshot_save(Engine *e, const CtrRecord *rec, const char *name, bool then_halt, KError **err);
int vm_snapshot_entries(const Engine *e, const CtrRecord *rec, json_t **ret, KError **err);
int vm_snapshot_delete(Engine *e, const CtrRecord *rec, const char *name, KError **err);
/* `attach_wait`: the payload starts when the first attach client asks (monitor_spawn), so
 * `start -a --checkpoint` sees all the output of the resumed guest. */
int vm_snapshot_resume(Engine *e, const CtrRecord *rec, const char *name, bool attach_wait, KError **err);

/* The guest's IPv4 address when snapshot `dir` was taken (checked dotted quad), or NULL: a start
 * from it asks its network for the same one, which the resumed guest still has. */
char *vm_snapshot_address(const char *dir);

/* The one-shot restore directory of a VM row's config ("Restore"), or NULL: the monitor passes it
 * as --restore. */
const char *vm_snapshot_restore_dir(const json_t *config);
