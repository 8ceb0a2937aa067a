/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the engine's pure parts: spec generation from image config + docker flags, -v
 * parsing, the sqlite state store, user resolution in a rootfs, json-file logs, and --format
 * templates. No root, no containers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/cli/template.h"
#include "ctr-limits.h"
#include "db.h"
#include "fd-util.h"
#include "logs.h"
#include "path-util.h"
#include "rm-rf.h"
#include "spec-gen.h"
#include "string-util.h"
#include "user.h"

static char *tmpdir(void) {
        char *t = strdup("/tmp/kapsel-test-engine-XXXXXX");
        assert_non_null(mkdtemp(t));
        return t;
}

static json_t *cfg(const char *text) {
        json_error_t je;
        json_t *j = json_loads(text, 0, &je);
        if (!j)
                fail_msg("bad test json: %s", je.text);
        return j;
}

static json_t *gen(const ImageConfig *img, const char *config, KError **err) {
        json_t *c = cfg(config);
        SpecGenInput in = { .image = img, .config = c, .rootfs = "/r", .volumes_dir = "/vols",
                            .hosts_path = "/c/hosts", .cgroups_path = "/kapsel/x" };
        json_t *spec = NULL;
        int r = spec_gen(&in, &spec, err);
        json_decref(c);
        return r < 0 ? NULL : spec;
}

static char *args_of(const json_t *spec) {
        char *s = json_dumps(json_object_get(json_object_get(spec, "process"), "args"), JSON_COMPACT);
        assert_non_null(s);
        return s;
}

static void test_args_entrypoint_cmd(void **state) {
        char *ep[] = { "/bin/ep", "-x", NULL }, *cmd[] = { "default", NULL };
        ImageConfig img = { .entrypoint = ep, .cmd = cmd };
        static const struct { const char *config, *want; } cases[] = {
                { "{\"Config\":{}}", "[\"/bin/ep\",\"-x\",\"default\"]" },              /* image's both */
                { "{\"Config\":{\"Cmd\":[\"a\",\"b\"]}}", "[\"/bin/ep\",\"-x\",\"a\",\"b\"]" },  /* args replace Cmd */
                { "{\"Config\":{\"Entrypoint\":[\"sh\"]}}", "[\"sh\"]" },                /* --entrypoint drops image Cmd */
                { "{\"Config\":{\"Entrypoint\":[\"sh\"],\"Cmd\":[\"-c\",\"x\"]}}", "[\"sh\",\"-c\",\"x\"]" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_kerr_ KError *e = NULL;
                json_t *spec = gen(&img, cases[i].config, &e);
                assert_non_null(spec);
                _cleanup_free_ char *got = args_of(spec);
                assert_string_equal(got, cases[i].want);
                json_decref(spec);
        }
        /* nothing to run: a usage error telling what to do */
        _cleanup_kerr_ KError *e = NULL;
        ImageConfig none = { 0 };
        assert_null(gen(&none, "{\"Config\":{}}", &e));
        assert_int_equal(e->kind, KERR_USAGE);
        assert_non_null(strstr(e->msg, "no command"));
}

static void test_env_merge(void **state) {
        char *env[] = { "PATH=/img/bin", "A=1", "B=2", NULL }, *cmd[] = { "x", NULL };
        ImageConfig img = { .env = env, .cmd = cmd };
        _cleanup_kerr_ KError *e = NULL;
        json_t *spec = gen(&img, "{\"Config\":{\"Env\":[\"A=flag\",\"C=3\"],\"Hostname\":\"h1\",\"Tty\":true}}", &e);
        assert_non_null(spec);
        _cleanup_free_ char *got = json_dumps(json_object_get(json_object_get(spec, "process"), "env"), JSON_COMPACT);
        assert_string_equal(got, "[\"PATH=/img/bin\",\"B=2\",\"A=flag\",\"C=3\",\"TERM=xterm\",\"HOSTNAME=h1\"]");
        assert_string_equal(json_string_value(json_object_get(spec, "hostname")), "h1");
        assert_true(json_is_true(json_object_get(json_object_get(spec, "process"), "terminal")));
        json_decref(spec);
}

static bool has_cap(const json_t *spec, const char *cap) {
        json_t *b = json_object_get(json_object_get(json_object_get(spec, "process"), "capabilities"), "bounding");
        size_t i;
        json_t *c;
        json_array_foreach(b, i, c)
                if (streq(json_string_value(c), cap))
                        return true;
        return false;
}

static bool seccomp_denies(const json_t *spec, const char *name) {
        json_t *names = json_object_get(json_array_get(json_object_get(json_object_get(json_object_get(spec, "linux"),
                                                                                       "seccomp"), "syscalls"), 0), "names");
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n)
                if (streq(json_string_value(n), name))
                        return true;
        return false;
}

