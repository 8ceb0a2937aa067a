/* SPDX-License-Identifier: Apache-2.0 */
/* A container's cgroup (/kapsel/<id>) read for stats and top. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctr-stats.h"
#include "vm-ops.h"

static int open_cgroup(const CtrRecord *r, Cgroup **ret, KError **err) {
        CgroupMode mode;
        _cleanup_free_ char *path = NULL;
        int rr = cgroup_detect("/sys/fs/cgroup", &mode, err);
        if (rr >= 0 && asprintf(&path, "/kapsel/%s", r->id) < 0)
                rr = -ENOMEM;
        return rr < 0 ? rr : cgroup_open("/sys/fs/cgroup", mode, path, ret, err);
}

int ctr_stats(Engine *e, const CtrRecord *rec, CgroupStats *ret, KError **err) {
        *ret = (CgroupStats) { 0 };
        if (ctr_runs_vmm(rec)) {
                VmStats v;
                int r = vm_stats(e, rec, &v, err);
                if (r < 0)
                        return r;
                *ret = (CgroupStats) { .cpu_usage_ns = v.cpu_ns, .memory_usage = v.rss_bytes, .memory_limit = v.guest_bytes,
                                       .pids_current = v.vcpus, .blkio_read_bytes = v.read_bytes,
                                       .blkio_write_bytes = v.write_bytes };
                return 0;
        }
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        int r = open_cgroup(rec, &cg, err);
        return r < 0 ? r : cgroup_stats(cg, ret, err);
}

int ctr_top_pids(const CtrRecord *rec, pid_t **ret, size_t *ret_n, KError **err) {
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        int r = open_cgroup(rec, &cg, err);
        return r < 0 ? r : cgroup_pids(cg, ret, ret_n, err);
}
