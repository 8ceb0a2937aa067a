/* SPDX-License-Identifier: Apache-2.0 */
/* x86-64 vCPU state at boot: CPUID (KVM's supported set, filtered per vCPU), boot MSRs, FPU,
 * local APIC LINT0/LINT1, and for the boot vCPU the registers of the 64-bit boot protocol entry. */
#pragma once

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define CPUID_MAX_ENTRIES 256

typedef struct CpuidTable {
        struct kvm_cpuid2 hdr;
        struct kvm_cpuid_entry2 entries[CPUID_MAX_ENTRIES];
} CpuidTable;

/* KVM_GET_SUPPORTED_CPUID. */
int cpuid_get_supported(int kvm_fd, CpuidTable *ret, KError **err);
/* Adapt a copy of the supported set for vCPU `index` of `n_cpus` (pure): the hypervisor bit, the
 * initial APIC id in leaf 1 and the x2APIC ids and topology in leaves 0xb/0x1f (one core per vCPU). */
void cpuid_for_vcpu(CpuidTable *t, unsigned index, unsigned n_cpus);

/* Everything a vCPU needs before its first KVM_RUN. Secondary vCPUs keep their reset state and
 * wait for the guest's INIT/SIPI; the boot vCPU gets the 64-bit entry (rip = entry, rsi = zero page). */
int cpu_setup(int vcpu_fd, const CpuidTable *supported, unsigned index, unsigned n_cpus, uint64_t entry,
              KError **err);
