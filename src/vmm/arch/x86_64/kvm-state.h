/* SPDX-License-Identifier: Apache-2.0 */
/* The KVM half of a snapshot on x86-64: each vCPU's registers and the VM's in-kernel devices, as
 * sections of the state stream (docs/vm-snapshots.md). Payloads are the kernel's own structs
 * (linux/kvm.h, the x86-64 ABI: fixed layout, little-endian), each checked for its exact size on
 * load; the MSR section is a u32 count followed by that many (u32 index, u32 pad, u64 value). */
#pragma once

#include <stdint.h>

#include "state/state.h"

/* Section ids (instance = vCPU index for the per-vCPU ones). */
enum {
        STATE_SEC_VCPU_REGS = STATE_SEC_VCPU,
        STATE_SEC_VCPU_SREGS,
        STATE_SEC_VCPU_XSAVE,
        STATE_SEC_VCPU_XCRS,
        STATE_SEC_VCPU_MSRS,
        STATE_SEC_VCPU_LAPIC,
        STATE_SEC_VCPU_EVENTS,
        STATE_SEC_VCPU_DEBUGREGS,
        STATE_SEC_VCPU_MP_STATE,
        STATE_SEC_VCPU_FPU,             /* instead of XSAVE on a host without KVM_CAP_XSAVE */
};

#define KVM_STATE_MAX_MSRS 512

/* The MSRs to save: KVM_GET_MSR_INDEX_LIST, at most KVM_STATE_MAX_MSRS. */
typedef struct MsrList {
        uint32_t n;
        uint32_t index[KVM_STATE_MAX_MSRS];
} MsrList;

int kvm_state_msr_list(int kvm_fd, MsrList *ret, KError **err);

/* Save vCPU `index` (paused, out of KVM_RUN). MSRs the vCPU refuses to read are left out. */
int kvm_vcpu_save(int vcpu_fd, unsigned index, const MsrList *msrs, bool has_xsave, StateWriter *w, KError **err);
/* Restore it, in the order KVM needs: special registers before general ones (the mode decides
 * how RIP/RSP are taken), FPU/XSAVE and XCRs, the local APIC before the MSRs (TSC deadline) and
 * before pending events, the MP state last but one, debug registers. */
int kvm_vcpu_load(int vcpu_fd, unsigned index, bool has_xsave, StateReader *r, KError **err);

/* The VM-wide in-kernel state: PIC master and slave, IOAPIC, PIT, kvmclock. */
int kvm_vm_save(int vm_fd, StateWriter *w, KError **err);
int kvm_vm_load(int vm_fd, StateReader *r, KError **err);
