/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the registry client's pure parsers (registry-parse.h): references, auth
 * challenges, token and error replies, manifests/indexes, platform selection; plus URL
 * resolution and basic auth of registry-http.h. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "registry-http.h"
#include "registry-parse.h"
#include "string-util.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

/* ---- digests and references ---- */

static void test_digest_valid(void **state) {
        assert_true(registry_digest_valid(D1));
        assert_false(registry_digest_valid(NULL));
        assert_false(registry_digest_valid("sha256:"));
        assert_false(registry_digest_valid("sha256:111"));
        assert_false(registry_digest_valid(D1 "1"));
        assert_false(registry_digest_valid("sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        assert_false(registry_digest_valid("sha512:1111111111111111111111111111111111111111111111111111111111111111"));
        assert_false(registry_digest_valid("sha256:../../../../../../../../../../../../../../../../../etc/passwd"));
}

static void check_ref(const char *s, const char *host, const char *api, const char *name, const char *tag,
                      const char *digest) {
        RegistryRef r = {};
        KError *e = NULL;
        assert_int_equal(registry_ref_parse(s, &r, &e), 0);
        assert_null(e);
        assert_string_equal(r.host, host);
        assert_string_equal(r.api_host, api);
        assert_string_equal(r.name, name);
        assert_true(streq_ptr(r.tag, tag));
        assert_true(streq_ptr(r.digest, digest));
        registry_ref_done(&r);
}

static void test_ref_parse(void **state) {
        check_ref("127.0.0.1:5000/busybox:latest", "127.0.0.1:5000", "127.0.0.1:5000", "busybox", "latest", NULL);
        check_ref("127.0.0.1:5000/a/b-c/d_e", "127.0.0.1:5000", "127.0.0.1:5000", "a/b-c/d_e", "latest", NULL);
        check_ref("localhost/x:1.0", "localhost", "localhost", "x", "1.0", NULL);
        check_ref("busybox", "docker.io", "registry-1.docker.io", "library/busybox", "latest", NULL);
        check_ref("docker.io/user/app:v2", "docker.io", "registry-1.docker.io", "user/app", "v2", NULL);
        check_ref("user/app", "docker.io", "registry-1.docker.io", "user/app", "latest", NULL);
        check_ref("[::1]:5000/x@" D1, "[::1]:5000", "[::1]:5000", "x", NULL, D1);
        check_ref("quay.io/x/y:t@" D2, "quay.io", "quay.io", "x/y", "t", D2);
}

static void test_ref_reference(void **state) {
        RegistryRef r = {};
        assert_int_equal(registry_ref_parse("h.io/x:t@" D1, &r, NULL), 0);
        assert_string_equal(registry_ref_reference(&r), D1);
        registry_ref_done(&r);
        assert_int_equal(registry_ref_parse("h.io/x:t", &r, NULL), 0);
        assert_string_equal(registry_ref_reference(&r), "t");
        registry_ref_done(&r);
}

static void test_ref_invalid(void **state) {
        static const char *const bad[] = {
                "",                              "127.0.0.1:5000/",            "127.0.0.1:5000/UPPER",
                "h.io/x:",                       "h.io/x:-tag",                "h.io/x@sha256:abc",
                "h.io/x@md5:1234",               "h.io/a//b",                  "h.io/a/../b",
                "h.io/x:t@" D1 "@" D2,           "h_o.io:99999999/x",          "h.io/x:t with space",
                "h.io/.hidden",                  "h.io/a-",                    "bad host/x",
                "h.io/x?q=1",                    "h.io/x#f",                   "[zz::1]:5000/x",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                RegistryRef r = {};
                KError *e = NULL;
                int k = registry_ref_parse(bad[i], &r, &e);
                if (k != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_non_null(e);
                assert_int_equal(e->kind, KERR_USAGE);
                kerr_free(e);
        }
}

static void test_loopback(void **state) {
        assert_true(registry_host_is_loopback("127.0.0.1"));
        assert_true(registry_host_is_loopback("127.0.0.1:5000"));
        assert_true(registry_host_is_loopback("localhost:80"));
        assert_true(registry_host_is_loopback("[::1]:5000"));
        assert_false(registry_host_is_loopback("127.0.0.10:5000"));
        assert_false(registry_host_is_loopback("localhost.evil.com"));
        assert_false(registry_host_is_loopback("quay.io"));
}

/* ---- WWW-Authenticate ---- */

static void test_challenge_bearer(void **state) {
        RegistryChallenge c = {};
        assert_int_equal(registry_challenge_parse("Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
                                                  "scope=\"repository:library/busybox:pull\"", &c), 0);
        assert_int_equal(c.scheme, REGISTRY_AUTH_BEARER);
        assert_string_equal(c.realm, "https://auth.example/token");
        assert_string_equal(c.service, "registry.example");
        assert_string_equal(c.scope, "repository:library/busybox:pull");
        registry_challenge_done(&c);
}

static void test_challenge_basic_and_case(void **state) {
        RegistryChallenge c = {};
        assert_int_equal(registry_challenge_parse("basic REALM=x", &c), 0);
        assert_int_equal(c.scheme, REGISTRY_AUTH_BASIC);
        assert_string_equal(c.realm, "x");
        assert_null(c.service);
        registry_challenge_done(&c);
}

static void test_challenge_prefers_bearer(void **state) {
        RegistryChallenge c = {};
        assert_int_equal(registry_challenge_parse("Basic realm=\"r, with comma\", Bearer realm=\"http://127.0.0.1/t\" , "
                                                  "service=s", &c), 0);
        assert_int_equal(c.scheme, REGISTRY_AUTH_BEARER);
        assert_string_equal(c.realm, "http://127.0.0.1/t");
        assert_string_equal(c.service, "s");
        registry_challenge_done(&c);
        assert_int_equal(registry_challenge_parse("Negotiate abc==, Basic realm=\"b\"", &c), 0);
        assert_int_equal(c.scheme, REGISTRY_AUTH_BASIC);
        assert_string_equal(c.realm, "b");
        registry_challenge_done(&c);
}

static void test_challenge_escapes(void **state) {
        RegistryChallenge c = {};
        assert_int_equal(registry_challenge_parse("Bearer realm=\"a\\\"b\\\\c\"", &c), 0);
        assert_string_equal(c.realm, "a\"b\\c");
        registry_challenge_done(&c);
}

static void test_challenge_invalid(void **state) {
        static const char *const bad[] = {
                "Bearer realm=\"unterminated", "Bearer realm=\"x\" =", "=x", "Bearer realm=\"a\rb\"", "Bearer realm=\"x\\",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                RegistryChallenge c = {};
                if (registry_challenge_parse(bad[i], &c) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_null(c.realm);
        }
        RegistryChallenge c = {};
        assert_int_equal(registry_challenge_parse("Digest realm=x, nonce=y", &c), -ENOENT);
        assert_int_equal(registry_challenge_parse("", &c), -ENOENT);
        assert_int_equal(registry_challenge_parse(NULL, &c), -EINVAL);
}

/* ---- token and error replies ---- */

static void test_token_parse(void **state) {
        char *t = NULL;
        const char *a = "{\"token\":\"abc\",\"expires_in\":300}";
        assert_int_equal(registry_token_parse(a, strlen(a), &t, NULL), 0);
        assert_string_equal(t, "abc");
        free(t);
        const char *b = "{\"access_token\":\"xyz\"}";
        assert_int_equal(registry_token_parse(b, strlen(b), &t, NULL), 0);
        assert_string_equal(t, "xyz");
        free(t);
        static const char *const bad[] = { "{}", "[]", "{\"token\":\"a\\r\\nX-Evil: 1\"}", "{\"token\":5}", "{",
                                           "{\"token\":\"a\",\"token\":\"b\"}" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                KError *e = NULL;
                assert_int_equal(registry_token_parse(bad[i], strlen(bad[i]), &t, &e), -EBADMSG);
                assert_non_null(e);
                assert_non_null(strstr(e->msg, "token reply"));
                kerr_free(e);
        }
}

static void test_error_summary(void **state) {
        const char *one = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\",\"detail\":{}}]}";
        char *s = registry_error_summary(one, strlen(one));
        assert_string_equal(s, "manifest unknown");
        free(s);
        const char *two = "{\"errors\":[{\"code\":\"DENIED\"},{\"code\":\"X\",\"message\":\"bad\\nline\"}]}";
        s = registry_error_summary(two, strlen(two));
        assert_string_equal(s, "DENIED; bad line");
        free(s);
        assert_null(registry_error_summary("<html>502</html>", 16));
        assert_null(registry_error_summary("{\"errors\":[]}", 13));
        assert_null(registry_error_summary(NULL, 0));
        char big[2048];
        int n = snprintf(big, sizeof(big), "{\"errors\":[{\"message\":\"%01500d\"}]}", 0);
        s = registry_error_summary(big, (size_t) n);
        assert_non_null(s);
        assert_true(strlen(s) <= 300);
        free(s);
}

/* ---- manifests ---- */

static const char oci_manifest[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1 "\",\"size\":7},"
        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2 "\",\"size\":32},"
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D3 "\",\"size\":0}]}";

static RegistryManifest *parse_ok(const char *body, const char *ctype) {
        RegistryManifest *m = NULL;
        KError *e = NULL;
        int r = registry_manifest_parse(body, strlen(body), ctype, &m, &e);
        if (r < 0)
                fail_msg("parse failed: %s", e ? e->msg : "?");
        return m;
}

static void test_manifest_oci(void **state) {
        RegistryManifest *m = parse_ok(oci_manifest, NULL);
        assert_int_equal(m->kind, REGISTRY_MANIFEST_IMAGE);
        assert_string_equal(m->media_type, MEDIA_TYPE_OCI_MANIFEST);
        assert_string_equal(m->config.digest, D1);
        assert_int_equal(m->config.size, 7);
        assert_int_equal(m->n_descs, 2);
        assert_string_equal(m->descs[0].digest, D2);
        assert_int_equal(m->descs[0].size, 32);
        assert_string_equal(m->descs[1].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
        registry_manifest_free(m);
}

static void test_manifest_docker_from_content_type(void **state) {
        /* no mediaType in the body: the Content-Type decides, parameters ignored */
        const char *body = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
                           "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
        RegistryManifest *m = parse_ok(body, MEDIA_TYPE_DOCKER_MANIFEST "; charset=utf-8");
        assert_int_equal(m->kind, REGISTRY_MANIFEST_IMAGE);
        assert_string_equal(m->media_type, MEDIA_TYPE_DOCKER_MANIFEST);
        assert_int_equal(m->n_descs, 0);
        registry_manifest_free(m);
        /* an unrelated Content-Type: the shape decides */
        m = parse_ok(body, "application/json");
        assert_string_equal(m->media_type, MEDIA_TYPE_OCI_MANIFEST);
        registry_manifest_free(m);
}

static const char docker_list[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_DOCKER_LIST "\",\"manifests\":["
        "{\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":10,"
        "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
        "{\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":11,"
        "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
        "{\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":12,"
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":13,"
        "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"},"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"arm64\"}},"
        "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":14,"
        "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}}]}";

static void test_manifest_index(void **state) {
        RegistryManifest *m = parse_ok(docker_list, NULL);
        assert_int_equal(m->kind, REGISTRY_MANIFEST_INDEX);
        assert_string_equal(m->media_type, MEDIA_TYPE_DOCKER_LIST);
        assert_int_equal(m->n_descs, 5);
        assert_true(m->descs[0].has_platform);
        assert_string_equal(m->descs[0].platform.variant, "v6");
        assert_null(m->descs[2].platform.variant);
        assert_string_equal(m->descs[3].ref_name, "arm64");
        registry_manifest_free(m);
        /* an OCI index without mediaType is recognized by its shape */
        const char *idx = "{\"schemaVersion\":2,\"manifests\":[]}";
        m = parse_ok(idx, NULL);
        assert_int_equal(m->kind, REGISTRY_MANIFEST_INDEX);
        assert_string_equal(m->media_type, MEDIA_TYPE_OCI_INDEX);
        registry_manifest_free(m);
}

static void check_manifest_error(const char *body, int want, const char *fragment) {
        RegistryManifest *m = NULL;
        KError *e = NULL;
        int r = registry_manifest_parse(body, strlen(body), NULL, &m, &e);
        if (r != want)
                fail_msg("%s: got %d, want %d (%s)", body, r, want, e ? e->msg : "no error");
        assert_null(m);
        assert_non_null(e);
        if (!strstr(e->msg, fragment))
                fail_msg("'%s' does not mention '%s'", e->msg, fragment);
        kerr_free(e);
}

static void test_manifest_invalid(void **state) {
        check_manifest_error("{", -EBADMSG, "invalid JSON");
        check_manifest_error("[]", -EBADMSG, "not a JSON object");
        check_manifest_error("{\"schemaVersion\":1,\"fsLayers\":[]}", -EOPNOTSUPP, "schema 1");
        check_manifest_error("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+prettyjws\"}",
                             -EOPNOTSUPP, "schema 1");
        check_manifest_error("{\"schemaVersion\":2,\"mediaType\":\"text/html\"}", -EOPNOTSUPP, "text/html");
        check_manifest_error("{\"schemaVersion\":3,\"layers\":[]}", -EBADMSG, "schemaVersion");
        check_manifest_error("{\"schemaVersion\":2,\"layers\":[]}", -EBADMSG, "config");
        check_manifest_error("{\"config\":{\"mediaType\":\"a\",\"digest\":\"sha256:../../etc/passwd\",\"size\":1},\"layers\":[]}",
                             -EBADMSG, "malformed or unsupported digest");
        check_manifest_error("{\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
                             -EBADMSG, "size");
        check_manifest_error("{\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":\"1\"},\"layers\":[]}",
                             -EBADMSG, "size");
        check_manifest_error("{\"config\":{\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}", -EBADMSG, "mediaType");
        check_manifest_error("{\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":{}}", -EBADMSG,
                             "layers");
        check_manifest_error("{\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[],\"layers\":[]}",
                             -EBADMSG, "duplicate");
        check_manifest_error("{\"manifests\":[{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}",
                             -EBADMSG, "architecture");
        check_manifest_error("{\"manifests\":[{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":1,\"annotations\":[]}]}",
                             -EBADMSG, "annotations");
        check_manifest_error("{\"manifests\":[{\"mediaType\":\"a\\u0001\",\"digest\":\"" D1 "\",\"size\":1}]}", -EBADMSG,
                             "control");
}

static void test_manifest_limits(void **state) {
        /* more descriptors than the bound */
        size_t cap = (REGISTRY_DESCRIPTORS_MAX + 1) * 4 + 64;
        char *body = malloc(cap);
        assert_non_null(body);
        size_t n = (size_t) sprintf(body, "{\"manifests\":[");
        for (int i = 0; i <= REGISTRY_DESCRIPTORS_MAX; i++)
                n += (size_t) sprintf(body + n, "%s{}", i ? "," : "");
        strcpy(body + n, "]}");
        check_manifest_error(body, -E2BIG, "more than");
        free(body);
        /* a body over 4 MiB is refused before parsing */
        RegistryManifest *m = NULL;
        assert_int_equal(registry_manifest_parse("{}", REGISTRY_MANIFEST_MAX + 1, NULL, &m, NULL), -EFBIG);
}

/* ---- platforms ---- */

static size_t select_ok(const RegistryManifest *m, const char *os, const char *arch, const char *variant) {
        RegistryPlatform p = { .os = (char *) os, .architecture = (char *) arch, .variant = (char *) variant };
        size_t i = 99;
        KError *e = NULL;
        if (registry_index_select(m, &p, &i, &e) < 0)
                fail_msg("select %s/%s: %s", os, arch, e->msg);
        return i;
}

static void test_platform_select(void **state) {
        RegistryManifest *m = parse_ok(docker_list, NULL);
        assert_int_equal(select_ok(m, "linux", "amd64", NULL), 2);
        assert_int_equal(select_ok(m, "linux", "arm", "v7"), 1);
        assert_int_equal(select_ok(m, "linux", "arm", "v6"), 0);
        assert_int_equal(select_ok(m, "linux", "arm", NULL), 0);      /* no variant wanted: the first */
        assert_int_equal(select_ok(m, "linux", "arm64", NULL), 3);    /* v8 is arm64's default */
        assert_int_equal(select_ok(m, "linux", "arm64", "v8"), 3);

        RegistryPlatform p = { .os = "linux", .architecture = "s390x" };
        size_t i;
        KError *e = NULL;
        assert_int_equal(registry_index_select(m, &p, &i, &e), -ENOENT);
        assert_int_equal(e->kind, KERR_NOT_FOUND);
        assert_non_null(strstr(e->msg, "linux/s390x"));
        assert_non_null(strstr(e->msg, "linux/arm/v6, linux/arm/v7, linux/amd64, linux/arm64/v8"));
        kerr_free(e);
        e = NULL;
        p = (RegistryPlatform) { .os = "linux", .architecture = "arm", .variant = "v5" };
        assert_int_equal(registry_index_select(m, &p, &i, &e), -ENOENT);
        kerr_free(e);
        registry_manifest_free(m);
}

static void test_platform_arm64_implied_variant(void **state) {
        const char *body = "{\"manifests\":[{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":1,"
                           "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}";
        RegistryManifest *m = parse_ok(body, NULL);
        assert_int_equal(select_ok(m, "linux", "arm64", "v8"), 0);
        registry_manifest_free(m);
}

static void test_platform_machine(void **state) {
        const char *arch, *variant;
        assert_int_equal(registry_platform_for_machine("x86_64", &arch, &variant), 0);
        assert_string_equal(arch, "amd64");
        assert_null(variant);
        assert_int_equal(registry_platform_for_machine("armv7l", &arch, &variant), 0);
        assert_string_equal(arch, "arm");
        assert_string_equal(variant, "v7");
        assert_int_equal(registry_platform_for_machine("aarch64", &arch, &variant), 0);
        assert_string_equal(arch, "arm64");
        assert_int_equal(registry_platform_for_machine("pdp11", &arch, &variant), -EOPNOTSUPP);
}

/* ---- http helpers ---- */

static void test_url_resolve(void **state) {
        char *u = NULL;
        assert_int_equal(http_url_resolve("http://127.0.0.1:5000/v2/x/blobs/uploads/", "/v2/x/blobs/uploads/abc?_state=s",
                                          "digest=" D1, &u), 0);
        assert_string_equal(u, "http://127.0.0.1:5000/v2/x/blobs/uploads/abc?_state=s&digest=sha256%3a"
                               "1111111111111111111111111111111111111111111111111111111111111111");
        free(u);
        assert_int_equal(http_url_resolve("http://127.0.0.1:5000/v2/", "https://other.example/up?x=1", NULL, &u), 0);
        assert_string_equal(u, "https://other.example/up?x=1");
        free(u);
        assert_int_equal(http_url_resolve("http://127.0.0.1/t", NULL, "scope=repository:a b:pull", &u), 0);
        assert_string_equal(u, "http://127.0.0.1/t?scope=repository%3aa+b%3apull");
        free(u);
        assert_int_equal(http_url_resolve("http://127.0.0.1/", "file:///etc/passwd", NULL, &u), -EPROTONOSUPPORT);
        assert_int_equal(http_url_resolve("not a url", NULL, NULL, &u), -EINVAL);
}

static void test_basic_auth(void **state) {
        char *a = NULL;
        assert_int_equal(http_basic_auth("user", "pass", &a), 0);
        assert_string_equal(a, "Basic dXNlcjpwYXNz");
        free(a);
        assert_int_equal(http_basic_auth("a", NULL, &a), 0);
        assert_string_equal(a, "Basic YTo=");
        free(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_digest_valid),
                cmocka_unit_test(test_ref_parse),
                cmocka_unit_test(test_ref_reference),
                cmocka_unit_test(test_ref_invalid),
                cmocka_unit_test(test_loopback),
                cmocka_unit_test(test_challenge_bearer),
                cmocka_unit_test(test_challenge_basic_and_case),
                cmocka_unit_test(test_challenge_prefers_bearer),
                cmocka_unit_test(test_challenge_escapes),
                cmocka_unit_test(test_challenge_invalid),
                cmocka_unit_test(test_token_parse),
                cmocka_unit_test(test_error_summary),
                cmocka_unit_test(test_manifest_oci),
                cmocka_unit_test(test_manifest_docker_from_content_type),
                cmocka_unit_test(test_manifest_index),
                cmocka_unit_test(test_manifest_invalid),
                cmocka_unit_test(test_manifest_limits),
                cmocka_unit_test(test_platform_select),
                cmocka_unit_test(test_platform_arm64_implied_variant),
                cmocka_unit_test(test_platform_machine),
                cmocka_unit_test(test_url_resolve),
                cmocka_unit_test(test_basic_auth),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
