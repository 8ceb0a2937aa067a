/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshots of a whole VM (docs/vm-snapshots.md): DIR/memory holds guest RAM (sparse), DIR/state
 * the stream with the VM section, every vCPU, the in-kernel irqchip, PIT and clock, and every
 * device model. The state file is written last, through a rename: a directory with a state file
 * holds a complete snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86_64/kvm-state.h"
#include "state/devices-state.h"
#include "state/memory-file.h"
#include "state/state.h"
#include "vm.h"

#define SNAPSHOT_STATE "state"
#define SNAPSHOT_MEMORY "memory"

/* What a restore must match: a snapshot fits only a VM built the same way. */
typedef struct VmStateInfo {
        uint64_t ram_size;
        uint32_t n_vcpus, n_virtio;
        uint8_t has_xsave;
        uint32_t cpuid_crc;     /* the CPU features the guest was given (vm->cpuid_crc) */
} VmStateInfo;
static const StateField vm_info_fields[] = {
        STATE_FIELD(VmStateInfo, ram_size), STATE_FIELD(VmStateInfo, n_vcpus), STATE_FIELD(VmStateInfo, n_virtio),
        STATE_FIELD(VmStateInfo, has_xsave), STATE_FIELD(VmStateInfo, cpuid_crc),
};
static const StateLayout vm_info_layout = { "vm", STATE_SEC_VM, 1, vm_info_fields, ELEMENTSOF(vm_info_fields) };

static void vm_state_devices(Vm *vm, StateDevices *ret) {
        *ret = (StateDevices) { .serial = &vm->serial, .i8042 = &vm->i8042, .rtc = &vm->rtc, .pci = vm->pci,
                                .virtio = vm->virtio, .n_virtio = vm->n_virtio };
}

/* A digest of the CPUID the vCPUs were given (vCPU 0's view): a guest that saw one set of CPU
 * features must not resume where another set is offered. */
static int cpuid_digest(Vm *vm, uint32_t *ret, KError **err) {
        _cleanup_free_ CpuidTable *t = malloc(sizeof(*t));
        if (!t)
                return kerr(err, -ENOMEM, "CPUID table");
        int r = cpuid_get_supported(vm->kvm.kvm_fd, t, err);
        if (r < 0)
                return r;
        cpuid_for_vcpu(t, 0, vm->n_vcpus);
        *ret = state_crc32c(0, t->entries, t->hdr.nent * sizeof(t->entries[0]));
        return 0;
}

