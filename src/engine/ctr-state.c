/* SPDX-License-Identifier: Apache-2.0 */
/* Pause, remove and rename with the checks and texts the CLI and kapseld share. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "ctr-ops.h"
#include "ctr-state.h"
#include "events.h"
#include "vm-ops.h"

bool ctr_is_live(const CtrRecord *rec) {
        return rec->state == CTR_RUNNING || rec->state == CTR_PAUSED || rec->state == CTR_RESTARTING;
}

static void set_state(CtrRecord *r, void *userdata) {
        r->state = *(CtrState *) userdata;
}

int ctr_pause(Engine *e, const CtrRecord *rec, bool pause, KError **err) {
        if (rec->state != (pause ? CTR_RUNNING : CTR_PAUSED))
                return kerr_msg(err, KERR_STATE, -EINVAL, "%s %s is %s, not %s",
                                rec->kind == CTR_KIND_VM ? "VM" : "container", rec->name,
                                ctr_state_to_string(rec->state), pause ? "running" : "paused");
        if (ctr_runs_vmm(rec))
                return vm_pause(e, rec, pause, err);
        int r = container_pause(e->runtime_root, rec->id, pause, err);
        CtrState s = pause ? CTR_PAUSED : CTR_RUNNING;
        if (r >= 0 && (r = ctr_modify(e, rec->id, set_state, &s, err)) >= 0)
                events_emit(e->root, "container", pause ? "pause" : "unpause", rec->id,
                            events_ctr_attrs(rec->image, rec->name, rec->config));
        return r;
}

int ctr_remove_checked(Engine *e, const CtrRecord *rec, bool force, KError **err) {
        if (ctr_is_live(rec)) {
                if (!force)
                        return kerr_msg(err, KERR_STATE, -EBUSY,
                                        "cannot remove running container %s: stop it first or use rm -f", rec->name);
                int r = ctr_stop(e, rec->id, 0, err);
                if (r < 0)
                        return r;
        }
        return ctr_remove(e, rec->id, err);
}

static void set_name(CtrRecord *r, void *userdata) {
        free(r->name);
        r->name = strdup(userdata);
}

int ctr_rename(Engine *e, const CtrRecord *rec, const char *name, KError **err) {
        if (!ctr_name_valid(name))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid container name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*",
                                name);
        int r = ctr_modify(e, rec->id, set_name, (void *) name, err);
        if (r >= 0) {
                json_t *attrs = events_ctr_attrs(rec->image, name, rec->config);
                if (attrs)
                        json_object_set_new(attrs, "oldName", json_string(rec->name));
                events_emit(e->root, "container", "rename", rec->id, attrs);
        }
        return r;
}
