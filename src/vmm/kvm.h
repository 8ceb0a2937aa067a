/* SPDX-License-Identifier: Apache-2.0 */
/* /dev/kvm and the VM file descriptor: open with clear messages, the required capabilities checked
 * from one table at start (kvmtool's habit), and the x86 machine pieces created in the kernel
 * (IOAPIC + PIC + local APICs, PIT, TSS). */
#pragma once

#include <stdbool.h>

#include "error.h"

typedef struct Kvm {
        int kvm_fd;
        int vm_fd;
        int vcpu_mmap_size;     /* size of each vCPU's struct kvm_run mapping */
        int max_vcpus;
} Kvm;

typedef struct KvmCap {
        int cap;
        const char *name;
        const char *why;
} KvmCap;

/* The capabilities kapsel-vmm cannot run without. */
extern const KvmCap kvm_required_caps[];
extern const unsigned kvm_n_required_caps;

/* Open `dev` (normally /dev/kvm), check the API version and every required capability. */
int kvm_open(const char *dev, Kvm *ret, KError **err);
/* Create the VM and its in-kernel irqchip, PIT and TSS region. */
int kvm_create_vm(Kvm *k, KError **err);
void kvm_close(Kvm *k);
