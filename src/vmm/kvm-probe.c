/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fd-util.h"
#include "kvm-probe.h"

#define NO_KVM_HINT "Enable virtualization (VT-x/AMD-V) in the firmware and load kvm-intel or kvm-amd, or run " \
                    "kapsel on a VM with nested virtualization"

static bool module_loaded(const char *modules, const char *name) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", modules, name);
        return access(path, F_OK) == 0;
}

/* Does a "flags" line of cpuinfo list vmx or svm? */
static bool cpu_has_virt(const char *cpuinfo) {
        _cleanup_fclose_ FILE *f = fopen(cpuinfo, "re");
        char line[8192];
        while (f && fgets(line, sizeof(line), f)) {
                if (strncmp(line, "flags", 5) != 0)
                        continue;
                for (char *save = NULL, *w = strtok_r(strchr(line, ':') ?: line, " :\t\n", &save); w;
                     w = strtok_r(NULL, " \t\n", &save))
                        if (strcmp(w, "vmx") == 0 || strcmp(w, "svm") == 0)
                                return true;
                return false;   /* every CPU lists the same flags */
        }
        return false;
}

static int check_device(const char *dev, KError **err) {
        _cleanup_close_ int fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                if (errno == EACCES || errno == EPERM)
                        return kerr_msg(err, KERR_HOST, -EACCES, "micro-VMs need read-write access to %s: run as "
                                        "root or join the group that owns it (usually 'kvm')", dev);
                return kerr_kind(err, KERR_HOST, -errno, "micro-VMs need KVM: open %s", dev);
        }
        int v = ioctl(fd, KVM_GET_API_VERSION, 0);
        if (v < 0)
                return kerr_msg(err, KERR_HOST, -ENOTSUP, "%s is not a KVM device (KVM_GET_API_VERSION: %s)", dev,
                                strerror(errno));
        if (v != KVM_API_VERSION)
                return kerr_msg(err, KERR_HOST, -ENOTSUP, "%s speaks KVM API version %d, kapsel-vmm needs %d", dev, v,
                                KVM_API_VERSION);
        return 0;
}

int kvm_probe_at(const KvmProbePaths *p, KError **err) {
        struct stat st;
        if (stat(p->device, &st) < 0) {
                if (errno == ENOENT)
                        return kerr_msg(err, KERR_HOST, -ENODEV, "no %s on this host: micro-VMs need KVM. " NO_KVM_HINT,
                                        p->device);
                if (errno == EACCES)
                        return kerr_msg(err, KERR_HOST, -EACCES, "micro-VMs need read-write access to %s", p->device);
                return kerr_kind(err, KERR_HOST, -errno, "micro-VMs need KVM: %s", p->device);
        }
        if (!S_ISCHR(st.st_mode))
                return 0;       /* a test's stand-in: kapsel-vmm's kvm_open says what is wrong with it */
        if (module_loaded(p->modules, "kvm_pvm"))
                return kerr_msg(err, KERR_HOST, -ENOTSUP,
                                "%s is a PVM hypervisor (module kvm_pvm): it runs only PVM-enabled guest kernels; "
                                "kapsel's micro-VMs boot stock kernels and need hardware virtualization (VMX/SVM, "
                                "modules kvm_intel or kvm_amd)", p->device);
        if (!module_loaded(p->modules, "kvm_intel") && !module_loaded(p->modules, "kvm_amd") &&
            !cpu_has_virt(p->cpuinfo))
                return kerr_msg(err, KERR_HOST, -ENOTSUP,
                                "%s is served by neither kvm_intel nor kvm_amd and the CPU shows no vmx/svm flag: "
                                "kapsel's micro-VMs need hardware virtualization (VMX/SVM). " NO_KVM_HINT, p->device);
        return check_device(p->device, err);
}

int kvm_probe(const char *device, KError **err) {
        const char *sysfs = getenv("KAPSEL_KVM_SYSFS");
        KvmProbePaths p = { .device = device, .modules = sysfs && *sysfs ? sysfs : "/sys/module",
                            .cpuinfo = "/proc/cpuinfo" };
        return kvm_probe_at(&p, err);
}
