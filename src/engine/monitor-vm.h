/* SPDX-License-Identifier: Apache-2.0 */
/* The monitor's payload for a micro-VM: instead of creating a container through the runtime
 * core, it attaches a tap to the VM's network, plans kapsel-vmm's command line from the stored
 * configuration, and runs kapsel-vmm as its child with the serial console on pipes (so the log,
 * attach clients, exit status and restart logic of monitor.c apply unchanged). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "engine.h"
#include "vm-config.h"

#define VM_CONSOLE_TAIL 4096

typedef struct VmPayload {
        VmConfig cfg;
        char **argv;            /* kapsel-vmm's, planned by vm_payload_prepare */
        int child_fds[4];       /* kapsel-vmm's stdin, stdout, stderr and, for an --isolation=vm guest,
                                 * its --agent-fd (VM_AGENT_CHILD_FD) until it is spawned */
        /* the boot watchdog: armed by vm_payload_spawn, disarmed by the first sign of the guest */
        int boot_timer_fd;      /* a one-shot timerfd the monitor watches, or -1 */
        int boot_timeout;       /* seconds, 0: no limit */
        char *boot_ready;       /* `vm run --boot-ready`: the console text that means booted, or NULL */
        bool booted, boot_timed_out;
        char tail[VM_CONSOLE_TAIL];     /* the console's last bytes (shown when the boot times out) */
        size_t tail_len;
        char err_line[256];     /* kapsel-vmm's last line on stderr */
        size_t err_len;
        bool err_line_done;
        char error[512];        /* why kapsel-vmm ended when it was not the payload's doing: State.Error */
} VmPayload;

#define VM_PAYLOAD_INIT { .child_fds = { -1, -1, -1, -1 }, .boot_timer_fd = -1 }
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

/* The watchdog's limits from the instance's HostConfig (VmBootTimeout, VmBootReady; vm-config.h). */
int vm_payload_boot_limits(VmPayload *p, const json_t *config, KError **err);
/* Console output (a `vm run`'s serial port, an --isolation=vm guest's ttyS0) into the tail; with
 * `marks_boot` (a `vm run`'s console) the first output, or --boot-ready's text, is the boot. */
void vm_payload_console(VmPayload *p, const char *buf, size_t n, bool marks_boot);
/* kapsel-vmm's stderr: its last line is kept for State.Error. */
void vm_payload_stderr(VmPayload *p, const char *buf, size_t n);
/* The guest reached our init (KAPSEL-INIT): the watchdog is done. */
void vm_payload_booted(VmPayload *p);
/* The watchdog's timer fired (the monitor saw boot_timer_fd readable): true when the guest has not
 * booted, with what to tell the user in `msg` (the limit, then the console's last lines); the
 * monitor then kills kapsel-vmm. */
bool vm_payload_boot_expired(VmPayload *p, char *msg, size_t size);
/* The instance's exit code once kapsel-vmm (wait status `status`) is gone: an --isolation=vm
 * guest's reported code (`guest_code`, -1 none); else a kill is 128+signal (docker's 137 for
 * SIGKILL), the watchdog or a failure of kapsel-vmm is 125, and a guest that ended without
 * reporting its process's exit is 125 too; a `vm run` guest that powered off is 0. Fills p->error
 * with what happened when it was not the payload's own doing (a requested stop is not an error). */
int vm_payload_exit_code(VmPayload *p, int status, bool guest, int guest_code, bool stop_requested);
