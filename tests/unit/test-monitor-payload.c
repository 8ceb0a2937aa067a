/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the monitor's payload choice (src/engine/monitor-internal.h): a row of kind vm
 * gets kapsel-vmm, a container with HostConfig.Isolation "vm" gets kapsel-vmm with a guest, any
 * other container the runtime core; and what the payloads decide without a process: which may be
 * probed for health and checked for OOM, what a VM's console and kapsel-vmm's stderr mean, and
 * what State.Error a payload reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "monitor-internal.h"

static const MonitorPayload *pick(CtrKind kind, const char *config_json) {
        json_error_t jerr;
        CtrRecord rec = { .kind = kind, .config = config_json ? json_loads(config_json, 0, &jerr) : NULL };
        if (config_json)
                assert_non_null(rec.config);
        const MonitorPayload *p = monitor_payload_for(&rec);
        json_decref(rec.config);
        return p;
}

static void test_choice(void **state) {
        (void) state;
        assert_ptr_equal(pick(CTR_KIND_CONTAINER, NULL), &monitor_payload_container);
        assert_ptr_equal(pick(CTR_KIND_CONTAINER, "{\"HostConfig\": {}}"), &monitor_payload_container);
        assert_ptr_equal(pick(CTR_KIND_CONTAINER, "{\"HostConfig\": {\"Isolation\": \"default\"}}"),
                         &monitor_payload_container);
        assert_ptr_equal(pick(CTR_KIND_CONTAINER, "{\"HostConfig\": {\"Isolation\": \"container\"}}"),
                         &monitor_payload_container);
        assert_ptr_equal(pick(CTR_KIND_CONTAINER, "{\"HostConfig\": {\"Isolation\": \"vm\"}}"), &monitor_payload_guest);
        assert_ptr_equal(pick(CTR_KIND_VM, "{\"HostConfig\": {}}"), &monitor_payload_vm);
        /* a VM is a VM whatever its HostConfig says about isolation */
        assert_ptr_equal(pick(CTR_KIND_VM, "{\"HostConfig\": {\"Isolation\": \"vm\"}}"), &monitor_payload_vm);
        assert_ptr_equal(pick(CTR_KIND_VM, NULL), &monitor_payload_vm);
}

/* Every payload can be prepared, created, started and killed; only a namespaced container has
 * health probes (exec'd through the runtime core) and a memory cgroup to check for an OOM kill;
 * only a guest has a second output line (its ttyS0) that is paused with the stdio. */
static void test_tables(void **state) {
        (void) state;
        const MonitorPayload *all[] = { &monitor_payload_container, &monitor_payload_vm, &monitor_payload_guest };
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                assert_non_null(all[i]->name);
                assert_non_null(all[i]->prepare);
                assert_non_null(all[i]->create);
                assert_non_null(all[i]->start);
                assert_non_null(all[i]->kill);
                assert_non_null(all[i]->cleanup);
        }
        assert_true(monitor_payload_container.health_probes);
        assert_false(monitor_payload_vm.health_probes);
        assert_false(monitor_payload_guest.health_probes);
        assert_non_null(monitor_payload_container.oom_killed);
        assert_null(monitor_payload_vm.oom_killed);
        assert_null(monitor_payload_guest.oom_killed);
        /* a container's exit code is its init's wait status; the VMs' is worked out at the end */
        assert_null(monitor_payload_container.ended);
        assert_non_null(monitor_payload_vm.ended);
        assert_non_null(monitor_payload_guest.ended);
        assert_null(monitor_payload_container.side_fd);
        assert_null(monitor_payload_vm.side_fd);
        assert_non_null(monitor_payload_guest.side_fd);
}

static Monitor monitor_init(void) {
        return (Monitor) { .log_fd = -1, .out_fd = -1, .err_fd = -1, .in_fd = -1, .master = -1, .listen_fd = -1,
                           .sig_fd = -1, .ep = -1, .health = { .timer_fd = -1 }, .vm = VM_PAYLOAD_INIT,
                           .guest = VM_ISOLATION_INIT, .exec = EXEC_RELAY_INIT };
}

/* A VM's serial console is a byte stream both ways: never a tty, stdin always open. */
static void test_vm_stdio(void **state) {
        (void) state;
        Monitor m = monitor_init();
        m.tty = true;
        m.open_stdin = false;
        assert_int_equal(monitor_payload_vm.prepare(&m, NULL), 0);
        assert_false(m.tty);
        assert_true(m.open_stdin);
        monitor_payload_vm.cleanup(&m);
}

/* kapsel-vmm's stderr is kept for State.Error; a VM's console (not a guest's process output)
 * marks the boot. */
static void test_vm_output(void **state) {
        (void) state;
        Monitor m = monitor_init();
        monitor_payload_vm.output(&m, ATTACH_STDOUT, "Linux version\n", 14);
        assert_true(m.vm.booted);
        assert_int_equal(m.vm.tail_len, 14);
        monitor_payload_vm.output(&m, ATTACH_STDERR, "kapsel-vmm: no KVM\n", 19);
        assert_non_null(strstr(m.vm.err_line, "no KVM"));
        monitor_payload_vm.cleanup(&m);

        Monitor g = monitor_init();
        monitor_payload_guest.output(&g, ATTACH_STDOUT, "hello\n", 6);
        assert_false(g.vm.booted);      /* the process's output says nothing about the boot */
        assert_int_equal(g.vm.tail_len, 0);
        monitor_payload_guest.output(&g, ATTACH_STDERR, "kapsel-vmm: gone\n", 17);
        assert_non_null(strstr(g.vm.err_line, "gone"));
        monitor_payload_guest.cleanup(&g);
}

/* State.Error: what kapsel-vmm left, and nothing for a container. */
static void test_error(void **state) {
        (void) state;
        Monitor m = monitor_init();
        assert_null(monitor_payload_container.error);
        assert_null(monitor_payload_vm.error(&m));
        strcpy(m.vm.error, "kapsel-vmm failed");
        assert_string_equal(monitor_payload_vm.error(&m), "kapsel-vmm failed");
        assert_string_equal(monitor_payload_guest.error(&m), "kapsel-vmm failed");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_choice),
                cmocka_unit_test(test_tables),
                cmocka_unit_test(test_vm_stdio),
                cmocka_unit_test(test_vm_output),
                cmocka_unit_test(test_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
