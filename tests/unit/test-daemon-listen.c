/* SPDX-License-Identifier: Apache-2.0 */
/* kapseld's listeners: --host parsing and the refusals of listen_check (TCP without mutual TLS, a
 * key others may read). */
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

int main(void) {
        assert_non_null(mkdtemp(tmpdir));
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_tcp),
                cmocka_unit_test(test_check_refusals),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        rmdir(tmpdir);
        return r;
}
