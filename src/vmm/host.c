/* SPDX-License-Identifier: Apache-2.0 */
/* VmmHostOps for real KVM: MSIs and legacy lines through the in-kernel irqchip, doorbells through
 * KVM_IOEVENTFD, fds through the VM's event loop. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm.h"

static int host_signal_msi(void *host, const MsiMessage *msg) {
        Vm *vm = host;
        struct kvm_msi m = {
                .address_lo = (uint32_t) msg->address,
                .address_hi = (uint32_t) (msg->address >> 32),
                .data = msg->data,
        };
        /* returns > 0 delivered, 0 blocked by the guest (masked), < 0 error (api.rst KVM_SIGNAL_MSI) */
        return ioctl(vm->kvm.vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -errno : 0;
}

static int host_set_irq_line(void *host, unsigned gsi, int level) {
        Vm *vm = host;
        struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t) level };
        return ioctl(vm->kvm.vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

static struct kvm_ioeventfd ioeventfd(uint64_t addr, uint32_t len, bool pio, int64_t datamatch, int fd) {
        struct kvm_ioeventfd e = { .addr = addr, .len = len, .fd = fd };
        if (pio)
                e.flags |= KVM_IOEVENTFD_FLAG_PIO;
        if (datamatch >= 0) {
                e.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
                e.datamatch = (uint64_t) datamatch;
        }
        return e;
}

static int host_add_ioeventfd(void *host, uint64_t addr, uint32_t len, bool pio, int64_t datamatch, int fd,
                              KError **err) {
        Vm *vm = host;
        struct kvm_ioeventfd e = ioeventfd(addr, len, pio, datamatch, fd);
        if (ioctl(vm->kvm.vm_fd, KVM_IOEVENTFD, &e) < 0)
                return kerr(err, -errno, "KVM_IOEVENTFD at 0x%llx", (unsigned long long) addr);
        return 0;
}

static int host_del_ioeventfd(void *host, uint64_t addr, uint32_t len, bool pio, int64_t datamatch, int fd) {
        Vm *vm = host;
        struct kvm_ioeventfd e = ioeventfd(addr, len, pio, datamatch, fd);
        e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        return ioctl(vm->kvm.vm_fd, KVM_IOEVENTFD, &e) < 0 ? -errno : 0;
}

static int host_add_fd(void *host, int fd, uint32_t events, VmmFdHandler handler, void *opaque, KError **err) {
        Vm *vm = host;
        return event_loop_add(vm->loop, fd, events, handler, opaque, err);
}

static int host_del_fd(void *host, int fd) {
        Vm *vm = host;
        return event_loop_del(vm->loop, fd);
}

static void host_request_exit(void *host, int status) {
        vm_request_exit(host, status, status == 0 ? "guest reset through the keyboard controller" :
                        "a device stopped the VM (status %d)", status);
}

const VmmHostOps vm_host_ops = {
        .signal_msi = host_signal_msi,
        .set_irq_line = host_set_irq_line,
        .add_ioeventfd = host_add_ioeventfd,
        .del_ioeventfd = host_del_ioeventfd,
        .add_fd = host_add_fd,
        .del_fd = host_del_fd,
        .request_exit = host_request_exit,
};
