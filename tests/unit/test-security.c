/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the confinement layer (security.h): seccomp, sysctl, rlimits, capabilities,
 * OOM score. Anything that changes process state runs in a forked child, which reports
 * through its exit status (0 = as expected; on mismatch it prints why on stderr). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cloned-binary.h"
#include "error.h"
#include "fd-util.h"
#include "security.h"
#include "string-util.h"

#define CHILD_CHECK(cond)                                                                         \
        do {                                                                                      \
                if (!(cond)) {                                                                    \
                        fprintf(stderr, "child check failed at %s:%d: %s\n", __FILE__, __LINE__, \
                                #cond);                                                           \
                        _exit(1);                                                                 \
                }                                                                                 \
        } while (0)

/* Run fn in a child; return its raw wait status. */
static int run_child(void (*fn)(void)) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                fn();
                _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}

static void assert_child_ok(void (*fn)(void)) {
        int status = run_child(fn);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- seccomp ---- */

static char *names_getppid[] = { "kapsel_no_such_syscall", "getppid", NULL };
static char *names_close[] = { "close", NULL };
static char *names_umask[] = { "umask", NULL };
static char *names_getpid[] = { "getpid", NULL };
static char *arches_ok[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", NULL };

/* close(fd): EXDEV when fd == 12345 OR fd == 12347 (same index: separate rules, runc). */
static SpecSeccompArg close_args[] = {
        { .index = 0, .value = 12345, .op = SECCOMP_OP_EQ },
        { .index = 0, .value = 12347, .op = SECCOMP_OP_EQ },
};
/* umask(m): EXDEV when (m & 0700) == 0100: value is the mask, valueTwo the datum. */
static SpecSeccompArg umask_args[] = {
        { .index = 0, .value = 0700, .value_two = 0100, .op = SECCOMP_OP_MASKED_EQ },
};

static SpecSeccompRule test_rules[] = {
        { .names = names_getppid, .action = SECCOMP_ACT_ERRNO, .has_errno_ret = true, .errno_ret = EXDEV },
        { .names = names_close, .action = SECCOMP_ACT_ERRNO, .has_errno_ret = true, .errno_ret = EXDEV,
          .args = close_args, .n_args = 2 },
        { .names = names_umask, .action = SECCOMP_ACT_ERRNO, .has_errno_ret = true, .errno_ret = EXDEV,
          .args = umask_args, .n_args = 1 },
        /* same action as the default: skipped, must not fail */
        { .names = names_getpid, .action = SECCOMP_ACT_ALLOW },
};

static SpecSeccomp test_filter(void) {
        return (SpecSeccomp) {
                .default_action = SECCOMP_ACT_ALLOW,
                .architectures = arches_ok,
                .rules = test_rules,
                .n_rules = ELEMENTSOF(test_rules),
        };
}

static void test_seccomp_compile_ok(void **state) {
        SpecSeccomp s = test_filter();
        _cleanup_kerr_ KError *e = NULL;
        _cleanup_free_ void *prog = NULL;
        size_t len = 0;
        assert_int_equal(seccomp_compile(&s, &prog, &len, &e), 0);
        assert_null(e);
        assert_non_null(prog);
        assert_true(len >= 4 * sizeof(struct sock_filter));
        assert_int_equal(len % sizeof(struct sock_filter), 0);

        /* the docker-like shape: default errno, flags accepted */
        static char *flags[] = { "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", NULL };
        s.default_action = SECCOMP_ACT_ERRNO;
        s.has_default_errno_ret = true;
        s.default_errno_ret = ENOSYS;
        s.flags = flags;
        _cleanup_free_ void *prog2 = NULL;
        size_t len2 = 0;
        assert_int_equal(seccomp_compile(&s, &prog2, &len2, &e), 0);
        assert_true(len2 > 0);
}

static void assert_compile_config_error(const SpecSeccomp *s, const char *needle) {
        _cleanup_kerr_ KError *e = NULL;
        void *prog = NULL;
        size_t len = 0;
        assert_true(seccomp_compile(s, &prog, &len, &e) < 0);
        assert_null(prog);
        assert_non_null(e);
        assert_int_equal(e->kind, KERR_CONFIG);
        if (!strstr(e->msg, needle))
                fail_msg("\"%s\" does not contain \"%s\"", e->msg, needle);
}

static void test_seccomp_compile_errors(void **state) {
        static char *bad_arches[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_VAX", NULL };
        SpecSeccomp s = test_filter();
        s.architectures = bad_arches;
        assert_compile_config_error(&s, "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"");

        s = test_filter();
        s.default_action = SECCOMP_ACT_NOTIFY;
        assert_compile_config_error(&s, "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported");

        SpecSeccompRule rules[2] = { test_rules[0], test_rules[0] };
        rules[1].action = SECCOMP_ACT_NOTIFY;
        rules[1].has_errno_ret = false;
        s = test_filter();
        s.rules = rules;
        s.n_rules = 2;
        /* SCMP_ACT_NOTIFY needs an agent socket, and never for write (the runtime's own). */
        assert_compile_config_error(&s, "linux.seccomp.listenerPath: \"\": SCMP_ACT_NOTIFY needs");
        s.listener_path = (char *) "/run/agent.sock";
        void *prog = NULL;
        size_t len = 0;
        _cleanup_kerr_ KError *ne = NULL;
        assert_int_equal(seccomp_compile(&s, &prog, &len, &ne), 0);
        free(prog);
        static char *write_names[] = { "write", NULL };
        rules[1].names = write_names;
        assert_compile_config_error(&s, "SCMP_ACT_NOTIFY cannot be used for the write syscall");
        s.listener_path = NULL;

        rules[1] = test_rules[0];
        rules[1].errno_ret = 70000;
        assert_compile_config_error(&s, "linux.seccomp.syscalls[1].errnoRet: 70000 is not an errno");

        rules[1] = test_rules[0];
        rules[1].action = SECCOMP_ACT_KILL;
        assert_compile_config_error(&s, "linux.seccomp.syscalls[1].errnoRet: only valid with");

        s = test_filter();
        s.default_action = SECCOMP_ACT_ERRNO;
        s.has_default_errno_ret = true;
        s.default_errno_ret = 4096;
        assert_compile_config_error(&s, "linux.seccomp.defaultErrnoRet: 4096");

        static char *bad_flags[] = { "SECCOMP_FILTER_FLAG_BOGUS", NULL };
        s = test_filter();
        s.flags = bad_flags;
        assert_compile_config_error(&s, "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_BOGUS\"");

        SpecSeccompArg arg = { .index = 6, .op = SECCOMP_OP_EQ };
        rules[1] = test_rules[0];
        rules[1].args = &arg;
        rules[1].n_args = 1;
        s = test_filter();
        s.rules = rules;
        s.n_rules = 2;
        assert_compile_config_error(&s, "linux.seccomp.syscalls[1].args[0].index: 6");

        /* A listener path without any notify rule is accepted (runc ignores it too). */
        s = test_filter();
        s.listener_path = (char *) "/run/listener.sock";
        assert_int_equal(seccomp_compile(&s, &prog, &len, &ne), 0);
        free(prog);
}

static void test_seccomp_only_unknown_syscalls(void **state) {
        static char *unknown[] = { "kapsel_no_such_syscall", NULL };
        SpecSeccompRule rule = { .names = unknown, .action = SECCOMP_ACT_ERRNO };
        SpecSeccomp s = { .default_action = SECCOMP_ACT_ALLOW, .rules = &rule, .n_rules = 1 };
        _cleanup_kerr_ KError *e = NULL;
        _cleanup_free_ void *prog = NULL;
        size_t len = 0;
        assert_int_equal(seccomp_compile(&s, &prog, &len, &e), 0);
        assert_true(len > 0);
}

static void child_seccomp_apply(void) {
        SpecSeccomp s = test_filter();
        CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        KError *e = NULL;
        int r = seccomp_apply(&s, &e);
        if (r < 0)
                fprintf(stderr, "seccomp_apply: %s\n", e->msg);
        CHILD_CHECK(r == 0);
        /* plain rule */
        CHILD_CHECK(syscall(SYS_getppid) == -1 && errno == EXDEV);
        CHILD_CHECK(syscall(SYS_getpid) == getpid());
        /* arg rule: two conditions on arg0 are OR'ed */
        CHILD_CHECK(close(12345) == -1 && errno == EXDEV);
        CHILD_CHECK(close(12347) == -1 && errno == EXDEV);
        CHILD_CHECK(close(12346) == -1 && errno == EBADF);
        /* masked: (m & 0700) == 0100 */
        CHILD_CHECK(syscall(SYS_umask, 0177) == -1 && errno == EXDEV);
        CHILD_CHECK(syscall(SYS_umask, 0022) >= 0);
        CHILD_CHECK(syscall(SYS_umask, 0700) >= 0);
}

static void test_seccomp_apply_in_child(void **state) {
        assert_child_ok(child_seccomp_apply);
}

static void child_seccomp_kill(void) {
        static char *names[] = { "getppid", NULL };
        SpecSeccompRule rule = { .names = names, .action = SECCOMP_ACT_KILL_PROCESS };
        SpecSeccomp s = { .default_action = SECCOMP_ACT_ALLOW, .rules = &rule, .n_rules = 1 };
        CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        CHILD_CHECK(seccomp_apply(&s, NULL) == 0);
        (void) syscall(SYS_getppid);
        _exit(3);
}

static void test_seccomp_kill_process(void **state) {
        int status = run_child(child_seccomp_kill);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* Without no_new_privs, CAP_SYS_ADMIN loads the filter, and the runtime's choice about
 * no_new_privs is kept (libseccomp would otherwise set it). */
static void child_seccomp_no_nnp(void) {
        SpecSeccomp s = test_filter();
        KError *e = NULL;
        int r = seccomp_apply(&s, &e);
        if (r < 0)
                fprintf(stderr, "seccomp_apply: %s\n", e->msg);
        CHILD_CHECK(r == 0);
        CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
        CHILD_CHECK(syscall(SYS_getppid) == -1 && errno == EXDEV);
}

static void test_seccomp_apply_without_nnp(void **state) {
        if (geteuid() != 0)
                skip();
        assert_child_ok(child_seccomp_no_nnp);
}

/* ---- sysctl ---- */

static void assert_kerr(KError *e, KErrorKind kind, const char *needle) {
        assert_non_null(e);
        assert_int_equal(e->kind, kind);
        if (!strstr(e->msg, needle))
                fail_msg("\"%s\" does not contain \"%s\"", e->msg, needle);
}

static void test_sysctl_validate(void **state) {
        static const struct {
                const char *key;
                bool ipc, net, uts;
                bool ok;
        } cases[] = {
                { "net.ipv4.ip_forward", false, true, false, true },
                { "net.ipv4.ip_forward", true, false, true, false },
                { "net/ipv4/conf/eth0.100/forwarding", false, true, false, true },
                { "kernel.shmmax", true, false, false, true },
                { "kernel.shmmax", false, true, true, false },
                { "kernel.shm_rmid_forced", true, false, false, true },
                { "kernel.msgmnb", true, false, false, true },
                { "kernel.sem", true, false, false, true },
                { "kernel/sem", true, false, false, true },
                { "fs.mqueue.msg_max", true, false, false, true },
                { "fs.mqueue.msg_max", false, true, true, false },
                { "kernel.hostname", false, false, true, true },
                { "kernel.domainname", false, false, false, false },
                { "kernel.pid_max", true, true, true, false },
                { "vm.swappiness", true, true, true, false },
                { "kernel.semaphores", true, true, true, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_kerr_ KError *e = NULL;
                int r = sysctl_validate(cases[i].key, cases[i].ipc, cases[i].net, cases[i].uts, &e);
                if (cases[i].ok != (r >= 0))
                        fail_msg("sysctl_validate(%s): %d %s", cases[i].key, r, e ? e->msg : "");
                if (!cases[i].ok) {
                        assert_kerr(e, KERR_CONFIG, cases[i].key);
                        assert_non_null(strstr(e->msg, "linux.sysctl"));
                }
        }
        _cleanup_kerr_ KError *e = NULL;
        assert_true(sysctl_validate("net.core.somaxconn", true, false, true, &e) < 0);
        assert_kerr(e, KERR_CONFIG, "network namespace");
        kerr_free(TAKE_PTR(e));
        assert_true(sysctl_validate("vm.overcommit_memory", true, true, true, &e) < 0);
        assert_kerr(e, KERR_CONFIG, "not namespaced");
}

static void test_sysctl_apply_not_procfs(void **state) {
        char dir[] = "/tmp/kapsel-sec-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(mkdirat(dfd, "sys", 0755), 0);
        _cleanup_close_ int sysfd = openat(dfd, "sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(sysfd >= 0);
        assert_int_equal(mkdirat(sysfd, "net", 0755), 0);
        _cleanup_close_ int f = openat(sysfd, "net/x", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        assert_true(f >= 0);

        _cleanup_kerr_ KError *e = NULL;
        assert_true(sysctl_apply(dfd, "net.x", "1", &e) < 0);
        assert_kerr(e, KERR_ROOTFS, "not on procfs");
        assert_non_null(strstr(e->msg, "net.x"));
        /* nothing was written */
        struct stat st;
        assert_int_equal(fstat(f, &st), 0);
        assert_int_equal(st.st_size, 0);

        assert_int_equal(unlinkat(sysfd, "net/x", 0), 0);
        assert_int_equal(unlinkat(sysfd, "net", AT_REMOVEDIR), 0);
        assert_int_equal(unlinkat(dfd, "sys", AT_REMOVEDIR), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void test_sysctl_apply_bad_keys(void **state) {
        _cleanup_close_ int procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(procfd >= 0);
        static const char *bad[] = {
                "net/../../self/oom_score_adj", "../self/oom_score_adj", "/net/ipv4/ip_forward", "", "net..ipv4",
                "net//ipv4", "net/ipv4/", "net/./ipv4",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_kerr_ KError *e = NULL;
                assert_true(sysctl_apply(procfd, bad[i], "0", &e) < 0);
                assert_kerr(e, KERR_CONFIG, "is not a valid key");
        }
        /* A key that does not exist: a clean config error, nothing created. */
        _cleanup_kerr_ KError *e = NULL;
        assert_int_equal(sysctl_apply(procfd, "net.ipv4.kapsel_no_such_key", "1", &e), -ENOENT);
        assert_kerr(e, KERR_CONFIG, "net.ipv4.kapsel_no_such_key");
}

/* Positive path, without touching the host: /proc/sys/net follows the opener's network
 * namespace, so a child in a fresh one writes only there. */
static void child_sysctl_in_netns(void) {
        if (unshare(CLONE_NEWNET) < 0)
                _exit(77);
        _cleanup_close_ int procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHILD_CHECK(procfd >= 0);
        KError *e = NULL;
        int r = sysctl_apply(procfd, "net.ipv4.ip_forward", "1", &e);
        if (r < 0)
                fprintf(stderr, "sysctl_apply: %s\n", e->msg);
        CHILD_CHECK(r == 0);
        _cleanup_free_ char *text = NULL;
        CHILD_CHECK(read_full_file_at(AT_FDCWD, "/proc/sys/net/ipv4/ip_forward", 64, &text, NULL) == 0);
        CHILD_CHECK(streq(text, "1\n"));
        r = sysctl_apply(procfd, "net/ipv4/ip_forward", "0", NULL);
        CHILD_CHECK(r == 0);
}

static void test_sysctl_apply_in_netns(void **state) {
        if (geteuid() != 0)
                skip();
        int status = run_child(child_sysctl_in_netns);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                skip();
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- rlimits ---- */

static void child_rlimit_lower(void) {
        SpecRlimit rl[] = { { .resource = RLIMIT_NOFILE, .soft = 64, .hard = 128 } };
        CHILD_CHECK(rlimits_apply(rl, 1, NULL) == 0);
        struct rlimit now;
        CHILD_CHECK(getrlimit(RLIMIT_NOFILE, &now) == 0);
        CHILD_CHECK(now.rlim_cur == 64 && now.rlim_max == 128);
}

static void test_rlimit_lower(void **state) {
        assert_child_ok(child_rlimit_lower);
}

static void child_rlimit_raise(void) {
        SpecRlimit low = { .resource = RLIMIT_NOFILE, .soft = 1024, .hard = 20000 };
        CHILD_CHECK(rlimits_apply(&low, 1, NULL) == 0);
        /* Lose CAP_SYS_RESOURCE the way a non-root caller has none. */
        if (geteuid() == 0)
                CHILD_CHECK(setresuid(65534, 65534, 65534) == 0);
        SpecRlimit high[] = {
                { .resource = RLIMIT_CORE, .soft = 0, .hard = 0 },
                { .resource = RLIMIT_NOFILE, .soft = 1024, .hard = 1048576 },
        };
        KError *e = NULL;
        CHILD_CHECK(rlimits_apply(high, 2, &e) == -EPERM);
        CHILD_CHECK(e->kind == KERR_HOST);
        const char *want = "rlimit RLIMIT_NOFILE: the host refuses hard limit 1048576 (current hard limit 20000; "
                           "raising needs CAP_SYS_RESOURCE): lower it in config.json process.rlimits";
        if (!streq(e->msg, want))
                fprintf(stderr, "got: %s\n", e->msg);
        CHILD_CHECK(streq(e->msg, want));
}

static void test_rlimit_raise_refused(void **state) {
        assert_child_ok(child_rlimit_raise);
}

static void child_rlimit_soft_above_hard(void) {
        SpecRlimit rl = { .resource = RLIMIT_NOFILE, .soft = 200, .hard = 100 };
        KError *e = NULL;
        CHILD_CHECK(rlimits_apply(&rl, 1, &e) == -EINVAL);
        CHILD_CHECK(e->kind == KERR_CONFIG && strstr(e->msg, "RLIMIT_NOFILE"));
}

static void test_rlimit_soft_above_hard(void **state) {
        assert_child_ok(child_rlimit_soft_above_hard);
}

/* ---- capabilities ---- */

#define CAPBIT(c) (UINT64_C(1) << (c))

static void child_caps_bounding(void) {
        SpecCaps caps = { .bounding = ~CAPBIT(CAP_SYS_MODULE) & ~CAPBIT(CAP_MKNOD) };
        KError *e = NULL;
        int r = caps_apply_bounding(&caps, &e);
        if (r < 0)
                fprintf(stderr, "caps_apply_bounding: %s\n", e->msg);
        CHILD_CHECK(r == 0);
        CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_SYS_MODULE, 0, 0, 0) == 0);
        CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_MKNOD, 0, 0, 0) == 0);
        CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0) == 1);
        CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 1);
}

static void test_caps_bounding(void **state) {
        if (geteuid() != 0 || prctl(PR_CAPBSET_READ, CAP_SYS_MODULE, 0, 0, 0) != 1)
                skip();
        assert_child_ok(child_caps_bounding);
}

static void child_caps_sets(void) {
        const uint64_t keep = CAPBIT(CAP_CHOWN) | CAPBIT(CAP_NET_BIND_SERVICE);
        SpecCaps caps = {
                .bounding = keep, .effective = keep, .permitted = keep,
                .inheritable = CAPBIT(CAP_NET_BIND_SERVICE), .ambient = CAPBIT(CAP_NET_BIND_SERVICE),
        };
        KError *e = NULL;
        int r = caps_apply_bounding(&caps, &e);
        if (r >= 0)
                r = caps_apply_sets(&caps, &e);
        if (r < 0)
                fprintf(stderr, "caps: %s\n", e->msg);
        CHILD_CHECK(r == 0);
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};
        CHILD_CHECK(syscall(SYS_capget, &hdr, data) == 0);
        CHILD_CHECK(data[0].effective == (uint32_t) keep && data[0].permitted == (uint32_t) keep);
        CHILD_CHECK(data[0].inheritable == CAPBIT(CAP_NET_BIND_SERVICE));
        CHILD_CHECK(data[1].effective == 0 && data[1].permitted == 0);
        CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0) == 1);
        CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0) == 0);

        /* An ambient capability that is not inheritable is left out, as runc does (its default
         * spec asks for ambient capabilities its inheritable set lacks): no error. */
        SpecCaps bad = caps;
        bad.ambient = CAPBIT(CAP_CHOWN) | CAPBIT(CAP_NET_BIND_SERVICE);
        e = NULL;
        CHILD_CHECK(caps_apply_sets(&bad, &e) == 0);
        CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0) == 0);
        CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0) == 1);
}

