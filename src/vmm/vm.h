/* SPDX-License-Identifier: Apache-2.0 */
/* One virtual machine: KVM, memory, boot, vCPUs, devices, the event loop and control socket.
 * vm_create() applies a config in order and unwinds on failure; vm_run() runs it until the guest
 * powers off or reboots, a fatal exit, or a stop request, and returns the process exit status. */
#pragma once

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/cpu.h"
#include "bus.h"
#include "error.h"
#include "event-loop.h"
#include "guest-mem.h"
#include "hw/i8042.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "kvm.h"
#include "memory.h"
#include "state/state.h"
#include "vmm-config.h"
#include "vmm-host.h"

typedef struct Vm Vm;
typedef struct Control Control;
typedef struct PciBus PciBus;
typedef struct VirtioDev VirtioDev;

#define VM_EXIT_REASONS 64      /* KVM_EXIT_* values counted per vCPU */
#define VM_MAX_VIRTIO   (VMM_MAX_DISKS + 5)      /* disks, net, rng, balloon, console, agent console */

typedef struct Vcpu {
        Vm *vm;
        unsigned index;
        int fd;
        struct kvm_run *run;
        pthread_t thread;
        bool started;
        uint64_t exits[VM_EXIT_REASONS];        /* written by the vCPU thread only, read racily for stats */
        unsigned probed_gen;    /* last halt probe answered (see vm_halt_probe) */
        unsigned off_gen;       /* probe generation in which this vCPU was found stopped for good */
        bool halted;            /* ... and it was halted with interrupts off (not just never started) */
} Vcpu;

typedef enum VmState { VM_RUNNING, VM_PAUSED, VM_STOPPING } VmState;

struct Vm {
        const VmmConfig *cfg;
        Kvm kvm;
        MemLayout layout;
        MemBacking backing;
        GuestMem mem;
        Bus pio, mmio;
        VmmHost host;
        EventLoop *loop;
        Vcpu *vcpus;
        unsigned n_vcpus;
        int kernel_fd, initrd_fd;
        BzImage bzimage;
        BootPlan *boot;
        int console_fd;                 /* serial output (stdout or the log file) */
        int serial_in_fd;               /* serial input (stdin, --serial-in) or -1 */
        int vcon_in_fd, vcon_out_fd;    /* virtio console input / output, or -1 */
        int agent_fd;                   /* --agent-fd: the agent console's socket (both directions,
                                         * O_NONBLOCK, owned from vm_console_fds_open on), or -1 */
        Serial serial;
        I8042 i8042;
        Rtc rtc;
        PciBus *pci;
        VirtioDev *virtio[VM_MAX_VIRTIO];
        unsigned n_virtio;
        VirtioDev *balloon;             /* also in virtio[] */
        Control *control;
        unsigned n_devices_up;          /* entries of the device table initialized, for unwinding */

        pthread_mutex_t lock;           /* protects state (written atomically too: vCPUs read it
                                         * without the lock), n_paused, exit_* */
        pthread_cond_t cond;
        VmState state;
        unsigned n_paused;
        unsigned n_threads_ready;       /* vCPU threads past their libc start-up (see vm_run) */
        bool exit_requested;
        int exit_status;
        char exit_reason[256];
        struct timespec started;
        unsigned halt_gen;              /* bumped by the halt probe timer */
        int halt_timer_fd;
        struct MsrList *msrs;           /* MSRs a snapshot saves (KVM_GET_MSR_INDEX_LIST) */
        bool has_xsave;                 /* KVM_CAP_XSAVE: XSAVE and XCRs instead of the legacy FPU */
        uint32_t cpuid_crc;             /* digest of the CPUID given to the vCPUs (snapshots, migration) */
        uint8_t *restore_state;         /* --restore: the state stream, read and checked at setup */
        size_t restore_len;
        struct Migration *migration;    /* live migration, source side (migration.h), or NULL */
        uint64_t *mem_dirty;            /* mem.dirty while a migration runs */
        bool exit_report;               /* main prints exit_reason even for status 0 (migrated) */
};

int vm_create(const VmmConfig *cfg, Vm **ret, KError **err);
/* Start the vCPUs, confine the process (seccomp), run the event loop. Returns the exit status. */
int vm_run(Vm *vm, KError **err);
void vm_free(Vm *vm);

/* Thread-safe controls (the control socket calls these on the event-loop thread). */
void vm_request_exit(Vm *vm, int status, const char *fmt, ...) _printf_(3, 4);
/* Pause: returns once every vCPU has left KVM_RUN. */
int vm_pause(Vm *vm);
int vm_resume(Vm *vm);

/* A vCPU reports what the last halt probe found; when every vCPU is halted with interrupts off
 * (or was never started), the guest has powered itself off without ACPI: the VM ends with 0. */
void vm_halt_report(Vm *vm, Vcpu *v);

/* snapshot.c (docs/vm-snapshots.md) */
/* Learn what a snapshot of this host's vCPUs holds (MSR list, XSAVE); at setup, before seccomp. */
int vm_snapshot_prepare(Vm *vm, KError **err);
/* Write DIR/memory and DIR/state of the paused VM (-EBUSY, KERR_STATE, when it is not paused). */
int vm_snapshot(Vm *vm, const char *dir, KError **err);
/* --restore, before KVM: read and check DIR/state whole, and that DIR/memory fits --memory. */
int vm_restore_plan(Vm *vm, KError **err);
/* --restore: map DIR/memory as guest RAM (instead of allocating it), then, once vCPUs and devices
 * exist, load DIR/state into them. */
int vm_restore_memory(Vm *vm, KError **err);
int vm_restore_state(Vm *vm, KError **err);
/* The whole state stream of the paused VM (snapshots, migration) and its restore. */
int vm_state_save(Vm *vm, StateWriter *w, KError **err);
int vm_restore_stream(Vm *vm, const uint8_t *buf, size_t len, KError **err);

/* vcpu.c */
int vcpu_create(Vm *vm, unsigned index, Vcpu *ret, KError **err);
void vcpu_destroy(Vcpu *v);
int vcpu_start(Vcpu *v, KError **err);
/* Get the vCPU out of KVM_RUN soon (immediate_exit + a signal). */
void vcpu_kick(Vcpu *v);
/* Name of a KVM_EXIT_* value (for stats and messages). */
const char *vcpu_exit_name(unsigned reason);

/* console-fds.c: open the consoles' host fds (console_fd, serial_in_fd, vcon_*, agent_fd) per the config;
 * close them (NULL-safe per fd) at teardown. */
int vm_console_fds_open(Vm *vm, KError **err);
void vm_console_fds_close(Vm *vm);

/* devices.c: the ordered device table */
int vm_devices_init(Vm *vm, KError **err);
void vm_devices_exit(Vm *vm);

/* host.c: VmmHostOps on KVM + the event loop */
extern const VmmHostOps vm_host_ops;

/* seccomp.c: allow only what the run loop needs; kill the process on anything else. */
int vm_seccomp_install(KError **err);
