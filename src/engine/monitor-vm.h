/* SPDX-License-Identifier: Apache-2.0 */
/* The monitor's payload for a micro-VM: instead of creating a container through the runtime
 * core, it attaches a tap to the VM's network, plans kapsel-vmm's command line from the stored
 * configuration, and runs kapsel-vmm as its child with the serial console on pipes (so the log,
 * attach clients, exit status and restart logic of monitor.c apply unchanged). */
#pragma once

#include <sys/types.h>

#include "engine.h"
#include "vm-config.h"

typedef struct VmPayload {
        VmConfig cfg;
        char **argv;            /* kapsel-vmm's, planned by vm_payload_prepare */
        int child_fds[4];       /* kapsel-vmm's stdin, stdout, stderr and, for an --isolation=vm guest,
                                 * its --agent-fd (VM_AGENT_CHILD_FD) until it is spawned */
} VmPayload;

#define VM_PAYLOAD_INIT { .child_fds = { -1, -1, -1, -1 } }
/* The fd number kapsel-vmm gets the guest agent's socket on. */
#define VM_AGENT_CHILD_FD 3

/* Network (tap) and plan; fills the monitor's ends of the console pipes. Undone by ctr_release
 * (the tap) and vm_payload_done. */
int vm_payload_prepare(Engine *e, const CtrRecord *rec, VmPayload *p, int *ret_in, int *ret_out, int *ret_err,
                       KError **err);
/* The console pipes: kapsel-vmm's ends kept in p->child_fds, ours returned. */
int vm_payload_pipes(VmPayload *p, int *ret_in, int *ret_out, int *ret_err, KError **err);
/* Fork and exec kapsel-vmm in the VM's directory `dir`; it dies with the monitor (PDEATHSIG). */
int vm_payload_spawn(VmPayload *p, const char *dir, pid_t *ret_pid, KError **err);
void vm_payload_done(VmPayload *p);