static void test_caps_sets(void **state) {
        if (geteuid() != 0 || prctl(PR_CAPBSET_READ, CAP_SYS_MODULE, 0, 0, 0) != 1)
                skip();
        assert_child_ok(child_caps_sets);
}

/* ---- per-process attributes ---- */

static void child_oom_score(void) {
        KError *e = NULL;
        int r = oom_score_adj_apply(500, &e);
        if (r < 0)
                fprintf(stderr, "oom_score_adj_apply: %s\n", e->msg);
        CHILD_CHECK(r == 0);
        _cleanup_free_ char *text = NULL;
        CHILD_CHECK(read_full_file_at(AT_FDCWD, "/proc/self/oom_score_adj", 64, &text, NULL) == 0);
        CHILD_CHECK(streq(text, "500\n"));
        e = NULL;
        CHILD_CHECK(oom_score_adj_apply(5000, &e) < 0);
        CHILD_CHECK(strstr(e->msg, "5000") != NULL);
        CHILD_CHECK(personality_apply(0 /* PER_LINUX */, NULL) == 0);
        CHILD_CHECK(personality(0xffffffff) == 0);
}

static void test_oom_score_and_personality(void **state) {
        assert_child_ok(child_oom_score);
}

/* The CVE-2019-5736 clone copies what execve needs: for this (unstripped) test binary, every
 * program header's range and less than the whole file; anything odd means the whole file. */
