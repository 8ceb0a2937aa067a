/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "arch/x86_64/mptable.h"
#include "control.h"
#include "migration.h"
#include "vm.h"
#ifdef VMM_HAVE_VIRTIO
#include "virtio/virtio-devices.h"
#endif

void vm_request_exit(Vm *vm, int status, const char *fmt, ...) {
        pthread_mutex_lock(&vm->lock);
        bool first = !vm->exit_requested;
        if (first) {
                vm->exit_requested = true;
                vm->exit_status = status;
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
                va_end(ap);
                __atomic_store_n(&vm->state, VM_STOPPING, __ATOMIC_RELEASE);
                pthread_cond_broadcast(&vm->cond);
        }
        pthread_mutex_unlock(&vm->lock);
        if (!first)
                return;
        for (unsigned i = 0; i < vm->n_vcpus; i++)
                vcpu_kick(&vm->vcpus[i]);
        if (vm->loop)
                event_loop_quit(vm->loop);
}

int vm_pause(Vm *vm) {
        pthread_mutex_lock(&vm->lock);
        if (vm->state != VM_RUNNING) {
                int r = vm->state == VM_PAUSED ? 0 : -ESHUTDOWN;
                pthread_mutex_unlock(&vm->lock);
                return r;
        }
        __atomic_store_n(&vm->state, VM_PAUSED, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&vm->lock);
        for (unsigned i = 0; i < vm->n_vcpus; i++)
                vcpu_kick(&vm->vcpus[i]);
        pthread_mutex_lock(&vm->lock);
        while (vm->state == VM_PAUSED && vm->n_paused < vm->n_vcpus)
                pthread_cond_wait(&vm->cond, &vm->lock);
        int r = vm->state == VM_PAUSED ? 0 : -ESHUTDOWN;
        pthread_mutex_unlock(&vm->lock);
        return r;
}

int vm_resume(Vm *vm) {
        pthread_mutex_lock(&vm->lock);
        int r = vm->state == VM_STOPPING ? -ESHUTDOWN : 0;
        if (vm->state == VM_PAUSED) {
                __atomic_store_n(&vm->state, VM_RUNNING, __ATOMIC_RELEASE);
                pthread_cond_broadcast(&vm->cond);
        }
        pthread_mutex_unlock(&vm->lock);
        return r;
}

void vm_halt_report(Vm *vm, Vcpu *v) {
        pthread_mutex_lock(&vm->lock);
        bool all = vm->state == VM_RUNNING, any_halted = false;
        for (unsigned i = 0; i < vm->n_vcpus && all; i++) {
                all = vm->vcpus[i].off_gen == v->off_gen;
                any_halted |= vm->vcpus[i].halted;
        }
        pthread_mutex_unlock(&vm->lock);
        if (all && any_halted)
                vm_request_exit(vm, 0, "guest halted: every vCPU stopped with interrupts off (power off without ACPI)");
}

/* Linux without ACPI powers off by halting every CPU with interrupts disabled, which KVM handles
 * in the kernel. Once a second, kick the vCPUs out of KVM_RUN and let each look at its own state. */
#define HALT_PROBE_INTERVAL_MS 1000

static void vm_halt_probe(void *opaque, uint32_t events) {
        Vm *vm = opaque;
        uint64_t ticks;
        if (read(vm->halt_timer_fd, &ticks, sizeof(ticks)) < 0)
                return;
        pthread_mutex_lock(&vm->lock);
        bool running = vm->state == VM_RUNNING;
        pthread_mutex_unlock(&vm->lock);
        if (!running)
                return;
        __atomic_add_fetch(&vm->halt_gen, 1, __ATOMIC_RELEASE);
        for (unsigned i = 0; i < vm->n_vcpus; i++)
                vcpu_kick(&vm->vcpus[i]);
}

static int vm_start_halt_probe(Vm *vm, KError **err) {
        vm->halt_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (vm->halt_timer_fd < 0)
                return kerr(err, -errno, "timerfd for the halt probe");
        struct itimerspec its = {
                .it_interval = { .tv_nsec = (HALT_PROBE_INTERVAL_MS % 1000) * 1000000L, .tv_sec = HALT_PROBE_INTERVAL_MS / 1000 },
        };
        its.it_value = its.it_interval;
        if (timerfd_settime(vm->halt_timer_fd, 0, &its, NULL) < 0)
                return kerr(err, -errno, "arm the halt probe timer");
        return event_loop_add(vm->loop, vm->halt_timer_fd, EPOLLIN, vm_halt_probe, vm, err);
}

/* ---- control socket glue ---- */

static int ctl_pause(void *opaque) {
        return vm_pause(opaque);
}
static int ctl_resume(void *opaque) {
        return vm_resume(opaque);
}
static int ctl_stop(void *opaque) {
        vm_request_exit(opaque, 0, "stopped through the control socket");
        return 0;
}

