/* SPDX-License-Identifier: Apache-2.0 */
/* Micro-VM operations. A VM is a row of kind CTR_KIND_VM in the same table as containers, with
 * the same directory (containers/<id>/: ctr.log, attach.sock, control.sock) and the same monitor,
 * whose payload is a kapsel-vmm child instead of a container. The generic verbs (start, stop, rm,
 * logs, inspect, ps) therefore work on VMs; the few that differ dispatch here on the kind. */
#pragma once

#include <stdbool.h>

#include "engine.h"
#include "vm-config.h"

/* The control socket's name inside the VM's directory (kapsel-vmm runs with that cwd, so the
 * path never exceeds sun_path however deep the root is). */
#define VM_CONTROL_SOCKET "control.sock"

/* The KVM device: $KAPSEL_KVM_DEVICE (tests only) or /dev/kvm. */
const char *vm_kvm_device(void);
/* kapsel-vmm: $KAPSEL_VMM, else next to this binary, else the installed path. Caller frees. */
char *vm_vmm_binary(void);
/* Is the instance's payload kapsel-vmm (a micro-VM, or a container run with --isolation=vm)? */
bool ctr_runs_vmm(const CtrRecord *r);
/* Can micro-VMs run here: the KVM device exists, is ours to use and boots stock kernels (no PVM
 * hypervisor, hardware virtualization behind it; kvm-probe.h)? A clear error when not. */
int vm_check_kvm(KError **err);
/* The host's RAM in bytes (0 when unknown). */
uint64_t vm_host_ram(void);

/* Check everything that can be checked now (kernel, initrd, disks, memory, network, KVM, the VMM
 * binary), then store the row and create the directory. Nothing is left behind on error. */
int vm_create(Engine *e, VmConfig *c, const char *name, char ret_id[static 65], KError **err);

/* Send one control request ("pause", "resume", "stop", "stats") to a running VM's kapsel-vmm;
 * *ret_reply (optional) gets the reply line. An {"ok":false} reply is an error. */
int vm_control(Engine *e, const CtrRecord *rec, const char *cmd, char **ret_reply, KError **err);
/* Same with a whole JSON request line (e.g. {"cmd":"snapshot","dir":...}), waiting up to timeout_s
 * seconds for the reply. */
int vm_control_line(Engine *e, const CtrRecord *rec, const char *request, int timeout_s, char **ret_reply,
                    KError **err);
/* Same, passing `fd` along with the request (SCM_RIGHTS): a migration's connection. */
int vm_control_line_fd(Engine *e, const CtrRecord *rec, const char *request, int fd, int timeout_s,
                       char **ret_reply, KError **err);

/* Stop: the control socket's "stop", then SIGKILL to kapsel-vmm after `timeout` seconds. An
 * --isolation=vm container: its stop signal to the guest's process (KAPSEL-SIGNAL), SIGKILL to the
 * process after `timeout`, and SIGKILL to kapsel-vmm only if the guest does not end. */
int vm_stop(Engine *e, const CtrRecord *rec, int timeout, KError **err);
/* End a VM (or --isolation=vm guest) that is paused, without letting it run again: the monitor is
 * told the stop was asked for (no restart policy), then kapsel-vmm is killed. */
int vm_halt_paused(Engine *e, const CtrRecord *rec, KError **err);
/* Signal kapsel-vmm, or an --isolation=vm container's process in the guest (a kill is not a stop:
 * the monitor records what it ends with). */
int vm_kill(Engine *e, const CtrRecord *rec, int sig, KError **err);
/* Pause or resume the vCPUs through the control socket and record the state. */
int vm_pause(Engine *e, const CtrRecord *rec, bool pause, KError **err);

/* What `kapsel stats` shows for a running VM (or --isolation=vm container): the guest's RAM and
 * vCPUs from kapsel-vmm's control socket ({"cmd":"stats"}); what it costs the host (CPU time,
 * resident memory, bytes read and written) from kapsel-vmm's /proc entries. */
typedef struct VmStats {
        uint64_t cpu_ns;                /* kapsel-vmm's user + system time (vCPU threads included) */
        uint64_t rss_bytes;             /* kapsel-vmm's resident memory: the guest RAM it touched */
        uint64_t guest_bytes;           /* the guest's RAM size */
        unsigned vcpus;
        uint64_t read_bytes, write_bytes;
} VmStats;
int vm_stats(Engine *e, const CtrRecord *rec, VmStats *ret, KError **err);
