/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for kapsel-guest-init's process specs (src/helpers/guest-init-spec.c): how an exec
 * request's env, cwd and user combine with the container's process. Pure, no VM, no root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "guest-init.h"
#include "string-util.h"

static void assert_strv(char **got, const char *const *want) {
        size_t i = 0;
        for (; want[i]; i++) {
                assert_non_null(got[i]);
                assert_string_equal(got[i], want[i]);
        }
        assert_null(got[i]);
}

/* Request entries replace the container's of the same key (in place) and new keys follow. */
static void test_env_merge(void **state) {
        (void) state;
        char *base[] = { "PATH=/bin", "HOME=/root", "AB=1", NULL };
        char *over[] = { "HOME=/w", "X=1", "A=2", "X=3", NULL };
        _cleanup_strv_free_ char **v = NULL;
        assert_int_equal(guest_env_merge(base, over, &v), 0);
        assert_strv(v, (const char *const[]) { "PATH=/bin", "HOME=/w", "AB=1", "X=3", "A=2", NULL });
}

/* No container env, no request env: an empty (not NULL) vector. */
static void test_env_merge_empty(void **state) {
        (void) state;
        _cleanup_strv_free_ char **v = NULL, **w = NULL;
        assert_int_equal(guest_env_merge(NULL, NULL, &v), 0);
        assert_non_null(v);
        assert_null(v[0]);
        char *over[] = { "K=", NULL };
        assert_int_equal(guest_env_merge(NULL, over, &w), 0);
        assert_strv(w, (const char *const[]) { "K=", NULL });
}

static ProcSpec container_spec(void) {
        static char *args[] = { "sleep", "inf", NULL };
        static char *env[] = { "PATH=/usr/bin", "TERM=xterm", NULL };
        ProcSpec p = { .args = args, .env = env, .cwd = "/srv", .uid = 1000, .gid = 100, .gids = { 10, 20 },
                       .n_gids = 2, .umask = 027, .n_rl = 1 };
        p.rl[0].res = RLIMIT_NOFILE;
        p.rl[0].lim = (struct rlimit) { 64, 128 };
        return p;
}

/* A bare request runs as the container's process does: its user, cwd, umask, rlimits and env. */
static void test_exec_defaults(void **state) {
        (void) state;
        ProcSpec def = container_spec(), p;
        const char *req = "{\"args\": [\"id\", \"-u\"]}";
        VmAgentExec x;
        assert_int_equal(vm_agent_exec_parse(req, strlen(req), &x, NULL), 0);
        assert_int_equal(guest_spec_for_exec(&def, &x, &p), 0);
        assert_strv(p.args, (const char *const[]) { "id", "-u", NULL });
        assert_strv(p.env, (const char *const[]) { "PATH=/usr/bin", "TERM=xterm", NULL });
        assert_string_equal(p.cwd, "/srv");
        assert_int_equal(p.uid, 1000);
        assert_int_equal(p.gid, 100);
        assert_int_equal(p.n_gids, 2);
        assert_int_equal(p.gids[1], 20);
        assert_int_equal(p.umask, 027);
        assert_int_equal(p.n_rl, 1);
        assert_int_equal(p.rl[0].lim.rlim_max, 128);
        assert_false(p.terminal);
        assert_true(p.args != def.args && p.env != def.env);
        guest_spec_done(&p);
        vm_agent_exec_done(&x);
}

/* cwd and user replace the container's (the user's groups too, even an empty list); tty carries. */
static void test_exec_overrides(void **state) {
        (void) state;
        ProcSpec def = container_spec(), p;
        const char *req = "{\"args\": [\"sh\"], \"env\": [\"TERM=dumb\", \"A=b\"], \"cwd\": \"/tmp\","
                          " \"user\": {\"uid\": 0, \"gid\": 0}, \"tty\": true}";
        VmAgentExec x;
        assert_int_equal(vm_agent_exec_parse(req, strlen(req), &x, NULL), 0);
        assert_int_equal(guest_spec_for_exec(&def, &x, &p), 0);
        assert_strv(p.env, (const char *const[]) { "PATH=/usr/bin", "TERM=dumb", "A=b", NULL });
        assert_string_equal(p.cwd, "/tmp");
        assert_int_equal(p.uid, 0);
        assert_int_equal(p.gid, 0);
        assert_int_equal(p.n_gids, 0);
        assert_true(p.terminal);
        guest_spec_done(&p);
        vm_agent_exec_done(&x);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_env_merge),
                cmocka_unit_test(test_env_merge_empty),
                cmocka_unit_test(test_exec_defaults),
                cmocka_unit_test(test_exec_overrides),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