static json_t *vcpu_stats(Vcpu *v, uint64_t totals[VM_EXIT_REASONS]) {
        json_t *exits = json_object();
        for (unsigned r = 0; r < VM_EXIT_REASONS; r++) {
                uint64_t n = __atomic_load_n(&v->exits[r], __ATOMIC_RELAXED);
                totals[r] += n;
                const char *name = vcpu_exit_name(r);
                if (n && name)
                        json_object_set_new(exits, name, json_integer((json_int_t) n));
        }
        clockid_t cid;
        struct timespec ts = { 0 };
        if (v->started && pthread_getcpuclockid(v->thread, &cid) == 0)
                clock_gettime(cid, &ts);
        return json_pack("{s:i, s:I, s:o}", "index", (int) v->index,
                         "cpu_time_ns", (json_int_t) ts.tv_sec * 1000000000 + ts.tv_nsec, "exits", exits);
}

static int ctl_stats(void *opaque, json_t *reply) {
        Vm *vm = opaque;
        uint64_t totals[VM_EXIT_REASONS] = { 0 };
        json_t *vcpus = json_array();
        for (unsigned i = 0; i < vm->n_vcpus; i++)
                json_array_append_new(vcpus, vcpu_stats(&vm->vcpus[i], totals));
        json_t *exits = json_object();
        for (unsigned r = 0; r < VM_EXIT_REASONS; r++)
                if (totals[r] && vcpu_exit_name(r))
                        json_object_set_new(exits, vcpu_exit_name(r), json_integer((json_int_t) totals[r]));
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&vm->lock);
        const char *state = vm->state == VM_RUNNING ? "running" : vm->state == VM_PAUSED ? "paused" : "stopping";
        pthread_mutex_unlock(&vm->lock);
        json_object_set_new(reply, "state", json_string(state));
        json_object_set_new(reply, "uptime_ms", json_integer((now.tv_sec - vm->started.tv_sec) * 1000 +
                                                              (now.tv_nsec - vm->started.tv_nsec) / 1000000));
        json_object_set_new(reply, "vcpus", vcpus);
        json_object_set_new(reply, "exits", exits);
        json_object_set_new(reply, "memory", json_pack("{s:I}", "guest_bytes", (json_int_t) vm->layout.ram_size));
#ifdef VMM_HAVE_VIRTIO
        if (vm->balloon)
                json_object_set_new(reply, "balloon_pages",
                                    json_integer((json_int_t) virtio_balloon_actual(vm->balloon)));
        /* each device model's own counters, in device order: {"device": "virtio-net", ...} */
        json_t *devices = json_array();
        for (unsigned i = 0; i < vm->n_virtio; i++) {
                json_t *st = virtio_dev_stats(vm->virtio[i]);
                if (st)
                        json_array_append_new(devices, st);
        }
        json_object_set_new(reply, "devices", devices);
#endif
        json_t *mig = vm_migration_status(vm);
        if (mig)
                json_object_set_new(reply, "migration", mig);
        return 0;
}

static int ctl_balloon(void *opaque, uint32_t pages, json_t *reply) {
#ifdef VMM_HAVE_VIRTIO
        Vm *vm = opaque;
        if (!vm->balloon)
                return -ENODEV;
        if ((uint64_t) pages * 4096 > vm->layout.ram_size)
                return -EINVAL;
        int r = virtio_balloon_set_target(vm->balloon, pages);
        if (r < 0)
                return r;
        json_object_set_new(reply, "target_pages", json_integer(pages));
        json_object_set_new(reply, "balloon_pages", json_integer((json_int_t) virtio_balloon_actual(vm->balloon)));
        return 0;
#else
        return -ENODEV;
#endif
}