static void test_caps_and_seccomp(void **state) {
        char *cmd[] = { "x", NULL };
        ImageConfig img = { .cmd = cmd };
        _cleanup_kerr_ KError *e = NULL;
        json_t *spec = gen(&img, "{\"Config\":{}}", &e);
        assert_true(has_cap(spec, "CAP_CHOWN"));
        assert_false(has_cap(spec, "CAP_SYS_ADMIN"));
        assert_true(seccomp_denies(spec, "open_by_handle_at"));
        assert_true(seccomp_denies(spec, "mount"));
        assert_true(seccomp_denies(spec, "keyctl"));
        json_decref(spec);
        spec = gen(&img, "{\"Config\":{},\"HostConfig\":{\"CapAdd\":[\"sys_admin\"],\"CapDrop\":[\"CHOWN\",\"cap_kill\"]}}", &e);
        assert_non_null(spec);
        assert_true(has_cap(spec, "CAP_SYS_ADMIN"));
        assert_false(has_cap(spec, "CAP_CHOWN"));
        assert_false(has_cap(spec, "CAP_KILL"));
        assert_false(seccomp_denies(spec, "mount"));    /* granted SYS_ADMIN: mount is legitimate */
        assert_true(seccomp_denies(spec, "open_by_handle_at"));
        json_decref(spec);
        spec = gen(&img, "{\"Config\":{},\"HostConfig\":{\"CapDrop\":[\"ALL\"],\"CapAdd\":[\"NET_RAW\"]}}", &e);
        assert_true(has_cap(spec, "CAP_NET_RAW"));
        assert_false(has_cap(spec, "CAP_CHOWN"));
        json_decref(spec);
        assert_null(gen(&img, "{\"Config\":{},\"HostConfig\":{\"CapAdd\":[\"CAP_FLY\"]}}", &e));
        assert_non_null(strstr(e->msg, "CAP_FLY"));
}

static const json_t *find_mount(const json_t *spec, const char *dst) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(spec, "mounts"), i, m)
                if (streq(json_string_value(json_object_get(m, "destination")), dst))
                        return m;
        return NULL;
}

static void test_mounts_and_resources(void **state) {
        char *cmd[] = { "x", NULL };
        ImageConfig img = { .cmd = cmd, .working_dir = "/img" };
        _cleanup_kerr_ KError *e = NULL;
        json_t *spec = gen(&img,
                           "{\"Config\":{},\"HostConfig\":{\"Binds\":[\"/host/d:/data:ro\",\"vol1:/v\"],"
                           "\"Tmpfs\":{\"/run\":\"size=1m\"},\"Memory\":67108864,\"NanoCpus\":500000000,"
                           "\"PidsLimit\":20,\"ReadonlyRootfs\":true}}",
                           &e);
        assert_non_null(spec);
        const json_t *m = find_mount(spec, "/data");
        assert_non_null(m);
        assert_string_equal(json_string_value(json_object_get(m, "source")), "/host/d");
        _cleanup_free_ char *o = json_dumps(json_object_get(m, "options"), JSON_COMPACT);
        assert_string_equal(o, "[\"rbind\",\"ro\",\"rprivate\"]");
        assert_string_equal(json_string_value(json_object_get(find_mount(spec, "/v"), "source")), "/vols/vol1/_data");
        assert_non_null(find_mount(spec, "/run"));
        assert_non_null(find_mount(spec, "/etc/hosts"));
        json_t *res = json_object_get(json_object_get(spec, "linux"), "resources");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")), 67108864);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")), 50000);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")), 20);
        assert_true(json_is_true(json_object_get(json_object_get(spec, "root"), "readonly")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "process"), "cwd")), "/img");
        assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "linux"), "cgroupsPath")), "/kapsel/x");
        json_decref(spec);
        /* a limit no container can live in: refused with the minimum named */
        assert_null(gen(&img, "{\"Config\":{},\"HostConfig\":{\"Memory\":1024}}", &e));
        assert_non_null(strstr(e->msg, "6 MiB"));
}

