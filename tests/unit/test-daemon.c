/* SPDX-License-Identifier: Apache-2.0 */
/* kapseld's pure parts: version prefixes, the route table, docker's create body -> the engine's
 * document, and --mount values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctr-mounts.h"
#include "daemon.h"
#include "oci.h"
#include "string-util.h"

static void test_version_prefix(void **state) {
        (void) state;
        const char *rest;
        char v[16];
        assert_int_equal(router_strip_version("/v1.41/containers/json", &rest, v), 0);
        assert_string_equal(rest, "/containers/json");
        assert_string_equal(v, "1.41");
        assert_int_equal(router_strip_version("/v1.24/_ping", &rest, v), 0);
        assert_string_equal(rest, "/_ping");
        assert_int_equal(router_strip_version("/v1.23/_ping", &rest, v), -EINVAL);
        assert_int_equal(router_strip_version("/v1.50/_ping", &rest, v), -EINVAL);
        /* not a version: left alone */
        assert_int_equal(router_strip_version("/volumes", &rest, v), 0);
        assert_string_equal(rest, "/volumes");
}

static void test_routes(void **state) {
        (void) state;
        ApiReq rq = { 0 };
        bool known;
        const ApiRoute *r = router_match("POST", "/containers/abc/start", &rq, &known);
        assert_non_null(r);
        assert_ptr_equal(r->fn, api_ctr_start);
        assert_string_equal(rq.params[0], "abc");
        free(rq.params[0]);
        rq.params[0] = NULL;
        /* a known path with another method, and an unknown path */
        assert_null(router_match("PUT", "/containers/abc/start", &rq, &known));
        assert_true(known);
        assert_null(router_match("GET", "/nowhere", &rq, &known));
        assert_false(known);
        /* a partial match of another route leaves no capture behind */
        r = router_match("GET", "/images/get", &rq, &known);
        assert_ptr_equal(r->fn, api_img_save);
        assert_null(rq.params[0]);
        r = router_match("DELETE", "/containers/x/", &rq, &known);
        assert_ptr_equal(r->fn, api_ctr_delete);
        free(rq.params[0]);
        rq.params[0] = NULL;
        /* image names hold slashes */
        r = router_match("POST", "/images/127.0.0.1:5000/team/app:1/tag", &rq, &known);
        assert_ptr_equal(r->fn, api_img_tag);
        assert_string_equal(rq.params[0], "127.0.0.1:5000/team/app:1");
        free(rq.params[0]);
        rq.params[0] = NULL;
        r = router_match("DELETE", "/images/team/app", &rq, &known);
        assert_ptr_equal(r->fn, api_img_delete);
        assert_string_equal(rq.params[0], "team/app");
        free(rq.params[0]);
        rq.params[0] = NULL;
        r = router_match("GET", "/images/json", &rq, &known);
        assert_ptr_equal(r->fn, api_img_list);
        assert_null(rq.params[0]);
}

static void test_create_body(void **state) {
        (void) state;
        json_t *body = json_loads(
                "{\"Image\":\"busybox\",\"Cmd\":[\"true\"],\"Hostname\":\"\",\"Entrypoint\":null,\"Labels\":null,"
                "\"HostConfig\":{\"Memory\":0,\"Privileged\":false,\"Binds\":null,\"RestartPolicy\":{\"Name\":\"\"},"
                "\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}],"
                "\"53/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"\"}]}},"
                "\"NetworkingConfig\":{\"EndpointsConfig\":{\"app\":{\"Aliases\":[\"web\"]}}}}", 0, NULL);
        json_t *cfg = NULL;
        KError *err = NULL;
        assert_int_equal(api_create_body(body, &cfg, &err), 0);
        json_t *c = json_object_get(cfg, "Config"), *h = json_object_get(cfg, "HostConfig");
        /* zero values mean "not set" */
        assert_null(json_object_get(c, "Hostname"));
        assert_null(json_object_get(c, "Entrypoint"));
        assert_true(json_is_object(json_object_get(c, "Labels")));
        assert_null(json_object_get(h, "Memory"));
        assert_null(json_object_get(h, "Privileged"));
        assert_null(json_object_get(h, "RestartPolicy"));
        assert_string_equal(json_string_value(json_object_get(h, "NetworkMode")), "default");
        json_t *specs = json_object_get(h, "PortSpecs");
        assert_int_equal(json_array_size(specs), 2);
        assert_string_equal(json_string_value(json_array_get(specs, 0)), "8080:80/tcp");
        assert_string_equal(json_string_value(json_array_get(specs, 1)), "127.0.0.1::53/udp");
        assert_string_equal(json_string_value(json_array_get(json_object_get(h, "NetworkAliases"), 0)), "web");
        json_decref(cfg);
        json_decref(body);
        json_t *bad = json_string("x");
        assert_int_equal(api_create_body(bad, &cfg, &err), -EINVAL);
        json_decref(bad);
        assert_non_null(err);
        kerr_free(err);
}

