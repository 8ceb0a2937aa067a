/* SPDX-License-Identifier: Apache-2.0 */
/* Resource numbers and processes of a running instance, for `kapsel stats/top` and kapseld. */
#pragma once

#include <sys/types.h>

#include "cgroup.h"
#include "engine.h"

/* One sample: the container's cgroup, or for a micro-VM / --isolation=vm container kapsel-vmm's
 * numbers in the same fields (CPU time, resident memory against the guest's RAM, vCPUs as pids). */
int ctr_stats(Engine *e, const CtrRecord *rec, CgroupStats *ret, KError **err);
/* The host pids in a running container's cgroup (not for VMs: their processes are the guest's). */
int ctr_top_pids(const CtrRecord *rec, pid_t **ret, size_t *ret_n, KError **err);
