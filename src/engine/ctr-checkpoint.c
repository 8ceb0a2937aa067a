/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>

#include "ctr-checkpoint.h"
#include "ctr-ops.h"
#include "events.h"
#include "vm-ops.h"
#include "vm-snapshot.h"

/* docker waits this long for the container to stop after `checkpoint create` (without --leave-running) */
#define CHECKPOINT_STOP_TIMEOUT_S 10

int ctr_checkpoint_check(const CtrRecord *rec, KError **err) {
        if (ctr_runs_vmm(rec))
                return 0;
        return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP, "container %s: checkpoints need --isolation=vm: kapsel has no "
                        "CRIU to save a plain container's processes. Run it with --isolation=vm to checkpoint it "
                        "(or stop and start it instead)", rec->name);
}

int ctr_checkpoint_create(Engine *e, const CtrRecord *rec, const char *name, bool leave_running, KError **err) {
        int r = ctr_checkpoint_check(rec, err);
        if (r < 0 || (r = vm_snapshot_save(e, rec, name, err)) < 0)
                return r;
        events_emit(e->root, "container", "checkpoint", rec->id, events_ctr_attrs(rec->image, rec->name, rec->config));
        if (leave_running)
                return 0;
        /* the checkpoint stays: the container can start from it again */
        r = ctr_stop(e, rec->id, CHECKPOINT_STOP_TIMEOUT_S, err);
        return r < 0 ? kerr_prefix(err, r, "checkpoint %s was saved, but container %s did not stop", name, rec->name) : 0;
}

int ctr_checkpoint_list(const Engine *e, const CtrRecord *rec, json_t **ret, KError **err) {
        int r = ctr_checkpoint_check(rec, err);
        return r < 0 ? r : vm_snapshot_entries(e, rec, ret, err);
}

int ctr_checkpoint_remove(Engine *e, const CtrRecord *rec, const char *name, KError **err) {
        int r = ctr_checkpoint_check(rec, err);
        return r < 0 ? r : vm_snapshot_delete(e, rec, name, err);
}

int ctr_checkpoint_start(Engine *e, const CtrRecord *rec, const char *name, KError **err) {
        int r = ctr_checkpoint_check(rec, err);
        return r < 0 ? r : vm_snapshot_resume(e, rec, name, err);
}
