/* SPDX-License-Identifier: Apache-2.0 */
/* `kapsel run --isolation=vm`: the monitor's payload that runs a container's process in a micro-VM
 * instead of namespaces. It strings together the guest pieces of vm-guest.h in their documented
 * order (kernel, cached initramfs, cached rootfs disk, per-instance upper disk, OCI spec -> guest
 * plan, volume disks, config disk) and plans kapsel-vmm's command line: the process's stdio on
 * the virtio console (the monitor's pipes, so logs and attach work as for containers), the guest's
 * ttyS0 into a FIFO the monitor reads for KAPSEL-EXIT/KAPSEL-ERROR, and a tap on the container's
 * network whose address the guest configures itself (guest config "network"). */
#pragma once

#include <stdbool.h>

#include "engine.h"
#include "monitor-vm.h"
#include "vm-guest.h"

typedef struct VmIsolation {
        VmGuestPlan plan;       /* its volumes are finished (copied back) after the run */
        int serial_fd;          /* the guest's ttyS0: a FIFO in the instance directory, opened O_RDWR */
        char line[512];
        size_t len;
        int exit_code;          /* from KAPSEL-EXIT, -1 until the guest reported one */
} VmIsolation;

#define VM_ISOLATION_INIT { .serial_fd = -1, .exit_code = -1 }

/* Is this container run with --isolation=vm (HostConfig.Isolation)? */
bool vm_isolation_enabled(const json_t *config);

/* Build or reuse everything the guest needs, attach the network, and plan kapsel-vmm into `p`
 * (spawned later with vm_payload_spawn). Fills the monitor's ends of the console pipes. */
int vm_isolation_prepare(Engine *e, const CtrRecord *rec, const ImagePlan *img, const char *dir, VmPayload *p,
                         VmIsolation *v, int *ret_in, int *ret_out, int *ret_err, KError **err);

/* Where a guest's KAPSEL-ERROR message goes (the monitor: the log's stderr stream and attach clients). */
typedef void (*VmIsolationEmit)(void *userdata, const char *text, size_t len);

/* Read what the guest wrote on ttyS0 (non-blocking); KAPSEL-EXIT sets v->exit_code, a KAPSEL-ERROR
 * line becomes "kapsel: <message>\n" through `emit`. Kernel messages are dropped. */
void vm_isolation_read_serial(VmIsolation *v, VmIsolationEmit emit, void *userdata);

/* After the run: copy read-write volume disks back, close the FIFO. Idempotent. */
void vm_isolation_finish(VmIsolation *v);