static int ctl_snapshot(void *opaque, const char *dir, json_t *reply, char **ret_msg) {
        _cleanup_kerr_ KError *e = NULL;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = vm_snapshot(opaque, dir, &e);
        if (r < 0) {
                *ret_msg = e ? strdup(e->msg) : NULL;
                return r;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        json_object_set_new(reply, "dir", json_string(dir));
        json_object_set_new(reply, "ms", json_integer((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
        return 0;
}

static int ctl_migrate(void *opaque, const char *to, const char *token, unsigned max_downtime_ms, int fd,
                       json_t *reply, char **ret_msg) {
        _cleanup_kerr_ KError *e = NULL;
        int r = vm_migrate_start(opaque, to, token, max_downtime_ms, fd, &e);
        if (r < 0) {
                *ret_msg = e ? strdup(e->msg) : NULL;
                return r;
        }
        json_object_set_new(reply, "migrating", json_string(to));
        return 0;
}

static const ControlOps vm_control_ops = {
        .migrate = ctl_migrate,
        .snapshot = ctl_snapshot,
        .pause = ctl_pause,
        .resume = ctl_resume,
        .stop = ctl_stop,
        .stats = ctl_stats,
        .balloon = ctl_balloon,
};

/* ---- setup ---- */

static int open_input(const char *path, const char *what, uint64_t *ret_size, KError **err) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return kerr_kind(err, KERR_USAGE, -errno, "%s '%s'", what, path);
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return kerr(err, r, "stat %s '%s'", what, path);
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s '%s' is not a regular file", what, path);
        }
        *ret_size = (uint64_t) st.st_size;
        return fd;
}

/* Plan before touching KVM: a bad kernel, initrd or command line fails fast with a clear message. */
static int vm_plan_boot(Vm *vm, KError **err) {
        const VmmConfig *c = vm->cfg;
        uint64_t ksize = 0, isize = 0;
        int r = mem_layout_plan(c->memory, &vm->layout, err);
        if (r < 0 || c->restore)        /* a restore boots nothing: the kernel is in the snapshot's memory */
                return r < 0 ? r : vm_restore_plan(vm, err);
        if (c->incoming)
                return 0;               /* nor does a migration target: the source sends it all */
        vm->kernel_fd = open_input(c->kernel, "kernel", &ksize, err);
        if (vm->kernel_fd < 0)
                return vm->kernel_fd;
        if (c->initrd && (vm->initrd_fd = open_input(c->initrd, "initrd", &isize, err)) < 0)
                return vm->initrd_fd;
        uint8_t hdr[1024];
        ssize_t n = pread(vm->kernel_fd, hdr, sizeof(hdr), 0);
        if (n < 0)
                return kerr(err, -errno, "read kernel '%s'", c->kernel);
        vm->boot = malloc(sizeof(*vm->boot));
        if (!vm->boot)
                return kerr(err, -ENOMEM, "boot plan");
        r = bzimage_parse(hdr, (size_t) n, ksize, &vm->bzimage, err);
        if (r >= 0)
                r = boot_plan(&vm->bzimage, &vm->layout, c->cmdline, isize, vm->boot, err);
        if (r < 0)
                return kerr_prefix(err, r, "%s", c->kernel);
        return 0;
}

static int vm_load_kernel(Vm *vm, KError **err) {
        int r = boot_load(vm->boot, &vm->bzimage, vm->kernel_fd, vm->initrd_fd, &vm->mem, err);
        /* loaded (or not): the files and the plan are done with, before the seccomp filter */
        vm->kernel_fd = safe_close(vm->kernel_fd);
        vm->initrd_fd = safe_close(vm->initrd_fd);
        vm->boot = mfree(vm->boot);
        if (r < 0)
                return kerr_prefix(err, r, "%s", vm->cfg->kernel);
        uint8_t *mp = guest_mem_ptr(&vm->mem, BOOT_BIOS_START, mptable_size(vm->n_vcpus));
        if (!mp || !mptable_build(vm->n_vcpus, BOOT_BIOS_START, mp, mptable_size(vm->n_vcpus)))
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "MP table for %u vCPUs", vm->n_vcpus);
        return 0;
}

static int vm_setup_vcpus(Vm *vm, KError **err) {
        CpuidTable *cpuid = malloc(sizeof(*cpuid));
        if (!cpuid)
                return kerr(err, -ENOMEM, "CPUID table");
        int r = cpuid_get_supported(vm->kvm.kvm_fd, cpuid, err);
        vm->vcpus = calloc(vm->cfg->cpus, sizeof(Vcpu));
        if (r >= 0 && !vm->vcpus)
                r = kerr(err, -ENOMEM, "vCPUs");
        for (unsigned i = 0; r >= 0 && i < vm->cfg->cpus; i++) {
                r = vcpu_create(vm, i, &vm->vcpus[i], err);
                if (r >= 0) {
                        vm->n_vcpus++;
                        /* 64-bit entry: startup_64 is 0x200 past the protected-mode kernel (boot.rst) */
                        r = cpu_setup(vm->vcpus[i].fd, cpuid, i, vm->cfg->cpus, BOOT_KERNEL_ADDR + 0x200, err);
                }
        }
        free(cpuid);
        return r;
}

static int vm_setup(Vm *vm, KError **err) {
        const VmmConfig *c = vm->cfg;
        int r;
        if ((r = vm_plan_boot(vm, err)) < 0 || (r = vm_console_fds_open(vm, err)) < 0 ||
            (r = kvm_open(c->kvm_dev, &vm->kvm, err)) < 0)
                return r;
        if (c->cpus > (unsigned) vm->kvm.max_vcpus)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--cpus %u: KVM supports at most %d", c->cpus,
                                vm->kvm.max_vcpus);
        if ((r = kvm_create_vm(&vm->kvm, err)) < 0 ||
            (r = c->restore ? vm_restore_memory(vm, err)
                            : mem_backing_alloc(&vm->layout, c->hugepages, c->ksm, &vm->backing, &vm->mem, err)) < 0 ||
            (r = mem_register_slots(vm->kvm.vm_fd, &vm->layout, &vm->backing, err)) < 0 ||
            (r = event_loop_new(&vm->loop, err)) < 0)
                return r;
        vm->n_vcpus = 0;
        if ((r = vm_setup_vcpus(vm, err)) < 0)
                return r;
        /* the MP table is sized by vm->n_vcpus, so load after the vCPUs exist */
        bool boots = !c->restore && !c->incoming;
        if ((boots && (r = vm_load_kernel(vm, err)) < 0) || (r = vm_devices_init(vm, err)) < 0 ||
            (r = vm_snapshot_prepare(vm, err)) < 0 || (c->restore && (r = vm_restore_state(vm, err)) < 0) ||
            (c->incoming && (r = vm_migration_receive(vm, err)) < 0))
                return r;
        if ((r = vm_start_halt_probe(vm, err)) < 0)
                return r;
        if (c->control && (r = control_open(c->control, vm->loop, &vm_control_ops, vm, &vm->control, err)) < 0)
                return r;
        /* a VM one can talk to can be migrated: the worker thread starts now, before seccomp */
        if (c->control && (r = vm_migration_init(vm, err)) < 0)
                return r;
        return 0;
}

