/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm.h"
#include "kvm-probe.h"

#define CAP(c, why) { c, #c, why }
const KvmCap kvm_required_caps[] = {
        CAP(KVM_CAP_IRQCHIP, "in-kernel IOAPIC, PIC and local APICs"),
        CAP(KVM_CAP_USER_MEMORY, "guest memory from our own mapping"),
        CAP(KVM_CAP_SET_TSS_ADDR, "x86 TSS region"),
        CAP(KVM_CAP_EXT_CPUID, "CPUID from KVM's supported set"),
        CAP(KVM_CAP_PIT2, "in-kernel i8254 timer"),
        CAP(KVM_CAP_IOEVENTFD, "virtio doorbells without a userspace exit"),
        CAP(KVM_CAP_SIGNAL_MSI, "MSI-X interrupts for virtio-pci"),
        CAP(KVM_CAP_IMMEDIATE_EXIT, "pausing and stopping vCPUs without races"),
        CAP(KVM_CAP_MP_STATE, "secondary vCPUs waiting for INIT/SIPI"),
};
const unsigned kvm_n_required_caps = ELEMENTSOF(kvm_required_caps);

#define KVM_TSS_ADDR            0xfffbd000ULL   /* 3 pages just below the identity map page */
#define KVM_IDENTITY_MAP_ADDR   0xfffbc000ULL

int kvm_open(const char *dev, Kvm *ret, KError **err) {
        *ret = (Kvm) { .kvm_fd = -1, .vm_fd = -1 };
        /* a KVM that cannot boot a stock kernel (a PVM host) is refused here, not after a silent spin */
        int r = kvm_probe(dev, err);
        if (r < 0)
                return r;
        int fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT)
                        return kerr_kind(err, KERR_HOST, r, "%s missing: load kvm-intel or kvm-amd and enable "
                                         "virtualization in the firmware (or nested virtualization in the host)", dev);
                if (r == -EACCES || r == -EPERM)
                        return kerr_kind(err, KERR_HOST, r, "%s not accessible: run as root or join the 'kvm' group",
                                         dev);
                return kerr_kind(err, KERR_HOST, r, "open %s", dev);
        }
        Kvm k = { .kvm_fd = fd, .vm_fd = -1 };
        int v = ioctl(fd, KVM_GET_API_VERSION, 0);
        if (v != KVM_API_VERSION) {
                close(fd);
                return kerr_msg(err, KERR_HOST, -ENOTSUP, "%s: KVM API version %d, need %d", dev, v, KVM_API_VERSION);
        }
        for (unsigned i = 0; i < kvm_n_required_caps; i++)
                if (ioctl(fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0) {
                        close(fd);
                        return kerr_msg(err, KERR_HOST, -ENOTSUP, "%s lacks %s (%s): kernel too old or KVM limited",
                                        dev, kvm_required_caps[i].name, kvm_required_caps[i].why);
                }
        k.vcpu_mmap_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (k.vcpu_mmap_size <= 0) {
                close(fd);
                return kerr(err, -errno, "KVM_GET_VCPU_MMAP_SIZE");
        }
        k.max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
        if (k.max_vcpus <= 0)
                k.max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
        if (k.max_vcpus <= 0)
                k.max_vcpus = 4;        /* api.rst: assume 4 when KVM_CAP_NR_VCPUS is absent */
        *ret = k;
        return 0;
}

int kvm_create_vm(Kvm *k, KError **err) {
        k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
        if (k->vm_fd < 0)
                return kerr_kind(err, KERR_HOST, -errno, "KVM_CREATE_VM");
        /* Intel VMX needs these before the first vCPU runs real-mode code; harmless on AMD. */
        if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long) KVM_TSS_ADDR) < 0)
                return kerr(err, -errno, "KVM_SET_TSS_ADDR");
        uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
        if (ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0 && errno != EINVAL)
                return kerr(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR");
        if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
                return kerr(err, -errno, "KVM_CREATE_IRQCHIP");
        struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
        if (ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
                return kerr(err, -errno, "KVM_CREATE_PIT2");
        return 0;
}

void kvm_close(Kvm *k) {
        k->vm_fd = safe_close(k->vm_fd);
        k->kvm_fd = safe_close(k->kvm_fd);
}
