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

#include "ctr-mounts.h"
#include "daemon.h"

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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_version_prefix),
                cmocka_unit_test(test_routes),
                cmocka_unit_test(test_create_body),
                cmocka_unit_test(test_mount_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