static void test_bind_spec_parse(void **state) {
        BindSpec b;
        _cleanup_kerr_ KError *e = NULL;
        assert_int_equal(bind_spec_parse("/a:/b", &b, &e), 0);
        assert_false(b.is_volume);
        assert_false(b.readonly);
        bind_spec_done(&b);
        assert_int_equal(bind_spec_parse("data:/b:ro", &b, &e), 0);
        assert_true(b.is_volume);
        assert_true(b.readonly);
        assert_string_equal(b.source, "data");
        bind_spec_done(&b);
        static const char *const bad[] = { "/a", "/a:b", "/a:/b:rx", "a/b:/c", ":/b", "/a:/b:ro:x" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_kerr_ KError *e2 = NULL;
                assert_true(bind_spec_parse(bad[i], &b, &e2) < 0);
                assert_int_equal(e2->kind, KERR_USAGE);
                assert_non_null(strstr(e2->msg, bad[i]));
        }
}

static void test_db(void **state) {
        _cleanup_free_ char *dir = tmpdir(), *path = path_join(dir, "k.db");
        _cleanup_(db_closep) Db *db = NULL;
        _cleanup_kerr_ KError *e = NULL;
        assert_int_equal(db_open(path, &db, &e), 0);
        CtrRecord a = { .id = "abcd1111", .name = "web", .image = "busybox", .image_id = "sha256:1",
                        .config = json_pack("{s:{}}", "Config"), .state = CTR_CREATED, .created = 1 };
        CtrRecord b = a;
        b.id = "abcd2222";
        b.name = "db";
        b.created = 2;
        assert_int_equal(db_ctr_insert(db, &a, &e), 0);
        assert_int_equal(db_ctr_insert(db, &b, &e), 0);
        CtrRecord dup = a;
        dup.id = "ffff";
        assert_true(db_ctr_insert(db, &dup, &e) < 0);
        assert_int_equal(e->kind, KERR_EXISTS);
        assert_non_null(strstr(e->msg, "\"web\" is already in use"));
        kerr_free(TAKE_PTR(e));

        _cleanup_(ctr_record_freep) CtrRecord *got = NULL;
        assert_int_equal(db_ctr_get(db, "web", &got, &e), 0);
        assert_string_equal(got->id, "abcd1111");
        ctr_record_free(TAKE_PTR(got));
        assert_int_equal(db_ctr_get(db, "abcd2", &got, &e), 0);          /* unique prefix */
        assert_string_equal(got->name, "db");
        got->state = CTR_RUNNING;
        got->pid = 42;
        got->oom_killed = true;
        /* an idle connection (a monitor's, while its container runs) comes back on the next call */
        db_idle(db);
        assert_int_equal(db_ctr_update(db, got, &e), 0);
        ctr_record_free(TAKE_PTR(got));
        db_idle(db);
        db_idle(db);
        assert_int_equal(db_ctr_get(db, "db", &got, &e), 0);
        assert_int_equal(got->state, CTR_RUNNING);
        assert_int_equal(got->pid, 42);
        assert_true(got->oom_killed);
        ctr_record_free(TAKE_PTR(got));
        assert_true(db_ctr_get(db, "abcd", &got, &e) < 0);              /* ambiguous */
        assert_non_null(strstr(e->msg, "more than one"));
        kerr_free(TAKE_PTR(e));
        assert_true(db_ctr_get(db, "nope", &got, &e) < 0);
        assert_int_equal(e->kind, KERR_NOT_FOUND);
        kerr_free(TAKE_PTR(e));

        CtrRecord **list = NULL;
        size_t n = 0;
        assert_int_equal(db_ctr_list(db, &list, &n, &e), 0);
        assert_int_equal(n, 2);
        assert_string_equal(list[0]->name, "web");      /* oldest first */
        ctr_record_list_free(list, n);
        assert_int_equal(db_ctr_delete(db, "abcd1111", &e), 0);
        assert_int_equal(db_ctr_list(db, &list, &n, &e), 0);
        assert_int_equal(n, 1);
        ctr_record_list_free(list, n);

        assert_int_equal(db_vol_insert(db, "v1", NULL, &e), 0);
        assert_true(db_vol_insert(db, "v1", NULL, &e) < 0);
        kerr_free(TAKE_PTR(e));
        assert_int_equal(db_vol_exists(db, "v1"), 1);
        assert_int_equal(db_vol_delete(db, "v1", &e), 0);
        assert_int_equal(db_vol_exists(db, "v1"), 0);
        json_decref(a.config);
        db_close(TAKE_PTR(db));
        /* reopening runs no migration twice */
        assert_int_equal(db_open(path, &db, &e), 0);
        assert_int_equal(rm_rf(dir), 0);
}