int vm_snapshot_prepare(Vm *vm, KError **err) {
        vm->has_xsave = ioctl(vm->kvm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
        int r = cpuid_digest(vm, &vm->cpuid_crc, err);
        if (r < 0)
                return r;
        vm->msrs = calloc(1, sizeof(*vm->msrs));
        if (!vm->msrs)
                return kerr(err, -ENOMEM, "MSR list");
        return kvm_state_msr_list(vm->kvm.kvm_fd, vm->msrs, err);
}

int vm_state_save(Vm *vm, StateWriter *w, KError **err) {
        VmStateInfo info = { .ram_size = vm->layout.ram_size, .n_vcpus = vm->n_vcpus, .n_virtio = vm->n_virtio,
                             .has_xsave = vm->has_xsave, .cpuid_crc = vm->cpuid_crc };
        state_put(w, &vm_info_layout, 0, &info);
        for (unsigned i = 0; i < vm->n_vcpus; i++) {
                int r = kvm_vcpu_save(vm->vcpus[i].fd, i, vm->msrs, vm->has_xsave, w, err);
                if (r < 0)
                        return r;
        }
        int r = kvm_vm_save(vm->kvm.vm_fd, w, err);
        if (r < 0)
                return r;
        StateDevices d;
        vm_state_devices(vm, &d);
        state_devices_save(&d, w);
        return 0;
}

int vm_snapshot(Vm *vm, const char *dir, KError **err) {
        pthread_mutex_lock(&vm->lock);
        bool paused = vm->state == VM_PAUSED && vm->n_paused == vm->n_vcpus;
        pthread_mutex_unlock(&vm->lock);
        if (!paused)
                return kerr_kind(err, KERR_STATE, -EBUSY, "snapshot: the VM must be paused first (cmd pause)");
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return kerr(err, -errno, "snapshot: open directory '%s' (it must exist)", dir);
        (void) unlinkat(dfd, SNAPSHOT_STATE, 0);        /* no stale state beside new memory */
        StateWriter w;
        state_writer_init(&w);
        const uint8_t *buf = NULL;
        size_t len = 0;
        int r = vm_state_save(vm, &w, err);
        if (r >= 0)
                r = state_writer_finish(&w, &buf, &len, err);
        if (r >= 0)
                r = memory_file_save(dfd, SNAPSHOT_MEMORY, vm->backing.base, vm->backing.size, err);
        if (r >= 0)
                r = state_file_write(dfd, SNAPSHOT_STATE, buf, len, err);
        state_writer_done(&w);
        if (r < 0)
                return kerr_prefix(err, r, "snapshot to '%s'", dir);
        return 0;
}

int vm_restore_plan(Vm *vm, KError **err) {
        _cleanup_close_ int dfd = open(vm->cfg->restore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return kerr_kind(err, KERR_USAGE, -errno, "--restore '%s'", vm->cfg->restore);
        StateReader r = {};
        int k = state_file_read(dfd, SNAPSHOT_STATE, &vm->restore_state, &vm->restore_len, err);
        if (k >= 0)
                k = state_reader_parse(&r, vm->restore_state, vm->restore_len, err);
        state_reader_done(&r);
        _cleanup_close_ int fd = k >= 0 ? memory_file_open(dfd, SNAPSHOT_MEMORY, vm->layout.ram_size, err) : k;
        if (fd < 0)
                return kerr_prefix(err, fd, "--restore '%s'", vm->cfg->restore);
        return 0;
}

int vm_restore_memory(Vm *vm, KError **err) {
        _cleanup_close_ int dfd = open(vm->cfg->restore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return kerr_kind(err, KERR_USAGE, -errno, "--restore '%s'", vm->cfg->restore);
        _cleanup_close_ int fd = memory_file_open(dfd, SNAPSHOT_MEMORY, vm->layout.ram_size, err);
        if (fd < 0)
                return kerr_prefix(err, fd, "--restore '%s'", vm->cfg->restore);
        return mem_backing_map_file(&vm->layout, fd, &vm->backing, &vm->mem, err);
}

static int vm_restore_from(Vm *vm, StateReader *r, KError **err) {
        VmStateInfo info;
        int k = state_get(r, &vm_info_layout, 0, &info, NULL, err);
        if (k < 0)
                return k;
        if (info.ram_size != vm->layout.ram_size || info.n_vcpus != vm->n_vcpus || info.n_virtio != vm->n_virtio)
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "the snapshot is of a VM with %llu MiB, %u vCPUs and %u virtio devices; this one has "
                                "%llu MiB, %u and %u: restore with the options it was taken with",
                                (unsigned long long) (info.ram_size >> 20), info.n_vcpus, info.n_virtio,
                                (unsigned long long) (vm->layout.ram_size >> 20), vm->n_vcpus, vm->n_virtio);
        if (info.cpuid_crc != vm->cpuid_crc)
                return kerr_msg(err, KERR_HOST, -ENOTSUP, "the guest was started with other CPU features than this "
                                "host's KVM offers (CPUID digest 0x%08x, here 0x%08x): resume it on a host with the "
                                "same CPU and kernel", info.cpuid_crc, vm->cpuid_crc);
        if (info.has_xsave && !vm->has_xsave)
                return kerr_msg(err, KERR_HOST, -ENOTSUP, "the snapshot has XSAVE state and this host's KVM has none");
        StateDevices d;
        vm_state_devices(vm, &d);
        if ((k = state_devices_load(&d, r, err)) < 0 || (k = kvm_vm_load(vm->kvm.vm_fd, r, err)) < 0)
                return k;
        for (unsigned i = 0; i < vm->n_vcpus; i++)
                if ((k = kvm_vcpu_load(vm->vcpus[i].fd, i, info.has_xsave, r, err)) < 0)
                        return k;
        const StateSection *left = state_reader_unused(r);
        if (left)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "the snapshot holds state (section 0x%x, instance %u) no "
                                "device of this VM takes", left->id, left->instance);
        return 0;
}

int vm_restore_stream(Vm *vm, const uint8_t *buf, size_t len, KError **err) {
        StateReader r = {};
        int k = state_reader_parse(&r, buf, len, err);
        if (k >= 0)
                k = vm_restore_from(vm, &r, err);
        state_reader_done(&r);
        return k;
}

int vm_restore_state(Vm *vm, KError **err) {
        int k = vm_restore_stream(vm, vm->restore_state, vm->restore_len, err);
        vm->restore_state = mfree(vm->restore_state);
        if (k < 0)
                return kerr_prefix(err, k, "--restore '%s'", vm->cfg->restore);
        return 0;
}
