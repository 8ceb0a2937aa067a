/* SPDX-License-Identifier: Apache-2.0 */
/* One thread per vCPU running KVM_RUN and dispatching its exits (api.rst §5 "The kvm_run
 * structure"). Pause and stop reach a running vCPU through immediate_exit plus a signal
 * (api.rst: KVM_CAP_IMMEDIATE_EXIT), so no request can slip between a state check and KVM_RUN. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "vm.h"

#define SIG_VCPU_KICK (SIGRTMIN + 0)

static const char *const exit_names[] = {
        [KVM_EXIT_UNKNOWN] = "unknown",
        [KVM_EXIT_EXCEPTION] = "exception",
        [KVM_EXIT_IO] = "io",
        [KVM_EXIT_HYPERCALL] = "hypercall",
        [KVM_EXIT_DEBUG] = "debug",
        [KVM_EXIT_HLT] = "hlt",
        [KVM_EXIT_MMIO] = "mmio",
        [KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
        [KVM_EXIT_SHUTDOWN] = "shutdown",
        [KVM_EXIT_FAIL_ENTRY] = "fail_entry",
        [KVM_EXIT_INTR] = "intr",
        [KVM_EXIT_SET_TPR] = "set_tpr",
        [KVM_EXIT_TPR_ACCESS] = "tpr_access",
        [KVM_EXIT_NMI] = "nmi",
        [KVM_EXIT_INTERNAL_ERROR] = "internal_error",
        [KVM_EXIT_SYSTEM_EVENT] = "system_event",
};

const char *vcpu_exit_name(unsigned reason) {
        if (reason < ELEMENTSOF(exit_names) && exit_names[reason])
                return exit_names[reason];
        return NULL;
}

int vcpu_create(Vm *vm, unsigned index, Vcpu *ret, KError **err) {
        *ret = (Vcpu) { .vm = vm, .index = index, .fd = -1 };
        ret->fd = ioctl(vm->kvm.vm_fd, KVM_CREATE_VCPU, (unsigned long) index);
        if (ret->fd < 0)
                return kerr_kind(err, KERR_HOST, -errno, "KVM_CREATE_VCPU %u", index);
        void *run = mmap(NULL, (size_t) vm->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, ret->fd, 0);
        if (run == MAP_FAILED) {
                int r = -errno;
                ret->fd = safe_close(ret->fd);
                return kerr(err, r, "mmap kvm_run of vCPU %u", index);
        }
        ret->run = run;
        return 0;
}

void vcpu_destroy(Vcpu *v) {
        if (v->run)
                munmap(v->run, (size_t) v->vm->kvm.vcpu_mmap_size);
        v->run = NULL;
        v->fd = safe_close(v->fd);
}

/* KVM_EXIT_IO: `count` accesses of `size` bytes each (string instructions batch them). */
static void vcpu_exit_io(Vcpu *v) {
        struct kvm_run *run = v->run;
        uint8_t *data = (uint8_t *) run + run->io.data_offset;
        bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
        for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
                if (!bus_dispatch(&v->vm->pio, run->io.port, data, run->io.size, is_write) && !is_write)
                        memset(data, 0xff, run->io.size);       /* nothing there: the bus floats high */
}

static void vcpu_exit_mmio(Vcpu *v) {
        struct kvm_run *run = v->run;
        uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : sizeof(run->mmio.data);
        if (!bus_dispatch(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write) &&
            !run->mmio.is_write)
                memset(run->mmio.data, 0xff, len);
}

static void vcpu_exit_system_event(Vcpu *v) {
        switch (v->run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
                vm_request_exit(v->vm, 0, "guest powered off");
                break;
        case KVM_SYSTEM_EVENT_RESET:
                vm_request_exit(v->vm, 0, "guest reset");
                break;
        case KVM_SYSTEM_EVENT_CRASH:
                vm_request_exit(v->vm, 1, "guest crashed (KVM_SYSTEM_EVENT_CRASH) on vCPU %u", v->index);
                break;
        default:
                vm_request_exit(v->vm, 1, "unexpected system event %u on vCPU %u", v->run->system_event.type,
                                v->index);
                break;
        }
}

static uint64_t vcpu_rip(Vcpu *v) {
        struct kvm_regs r;
        return ioctl(v->fd, KVM_GET_REGS, &r) < 0 ? 0 : r.rip;
}

/* Returns false when the vCPU must stop. */
static bool vcpu_handle_exit(Vcpu *v) {
        struct kvm_run *run = v->run;
        if (run->exit_reason < VM_EXIT_REASONS)
                v->exits[run->exit_reason]++;
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
                vcpu_exit_io(v);
                return true;
        case KVM_EXIT_MMIO:
                vcpu_exit_mmio(v);
                return true;
        case KVM_EXIT_INTR:
                return true;
        case KVM_EXIT_HLT:
                /* only without an in-kernel local APIC: the guest halted for good */
                vm_request_exit(v->vm, 0, "guest halted");
                return false;
        case KVM_EXIT_SHUTDOWN:
                vm_request_exit(v->vm, 1, "guest triple fault (KVM_EXIT_SHUTDOWN) on vCPU %u at rip 0x%llx",
                                v->index, (unsigned long long) vcpu_rip(v));
                return false;
        case KVM_EXIT_SYSTEM_EVENT:
                vcpu_exit_system_event(v);
                return false;
        case KVM_EXIT_FAIL_ENTRY:
                vm_request_exit(v->vm, 1, "vCPU %u: hardware refused to enter the guest (reason 0x%llx)", v->index,
                                (unsigned long long) run->fail_entry.hardware_entry_failure_reason);
                return false;
        case KVM_EXIT_INTERNAL_ERROR:
                vm_request_exit(v->vm, 1, "vCPU %u: KVM internal error, suberror %u (emulation failed?) at rip 0x%llx",
                                v->index, run->internal.suberror, (unsigned long long) vcpu_rip(v));
                return false;
        default:
                vm_request_exit(v->vm, 1, "vCPU %u: unhandled exit %u (%s)", v->index, run->exit_reason,
                                vcpu_exit_name(run->exit_reason) ?: "?");
                return false;
        }
}

