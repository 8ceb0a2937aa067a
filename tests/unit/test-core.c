/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the runtime core that need no root: mount option parsing, state files,
 * pid start times, ids, the sync protocol, hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "hooks.h"
#include "init.h"
#include "json-util.h"
#include "plan.h"
#include "state.h"

static void test_mount_options(void **state) {
        static char *opts[] = { "rbind", "ro", "nosuid", "rw", "noexec", "rslave", "size=1m", "mode=755", "defaults" };
        PlanMount m = { .kind = PLAN_MOUNT_FS, .dest = "/x" };
        assert_int_equal(plan_parse_mount_options(opts, ELEMENTSOF(opts), &m, NULL), 0);
        assert_int_equal(m.kind, PLAN_MOUNT_BIND);
        assert_true(m.recursive);
        assert_int_equal(m.flags, MS_NOSUID | MS_NOEXEC);      /* "rw" cleared "ro" */
        assert_int_equal(m.propagation, MS_SLAVE | MS_REC);
        assert_string_equal(m.data, "size=1m,mode=755");
        free(m.data);
}

static void test_mount_options_idmap_refused(void **state) {
        static char *opts[] = { "idmap" };
        PlanMount m = { .kind = PLAN_MOUNT_BIND, .dest = "/x" };
        _cleanup_kerr_ KError *e = NULL;
        assert_true(plan_parse_mount_options(opts, 1, &m, &e) < 0);
        assert_non_null(strstr(e->msg, "idmap"));
        assert_int_equal(e->kind, KERR_CONFIG);
}

static void test_container_ids(void **state) {
        assert_true(container_id_valid("abc-1.2_x+y"));
        assert_false(container_id_valid(""));
        assert_false(container_id_valid("../etc"));
        assert_false(container_id_valid("a/b"));
        assert_false(container_id_valid(".hidden"));
        char long_id[200];
        memset(long_id, 'a', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        assert_false(container_id_valid(long_id));
}

static void test_proc_start_time(void **state) {
        assert_true(proc_start_time(getpid()) > 0);
        pid_t child = fork();
        if (child == 0)
                _exit(0);
        /* a zombie has no start time: it is not running */
        for (int i = 0; i < 100; i++) {
                if (proc_start_time(child) == 0)
                        break;
                usleep(10000);
        }
        assert_int_equal(proc_start_time(child), 0);
        waitpid(child, NULL, 0);
        assert_int_equal(proc_start_time(child), 0);
}

static void test_state_roundtrip(void **state) {
        char root[] = "/tmp/kapsel-state-XXXXXX";
        assert_non_null(mkdtemp(root));
        _cleanup_kerr_ KError *e = NULL;
        _cleanup_close_ int dfd = state_dir_create(root, "c1", &e);
        assert_true(dfd >= 0);
        /* duplicate ids are refused with their own kind */
        assert_int_equal(state_dir_create(root, "c1", &e), -EEXIST);
        assert_int_equal(e->kind, KERR_EXISTS);
        assert_non_null(strstr(e->msg, "already exists"));

        char *ann[] = { "k", "v", NULL };
        ContainerState s = {
                .id = "c1", .pid = getpid(), .pid_start = proc_start_time(getpid()), .bundle = "/b",
                .rootfs = "/b/rootfs", .created = "2026-01-01T00:00:00Z", .cgroup_path = "/kapsel/c1",
                .cgroup_mode = CGROUP_MODE_V2, .annotations = ann,
        };
        assert_int_equal(state_save(dfd, &s, NULL), 0);
        _cleanup_(container_state_freep) ContainerState *back = NULL;
        assert_int_equal(state_load(dfd, "c1", &back, NULL), 0);
        assert_int_equal(back->pid, getpid());
        assert_string_equal(back->bundle, "/b");
        assert_string_equal(back->cgroup_path, "/kapsel/c1");
        assert_int_equal(back->cgroup_mode, CGROUP_MODE_V2);
        assert_string_equal(back->annotations[1], "v");
        /* alive pid + start.sock present = created; without it = running */
        back->cgroup_path = mfree(back->cgroup_path);
        assert_int_equal(mknodat(dfd, "start.sock", S_IFREG | 0600, 0), 0);
        assert_int_equal(state_status(dfd, back), STATUS_CREATED);
        assert_int_equal(unlinkat(dfd, "start.sock", 0), 0);
        assert_int_equal(state_status(dfd, back), STATUS_RUNNING);
        /* a recycled pid (other start time) is stopped */
        back->pid_start++;
        assert_int_equal(state_status(dfd, back), STATUS_STOPPED);

        _cleanup_json_ json_t *j = state_to_json(back, STATUS_STOPPED);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "stopped");
        assert_int_equal(json_integer_value(json_object_get(j, "pid")), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "annotations"), "k")), "v");

        assert_int_equal(state_dir_remove(root, "c1", NULL), 0);
        _cleanup_kerr_ KError *e2 = NULL;
        assert_int_equal(state_dir_open(root, "c1", &e2), -ENOENT);
        assert_int_equal(e2->kind, KERR_NOT_FOUND);
        rmdir(root);
}