int vm_create(const VmmConfig *cfg, Vm **ret, KError **err) {
        Vm *vm = calloc(1, sizeof(*vm));
        if (!vm)
                return kerr(err, -ENOMEM, "VM");
        vm->cfg = cfg;
        vm->kvm = (Kvm) { .kvm_fd = -1, .vm_fd = -1 };
        vm->console_fd = vm->serial_in_fd = vm->vcon_in_fd = vm->vcon_out_fd = vm->agent_fd = -1;
        vm->kernel_fd = vm->initrd_fd = vm->halt_timer_fd = -1;
        vm->host = (VmmHost) { .ops = &vm_host_ops, .host = vm };
        pthread_mutex_init(&vm->lock, NULL);
        pthread_cond_init(&vm->cond, NULL);
        bus_init(&vm->pio, "pio");
        bus_init(&vm->mmio, "mmio");
        int r = vm_setup(vm, err);
        if (r < 0) {
                vm_free(vm);
                return r;
        }
        *ret = vm;
        return 0;
}

int vm_run(Vm *vm, KError **err) {
        clock_gettime(CLOCK_MONOTONIC, &vm->started);
        for (unsigned i = 0; i < vm->n_vcpus; i++) {
                int r = vcpu_start(&vm->vcpus[i], err);
                if (r < 0) {
                        vm_request_exit(vm, 1, "start vCPU %u", i);
                        return r;
                }
        }
        /* A new thread makes its own start-up syscalls (rseq, set_robust_list) once it runs: let every
         * vCPU thread get that far before the filter goes on for all of them. */
        pthread_mutex_lock(&vm->lock);
        while (vm->n_threads_ready < vm->n_vcpus)
                pthread_cond_wait(&vm->cond, &vm->lock);
        pthread_mutex_unlock(&vm->lock);
        if (vm->cfg->seccomp) {
                int r = vm_seccomp_install(err);
                if (r < 0) {
                        vm_request_exit(vm, 1, "seccomp");
                        return r;
                }
        }
        int r = event_loop_run(vm->loop);
        if (r < 0)
                vm_request_exit(vm, 1, "event loop: %s", strerror(-r));
        vm_request_exit(vm, 0, "event loop ended");
        return vm->exit_status;
}

void vm_free(Vm *vm) {
        if (!vm)
                return;
        if (vm->vcpus) {
                vm_request_exit(vm, 1, "VM torn down");
                for (unsigned i = 0; i < vm->n_vcpus; i++)
                        if (vm->vcpus[i].started)
                                pthread_join(vm->vcpus[i].thread, NULL);
        }
        vm_migration_free(vm);
        control_free(vm->control);
        vm_devices_exit(vm);
        for (unsigned i = 0; vm->vcpus && i < vm->n_vcpus; i++)
                vcpu_destroy(&vm->vcpus[i]);
        free(vm->vcpus);
        event_loop_free(vm->loop);
        safe_close(vm->halt_timer_fd);
        mem_backing_free(&vm->backing);
        kvm_close(&vm->kvm);
        vm_console_fds_close(vm);
        safe_close(vm->kernel_fd);
        safe_close(vm->initrd_fd);
        free(vm->boot);
        free(vm->msrs);
        free(vm->restore_state);
        bus_done(&vm->mmio);
        bus_done(&vm->pio);
        pthread_cond_destroy(&vm->cond);
        pthread_mutex_destroy(&vm->lock);
        free(vm);
}
