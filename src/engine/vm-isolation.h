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
#include <stdint.h>

#include "engine.h"
#include "monitor-vm.h"
#include "vm-guest.h"

typedef struct VmIsolation {
        VmGuestPlan plan;       /* its volumes are finished (copied back) after the run */
        int serial_fd;          /* the guest's ttyS0: a FIFO in the instance directory, opened O_RDWR */
        int signal_fd;          /* ttyS0's input (VM_ISOLATION_SIGNAL_FIFO), held O_RDWR so writers
                                 * (kapsel stop/kill) never block and kapsel-vmm never sees EOF */
        char line[512];
        size_t len;
        int exit_code;          /* from KAPSEL-EXIT, -1 until the guest reported one */
        const char *dir;        /* the instance directory (borrowed): where the times are written */
        int agent_fd;           /* the monitor's end of the guest agent channel (hvc1), until the
                                 * monitor's exec relay takes it */
        uint64_t spawned_ms, init_ms, started_ms;       /* CLOCK_MONOTONIC; 0 = not yet */
        VmPayload *payload;     /* (borrowed, set by vm_isolation_prepare) its boot watchdog sees ttyS0 */
} VmIsolation;

#define VM_ISOLATION_INIT { .serial_fd = -1, .signal_fd = -1, .exit_code = -1, .agent_fd = -1 }

/* The FIFO in the instance directory that kapsel-vmm reads as the guest's ttyS0 input. */
#define VM_ISOLATION_SIGNAL_FIFO "signal.fifo"
/* The startup times the monitor records (inspect: State.VmBootMs, State.VmStartMs). */
#define VM_ISOLATION_TIMES "vm-times.json"
/* The container's writable disk in its instance directory, and its index in the guest's disk order
 * (vda rootfs, vdb upper, vdc config, then volumes): a checkpoint keeps a copy of it. */
#define VM_ISOLATION_UPPER_DISK "upper.ext4"
#define VM_ISOLATION_UPPER_INDEX 1
/* A build step (`kapsel build --isolation=vm`, set only by src/build/build-run-vm.c): HostConfig
 * KapselBuildChanges true gives the guest one more raw disk, VM_ISOLATION_CHANGES_DISK in the
 * instance directory (sparse, VM_ISOLATION_CHANGES_SIZE), after the volumes, on which guest init
 * leaves the step's changes as a layer tar (vm-guest.h "changes"). */
#define VM_ISOLATION_CHANGES_KEY "KapselBuildChanges"
#define VM_ISOLATION_CHANGES_DISK "changes.tar"
/* the upper disk's content as a tar: its data plus at most a few headers per inode fit twice over */
#define VM_ISOLATION_CHANGES_SIZE (2 * VM_GUEST_UPPER_DEFAULT_SIZE)
/* The least --memory a guest gets (a stock kernel plus an initramfs of modules needs about this). */
#define VM_ISOLATION_MIN_MEMORY (128ULL << 20)

/* Is this container run with --isolation=vm (HostConfig.Isolation)? */
bool vm_isolation_enabled(const json_t *config);

/* The label that makes --isolation=vm the default for containers of an image or on a network:
 * io.kapsel.isolation=vm (or =container). */
#define VM_ISOLATION_LABEL "io.kapsel.isolation"

/* Pure: the isolation a container gets when `run` was not given --isolation: its network's label
 * first, then its image's (either may be NULL: a JSON object of labels). Sets *ret to "vm",
 * "container" or NULL (no default: a container). A label with another value is a KERR_USAGE error
 * naming `what_net` / `what_image`. */
int vm_isolation_pick(const json_t *net_labels, const char *what_net, const json_t *image_labels,
                      const char *what_image, const char **ret, KError **err);

/* At create: without an explicit HostConfig.Isolation, apply the network's or the image's default
 * (vm_isolation_pick) into `config`. */
int vm_isolation_apply_default(Engine *e, json_t *config, const json_t *image_config_json, const char *image,
                               KError **err);

/* The guest's RAM (bytes) and vCPUs for a container's configuration (--memory, --cpus). */
void vm_isolation_guest_size(const json_t *config, uint64_t *ret_memory, unsigned *ret_cpus);

/* Check the flags that differ for a VM at create time: --memory at least VM_ISOLATION_MIN_MEMORY and
 * at most the host's RAM; no --network host or container:NAME; a guest kernel (HostConfig.VmKernel
 * from --kernel, else the newest /boot/vmlinuz-*) that exists and is named vmlinuz-<version>. */
int vm_isolation_check(const json_t *config, KError **err);

/* Build or reuse everything the guest needs, attach the network, and plan kapsel-vmm into `p`
 * (spawned later with vm_payload_spawn). Fills the monitor's ends of the console pipes. A row with
 * a one-shot restore directory (vm_snapshot_restore_dir: `start --checkpoint`) resumes it instead
 * of booting: kapsel-vmm gets --restore and the boot watchdog is off (a resumed guest's init does
 * not announce itself again). */
int vm_isolation_prepare(Engine *e, const CtrRecord *rec, const ImagePlan *img, const char *dir, VmPayload *p,
                         VmIsolation *v, int *ret_in, int *ret_out, int *ret_err, KError **err);

/* Where a guest's KAPSEL-ERROR message goes (the monitor: the log's stderr stream and attach clients). */
typedef void (*VmIsolationEmit)(void *userdata, const char *text, size_t len);

/* Read what the guest wrote on ttyS0 (non-blocking); KAPSEL-EXIT sets v->exit_code, a KAPSEL-ERROR
 * line becomes "kapsel: <message>\n" through `emit`. Kernel messages are dropped. */
void vm_isolation_read_serial(VmIsolation *v, VmIsolationEmit emit, void *userdata);

/* kapsel-vmm was just spawned: the boot clock starts. */
void vm_isolation_spawned(VmIsolation *v);

/* Ask guest init, through the instance's signal FIFO, to send `sig` to the process (KAPSEL-SIGNAL).
 * Fails (KERR_STATE) when no monitor holds the FIFO open, i.e. the instance is not running. */
int vm_isolation_signal(const char *dir, const char *name, int sig, KError **err);

/* `kapsel exec` into the guest: the EXEC request (vm-agent.h) for `args`, with `env` ("K=V" added to
 * the container's), `cwd` and `user` (a name or uid[:gid], resolved against the image's /etc/passwd
 * and /etc/group: the guest has no NSS) when given. Caller frees the JSON text. */
typedef struct VmExecInput {
        char *const *args, *const *env;
        const char *cwd, *user;
        bool tty, detach;
} VmExecInput;
int vm_isolation_exec_request(const Engine *e, const CtrRecord *rec, const VmExecInput *in, char **ret, KError **err);

/* The recorded startup times as {"VmBootMs", "VmStartMs"} (missing ones absent); NULL if none. */
json_t *vm_isolation_times(const char *dir);

/* After the run: copy read-write volume disks back (a failure goes to `emit`, when given, as
 * "kapsel: <error>\n"), close the FIFOs. Idempotent. */
void vm_isolation_finish(VmIsolation *v, VmIsolationEmit emit, void *userdata);