/* Answer a halt probe (after a kick got us out of KVM_RUN): is this vCPU stopped for good? */
static void vcpu_probe_halt(Vcpu *v) {
        unsigned gen = __atomic_load_n(&v->vm->halt_gen, __ATOMIC_ACQUIRE);
        if (gen == v->probed_gen)
                return;
        v->probed_gen = gen;
        struct kvm_mp_state mp;
        struct kvm_regs regs;
        if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
                return;
        bool never_started = mp.mp_state == KVM_MP_STATE_UNINITIALIZED || mp.mp_state == KVM_MP_STATE_INIT_RECEIVED;
        bool halted_off = mp.mp_state == KVM_MP_STATE_HALTED && ioctl(v->fd, KVM_GET_REGS, &regs) == 0 &&
                          !(regs.rflags & 0x200);         /* RFLAGS.IF clear: only an NMI could wake it */
        if (!never_started && !halted_off)
                return;
        v->halted = halted_off;
        v->off_gen = gen;
        vm_halt_report(v->vm, v);
}

/* An I/O or MMIO exit is finished by the next KVM_RUN (the value of an IN lands in RAX then):
 * enter once with immediate_exit set, which completes it and returns at once, so a paused vCPU's
 * registers are whole for a snapshot (api.rst, "immediate_exit"). */
static void vcpu_complete_io(Vcpu *v) {
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        while (ioctl(v->fd, KVM_RUN, 0) == 0)
                if (!vcpu_handle_exit(v))
                        break;
        __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

/* Wait out a pause; returns false when the VM is stopping. Runs before every KVM_RUN: a running VM
 * is seen without the VM-wide lock (state is written atomically, under the lock, and a pause or
 * stop kicks every vCPU after writing it, so a vCPU that raced past this check leaves KVM_RUN at
 * once and looks again). */
static bool vcpu_may_run(Vcpu *v) {
        Vm *vm = v->vm;
        VmState st = __atomic_load_n(&vm->state, __ATOMIC_ACQUIRE);
        if (st == VM_RUNNING)
                return true;
        if (st == VM_PAUSED)
                vcpu_complete_io(v);
        bool counted = false;
        pthread_mutex_lock(&vm->lock);
        while (vm->state == VM_PAUSED) {
                if (!counted) {
                        vm->n_paused++;
                        counted = true;
                        pthread_cond_broadcast(&vm->cond);
                }
                pthread_cond_wait(&vm->cond, &vm->lock);
        }
        if (counted)
                vm->n_paused--;
        bool run = vm->state == VM_RUNNING;
        pthread_mutex_unlock(&vm->lock);
        return run;
}

static void *vcpu_thread(void *arg) {
        Vcpu *v = arg;
        sigset_t kick;
        sigemptyset(&kick);
        sigaddset(&kick, SIG_VCPU_KICK);
        pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
        pthread_mutex_lock(&v->vm->lock);
        v->vm->n_threads_ready++;
        pthread_cond_broadcast(&v->vm->cond);
        pthread_mutex_unlock(&v->vm->lock);
        while (vcpu_may_run(v)) {
                if (ioctl(v->fd, KVM_RUN, 0) < 0) {
                        if (errno == EINTR || errno == EAGAIN) {
                                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                                v->exits[KVM_EXIT_INTR]++;
                                vcpu_probe_halt(v);
                                continue;
                        }
                        vm_request_exit(v->vm, 1, "vCPU %u: KVM_RUN: %s", v->index, strerror(errno));
                        break;
                }
                if (!vcpu_handle_exit(v))
                        break;
        }
        return NULL;
}

static void vcpu_kick_handler(int sig) {
        (void) sig;
}

int vcpu_start(Vcpu *v, KError **err) {
        static bool handler_installed;
        if (!handler_installed) {
                struct sigaction sa = { .sa_handler = vcpu_kick_handler };      /* no SA_RESTART: KVM_RUN returns EINTR */
                sigemptyset(&sa.sa_mask);
                if (sigaction(SIG_VCPU_KICK, &sa, NULL) < 0)
                        return kerr(err, -errno, "sigaction for vCPU kicks");
                handler_installed = true;
        }
        int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
        if (r != 0)
                return kerr(err, -r, "start vCPU %u thread", v->index);
        v->started = true;
        return 0;
}

void vcpu_kick(Vcpu *v) {
        if (!v->started)
                return;
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        pthread_kill(v->thread, SIG_VCPU_KICK);
}
