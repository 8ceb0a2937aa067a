/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v2 device access control: linux.resources.devices compiled into an eBPF program
 * (BPF_PROG_TYPE_CGROUP_DEVICE) and attached to the container's cgroup. */
#pragma once

#include <linux/bpf.h>
#include <stddef.h>

#include "error.h"
#include "spec.h"

/* Pure: build the program. Rules are evaluated last to first and the first match decides,
 * which is exactly v1's devices.allow/deny semantics for a list applied in order; no match
 * means deny. Caller frees *ret. */
int cgroup_bpf_devices_build(const SpecDeviceRule *rules, size_t n, struct bpf_insn **ret, size_t *ret_n);

/* Load the program and attach it to the cgroup directory, replacing programs attached
 * before (an `update` with new device rules). */
int cgroup_bpf_devices_apply(const char *cgroup_dir, const SpecDeviceRule *rules, size_t n, KError **err);