static void put(const char *dir, const char *rel, const char *text) {
        _cleanup_free_ char *p = path_join(dir, rel);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, text, strlen(text)), 0);
}

static void test_user_resolve(void **state) {
        _cleanup_free_ char *dir = tmpdir(), *etc = path_join(dir, "etc");
        assert_int_equal(mkdir(etc, 0755), 0);
        put(dir, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n");
        put(dir, "etc/group", "root:x:0:\nwww:x:33:\nlog:x:4:www,other\nstaff:x:50:\n");
        _cleanup_close_ int rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        UserIds u;
        _cleanup_kerr_ KError *e = NULL;
        assert_int_equal(user_resolve(rootfd, "www", &u, &e), 0);
        assert_int_equal(u.uid, 33);
        assert_int_equal(u.gid, 33);
        assert_int_equal(u.n_groups, 1);
        assert_int_equal(u.groups[0], 4);
        user_ids_done(&u);
        assert_int_equal(user_resolve(rootfd, "1000:staff", &u, &e), 0);        /* uid without entry */
        assert_int_equal(u.uid, 1000);
        assert_int_equal(u.gid, 50);
        user_ids_done(&u);
        assert_true(user_resolve(rootfd, "nobody", &u, &e) < 0);
        assert_non_null(strstr(e->msg, "unable to find user nobody"));
        kerr_free(TAKE_PTR(e));
        /* /etc/passwd as a symlink to the host's: resolved inside the rootfs, so not followed out */
        _cleanup_free_ char *pw = path_join(dir, "etc/passwd");
        assert_int_equal(unlink(pw), 0);
        assert_int_equal(symlink("/etc/passwd", pw), 0);
        int r = user_resolve(rootfd, "root", &u, &e);
        if (r == 0)     /* followed within the rootfs: /etc/passwd there is the symlink itself -> nothing */
                fail_msg("resolved a user through a symlink to the host's /etc/passwd");
        kerr_free(TAKE_PTR(e));
        /* a FIFO as /etc/passwd (no writer): refused at once, not waited on; uid:gid needs no file */
        assert_int_equal(unlink(pw), 0);
        assert_int_equal(mkfifo(pw, 0644), 0);
        assert_true(user_resolve(rootfd, "www", &u, &e) < 0);
        assert_non_null(strstr(e->msg, "not a regular file"));
        kerr_free(TAKE_PTR(e));
        assert_int_equal(user_resolve(rootfd, "33:4", &u, &e), 0);
        assert_int_equal(u.uid, 33);
        assert_int_equal(u.gid, 4);
        user_ids_done(&u);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_cpus(void **state) {
        _cleanup_kerr_ KError *e = NULL;
        int64_t nano = -1;
        assert_int_equal(ctr_parse_cpus("0.5", &nano, &e), 0);
        assert_int_equal(nano, 500000000);
        assert_int_equal(ctr_parse_cpus("1", &nano, &e), 0);
        assert_int_equal(nano, 1000000000);
        assert_int_equal(ctr_parse_cpus("0", &nano, &e), 0);            /* no limit */
        assert_int_equal(nano, 0);
        static const char *const bad[] = { "nan", "NaN", "inf", "-1", "+1", "0x10", "1e-300", "0.001", "100000",
                                           "1e400", "", "1,5", " 1" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(ctr_parse_cpus(bad[i], &nano, &e), -EINVAL);
                assert_non_null(strstr(e->msg, "--cpus"));
                kerr_free(TAKE_PTR(e));
        }
        assert_int_equal(ctr_parse_cpus("1000", &nano, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "range of CPUs is from 0.01 to"));
        kerr_free(TAKE_PTR(e));
        assert_int_equal(ctr_check_nano_cpus(INT64_MIN, &e), -EINVAL);
        kerr_free(TAKE_PTR(e));
}

static void test_logs(void **state) {
        _cleanup_free_ char *dir = tmpdir(), *path = path_join(dir, "ctr.log");
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        for (int i = 0; i < 5; i++) {
                char line[32];
                int n = snprintf(line, sizeof(line), "line %d\n", i);
                assert_int_equal(logs_append(fd, i == 2 ? "stderr" : "stdout", line, (size_t) n), 0);
        }
        assert_int_equal(logs_append(fd, "stdout", "\xff\xfe bin\n", 7), 0);   /* not UTF-8: kept, sanitized */
        /* print --tail 2 into a pipe-captured stdout */
        fflush(stdout);
        int saved = dup(1);
        _cleanup_free_ char *outp = path_join(dir, "out");
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        dup2(o, 1);
        LogsOptions lo = { .tail = 2 };
        _cleanup_kerr_ KError *e = NULL;
        int r = logs_print(path, &lo, &e);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        close(o);
        assert_int_equal(r, 0);
        _cleanup_free_ char *got = NULL;
        assert_true(read_full_file_at(AT_FDCWD, outp, 4096, &got, NULL) >= 0);
        assert_string_equal(got, "line 4\n?? bin\n");
        assert_int_equal(rm_rf(dir), 0);
}

static void test_logs_parse_time(void **state) {
        int64_t t, now = 1800000000LL * 1000000000;
        assert_int_equal(logs_parse_time("2026-11-23T09:00:00Z", now, &t), 0);
        assert_true(t == 1795424400LL * 1000000000);
        assert_int_equal(logs_parse_time("2026-11-23T09:00:00.5Z", now, &t), 0);
        assert_true(t == 1795424400LL * 1000000000 + 500000000);
        assert_int_equal(logs_parse_time("2026-11-23T10:00:00+01:00", now, &t), 0);
        assert_true(t == 1795424400LL * 1000000000);
        assert_int_equal(logs_parse_time("1795424400", now, &t), 0);
        assert_true(t == 1795424400LL * 1000000000);
        assert_int_equal(logs_parse_time("1795424400.25", now, &t), 0);
        assert_true(t == 1795424400LL * 1000000000 + 250000000);
        assert_int_equal(logs_parse_time("10m", now, &t), 0);
        assert_true(t == now - 600LL * 1000000000);
        assert_int_equal(logs_parse_time("1h30m", now, &t), 0);
        assert_true(t == now - 5400LL * 1000000000);
        assert_int_equal(logs_parse_time("250ms", now, &t), 0);
        assert_true(t == now - 250000000);
        assert_int_equal(logs_parse_time("yesterday", now, &t), -EINVAL);
        assert_int_equal(logs_parse_time("10x", now, &t), -EINVAL);
        assert_int_equal(logs_parse_time("", now, &t), -EINVAL);
}

static void test_logs_since_until(void **state) {
        _cleanup_free_ char *dir = tmpdir(), *path = path_join(dir, "ctr.log"), *outp = path_join(dir, "out");
        FILE *f = fopen(path, "w");
        for (int i = 0; i < 4; i++)
                fprintf(f, "{\"log\":\"at %d\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T09:0%d:00.000000000Z\"}\n", i, i);
        fclose(f);
        fflush(stdout);
        int saved = dup(1), o = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        dup2(o, 1);
        LogsOptions lo = { .tail = -1 };
        assert_int_equal(logs_parse_time("2026-11-23T09:01:00Z", 0, &lo.since), 0);
        assert_int_equal(logs_parse_time("2026-11-23T09:02:30Z", 0, &lo.until), 0);
        int r = logs_print(path, &lo, NULL);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        close(o);
        assert_int_equal(r, 0);
        _cleanup_free_ char *got = NULL;
        assert_true(read_full_file_at(AT_FDCWD, outp, 4096, &got, NULL) >= 0);
        assert_string_equal(got, "at 1\nat 2\n");
        assert_int_equal(rm_rf(dir), 0);
}

static void test_template(void **state) {
        json_t *obj = cfg("{\"Name\":\"web\",\"State\":{\"Status\":\"running\",\"Pid\":7},\"L\":[1,2]}");
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        _cleanup_kerr_ KError *e = NULL;
        assert_int_equal(template_render("{{.Name}}\\t{{ .State.Status }} {{.State.Pid}} {{json .L}} {{.Nope}}", obj, f, &e), 0);
        fclose(f);
        assert_string_equal(out, "web\trunning 7 [1,2] <no value>");
        free(out);
        f = open_memstream(&out, &len);
        assert_true(template_render("{{range .L}}", obj, f, &e) < 0);
        assert_non_null(strstr(e->msg, "unsupported action"));
        fclose(f);
        free(out);
        json_decref(obj);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_args_entrypoint_cmd),
                cmocka_unit_test(test_env_merge),
                cmocka_unit_test(test_caps_and_seccomp),
                cmocka_unit_test(test_mounts_and_resources),
                cmocka_unit_test(test_bind_spec_parse),
                cmocka_unit_test(test_db),
                cmocka_unit_test(test_user_resolve),
                cmocka_unit_test(test_cpus),
                cmocka_unit_test(test_logs),
                cmocka_unit_test(test_logs_parse_time),
                cmocka_unit_test(test_logs_since_until),
                cmocka_unit_test(test_template),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
