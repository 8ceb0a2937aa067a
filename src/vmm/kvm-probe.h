/* SPDX-License-Identifier: Apache-2.0 */
/* Can this host's KVM device boot a stock guest kernel? Asked before a micro-VM starts (by the
 * engine before it spawns kapsel-vmm, and by kapsel-vmm before it creates the VM), so a host whose
 * /dev/kvm cannot do it is refused with the reason instead of a guest that spins without output.
 *
 * Refused: no device; a PVM hypervisor (module kvm_pvm: its /dev/kvm runs only PVM-enabled guest
 * kernels); a KVM served by neither kvm_intel nor kvm_amd on a CPU without vmx/svm; a device that
 * does not answer KVM_GET_API_VERSION with the stable API. A path that is not a character device
 * is a test's stand-in: accepted here, refused by kvm_open. Compiled into the engine too (it only
 * needs libbasic). */
#pragma once

#include "error.h"

typedef struct KvmProbePaths {
        const char *device;     /* the KVM device, normally /dev/kvm */
        const char *modules;    /* the kernel's module directory, normally /sys/module */
        const char *cpuinfo;    /* normally /proc/cpuinfo */
} KvmProbePaths;

/* The checks above against `p`: 0, or a KERR_HOST error (-ENODEV, -EACCES, -ENOTSUP) that says why
 * and what to do. */
int kvm_probe_at(const KvmProbePaths *p, KError **err);

/* kvm_probe_at on this host: `device`, /sys/module ($KAPSEL_KVM_SYSFS, for tests only) and
 * /proc/cpuinfo. */
int kvm_probe(const char *device, KError **err);