static void test_half_created_state(void **state) {
        char root[] = "/tmp/kapsel-state-XXXXXX";
        assert_non_null(mkdtemp(root));
        _cleanup_close_ int dfd = state_dir_create(root, "half", NULL);
        assert_true(dfd >= 0);
        _cleanup_(container_state_freep) ContainerState *s = NULL;
        assert_int_equal(state_load(dfd, "half", &s, NULL), 0);
        assert_int_equal(s->pid, 0);
        /* no init yet (or its create died): "creating", which only delete --force removes */
        assert_int_equal(state_status(dfd, s), STATUS_CREATING);
        assert_int_equal(state_dir_remove(root, "half", NULL), 0);
        rmdir(root);
}

static void test_sync_protocol(void **state) {
        int sp[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(sync_send(sp[0], SYNC_GO, "{\"id\":\"x\"}"), 0);
        assert_int_equal(sync_send(sp[0], SYNC_READY, NULL), 0);
        uint32_t type;
        _cleanup_free_ char *payload = NULL;
        assert_int_equal(sync_recv(sp[1], &type, &payload), 0);
        assert_int_equal(type, SYNC_GO);
        assert_string_equal(payload, "{\"id\":\"x\"}");
        assert_int_equal(sync_recv(sp[1], &type, NULL), 0);
        assert_int_equal(type, SYNC_READY);
        close(sp[0]);
        assert_int_equal(sync_recv(sp[1], &type, NULL), -EPIPE);
        close(sp[1]);
}

static void test_hooks_stdin_and_failure(void **state) {
        char dir[] = "/tmp/kapsel-hooks-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char out[64], cmd[256];
        snprintf(out, sizeof(out), "%s/out", dir);
        snprintf(cmd, sizeof(cmd), "cat > %s; echo \"$0 $HOOKVAR\" >> %s", out, out);
        char *args[] = { "sh", "-c", cmd, NULL };
        char *env[] = { "HOOKVAR=yes", NULL };
        SpecHook ok = { .path = "/bin/sh", .args = args, .env = env };
        assert_int_equal(hooks_run(HOOK_POSTSTART, &ok, 1, "{\"id\":\"c\"}", NULL), 0);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(read_full_file_at(AT_FDCWD, out, 4096, &text, NULL), 0);
        assert_string_equal(text, "{\"id\":\"c\"}sh yes\n");

        char *fail_args[] = { "sh", "-c", "exit 3", NULL };
        SpecHook bad = { .path = "/bin/sh", .args = fail_args };
        _cleanup_kerr_ KError *e = NULL;
        assert_true(hooks_run(HOOK_PRESTART, &bad, 1, "{}", &e) < 0);
        assert_non_null(strstr(e->msg, "exit status 3"));

        char *slow_args[] = { "sh", "-c", "sleep 10", NULL };
        SpecHook slow = { .path = "/bin/sh", .args = slow_args, .timeout = 1 };
        _cleanup_kerr_ KError *e2 = NULL;
        assert_int_equal(hooks_run(HOOK_POSTSTOP, &slow, 1, "{}", &e2), -ETIMEDOUT);
        assert_non_null(strstr(e2->msg, "timed out"));
        unlink(out);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mount_options),
                cmocka_unit_test(test_mount_options_idmap_refused),
                cmocka_unit_test(test_container_ids),
                cmocka_unit_test(test_proc_start_time),
                cmocka_unit_test(test_state_roundtrip),
                cmocka_unit_test(test_half_created_state),
                cmocka_unit_test(test_sync_protocol),
                cmocka_unit_test(test_hooks_stdin_and_failure),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
