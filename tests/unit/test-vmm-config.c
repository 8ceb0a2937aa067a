/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-vmm's command line and the control-socket protocol (pure parts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "vmm-config.h"

#define ARGV(...) ((char *[]) { "kapsel-vmm", __VA_ARGS__, NULL })
#define ARGC(...) ((int) (sizeof((char *[]) { "kapsel-vmm", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(c, err, ...) vmm_config_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), c, err)

static void test_config_incoming(void **state) {
        VmmConfig c;
        char *argv[] = { "kapsel-vmm", "--incoming", "unix:/m.sock", "--migration-token", "s3cret", NULL };
        assert_int_equal(vmm_config_parse(5, argv, &c, NULL), 0);      /* no --kernel needed */
        assert_string_equal(c.incoming, "unix:/m.sock");
        assert_string_equal(c.migration_token, "s3cret");
        vmm_config_done(&c);
        char *both[] = { "kapsel-vmm", "--incoming", "unix:/m", "--restore", "/s", NULL };
        KError *e = NULL;
        assert_int_equal(vmm_config_parse(5, both, &c, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "one source of state"));
        kerr_free(e);
        vmm_config_done(&c);
}

static void test_config_restore(void **state) {
        VmmConfig c;
        char *argv[] = { "kapsel-vmm", "--restore", "/snap", "--memory", "256M", NULL };
        assert_int_equal(vmm_config_parse(5, argv, &c, NULL), 0);      /* no --kernel needed */
        assert_string_equal(c.restore, "/snap");
        vmm_config_done(&c);
}

static void test_config_defaults(void **state) {
        VmmConfig c;
        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k"), 0);
        assert_string_equal(c.kernel, "/k");
        assert_null(c.initrd);
        assert_int_equal(c.cpus, 1);
        assert_int_equal(c.memory, 512ULL << 20);
        assert_string_equal(c.cmdline, VMM_DEFAULT_CMDLINE);
        assert_true(c.seccomp);
        assert_string_equal(c.kvm_dev, "/dev/kvm");
        assert_int_equal(c.n_disks, 0);
        assert_null(c.tap);
        vmm_config_done(&c);
}

static void test_config_full(void **state) {
        VmmConfig c;
        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k", "--initrd", "/i", "--cmdline", "quiet", "--cpus", "4",
                               "--memory", "2G", "--disk", "/a.img", "--disk", "/b.img,ro", "--net",
                               "tap=tap0,mac=02:00:00:00:00:01", "--rng", "--balloon", "--console-log", "/log",
                               "--control", "/s", "--hugepages", "--ksm", "--no-seccomp"), 0);
        assert_int_equal(c.cpus, 4);
        assert_int_equal(c.memory, 2ULL << 30);
        assert_int_equal(c.n_disks, 2);
        assert_string_equal(c.disks[0].path, "/a.img");
        assert_false(c.disks[0].readonly);
        assert_string_equal(c.disks[1].path, "/b.img");
        assert_true(c.disks[1].readonly);
        assert_string_equal(c.tap, "tap0");
        assert_true(c.has_mac);
        assert_int_equal(c.mac[5], 1);
        assert_true(c.rng && c.balloon && c.hugepages && c.ksm);
        assert_false(c.seccomp);
        assert_string_equal(c.console_log, "/log");
        assert_string_equal(c.control, "/s");
        vmm_config_done(&c);
}

static void test_config_memory_bare_number_is_mib(void **state) {
        VmmConfig c;
        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k", "--memory", "256"), 0);
        assert_int_equal(c.memory, 256ULL << 20);
        vmm_config_done(&c);
}

/* The guest consoles: hvc0 to a file implies the virtio console; the serial port keeps stdin. */
static void test_config_consoles(void **state) {
        VmmConfig c;
        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k"), 0);
        assert_false(c.virtio_console);
        assert_null(c.virtio_console_out);
        assert_null(c.serial_in);
        vmm_config_done(&c);

        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k", "--virtio-console-out", "/hvc", "--serial-in", "/fifo"), 0);
        assert_true(c.virtio_console);
        assert_string_equal(c.virtio_console_out, "/hvc");
        assert_string_equal(c.serial_in, "/fifo");
        vmm_config_done(&c);

        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k", "--virtio-console", "--serial-in", "none"), 0);
        assert_true(c.virtio_console);
        assert_null(c.virtio_console_out);
        assert_string_equal(c.serial_in, "none");
        vmm_config_done(&c);

        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k", "--virtio-console-out", "/hvc", "--serial-in", "-"), 0);
        assert_string_equal(c.serial_in, "-");
        vmm_config_done(&c);
}

