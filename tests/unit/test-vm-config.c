/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for a micro-VM's configuration (src/engine/vm-config.h): the --disk, --memory, --cpus
 * and --net parsers, the stored JSON round trip, the bzImage check, the host checks and the
 * kapsel-vmm command line plan. No root, no KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"
#include "json-util.h"
#include "monitor-vm.h"
#include "vm-config.h"
#include "vm-isolation.h"

static char *tmpdir(void) {
        char *t = strdup("/tmp/kapsel-test-vm-config-XXXXXX");
        assert_non_null(mkdtemp(t));
        return t;
}

static char *write_file(const char *dir, const char *name, const void *data, size_t len) {
        char *p = path_join(dir, name);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, data, len), 0);
        return p;
}

/* A file with just the boot protocol's magic numbers: enough for vm_config_is_bzimage. */
static char *fake_bzimage(const char *dir) {
        static unsigned char img[0x400];
        img[0x1fe] = 0x55;
        img[0x1ff] = 0xaa;
        memcpy(img + 0x202, "HdrS", 4);
        return write_file(dir, "bzImage", img, sizeof(img));
}

static void test_disk(void **state) {
        (void) state;
        VmConfig c;
        vm_config_init(&c);
        assert_int_equal(vm_config_add_disk(&c, "/a.img", NULL), 0);
        assert_int_equal(vm_config_add_disk(&c, "/b.img,ro", NULL), 0);
        assert_int_equal(vm_config_add_disk(&c, "/c.img,rw", NULL), 0);
        assert_int_equal(c.n_disks, 3);
        assert_string_equal(c.disks[0].path, "/a.img");
        assert_false(c.disks[0].read_only);
        assert_string_equal(c.disks[1].path, "/b.img");
        assert_true(c.disks[1].read_only);
        assert_false(c.disks[2].read_only);
        static const char *const bad[] = { "", ",ro", "/x.img,rx", "/x.img,ro,ro" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_kerr_ KError *err = NULL;
                assert_int_equal(vm_config_add_disk(&c, bad[i], &err), -EINVAL);
                assert_int_equal(err->kind, KERR_USAGE);
                assert_non_null(strstr(err->msg, "--disk"));
        }
        assert_int_equal(c.n_disks, 3);
        vm_config_done(&c);
}

static void test_memory(void **state) {
        (void) state;
        static const struct { const char *in; uint64_t want; } good[] = {
                { "512M", 512ULL << 20 }, { "2G", 2ULL << 30 }, { "256", 256ULL << 20 }, { "1g", 1ULL << 30 },
                { "64MiB", 0 }, /* not a size suffix kapsel takes: rejected below */
        };
        for (size_t i = 0; i < ELEMENTSOF(good) - 1; i++) {
                uint64_t v = 0;
                assert_int_equal(vm_config_parse_memory(good[i].in, &v, NULL), 0);
                assert_int_equal(v, good[i].want);
        }
        static const char *const bad[] = { "", "abc", "-1G", "1M", "16M", "64MiB", "1.5" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uint64_t v = 0;
                _cleanup_kerr_ KError *err = NULL;
                assert_int_equal(vm_config_parse_memory(bad[i], &v, &err), -EINVAL);
                assert_non_null(strstr(err->msg, "--memory"));
        }
}

