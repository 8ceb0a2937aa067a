/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "ctr-checkpoint.h"
#include "ctr-ops.h"
#include "events.h"
#include "string-util.h"
#include "vm-ops.h"
#include "vm-snapshot.h"

int ctr_checkpoint_check(const CtrRecord *rec, KError **err) {
        if (ctr_runs_vmm(rec))
                return 0;
        return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP, "container %s: checkpoints need --isolation=vm: kapsel has no "
                        "CRIU to save a plain container's processes. Run it with --isolation=vm to checkpoint it "
                        "(or stop and start it instead)", rec->name);
}

/* Is the bind "SRC:DST[:OPT,...]" read-only? */
static bool bind_readonly(const char *bind) {
        const char *dst = strchr(bind, ':');
        const char *o = dst ? strchr(dst + 1, ':') : NULL;
        for (; o; o = strchr(o, ','))
                if (startswith(++o, "ro") && (o[2] == ',' || o[2] == '\0'))
                        return true;
        return false;
}

/* A checkpoint holds the guest's memory and its upper disk, not its volumes: every start makes
 * their disks anew from the host's directories, under a guest that still has the old file system
 * mounted, and at its exit copies that back over the host's. Writable volumes are refused. */
static int check_volumes(const CtrRecord *rec, KError **err) {
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(json_object_get(rec->config, "HostConfig"), "Binds"), i, b) {
                const char *s = json_string_value(b);
                if (s && !bind_readonly(s))
                        return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP, "container %s: cannot checkpoint a container "
                                        "with the writable volume %s: a checkpoint does not hold a volume's "
                                        "contents; mount it read-only (:ro) or leave it out", rec->name, s);
        }
        return 0;
}

int ctr_checkpoint_create(Engine *e, const CtrRecord *rec, const char *name, bool leave_running, KError **err) {
        int r = ctr_checkpoint_check(rec, err);
        if (r < 0 || (r = check_volumes(rec, err)) < 0)
                return r;
        /* without --leave-running the guest is ended still paused, right after the save (the
         * checkpoint stays: the container can start from it again) */
        if ((r = vm_snapshot_save(e, rec, name, !leave_running, err)) < 0)
                return r;
        events_emit(e->root, "container", "checkpoint", rec->id, events_ctr_attrs(rec->image, rec->name, rec->config));
        if (!leave_running)
                events_emit(e->root, "container", "stop", rec->id, events_ctr_attrs(rec->image, rec->name, rec->config));
        return r;
}

int ctr_checkpoint_list(const Engine *e, const CtrRecord *rec, json_t **ret, KError **err) {
        int r = ctr_checkpoint_check(rec, err);
        return r < 0 ? r : vm_snapshot_entries(e, rec, ret, err);
}

int ctr_checkpoint_remove(Engine *e, const CtrRecord *rec, const char *name, KError **err) {
        int r = ctr_checkpoint_check(rec, err);
        return r < 0 ? r : vm_snapshot_delete(e, rec, name, err);
}

int ctr_checkpoint_start(Engine *e, const CtrRecord *rec, const char *name, bool attach_wait, KError **err) {
        int r = ctr_checkpoint_check(rec, err);
        return r < 0 ? r : vm_snapshot_resume(e, rec, name, attach_wait, err);
}