static void expect_usage_error(int argc, char **argv, const char *needle) {
        VmmConfig c;
        _cleanup_kerr_ KError *err = NULL;
        assert_true(vmm_config_parse(argc, argv, &c, &err) < 0);
        assert_non_null(err);
        assert_int_equal(err->kind, KERR_USAGE);
        if (!strstr(err->msg, needle))
                fail_msg("'%s' not in '%s'", needle, err->msg);
        vmm_config_done(&c);
}
#define EXPECT_USAGE(needle, ...) expect_usage_error(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), needle)

static void test_config_errors(void **state) {
        EXPECT_USAGE("--kernel is required", "--cpus", "2");
        EXPECT_USAGE("--cpus 0", "--kernel", "/k", "--cpus", "0");
        EXPECT_USAGE("--cpus 65", "--kernel", "/k", "--cpus", "65");
        EXPECT_USAGE("--cpus x", "--kernel", "/k", "--cpus", "x");
        EXPECT_USAGE("--memory lots", "--kernel", "/k", "--memory", "lots");
        EXPECT_USAGE("multiple of 2 MiB", "--kernel", "/k", "--memory", "1000K");
        EXPECT_USAGE("unknown option 'rw'", "--kernel", "/k", "--disk", "/a,rw");
        EXPECT_USAGE("empty path", "--kernel", "/k", "--disk", ",ro");
        EXPECT_USAGE("expected tap=NAME", "--kernel", "/k", "--net", "bridge");
        EXPECT_USAGE("1..15 characters", "--kernel", "/k", "--net", "tap=0123456789abcdef");
        EXPECT_USAGE("mac=", "--kernel", "/k", "--net", "tap=t,mac=01:00:00:00:00:01");  /* multicast */
        EXPECT_USAGE("mac=", "--kernel", "/k", "--net", "tap=t,mac=02:00:00:00:00");
        EXPECT_USAGE("--serial-in: empty path", "--kernel", "/k", "--serial-in", "");
        EXPECT_USAGE("--virtio-console-out: empty path", "--kernel", "/k", "--virtio-console-out", "");
        EXPECT_USAGE("--console-log: empty path", "--kernel", "/k", "--console-log", "");
        EXPECT_USAGE("stdin belongs to --virtio-console", "--kernel", "/k", "--virtio-console", "--serial-in", "-");
        EXPECT_USAGE("--bogus", "--kernel", "/k", "--bogus");
        EXPECT_USAGE("unexpected argument 'extra'", "--kernel", "/k", "extra");
        EXPECT_USAGE("at most 8 disks", "--kernel", "/k", "--disk", "1", "--disk", "2", "--disk", "3", "--disk", "4",
                     "--disk", "5", "--disk", "6", "--disk", "7", "--disk", "8", "--disk", "9");
}

/* --agent-fd: a second virtio console on an inherited fd, only behind a first one (hvc1). */
static void test_config_agent_fd(void **state) {
        VmmConfig c;
        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k"), 0);
        assert_int_equal(c.agent_fd, -1);
        vmm_config_done(&c);
        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k", "--virtio-console", "--agent-fd", "7"), 0);
        assert_int_equal(c.agent_fd, 7);
        assert_true(c.virtio_console);
        vmm_config_done(&c);
        assert_int_equal(PARSE(&c, NULL, "--kernel", "/k", "--agent-fd", "3", "--virtio-console-out", "/hvc"), 0);
        assert_int_equal(c.agent_fd, 3);
        vmm_config_done(&c);

        EXPECT_USAGE("--agent-fd 5: needs a first virtio console", "--kernel", "/k", "--agent-fd", "5");
        EXPECT_USAGE("--agent-fd x: expected a file descriptor number >= 3", "--kernel", "/k", "--virtio-console",
                     "--agent-fd", "x");
        EXPECT_USAGE("--agent-fd 2: expected", "--kernel", "/k", "--virtio-console", "--agent-fd", "2");
        EXPECT_USAGE("--agent-fd -4: expected", "--kernel", "/k", "--virtio-console", "--agent-fd", "-4");
        EXPECT_USAGE("--agent-fd 99999999999: expected", "--kernel", "/k", "--virtio-console", "--agent-fd",
                     "99999999999");
        EXPECT_USAGE("--agent-fd : expected", "--kernel", "/k", "--virtio-console", "--agent-fd", "");
}