static void test_mount_parse(void **state) {
        (void) state;
        json_t *m = NULL;
        KError *err = NULL;
        assert_int_equal(ctr_mount_parse("type=bind,src=/a,dst=/b,readonly", &m, &err), 0);
        json_t *cfg = json_pack("{s:{s:[O]}}", "HostConfig", "Mounts", m);
        json_decref(m);
        assert_int_equal(ctr_mount_parse("type=tmpfs,target=/t,tmpfs-size=1m", &m, &err), 0);
        json_array_append_new(json_object_get(json_object_get(cfg, "HostConfig"), "Mounts"), m);
        assert_int_equal(ctr_mounts_normalize(cfg, &err), 0);
        json_t *h = json_object_get(cfg, "HostConfig");
        assert_null(json_object_get(h, "Mounts"));
        assert_string_equal(json_string_value(json_array_get(json_object_get(h, "Binds"), 0)), "/a:/b:ro");
        assert_string_equal(json_string_value(json_object_get(json_object_get(h, "Tmpfs"), "/t")), "size=1m");
        json_decref(cfg);
        assert_int_equal(ctr_mount_parse("type=bind,bogus=1,target=/x", &m, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "unknown key"));
        kerr_free(err);
}

static void test_build_kv(void **state) {
        (void) state;
        char **v = NULL;
        KError *err = NULL;
        assert_int_equal(api_build_kv("{\"A\":\"1\",\"B\":null,\"C\":\"x y\"}", "buildargs", &v, &err), 0);
        assert_int_equal(strv_length(v), 2);
        assert_string_equal(v[0], "A=1");
        assert_string_equal(v[1], "C=x y");
        strv_free(v);
        assert_int_equal(api_build_kv(NULL, "labels", &v, &err), 0);
        assert_null(v);
        assert_int_equal(api_build_kv("[1]", "labels", &v, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "labels"));
        kerr_free(err);
        err = NULL;
        assert_int_equal(api_build_kv("{\"A\":1}", "buildargs", &v, &err), -EINVAL);
        kerr_free(err);
}

static void test_build_routes(void **state) {
        (void) state;
        ApiReq rq = { 0 };
        bool known;
        assert_ptr_equal(router_match("POST", "/build", &rq, &known)->fn, api_build);
        assert_ptr_equal(router_match("POST", "/build/prune", &rq, &known)->fn, api_build_prune);
        const ApiRoute *r = router_match("GET", "/images/127.0.0.1:5000/a/b:1/history", &rq, &known);
        assert_ptr_equal(r->fn, api_img_history);
        assert_string_equal(rq.params[0], "127.0.0.1:5000/a/b:1");
        free(rq.params[0]);
        rq.params[0] = NULL;
        r = router_match("POST", "/images/x/push", &rq, &known);
        assert_ptr_equal(r->fn, api_img_push);
        free(rq.params[0]);
        assert_true(router_body_to_file("POST", "/v1.41/build"));
        assert_true(router_body_to_file("POST", "/images/create"));
        assert_false(router_body_to_file("POST", "/build/prune"));
        assert_false(router_body_to_file("POST", "/containers/build/exec"));
        assert_false(router_body_to_file("GET", "/build"));
}

static void test_utf8_clean(void **state) {
        (void) state;
        char out[16];
        /* a cut "é" stays for the next chunk unless final */
        assert_int_equal(api_utf8_clean("ab\xc3", 3, out, false), 2);
        assert_string_equal(out, "ab");
        assert_int_equal(api_utf8_clean("ab\xc3", 3, out, true), 3);
        assert_string_equal(out, "ab?");
        assert_int_equal(api_utf8_clean("\xc3\xa9\xff\x00z", 5, out, false), 5);
        assert_string_equal(out, "\xc3\xa9??z");
        /* overlong and surrogate forms are not UTF-8 */
        assert_int_equal(api_utf8_clean("\xc0\xaf\xed\xa0\x80", 5, out, true), 5);
        assert_null(strchr(out, '\xc0'));
}

