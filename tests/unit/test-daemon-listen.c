/* SPDX-License-Identifier: Apache-2.0 */
/* kapseld's listeners and the relay of an exec into an --isolation=vm container: --host parsing,
 * the refusals of listen_check (TCP without mutual TLS, a key others may read), and
 * api_exec_vm_relay against a fake monitor on a socketpair (the guest agent's frames in, docker's
 * multiplexed stream out). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "attach.h"
#include "cleanup.h"
#include "daemon.h"
#include "fd-util.h"
#include "vm-agent.h"

static void test_parse_tcp(void **state) {
        (void) state;
        struct sockaddr_storage ss;
        socklen_t len;
        KError *err = NULL;
        assert_int_equal(listen_parse_tcp("tcp://127.0.0.1:2376", &ss, &len, NULL), 0);
        assert_int_equal(ss.ss_family, AF_INET);
        assert_int_equal(listen_parse_tcp("tcp://[::1]:2376", &ss, &len, NULL), 0);
        assert_int_equal(ss.ss_family, AF_INET6);
        static const char *const bad[] = { "tcp://127.0.0.1", "tcp://:2376", "tcp://127.0.0.1:0", "tcp://127.0.0.1:70000",
                                           "tcp://localhost:2376", "tcp://1.2.3.4:23x", "unix:///x" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(listen_parse_tcp(bad[i], &ss, &len, &err), -EINVAL);
                assert_non_null(strstr(err->msg, bad[i]));
                kerr_free(err);
                err = NULL;
        }
}

static char tmpdir[] = "/tmp/test-daemon-listen.XXXXXX";

static char *tmpfile_with(const char *name, const char *text, mode_t mode) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        assert_int_equal(chmod(p, mode), 0);
        return p;
}

static const char *check_msg(const DaemonConfig *cfg, int want) {
        static char msg[1024];
        DaemonTls tls = { 0 };
        KError *err = NULL;
        assert_int_equal(listen_check(cfg, &tls, &err), want);
        snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
        kerr_free(err);
        daemon_tls_done(&tls);
        return msg;
}

static void test_check_refusals(void **state) {
        (void) state;
        DaemonConfig cfg = { .hosts = { "unix:///run/x.sock" }, .n_hosts = 1 };
        assert_string_equal(check_msg(&cfg, 0), "");
        /* TCP without --tlsverify: refused, saying what to pass */
        cfg.hosts[1] = "tcp://127.0.0.1:2376";
        cfg.n_hosts = 2;
        const char *m = check_msg(&cfg, -EPERM);
        assert_non_null(strstr(m, "only with mutual TLS"));
        assert_non_null(strstr(m, "--tlsverify --tlscacert"));
        /* --tlsverify without the files */
        cfg.tls_verify = true;
        assert_non_null(strstr(check_msg(&cfg, -EINVAL), "--tlsverify needs"));
        /* a key that others may read */
        _cleanup_free_ char *key = tmpfile_with("key.pem", "not really a key\n", 0644);
        _cleanup_free_ char *cert = tmpfile_with("cert.pem", "not a cert\n", 0644);
        cfg.tls_ca = cfg.tls_cert = cert;
        cfg.tls_key = key;
        m = check_msg(&cfg, -EPERM);
        assert_non_null(strstr(m, "chmod 600"));
        assert_non_null(strstr(m, "0644"));
        /* a private key, but not PEM: GnuTLS says so at start, not at the first client */
        assert_int_equal(chmod(key, 0600), 0);
        m = check_msg(&cfg, -EINVAL);
        assert_non_null(strstr(m, "--tlscert"));
        /* not a --host kapseld serves */
        cfg.hosts[1] = "http://127.0.0.1:2376";
        assert_non_null(strstr(check_msg(&cfg, -EINVAL), "expected unix:///PATH or tcp://ADDR:PORT"));
        unlink(key);
        unlink(cert);
}

static void send_frame(int fd, uint8_t type, const char *data, uint32_t len) {
        assert_int_equal(attach_send(fd, type, data, len), 0);
}

static void test_vm_exec_relay(void **state) {
        (void) state;
        int mon[2], cli[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mon), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cli), 0);
        /* the client's first stdin bytes came with the request; more follow, then EOF */
        VmExecJob x = { .root = "/nonexistent", .ctr = "c", .want_in = true, .sock = cli[0], .extra = "ab", .n_extra = 2 };
        assert_int_equal(write_all(cli[1], "cd", 2), 0);
        shutdown(cli[1], SHUT_WR);
        /* the monitor's side, written before the relay runs (the socket buffers hold it) */
        send_frame(mon[1], ATTACH_STARTED, "\0\0\0\7", 4);
        send_frame(mon[1], ATTACH_STDOUT, "out", 3);
        send_frame(mon[1], ATTACH_STDERR, "err", 3);
        uint8_t code[4];
        vm_agent_put_u32(code, 3);
        send_frame(mon[1], ATTACH_EXIT, (const char *) code, 4);
        int rc = -1;
        KError *err = NULL;
        assert_int_equal(api_exec_vm_relay(&x, mon[0], &rc, &err), 0);
        assert_int_equal(rc, 3);
        /* the client got docker's multiplexed frames: stream 1 "out", stream 2 "err" */
        close(cli[0]);
        uint8_t buf[64];
        ssize_t n = read(cli[1], buf, sizeof(buf));
        assert_int_equal(n, 22);
        static const uint8_t want[] = { 1, 0, 0, 0, 0, 0, 0, 3, 'o', 'u', 't', 2, 0, 0, 0, 0, 0, 0, 3, 'e', 'r', 'r' };
        assert_memory_equal(buf, want, sizeof(want));
        /* the monitor got stdin: the early bytes, the rest (maybe), and the close when it ended */
        uint8_t type;
        uint32_t len;
        uint8_t *payload = malloc(ATTACH_MAX_PAYLOAD);
        assert_int_equal(attach_recv(mon[1], &type, payload, &len), 1);
        assert_int_equal(type, ATTACH_STDIN);
        assert_int_equal(len, 2);
        assert_memory_equal(payload, "ab", 2);
        free(payload);
        close(mon[0]);
        close(mon[1]);
        close(cli[1]);
}

/* The monitor went away mid-stream: the exec ends with 126, not a hang. */
static void test_vm_exec_relay_monitor_gone(void **state) {
        (void) state;
        int mon[2], cli[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mon), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cli), 0);
        VmExecJob x = { .root = "/nonexistent", .ctr = "c", .sock = cli[0] };
        send_frame(mon[1], ATTACH_STDOUT, "x", 1);
        close(mon[1]);
        int rc = -1;
        assert_int_equal(api_exec_vm_relay(&x, mon[0], &rc, NULL), 0);
        assert_int_equal(rc, 126);
        close(mon[0]);
        close(cli[0]);
        close(cli[1]);
}

int main(void) {
        assert_non_null(mkdtemp(tmpdir));
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_tcp),
                cmocka_unit_test(test_check_refusals),
                cmocka_unit_test(test_vm_exec_relay),
                cmocka_unit_test(test_vm_exec_relay_monitor_gone),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        rmdir(tmpdir);
        return r;
}
