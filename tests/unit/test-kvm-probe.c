/* SPDX-License-Identifier: Apache-2.0 */
/* kvm-probe: which KVM devices are refused before a micro-VM starts, and what the message says.
 * The host is faked: a module directory and a cpuinfo file of the test's own, /dev/null as a
 * character device that is not KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm-probe.h"

typedef struct Host {
        char dir[64], modules[96], cpuinfo[96], file[96];
} Host;

static void host_make(Host *h, const char *const *modules, const char *flags) {
        strcpy(h->dir, "/tmp/test-kvm-probe.XXXXXX");
        assert_non_null(mkdtemp(h->dir));
        snprintf(h->modules, sizeof(h->modules), "%s/module", h->dir);
        snprintf(h->cpuinfo, sizeof(h->cpuinfo), "%s/cpuinfo", h->dir);
        snprintf(h->file, sizeof(h->file), "%s/kvm-file", h->dir);
        assert_int_equal(mkdir(h->modules, 0755), 0);
        for (; modules && *modules; modules++) {
                char p[160];
                snprintf(p, sizeof(p), "%s/%s", h->modules, *modules);
                assert_int_equal(mkdir(p, 0755), 0);
        }
        FILE *f = fopen(h->cpuinfo, "w");
        assert_non_null(f);
        fprintf(f, "processor\t: 0\nflags\t\t: fpu vme de %s lm\n\nprocessor\t: 1\nflags\t\t: fpu vme de %s lm\n",
                flags, flags);
        fclose(f);
        f = fopen(h->file, "w");
        assert_non_null(f);
        fclose(f);
}

static void host_free(Host *h) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
        assert_int_equal(system(cmd), 0);
}

static int probe(Host *h, const char *dev, KError **err) {
        KvmProbePaths p = { .device = dev, .modules = h->modules, .cpuinfo = h->cpuinfo };
        return kvm_probe_at(&p, err);
}

static void test_missing_device(void **state) {
        Host h;
        host_make(&h, (const char *[]) { "kvm", "kvm_intel", NULL }, "vmx");
        char dev[128];
        snprintf(dev, sizeof(dev), "%s/no-kvm", h.dir);
        KError *err = NULL;
        assert_int_equal(probe(&h, dev, &err), -ENODEV);
        assert_non_null(strstr(err->msg, "micro-VMs need KVM"));
        assert_non_null(strstr(err->msg, "kvm-intel or kvm-amd"));
        kerr_free(err);
        host_free(&h);
}

static void test_pvm_refused(void **state) {
        Host h;
        host_make(&h, (const char *[]) { "kvm", "kvm_pvm", NULL }, "hypervisor");
        KError *err = NULL;
        assert_int_equal(probe(&h, "/dev/null", &err), -ENOTSUP);
        assert_non_null(strstr(err->msg, "/dev/null is a PVM hypervisor (module kvm_pvm)"));
        assert_non_null(strstr(err->msg, "PVM-enabled guest kernels"));
        assert_non_null(strstr(err->msg, "VMX/SVM"));
        kerr_free(err);
        host_free(&h);
}

static void test_no_hardware_virtualization(void **state) {
        Host h;
        host_make(&h, (const char *[]) { "kvm", NULL }, "hypervisor");
        KError *err = NULL;
        assert_int_equal(probe(&h, "/dev/null", &err), -ENOTSUP);
        assert_non_null(strstr(err->msg, "neither kvm_intel nor kvm_amd"));
        assert_non_null(strstr(err->msg, "no vmx/svm flag"));
        kerr_free(err);
        host_free(&h);
}

/* Past the host checks, the device itself must answer KVM_GET_API_VERSION: /dev/null does not. */
static void test_hardware_then_api_version(void **state) {
        static const char *const cases[][2] = { { "kvm_intel", "" }, { "kvm_amd", "" }, { "", "svm" }, { "", "vmx" } };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Host h;
                host_make(&h, (const char *[]) { "kvm", cases[i][0][0] ? cases[i][0] : NULL, NULL }, cases[i][1]);
                KError *err = NULL;
                assert_int_equal(probe(&h, "/dev/null", &err), -ENOTSUP);
                assert_non_null(strstr(err->msg, "/dev/null is not a KVM device (KVM_GET_API_VERSION"));
                kerr_free(err);
                host_free(&h);
        }
}

/* A regular file is a test's stand-in for the device: kapsel-vmm's kvm_open refuses it later. */
static void test_stand_in_accepted(void **state) {
        Host h;
        host_make(&h, (const char *[]) { "kvm_pvm", NULL }, "");
        assert_int_equal(probe(&h, h.file, NULL), 0);
        host_free(&h);
}

static void test_env_override_of_modules(void **state) {
        Host h;
        host_make(&h, (const char *[]) { "kvm_pvm", NULL }, "");
        setenv("KAPSEL_KVM_SYSFS", h.modules, 1);
        KError *err = NULL;
        assert_int_equal(kvm_probe("/dev/null", &err), -ENOTSUP);
        assert_non_null(strstr(err->msg, "PVM hypervisor"));
        kerr_free(err);
        unsetenv("KAPSEL_KVM_SYSFS");
        host_free(&h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_missing_device),
                cmocka_unit_test(test_pvm_refused),
                cmocka_unit_test(test_no_hardware_virtualization),
                cmocka_unit_test(test_hardware_then_api_version),
                cmocka_unit_test(test_stand_in_accepted),
                cmocka_unit_test(test_env_override_of_modules),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