static void test_cloned_binary_exec_size(void **state) {
        (void) state;
        int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        Elf64_Ehdr eh;
        Elf64_Phdr ph[64];
        assert_int_equal(pread(fd, &eh, sizeof(eh), 0), sizeof(eh));
        assert_true(eh.e_phnum > 0 && eh.e_phnum <= 64);
        assert_int_equal(pread(fd, ph, eh.e_phnum * sizeof(*ph), (off_t) eh.e_phoff), eh.e_phnum * sizeof(*ph));
        close(fd);
        uint64_t size = (uint64_t) st.st_size, n = cloned_binary_exec_size(&eh, ph, eh.e_phnum, size);
        assert_true(n < size);                  /* section headers at least stay behind */
        for (size_t i = 0; i < eh.e_phnum; i++)
                assert_true(ph[i].p_offset + ph[i].p_filesz <= n);
        /* too few headers given, a range past the end, not ELF: the whole file */
        assert_int_equal(cloned_binary_exec_size(&eh, ph, eh.e_phnum - 1, size), size);
        Elf64_Phdr bad[64];
        memcpy(bad, ph, sizeof(bad));
        bad[0].p_filesz = size;
        bad[0].p_offset = 1;
        assert_int_equal(cloned_binary_exec_size(&eh, bad, eh.e_phnum, size), size);
        Elf64_Ehdr notelf = eh;
        notelf.e_ident[EI_MAG1] = 'X';
        assert_int_equal(cloned_binary_exec_size(&notelf, ph, eh.e_phnum, size), size);
        Elf64_Ehdr far = eh;
        far.e_phoff = size;
        assert_int_equal(cloned_binary_exec_size(&far, ph, eh.e_phnum, size), size);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seccomp_compile_ok),
                cmocka_unit_test(test_seccomp_compile_errors),
                cmocka_unit_test(test_seccomp_only_unknown_syscalls),
                cmocka_unit_test(test_seccomp_apply_in_child),
                cmocka_unit_test(test_seccomp_kill_process),
                cmocka_unit_test(test_seccomp_apply_without_nnp),
                cmocka_unit_test(test_sysctl_validate),
                cmocka_unit_test(test_sysctl_apply_not_procfs),
                cmocka_unit_test(test_sysctl_apply_bad_keys),
                cmocka_unit_test(test_sysctl_apply_in_netns),
                cmocka_unit_test(test_rlimit_lower),
                cmocka_unit_test(test_rlimit_raise_refused),
                cmocka_unit_test(test_rlimit_soft_above_hard),
                cmocka_unit_test(test_caps_bounding),
                cmocka_unit_test(test_caps_sets),
                cmocka_unit_test(test_oom_score_and_personality),
                cmocka_unit_test(test_cloned_binary_exec_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