static void test_cpus_and_net(void **state) {
        (void) state;
        unsigned n = 0;
        assert_int_equal(vm_config_parse_cpus("1", &n, NULL), 0);
        assert_int_equal(n, 1);
        assert_int_equal(vm_config_parse_cpus("64", &n, NULL), 0);
        assert_int_equal(n, 64);
        static const char *const bad[] = { "0", "65", "-1", "1.5", "two", "" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(vm_config_parse_cpus(bad[i], &n, NULL), -EINVAL);
        VmConfig c;
        vm_config_init(&c);
        assert_int_equal(vm_config_set_network(&c, "none", NULL), 0);
        assert_string_equal(c.network, "none");
        assert_int_equal(vm_config_set_network(&c, "default", NULL), 0);
        assert_string_equal(c.network, "bridge");
        assert_int_equal(vm_config_set_network(&c, "backend", NULL), 0);
        assert_string_equal(c.network, "backend");
        _cleanup_kerr_ KError *err = NULL;
        assert_int_equal(vm_config_set_network(&c, "host", &err), -EINVAL);
        assert_non_null(strstr(err->msg, "for containers"));
        assert_int_equal(vm_config_set_network(&c, "container:web", NULL), -EINVAL);
        assert_string_equal(c.network, "backend");
        vm_config_done(&c);
}

static void test_json_round_trip(void **state) {
        (void) state;
        VmConfig c, back;
        vm_config_init(&c);
        c.kernel = strdup("/boot/vmlinuz");
        c.initrd = strdup("/boot/initrd.img");
        c.cmdline = strdup("console=ttyS0 quiet");
        c.cpus = 2;
        c.memory = 1ULL << 30;
        assert_int_equal(vm_config_add_disk(&c, "/d/root.img", NULL), 0);
        assert_int_equal(vm_config_add_disk(&c, "/d/seed.img,ro", NULL), 0);
        assert_int_equal(vm_config_set_network(&c, "none", NULL), 0);
        _cleanup_(json_decrefp) json_t *j = vm_config_to_json(&c);
        assert_non_null(j);
        json_t *cmd = json_object_get(json_object_get(j, "Config"), "Cmd");
        assert_string_equal(json_string_value(json_array_get(cmd, 0)), "/boot/vmlinuz");
        assert_string_equal(json_string_value(json_array_get(cmd, 1)), "console=ttyS0 quiet");
        assert_int_equal(vm_config_from_json(j, &back, NULL), 0);
        assert_string_equal(back.kernel, c.kernel);
        assert_string_equal(back.initrd, c.initrd);
        assert_string_equal(back.cmdline, c.cmdline);
        assert_int_equal(back.cpus, 2);
        assert_int_equal(back.memory, 1ULL << 30);
        assert_int_equal(back.n_disks, 2);
        assert_string_equal(back.disks[1].path, "/d/seed.img");
        assert_true(back.disks[1].read_only);
        assert_string_equal(back.network, "none");
        vm_config_done(&back);
        vm_config_done(&c);
        /* a container's config is not a VM's */
        _cleanup_(json_decrefp) json_t *ctr = json_pack("{s:{s:s}, s:{}}", "Config", "Image", "busybox", "HostConfig");
        _cleanup_kerr_ KError *err = NULL;
        assert_int_equal(vm_config_from_json(ctr, &back, &err), -EINVAL);
}

static void test_bzimage_and_check(void **state) {
        (void) state;
        _cleanup_free_ char *dir = tmpdir();
        _cleanup_free_ char *kernel = fake_bzimage(dir), *text = write_file(dir, "vmlinux", "\x7f" "ELF", 4),
                            *disk = write_file(dir, "disk.img", "", 0);
        assert_int_equal(vm_config_is_bzimage(kernel), 1);
        assert_int_equal(vm_config_is_bzimage(text), 0);
        assert_int_equal(vm_config_is_bzimage("/nonexistent/kernel"), -ENOENT);

        VmConfig c;
        vm_config_init(&c);
        _cleanup_kerr_ KError *e1 = NULL;
        assert_int_equal(vm_config_check(&c, 0, &e1), -EINVAL);
        assert_non_null(strstr(e1->msg, "--kernel is required"));

        c.kernel = strdup(text);
        _cleanup_kerr_ KError *e2 = NULL;
        assert_int_equal(vm_config_check(&c, 0, &e2), -EINVAL);
        assert_non_null(strstr(e2->msg, "not a Linux bzImage"));

        free(c.kernel);
        c.kernel = strdup(kernel);
        assert_int_equal(vm_config_add_disk(&c, "/nonexistent/disk.img", NULL), 0);
        _cleanup_kerr_ KError *e3 = NULL;
        assert_int_equal(vm_config_check(&c, 0, &e3), -ENOENT);
        assert_non_null(strstr(e3->msg, "--disk /nonexistent/disk.img"));

        free(c.disks[0].path);
        c.disks[0].path = strdup(disk);
        c.memory = 2ULL << 30;
        _cleanup_kerr_ KError *e4 = NULL;
        assert_int_equal(vm_config_check(&c, 1ULL << 30, &e4), -EINVAL);
        assert_non_null(strstr(e4->msg, "more than this host's RAM"));
        assert_int_equal(vm_config_check(&c, 4ULL << 30, NULL), 0);
        assert_string_equal(c.kernel, kernel);
        vm_config_done(&c);
        assert_int_equal(rm_rf(dir), 0);
}

static const char *argv_after(char **v, const char *flag) {
        for (size_t i = 0; v[i]; i++)
                if (streq(v[i], flag))
                        return v[i + 1];
        return NULL;
}

static void test_vmm_argv(void **state) {
        (void) state;
        VmConfig c;
        vm_config_init(&c);
        c.kernel = strdup("/k");
        c.initrd = strdup("/i");
        c.cpus = 2;
        c.memory = 256ULL << 20;
        assert_int_equal(vm_config_add_disk(&c, "/d.img,ro", NULL), 0);
        VmLaunch l = { .vmm = "/bin/kapsel-vmm", .control = "control.sock", .tap = "kt01234567",
                       .mac = "02:4b:0a:58:00:02", .kernel_ip_arg = "ip=10.88.0.2::10.88.0.1:255.255.0.0::eth0:off" };
        _cleanup_strv_free_ char **v = NULL;
        assert_int_equal(vm_config_vmm_argv(&c, &l, &v, NULL), 0);
        assert_string_equal(v[0], "/bin/kapsel-vmm");
        assert_string_equal(argv_after(v, "--kernel"), "/k");
        assert_string_equal(argv_after(v, "--initrd"), "/i");
        assert_string_equal(argv_after(v, "--cpus"), "2");
        assert_string_equal(argv_after(v, "--memory"), "256M");
        assert_string_equal(argv_after(v, "--disk"), "/d.img,ro");
        assert_string_equal(argv_after(v, "--net"), "tap=kt01234567,mac=02:4b:0a:58:00:02");
        assert_string_equal(argv_after(v, "--control"), "control.sock");
        assert_null(argv_after(v, "--kvm-device"));
        assert_string_equal(argv_after(v, "--cmdline"), VM_DEFAULT_CMDLINE " ip=10.88.0.2::10.88.0.1:255.255.0.0::eth0:off");

        /* the user's own ip= wins; no tap: no --net; a test KVM device is passed on */
        c.cmdline = strdup("console=ttyS0 ip=dhcp");
        VmLaunch none = { .vmm = "vmm", .kernel_ip_arg = "ip=1.2.3.4", .kvm_device = "/tmp/kvm" };
        _cleanup_strv_free_ char **w = NULL;
        assert_int_equal(vm_config_vmm_argv(&c, &none, &w, NULL), 0);
        assert_string_equal(argv_after(w, "--cmdline"), "console=ttyS0 ip=dhcp");
        assert_null(argv_after(w, "--net"));
        assert_null(argv_after(w, "--control"));
        assert_string_equal(argv_after(w, "--kvm-device"), "/tmp/kvm");
        assert_null(argv_after(w, "--console-log"));

        /* --isolation=vm: serial to a FIFO, the process's stdio on the virtio console */
        VmLaunch guest = { .vmm = "vmm", .console_log = "serial.fifo", .virtio_console = true, .agent_fd = 3 };
        _cleanup_strv_free_ char **x = NULL;
        assert_int_equal(vm_config_vmm_argv(&c, &guest, &x, NULL), 0);
        assert_string_equal(argv_after(x, "--console-log"), "serial.fifo");
        assert_true(strv_contains(x, "--virtio-console"));
        assert_false(strv_contains(w, "--virtio-console"));
        /* ... and the guest agent's channel on fd 3; none without it */
        assert_string_equal(argv_after(x, "--agent-fd"), "3");
        assert_null(argv_after(w, "--agent-fd"));
        vm_config_done(&c);
}

/* --isolation's default: the network's label wins over the image's; bad values are named. */
static void test_isolation_pick(void **state) {
        (void) state;
        _cleanup_json_ json_t *vm = json_pack("{s:s}", VM_ISOLATION_LABEL, "vm"),
                              *ctr = json_pack("{s:s}", VM_ISOLATION_LABEL, "container"),
                              *other = json_pack("{s:s}", "x", "y"), *bad = json_pack("{s:s}", VM_ISOLATION_LABEL, "hyperv");
        const char *pick = "unset";
        assert_int_equal(vm_isolation_pick(NULL, "network n", NULL, "image i", &pick, NULL), 0);
        assert_null(pick);
        assert_int_equal(vm_isolation_pick(other, "network n", other, "image i", &pick, NULL), 0);
        assert_null(pick);
        assert_int_equal(vm_isolation_pick(NULL, "network n", vm, "image i", &pick, NULL), 0);
        assert_string_equal(pick, "vm");
        assert_int_equal(vm_isolation_pick(ctr, "network n", vm, "image i", &pick, NULL), 0);
        assert_string_equal(pick, "container");
        assert_int_equal(vm_isolation_pick(vm, "network n", ctr, "image i", &pick, NULL), 0);
        assert_string_equal(pick, "vm");
        KError *err = NULL;
        assert_true(vm_isolation_pick(NULL, "network n", bad, "image busybox", &pick, &err) < 0);
        assert_non_null(strstr(err->msg, "image busybox: label io.kapsel.isolation=hyperv: expected vm or container"));
        kerr_free(err);
}

static void test_boot_timeout_parse_and_store(void **state) {
        int t = -7;
        assert_int_equal(vm_config_parse_boot_timeout("90", &t, NULL), 0);
        assert_int_equal(t, 90);
        assert_int_equal(vm_config_parse_boot_timeout("45s", &t, NULL), 0);
        assert_int_equal(t, 45);
        assert_int_equal(vm_config_parse_boot_timeout("2m", &t, NULL), 0);
        assert_int_equal(t, 120);
        assert_int_equal(vm_config_parse_boot_timeout("0", &t, NULL), 0);
        assert_int_equal(t, 0);
        static const char *const bad[] = { "", "-1", "1.5", "10h", "s", "99999999999", "1441m" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                KError *err = NULL;
                assert_int_equal(vm_config_parse_boot_timeout(bad[i], &t, &err), -EINVAL);
                assert_non_null(strstr(err->msg, "--boot-timeout"));
                kerr_free(err);
        }
        VmConfig c, back;
        vm_config_init(&c);
        assert_int_equal(c.boot_timeout, -1);
        c.kernel = strdup("/k");
        c.boot_timeout = 30;
        c.boot_ready = strdup("login:");
        json_t *j = vm_config_to_json(&c);
        json_t *host = json_object_get(j, "HostConfig");
        assert_int_equal(json_integer_value(json_object_get(host, "VmBootTimeout")), 30);
        assert_string_equal(json_string_value(json_object_get(host, "VmBootReady")), "login:");
        assert_int_equal(vm_config_from_json(j, &back, NULL), 0);
        assert_int_equal(back.boot_timeout, 30);
        assert_string_equal(back.boot_ready, "login:");
        vm_config_done(&back);
        json_decref(j);
        vm_config_done(&c);
}

#define WAIT_EXIT(n) ((n) << 8)
#define WAIT_SIGNAL(s) (s)

static void test_vmm_exit_codes(void **state) {
        VmPayload p = VM_PAYLOAD_INIT;
        /* a guest's own report wins */
        assert_int_equal(vm_payload_exit_code(&p, WAIT_EXIT(0), true, 3, false), 3);
        assert_string_equal(p.error, "");
        /* a kill is 128+signal, with what happened */
        assert_int_equal(vm_payload_exit_code(&p, WAIT_SIGNAL(9), true, -1, false), 137);
        assert_string_equal(p.error, "kapsel-vmm killed by SIGKILL");
        p.error[0] = 0;
        assert_int_equal(vm_payload_exit_code(&p, WAIT_SIGNAL(15), false, -1, false), 143);
        assert_string_equal(p.error, "kapsel-vmm killed by SIGTERM");
        /* a requested stop is not an error */
        p.error[0] = 0;
        assert_int_equal(vm_payload_exit_code(&p, WAIT_SIGNAL(9), false, -1, true), 137);
        assert_int_equal(vm_payload_exit_code(&p, WAIT_EXIT(0), true, -1, true), 137);
        assert_string_equal(p.error, "");
        /* never 0 for a guest whose process did not report */
        assert_int_equal(vm_payload_exit_code(&p, WAIT_EXIT(0), true, -1, false), 125);
        assert_non_null(strstr(p.error, "before its process reported an exit status"));
        /* a VM that powered off is a success; kapsel-vmm's failure is 125 with its last line */
        p.error[0] = 0;
        assert_int_equal(vm_payload_exit_code(&p, WAIT_EXIT(0), false, -1, false), 0);
        assert_string_equal(p.error, "");
        const char err[] = "kapsel-vmm: something\nkapsel-vmm: /dev/kvm: KVM API version -1\n";
        vm_payload_stderr(&p, err, sizeof(err) - 1);
        assert_int_equal(vm_payload_exit_code(&p, WAIT_EXIT(1), false, -1, false), 125);
        assert_string_equal(p.error, "kapsel-vmm failed (exit status 1): /dev/kvm: KVM API version -1");
        vm_payload_done(&p);
}

static void test_boot_watchdog(void **state) {
        VmPayload p = VM_PAYLOAD_INIT;
        char msg[4096];
        /* vm run: any console output is the boot */
        p.boot_timer_fd = -1;
        vm_payload_console(&p, "x", 1, true);
        assert_true(p.booted);
        assert_false(vm_payload_boot_expired(&p, msg, sizeof(msg)));
        /* --boot-ready: only its text, even split across reads */
        p = (VmPayload) VM_PAYLOAD_INIT;
        p.boot_ready = strdup("login:");
        p.boot_timeout = 5;
        vm_payload_console(&p, "booting\nlog", 11, true);
        assert_false(p.booted);
        vm_payload_console(&p, "in: ", 4, true);
        assert_true(p.booted);
        /* expired: the limit, why, and the console's last lines */
        p.booted = false;
        assert_true(vm_payload_boot_expired(&p, msg, sizeof(msg)));
        assert_true(p.boot_timed_out);
        assert_non_null(strstr(msg, "did not boot within 5 s (--boot-timeout)"));
        assert_non_null(strstr(msg, "did not show \"login:\""));
        assert_non_null(strstr(msg, "  | booting\n  | login: \n"));
        assert_int_equal(vm_payload_exit_code(&p, WAIT_SIGNAL(9), false, -1, false), 125);
        assert_non_null(strstr(p.error, "did not boot within 5 s"));
        vm_payload_done(&p);
        /* a silent guest; a tail longer than the buffer keeps its end */
        p = (VmPayload) VM_PAYLOAD_INIT;
        p.boot_timeout = 1;
        assert_true(vm_payload_boot_expired(&p, msg, sizeof(msg)));
        assert_non_null(strstr(msg, "printed nothing on its console"));
        /* control sequences from the guest are not passed on */
        vm_payload_console(&p, "a\x1b[2Jb\r\n", 8, false);
        p.boot_timed_out = false;
        assert_true(vm_payload_boot_expired(&p, msg, sizeof(msg)));
        assert_non_null(strstr(msg, "  | a?[2Jb\n"));
        p.tail_len = 0;
        static char big[3 * VM_CONSOLE_TAIL];
        memset(big, 'a', sizeof(big));
        memcpy(big + sizeof(big) - 5, "\nEND\n", 5);
        vm_payload_console(&p, big, sizeof(big), false);
        vm_payload_console(&p, "tail\n", 5, false);
        assert_int_equal(p.tail_len, VM_CONSOLE_TAIL);
        assert_memory_equal(p.tail + VM_CONSOLE_TAIL - 10, "\nEND\ntail\n", 10);
        vm_payload_done(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_disk),
                cmocka_unit_test(test_memory),
                cmocka_unit_test(test_cpus_and_net),
                cmocka_unit_test(test_json_round_trip),
                cmocka_unit_test(test_bzimage_and_check),
                cmocka_unit_test(test_vmm_argv),
                cmocka_unit_test(test_isolation_pick),
                cmocka_unit_test(test_boot_timeout_parse_and_store),
                cmocka_unit_test(test_vmm_exit_codes),
                cmocka_unit_test(test_boot_watchdog),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
