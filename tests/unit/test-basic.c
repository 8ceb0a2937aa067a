/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/basic: errors, strings, paths, in-root resolution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"
#include "time-util.h"

static void test_kerr_first_wins_and_prefix(void **state) {
        _cleanup_kerr_ KError *e = NULL;
        assert_int_equal(kerr(&e, -ENOENT, "open '%s'", "/x"), -ENOENT);
        assert_int_equal(kerr(&e, -EPERM, "second"), -EPERM);
        assert_string_equal(e->msg, "open '/x': No such file or directory");
        kerr_prefix(&e, -ENOENT, "rootfs");
        assert_string_equal(e->msg, "rootfs: open '/x': No such file or directory");
        assert_int_equal(kerr_exit_code(e), 1);
        assert_int_equal(kerr_set_kind(&e, -1, KERR_ROOTFS), -1);
        assert_int_equal(kerr_exit_code(e), 6);
}

static void test_kerr_null_sink_and_positive(void **state) {
        assert_int_equal(kerr(NULL, EINVAL, "x"), -EINVAL);
        _cleanup_kerr_ KError *e = NULL;
        assert_int_equal(kerr_msg(&e, KERR_CONFIG, 0, "bad"), -EIO);
        assert_string_equal(e->msg, "bad");
        assert_int_equal(kerr_exit_code(e), 3);
}

static void test_kerr_wire_roundtrip(void **state) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        _cleanup_kerr_ KError *e = NULL, *back = NULL;
        kerr_msg(&e, KERR_HOST, -EPERM, "rlimit RLIMIT_NOFILE refused");
        assert_int_equal(kerr_send(p[1], e), 0);
        assert_int_equal(kerr_recv(p[0], &back), 0);
        assert_int_equal(back->code, -EPERM);
        assert_int_equal(back->kind, KERR_HOST);
        assert_string_equal(back->msg, e->msg);
        /* garbage is rejected */
        assert_int_equal(write(p[1], "xy", 2), 2);
        KError *bad = NULL;
        assert_int_equal(kerr_recv(p[0], &bad), -EBADMSG);
        close(p[0]);
        close(p[1]);
}

static void test_parse_size(void **state) {
        uint64_t v;
        assert_int_equal(parse_size("512", &v), 0);
        assert_int_equal(v, 512);
        assert_int_equal(parse_size("64k", &v), 0);
        assert_int_equal(v, 65536);
        assert_int_equal(parse_size("1.5G", &v), 0);
        assert_int_equal(v, 1610612736ULL);
        assert_int_equal(parse_size("10MB", &v), 0);
        assert_int_equal(v, 10485760);
        assert_int_equal(parse_size("-1", &v), -EINVAL);
        assert_int_equal(parse_size("12q", &v), -EINVAL);
        assert_int_equal(parse_size("", &v), -EINVAL);
}

static void test_parse_int(void **state) {
        int64_t i;
        uint64_t u;
        assert_int_equal(parse_int64("-42", &i), 0);
        assert_int_equal(i, -42);
        assert_int_equal(parse_int64("4x", &i), -EINVAL);
        assert_int_equal(parse_int64(" 4", &i), -EINVAL);
        assert_int_equal(parse_uint64("0x10", &u), 0);
        assert_int_equal(u, 16);
        assert_int_equal(parse_uint64("-1", &u), -EINVAL);
}

static void test_parse_signal(void **state) {
        static const struct { const char *text; int sig; } ok[] = {
                { "9", SIGKILL }, { "KILL", SIGKILL }, { "SIGTERM", SIGTERM }, { "term", SIGTERM }, { "hup", SIGHUP },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                int sig = -1;
                assert_int_equal(parse_signal(ok[i].text, &sig), 0);
                assert_int_equal(sig, ok[i].sig);
        }
        static const char *bad[] = { "0", "-1", "65", "SIG", "NOPE", "", "9x" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int sig = -1;
                assert_int_equal(parse_signal(bad[i], &sig), -EINVAL);
                assert_int_equal(sig, -1);
        }
}

static void test_json_quote(void **state) {
        _cleanup_free_ char *q = json_quote("a\"b\\c\n\x01");
        assert_string_equal(q, "\"a\\\"b\\\\c\\n\\u0001\"");
}

