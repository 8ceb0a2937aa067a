/* SPDX-License-Identifier: Apache-2.0 */
/* Docker's checkpoint routes (/containers/{id}/checkpoints, start?checkpoint=) over the engine's
 * ctr-checkpoint.h, as `kapsel checkpoint` and `kapsel start --checkpoint`: a checkpoint of an
 * --isolation=vm container (or of a micro-VM) is a snapshot of the whole machine, which goes on from
 * where it was when it is started from it. kapsel has no CRIU, so a plain container has none: the
 * refusal says so and what to do instead. The web console's snapshot tab uses these routes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctr-checkpoint.h"
#include "ctr-ops.h"
#include "ctr-state.h"
#include "daemon.h"

/* docker's checkpoint directory (CheckpointDir, ?dir=, ?checkpoint-dir=): kapsel keeps checkpoints
 * with the container, so one given is refused by name (as `kapsel checkpoint --checkpoint-dir`),
 * never ignored: a checkpoint of the same name in the container's own would be used instead. */
static int refuse_dir(ApiReq *rq, const char *query, KError **err) {
        const char *body = rq->json ? json_string_value(json_object_get(rq->json, "CheckpointDir")) : NULL;
        const char *q = query ? api_query(rq, query) : NULL;
        if ((body && *body) || (q && *q))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--checkpoint-dir is not supported: checkpoints are kept in "
                                "the container's own directory (leave the option out)");
        return 0;
}

/* GET /containers/{id}/checkpoints: [{"Name", ...}] (docker's shape, with the snapshot's own fields). */
int api_ctr_checkpoint_list(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        json_t *rows = NULL;
        int r = refuse_dir(rq, "dir", err);
        if (r >= 0)
                r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0 || (r = ctr_checkpoint_list(rq->e, rec, &rows, err)) < 0)
                return r;
        return api_json(rs, 200, rows);
}

/* POST /containers/{id}/checkpoints {"CheckpointID": NAME, "Exit": bool}: 201; with Exit the
 * container stops after the checkpoint, as docker's does (docker's CLI sends Exit unless
 * --leave-running). */
int api_ctr_checkpoint_create(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        const char *name = json_string_value(json_object_get(rq->json, "CheckpointID"));
        if (!name || !*name)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "checkpoint: the body needs {\"CheckpointID\": NAME}");
        bool leave_running = !json_is_true(json_object_get(rq->json, "Exit"));
        int r = refuse_dir(rq, NULL, err);
        if (r >= 0)
                r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0 || (r = ctr_checkpoint_create(rq->e, rec, name, leave_running, err)) < 0)
                return r;
        return api_empty(rs, 201);
}

/* DELETE /containers/{id}/checkpoints/{name} */
int api_ctr_checkpoint_delete(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = refuse_dir(rq, "dir", err);
        if (r >= 0)
                r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0 || (r = ctr_checkpoint_remove(rq->e, rec, rq->params[1], err)) < 0)
                return r;
        return api_empty(rs, 204);
}

/* POST /containers/{id}/start?checkpoint=NAME: a stopped container resumes the checkpoint (no boot). */
int api_ctr_start_checkpoint(ApiReq *rq, const char *name, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = refuse_dir(rq, "checkpoint-dir", err);
        if (r >= 0)
                r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0 || (r = ctr_checkpoint_check(rec, err)) < 0)
                return r;
        if (ctr_is_live(rec))
                return kerr_msg(err, KERR_STATE, -EBUSY, "container %s is running: stop it before it starts from "
                                "checkpoint %s", rec->name, name);
        return (r = ctr_checkpoint_start(rq->e, rec, name, false, err)) < 0 ? r : api_empty(rs, 204);
}