static void expect_agent_fd_refused(int fd, const char *needle) {
        _cleanup_kerr_ KError *err = NULL;
        assert_true(vmm_config_check_agent_fd(fd, &err) < 0);
        assert_non_null(err);
        assert_int_equal(err->kind, KERR_USAGE);
        if (!strstr(err->msg, needle))
                fail_msg("'%s' not in '%s'", needle, err->msg);
}

/* What the fd itself must be (checked when the consoles are opened, not while parsing). */
static void test_config_agent_fd_check(void **state) {
        int sv[2], p[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(vmm_config_check_agent_fd(sv[0], NULL), 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        expect_agent_fd_refused(p[0], "not open for reading and writing");
        _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        assert_true(null >= 0);
        assert_int_equal(vmm_config_check_agent_fd(null, NULL), 0);

        char path[] = "/tmp/kapsel-agent-XXXXXX";
        _cleanup_close_ int file = mkostemp(path, O_CLOEXEC);
        assert_true(file >= 0);
        unlink(path);
        expect_agent_fd_refused(file, "a regular file cannot be polled");
        char fdstr[16];
        snprintf(fdstr, sizeof(fdstr), "--agent-fd %d:", file);
        expect_agent_fd_refused(file, fdstr);
        _cleanup_close_ int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        expect_agent_fd_refused(dir, "a directory");
        int closed = sv[1];
        close(sv[1]);
        expect_agent_fd_refused(closed, "not an open file descriptor");
        close(sv[0]);
        close(p[0]);
        close(p[1]);
}

/* ---- control protocol against fake ops ---- */

typedef struct FakeVm {
        int paused, resumed, stopped;
        uint32_t balloon;
} FakeVm;

static int f_pause(void *o) {
        ((FakeVm *) o)->paused++;
        return 0;
}
static int f_resume(void *o) {
        ((FakeVm *) o)->resumed++;
        return -ESHUTDOWN;
}
static int f_stop(void *o) {
        ((FakeVm *) o)->stopped++;
        return 0;
}
static int f_stats(void *o, json_t *reply) {
        json_object_set_new(reply, "uptime_ms", json_integer(42));
        return 0;
}
static int f_balloon(void *o, uint32_t pages, json_t *reply) {
        ((FakeVm *) o)->balloon = pages;
        json_object_set_new(reply, "target_pages", json_integer(pages));
        return 0;
}
static int f_snapshot(void *o, const char *dir, json_t *reply, char **ret_msg) {
        if (((FakeVm *) o)->paused == 0) {
                *ret_msg = strdup("snapshot: the VM must be paused first (cmd pause)");
                return -EBUSY;
        }
        json_object_set_new(reply, "dir", json_string(dir));
        return 0;
}
static int f_migrate(void *o, const char *to, const char *token, unsigned max_downtime_ms, int fd, json_t *reply,
                     char **ret_msg) {
        close(fd);
        json_object_set_new(reply, "migrating", json_string(to));
        json_object_set_new(reply, "max_downtime_ms", json_integer(max_downtime_ms));
        return 0;
}
static const ControlOps fake_ops = { f_pause, f_resume, f_stop, f_stats, f_balloon, f_snapshot, f_migrate };

static char *req(FakeVm *vm, const char *line) {
        return control_handle_line(&fake_ops, vm, line, strlen(line));
}

static void expect_reply(FakeVm *vm, const char *line, const char *want) {
        char *r = req(vm, line);
        assert_non_null(r);
        if (!strstr(r, want))
                fail_msg("reply to %s: '%s' lacks '%s'", line, r, want);
        free(r);
}

static void test_control_commands(void **state) {
        FakeVm vm = { 0 };
        expect_reply(&vm, "{\"cmd\":\"pause\"}", "{\"ok\":true}");
        assert_int_equal(vm.paused, 1);
        expect_reply(&vm, "{\"cmd\":\"stop\"}", "\"ok\":true");
        assert_int_equal(vm.stopped, 1);
        expect_reply(&vm, "{\"cmd\":\"stats\"}", "\"uptime_ms\":42");
        expect_reply(&vm, "{\"cmd\":\"balloon\",\"pages\":1024}", "\"target_pages\":1024");
        assert_int_equal(vm.balloon, 1024);
        /* an op's failure is reported, not hidden */
        expect_reply(&vm, "{\"cmd\":\"resume\"}", "\"ok\":false");
        assert_int_equal(vm.resumed, 1);
}

/* snapshot needs a dir, and the op's own reason reaches the client */
static void test_control_snapshot(void **state) {
        FakeVm vm = { 0 };
        expect_reply(&vm, "{\"cmd\":\"snapshot\"}", "needs \\\"dir\\\"");
        expect_reply(&vm, "{\"cmd\":\"snapshot\",\"dir\":\"/s\"}", "must be paused first");
        vm.paused = 1;
        expect_reply(&vm, "{\"cmd\":\"snapshot\",\"dir\":\"/s\"}", "\"dir\":\"/s\"");
        /* a VMM without the op answers as for any unknown command */
        static const ControlOps no_snap = { f_pause, f_resume, f_stop, f_stats, f_balloon, NULL };
        const char *line = "{\"cmd\":\"snapshot\",\"dir\":\"/s\"}";
        char *r = control_handle_line(&no_snap, &vm, line, strlen(line));
        assert_non_null(strstr(r, "unknown cmd"));
        free(r);
}

/* migrate with the fd of the connection passed along */
static void expect_migrate(FakeVm *vm, const char *line, const char *want) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        char *r = control_handle_line_fd(&fake_ops, vm, line, strlen(line), &fd);
        assert_non_null(r);
        if (!strstr(r, want))
                fail_msg("reply to %s: '%s' lacks '%s'", line, r, want);
        assert_int_equal(fd, -1);       /* the op took it */
        free(r);
}

static void test_control_migrate(void **state) {
        FakeVm vm = { 0 };
        expect_migrate(&vm, "{\"cmd\":\"migrate\",\"to\":\"unix:/m\",\"token\":\"t\"}", "\"max_downtime_ms\":0");
        expect_migrate(&vm, "{\"cmd\":\"migrate\",\"to\":\"unix:/m\",\"token\":\"t\",\"max_downtime_ms\":50}",
                       "\"max_downtime_ms\":50");
        /* without a connection: refused, saying how to pass one */
        expect_reply(&vm, "{\"cmd\":\"migrate\",\"to\":\"unix:/m\",\"token\":\"t\"}", "SCM_RIGHTS");
        expect_reply(&vm, "{\"cmd\":\"migrate\",\"to\":\"unix:/m\"}", "needs \\\"to\\\" and \\\"token\\\"");
        expect_reply(&vm, "{\"cmd\":\"migrate\",\"to\":\"unix:/m\",\"token\":\"t\",\"max_downtime_ms\":0}", "needs");
        expect_reply(&vm, "{\"cmd\":\"migrate\",\"to\":7,\"token\":\"t\"}", "needs");
}

static void test_control_bad_requests(void **state) {
        FakeVm vm = { 0 };
        expect_reply(&vm, "not json", "\"ok\":false");
        expect_reply(&vm, "[1,2]", "not a JSON object");
        expect_reply(&vm, "{}", "missing \\\"cmd\\\"");
        expect_reply(&vm, "{\"cmd\":7}", "missing");
        expect_reply(&vm, "{\"cmd\":\"reboot\"}", "unknown cmd");
        expect_reply(&vm, "{\"cmd\":\"balloon\"}", "needs \\\"pages\\\"");
        expect_reply(&vm, "{\"cmd\":\"balloon\",\"pages\":-1}", "needs");
        expect_reply(&vm, "{\"cmd\":\"balloon\",\"pages\":99999999999}", "needs");
        expect_reply(&vm, "{\"cmd\":\"pause\",\"cmd\":\"stop\"}", "\"ok\":false");       /* duplicate key */
        assert_int_equal(vm.paused + vm.stopped + (int) vm.balloon, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_defaults),
                cmocka_unit_test(test_config_restore),
                cmocka_unit_test(test_config_incoming),
                cmocka_unit_test(test_config_full),
                cmocka_unit_test(test_config_memory_bare_number_is_mib),
                cmocka_unit_test(test_config_consoles),
                cmocka_unit_test(test_config_errors),
                cmocka_unit_test(test_config_agent_fd),
                cmocka_unit_test(test_config_agent_fd_check),
                cmocka_unit_test(test_control_commands),
                cmocka_unit_test(test_control_bad_requests),
                cmocka_unit_test(test_control_snapshot),
                cmocka_unit_test(test_control_migrate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