static void test_strv(void **state) {
        _cleanup_strv_free_ char **v = NULL, **c = NULL;
        assert_int_equal(strv_extend(&v, "a"), 0);
        assert_int_equal(strv_extend(&v, "b"), 0);
        assert_int_equal(strv_length(v), 2);
        assert_int_equal(strv_copy(v, &c), 0);
        assert_true(strv_contains(c, "b"));
        assert_false(strv_contains(c, "x"));
}

static void test_path_normalize(void **state) {
        static const struct { const char *in, *out; } cases[] = {
                { "/a//b/./c/", "/a/b/c" }, { "/", "/" }, { "a/./b", "a/b" }, { ".", "." }, { "//", "/" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *o = NULL;
                assert_int_equal(path_normalize(cases[i].in, true, &o), 0);
                assert_string_equal(o, cases[i].out);
        }
        char *o = NULL;
        assert_int_equal(path_normalize("/a/../b", true, &o), -EINVAL);
        assert_int_equal(path_normalize("/a/../b", false, &o), 0);
        assert_string_equal(o, "/a/../b");
        free(o);
        _cleanup_free_ char *j = path_join("/a/", "/b");
        assert_string_equal(j, "/a/b");
}

/* A symlink inside the tree pointing at "/" or "../../.." must resolve inside the tree. */
static void test_open_in_root_confined(void **state) {
        char tmpl[] = "/tmp/kapsel-test-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        _cleanup_close_ int root = open(tmpl, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(root >= 0);
        assert_int_equal(mkdirat(root, "etc", 0755), 0);
        assert_int_equal(symlinkat("/", root, "escape-abs"), 0);
        assert_int_equal(symlinkat("../../../../..", root, "escape-rel"), 0);
        assert_int_equal(symlinkat("/proc/self/root", root, "magic"), 0);

        /* "escape-abs/etc" is the tree's etc, not the host's: the tree's etc is empty */
        _cleanup_close_ int a = open_in_root(root, "/escape-abs/etc", O_PATH | O_DIRECTORY, 0);
        _cleanup_close_ int b = open_in_root(root, "/etc", O_PATH | O_DIRECTORY, 0);
        assert_true(a >= 0 && b >= 0);
        struct stat sa, sb;
        assert_int_equal(fstat(a, &sa), 0);
        assert_int_equal(fstat(b, &sb), 0);
        assert_int_equal(sa.st_ino, sb.st_ino);
        _cleanup_close_ int c = open_in_root(root, "escape-rel/etc", O_PATH | O_DIRECTORY, 0);
        assert_true(c >= 0);
        struct stat sc;
        assert_int_equal(fstat(c, &sc), 0);
        assert_int_equal(sc.st_ino, sb.st_ino);
        /* the host's /etc/passwd does not exist in the tree */
        assert_int_equal(open_in_root(root, "escape-abs/etc/passwd", O_RDONLY, 0), -ENOENT);

        /* mkdir -p through a symlinked parent stays inside */
        _cleanup_close_ int d = mkdir_p_in_root(root, "/escape-abs/new/dir", 0755);
        assert_true(d >= 0);
        assert_int_equal(faccessat(root, "new/dir", F_OK, 0), 0);

        /* files are created as files; a directory where a file is wanted is refused */
        _cleanup_close_ int f = ensure_in_root(root, "/escape-rel/x/file", false, 0644);
        assert_true(f >= 0);
        assert_int_equal(faccessat(root, "x/file", F_OK, 0), 0);
        assert_int_equal(ensure_in_root(root, "/etc", false, 0644), -EISDIR);

        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
        assert_int_equal(system(cmd), 0);
}

/* mkdir_p: parents 0755, the last one with the given mode; existing directories are fine. */
/* Files of others: a FIFO (no writer) must not block the open, only regular files are read. */
static void test_open_regular_refuses_fifo(void **state) {
        char dir[] = "/tmp/kapsel-test-regular-XXXXXX";
        assert_non_null(mkdtemp(dir));
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(mkfifoat(dfd, "fifo", 0600), 0);
        assert_int_equal(mkdirat(dfd, "sub", 0700), 0);
        assert_int_equal(write_string_file_at(dfd, "f", "x"), -ENOENT);    /* no O_CREAT there */
        int fd = openat(dfd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, "data", 4), 0);
        close(fd);
        char *text = NULL;
        assert_int_equal(read_regular_file_at(dfd, "fifo", 100, &text, NULL), -EINVAL);
        assert_int_equal(read_regular_file_at(dfd, "sub", 100, &text, NULL), -EISDIR);
        assert_int_equal(read_regular_file_at(dfd, "f", 100, &text, NULL), 0);
        assert_string_equal(text, "data");
        free(text);
        fd = open_regular_at(dfd, "f", 0);
        assert_true(fd >= 0);
        assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
        close(fd);
        close(dfd);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_mkdir_p(void **state) {
        char tmpl[] = "/tmp/kapsel-test-mkdirp-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        _cleanup_free_ char *leaf = path_join(tmpl, "a/b/c");
        assert_non_null(leaf);
        mode_t old = umask(0);
        assert_int_equal(mkdir_p(leaf, 0700), 0);
        assert_int_equal(mkdir_p(leaf, 0700), 0);
        umask(old);
        struct stat st;
        assert_int_equal(stat(leaf, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        leaf[strlen(leaf) - 2] = '\0';     /* .../a/b */
        assert_int_equal(stat(leaf, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(mkdir_p("/", 0755), 0);

        /* open_subdir: creates on request, says which step failed, never follows a symlink */
        _cleanup_close_ int dfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        const char *step = NULL;
        assert_int_equal(open_subdir(dfd, "new", false, 0755, &step), -ENOENT);
        assert_string_equal(step, "open");
        _cleanup_close_ int n = open_subdir(dfd, "new", true, 0755, NULL);
        assert_true(n >= 0);
        assert_int_equal(symlinkat("new", dfd, "link"), 0);
        assert_true(open_subdir(dfd, "link", true, 0755, &step) < 0);
        assert_string_equal(step, "open");
        step = NULL;
        assert_int_equal(open_subdir(dfd, "missing/x", true, 0755, &step), -ENOENT);
        assert_string_equal(step, "create");

        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
        assert_int_equal(system(cmd), 0);
}

/* rm_rf empties directories whose mode forbids it to their (unprivileged) owner, as a rootless
 * container's image layers can have: 0500 at the top and below. Run as that owner in a child. */
static void test_rm_rf_read_only_dirs(void **state) {
        char dir[] = "/tmp/kapsel-test-rmrf-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *top = path_join(dir, "t"), *sub = path_join(dir, "t/sub"), *f = path_join(dir, "t/sub/f");
        assert_int_equal(mkdir(top, 0755), 0);
        assert_int_equal(mkdir(sub, 0755), 0);
        int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0400);
        assert_true(fd >= 0);
        close(fd);
        uid_t owner = getuid() == 0 ? 65534 : getuid();
        if (getuid() == 0)
                assert_int_equal(chown(dir, owner, owner) | chown(top, owner, owner) | chown(sub, owner, owner) |
                                 chown(f, owner, owner), 0);
        assert_int_equal(chmod(sub, 0500) | chmod(top, 0500), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit((getuid() == 0 && setresuid(owner, owner, owner) < 0) || rm_rf(top) < 0 ? 1 : 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(access(top, F_OK), -1);
        assert_int_equal(rmdir(dir), 0);
}

static void test_parse_duration(void **state) {
        (void) state;
        static const struct { const char *in; int64_t ns; } ok[] = {
                { "30s", 30000000000LL }, { "1m30s", 90000000000LL }, { "1.5h", 5400000000000LL },
                { "250ms", 250000000LL }, { "10us", 10000LL }, { "10µs", 10000LL }, { "7ns", 7 }, { "0s", 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                int64_t ns = -1;
                assert_int_equal(parse_duration_ns(ok[i].in, &ns), 0);
                assert_int_equal(ns, ok[i].ns);
        }
        static const char *const bad[] = { "", "5", "s", "-1s", "+1s", " 1s", "1x", "inf", "nanms", "0x10s",
                                           "99999999999h", "1s2" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int64_t ns;
                assert_int_equal(parse_duration_ns(bad[i], &ns), -EINVAL);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_signal),
                cmocka_unit_test(test_kerr_first_wins_and_prefix),
                cmocka_unit_test(test_kerr_null_sink_and_positive),
                cmocka_unit_test(test_kerr_wire_roundtrip),
                cmocka_unit_test(test_parse_size),
                cmocka_unit_test(test_parse_int),
                cmocka_unit_test(test_json_quote),
                cmocka_unit_test(test_strv),
                cmocka_unit_test(test_path_normalize),
                cmocka_unit_test(test_open_in_root_confined),
                cmocka_unit_test(test_open_regular_refuses_fifo),
                cmocka_unit_test(test_mkdir_p),
                cmocka_unit_test(test_rm_rf_read_only_dirs),
                cmocka_unit_test(test_parse_duration),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