static void test_import_changes(void **state) {
        (void) state;
        char *changes[] = { "CMD [\"echo\", \"hi\"]", "ENV A=1 B=\"two words\"", "ENV A=2", "EXPOSE 80 53/udp",
                            "WORKDIR /srv", "ENTRYPOINT exec me", NULL };
        ImageConfig cfg = { 0 };
        KError *err = NULL;
        assert_int_equal(api_import_changes(changes, &cfg, &err), 0);
        assert_string_equal(cfg.cmd[1], "hi");
        assert_string_equal(cfg.env[0], "A=2");
        assert_string_equal(cfg.env[1], "B=two words");
        assert_string_equal(cfg.exposed_ports[0], "80/tcp");
        assert_string_equal(cfg.exposed_ports[1], "53/udp");
        assert_string_equal(cfg.working_dir, "/srv");
        assert_string_equal(cfg.entrypoint[0], "/bin/sh");
        assert_string_equal(cfg.entrypoint[2], "exec me");
        image_config_done(&cfg);
        char *bad[] = { "RUN rm -rf /", NULL };
        cfg = (ImageConfig) { 0 };
        assert_int_equal(api_import_changes(bad, &cfg, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "only CMD"));
        kerr_free(err);
        image_config_done(&cfg);
}

/* A tar in a memfd with these (name, text) entries, gzip-compressed when asked. */
static int tar_fd(const char *const *entries, bool gz) {
        int fd = memfd_create("ctx", MFD_CLOEXEC);
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (gz)
                archive_write_add_filter_gzip(a);
        assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
        for (size_t i = 0; entries[i]; i += 2) {
                struct archive_entry *e = archive_entry_new();
                archive_entry_set_pathname(e, entries[i]);
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, (la_int64_t) strlen(entries[i + 1]));
                archive_write_header(a, e);
                archive_write_data(a, entries[i + 1], strlen(entries[i + 1]));
                archive_entry_free(e);
        }
        archive_write_close(a);
        archive_write_free(a);
        return fd;
}

static void test_build_dockerfile(void **state) {
        (void) state;
        const char *const files[] = { "./a.txt", "x", "./Dockerfile", "FROM busybox\n", "sub/Other", "FROM scratch\n",
                                      NULL };
        char *text = NULL;
        size_t len = 0;
        KError *err = NULL;
        int fd = tar_fd(files, true);
        assert_int_equal(api_build_dockerfile(fd, NULL, &text, &len, &err), 0);
        assert_string_equal(text, "FROM busybox\n");
        free(text);
        assert_int_equal(api_build_dockerfile(fd, "./sub//Other", &text, &len, &err), 0);
        assert_string_equal(text, "FROM scratch\n");
        free(text);
        assert_int_equal(api_build_dockerfile(fd, "missing", &text, &len, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "Cannot locate specified Dockerfile: missing"));
        kerr_free(err);
        err = NULL;
        /* never a path outside the context */
        assert_int_equal(api_build_dockerfile(fd, "../../etc/passwd", &text, &len, &err), -EINVAL);
        kerr_free(err);
        close(fd);
        const char *const alt[] = { "Containerfile", "FROM alt\n", NULL };
        fd = tar_fd(alt, false);
        assert_int_equal(api_build_dockerfile(fd, NULL, &text, &len, &err), 0);
        assert_string_equal(text, "FROM alt\n");
        free(text);
        close(fd);
        fd = memfd_create("junk", MFD_CLOEXEC);
        assert_int_equal(write(fd, "not a tar at all", 16), 16);
        err = NULL;
        assert_true(api_build_dockerfile(fd, NULL, &text, &len, &err) < 0);
        kerr_free(err);
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_version_prefix),
                cmocka_unit_test(test_routes),
                cmocka_unit_test(test_create_body),
                cmocka_unit_test(test_mount_parse),
                cmocka_unit_test(test_build_kv),
                cmocka_unit_test(test_build_routes),
                cmocka_unit_test(test_utf8_clean),
                cmocka_unit_test(test_import_changes),
                cmocka_unit_test(test_build_dockerfile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
