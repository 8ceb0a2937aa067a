/* SPDX-License-Identifier: Apache-2.0 */
/* Docker's checkpoint routes (/containers/{id}/checkpoints, start?checkpoint=) over the engine's
 * micro-VM snapshots: a checkpoint of a VM is a snapshot of the whole machine, which goes on from
 * where it was when it is started from it. kapsel has no CRIU, so a plain container has none: the
 * refusal says so and what to do instead. The web console's snapshot tab uses these routes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctr-ops.h"
#include "ctr-state.h"
#include "daemon.h"
#include "vm-snapshot.h"

static int find_vm(ApiReq *rq, CtrRecord **ret, KError **err) {
        int r = api_ctr_find(rq, rq->params[0], ret, err);
        if (r < 0)
                return r;
        if ((*ret)->kind != CTR_KIND_VM)
                return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP, "container %s: checkpoints are snapshots of micro-VMs, and "
                                "kapsel cannot checkpoint a container's processes (no CRIU): stop and start it again instead",
                                (*ret)->name);
        return 0;
}

/* GET /containers/{id}/checkpoints: [{"Name", ...}] (docker's shape, with the snapshot's own fields). */
int api_ctr_checkpoint_list(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        json_t *rows = NULL;
        int r = find_vm(rq, &rec, err);
        if (r < 0 || (r = vm_snapshot_list(rq->e, rec, &rows, err)) < 0)
                return r;
        return api_json(rs, 200, rows);
}

/* POST /containers/{id}/checkpoints {"CheckpointID": NAME, "Exit": bool}: 201; with Exit the VM
 * stops after the snapshot, as docker's container does. */
int api_ctr_checkpoint_create(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        const char *name = json_string_value(json_object_get(rq->json, "CheckpointID"));
        if (!name || !*name)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "checkpoint: the body needs {\"CheckpointID\": NAME}");
        int r = find_vm(rq, &rec, err);
        if (r < 0 || (r = vm_snapshot_create(rq->e, rec, name, err)) < 0)
                return r;
        if (json_is_true(json_object_get(rq->json, "Exit")) && (r = ctr_stop(rq->e, rec->id, 10, err)) < 0)
                return r;
        return api_empty(rs, 201);
}

/* DELETE /containers/{id}/checkpoints/{name} */
int api_ctr_checkpoint_delete(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = find_vm(rq, &rec, err);
        if (r < 0 || (r = vm_snapshot_remove(rq->e, rec, rq->params[1], err)) < 0)
                return r;
        return api_empty(rs, 204);
}

/* POST /containers/{id}/start?checkpoint=NAME: a stopped VM resumes the snapshot (no boot). */
int api_ctr_start_checkpoint(ApiReq *rq, const char *name, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = find_vm(rq, &rec, err);
        if (r < 0)
                return r;
        if (ctr_is_live(rec))
                return kerr_msg(err, KERR_STATE, -EBUSY, "VM %s is running: stop it before it starts from checkpoint %s",
                                rec->name, name);
        return (r = vm_snapshot_restore(rq->e, rec, name, err)) < 0 ? r : api_empty(rs, 204);
}
