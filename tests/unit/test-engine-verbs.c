/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the pure parts behind docker's habits: prune selection and filters, event filters,
 * times and line format, the event journal's rotation, config.json credentials, diff kinds and
 * human sizes. No root, no containers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "ctr-fs.h"
#include "events.h"
#include "prune.h"
#include "rm-rf.h"
#include "string-util.h"

static json_t *js(const char *text) {
        json_error_t je;
        json_t *j = json_loads(text, 0, &je);
        if (!j)
                fail_msg("bad test json: %s", je.text);
        return j;
}

static void test_prune_filter(void **state) {
        (void) state;
        PruneFilter f = {};
        assert_int_equal(prune_filter_add(&f, "label=keep", NULL), 0);
        assert_int_equal(prune_filter_add(&f, "label!=tier=db", NULL), 0);
        json_t *yes = js("{\"keep\":\"1\",\"tier\":\"web\"}"), *no_label = js("{\"tier\":\"web\"}"),
               *db = js("{\"keep\":\"\",\"tier\":\"db\"}");
        assert_true(prune_filter_match(&f, yes, 5));
        assert_false(prune_filter_match(&f, no_label, 5));
        assert_false(prune_filter_match(&f, db, 5));
        assert_false(prune_filter_match(&f, NULL, 5));
        assert_int_equal(prune_filter_add(&f, "until=10", NULL), 0);
        assert_true(prune_filter_match(&f, yes, 9999999999LL));
        assert_false(prune_filter_match(&f, yes, 10000000000LL));
        KError *err = NULL;
        assert_int_equal(prune_filter_add(&f, "dangling=true", &err), -EINVAL);
        assert_non_null(strstr(err->msg, "label="));
        kerr_free(err);
        assert_int_equal(prune_filter_add(&f, "until=yesterday", NULL), -EINVAL);
        prune_filter_done(&f);
        PruneFilter none = {};
        assert_true(prune_filter_match(&none, NULL, 1));
        json_decref(yes);
        json_decref(no_label);
        json_decref(db);
}

static void test_prune_volume_wanted(void **state) {
        (void) state;
        json_t *anon = js("{\"com.docker.volume.anonymous\":\"\"}"), *named = js("{\"x\":\"y\"}");
        assert_true(prune_volume_wanted(anon, false));
        assert_false(prune_volume_wanted(named, false));
        assert_false(prune_volume_wanted(NULL, false));
        assert_true(prune_volume_wanted(named, true));
        assert_true(prune_volume_wanted(NULL, true));
        json_decref(anon);
        json_decref(named);
}

static void test_human_size(void **state) {
        (void) state;
        static const struct { uint64_t b; const char *s; } cases[] = {
                { 0, "0B" }, { 999, "999B" }, { 1000, "1kB" }, { 1234, "1.234kB" }, { 12345678, "12.35MB" },
                { 4400000000ULL, "4.4GB" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char buf[16];
                format_human_size(cases[i].b, buf);
                assert_string_equal(buf, cases[i].s);
        }
}

static json_t *ctr_event(const char *action, const char *id, const char *name, const char *image) {
        return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}}, s:I}", "Type", "container", "Action", action, "Actor", "ID", id,
                         "Attributes", "name", name, "image", image, "tier", "web", "timeNano",
                         (json_int_t) 1796613011123456789LL);
}

static void test_event_filter(void **state) {
        (void) state;
        json_t *start = ctr_event("start", "abcdef0123", "web", "busybox"), *die = ctr_event("die", "abcdef0123", "web", "busybox"),
               *other = ctr_event("start", "99990000", "db", "alpine");
        json_t *vol = js("{\"Type\":\"volume\",\"Action\":\"create\",\"Actor\":{\"ID\":\"web\",\"Attributes\":{}}}");
        EventFilter f = {};
        assert_true(event_filter_match(&f, start));
        assert_int_equal(event_filter_add(&f, "type=container", NULL), 0);
        assert_int_equal(event_filter_add(&f, "event=start", NULL), 0);
        assert_int_equal(event_filter_add(&f, "event=stop", NULL), 0);     /* alternatives */
        assert_int_equal(event_filter_add(&f, "container=web", NULL), 0);
        assert_true(event_filter_match(&f, start));
        assert_false(event_filter_match(&f, die));
        assert_false(event_filter_match(&f, other));
        assert_false(event_filter_match(&f, vol));      /* a volume named web is no container */
        event_filter_done(&f);
        assert_int_equal(event_filter_add(&f, "container=abcdef", NULL), 0);       /* id prefix */
        assert_int_equal(event_filter_add(&f, "label=tier=web", NULL), 0);
        assert_true(event_filter_match(&f, die));
        event_filter_done(&f);
        assert_int_equal(event_filter_add(&f, "image=alpine", NULL), 0);
        assert_true(event_filter_match(&f, other));
        assert_false(event_filter_match(&f, start));
        event_filter_done(&f);
        assert_int_equal(event_filter_add(&f, "action=die", NULL), 0);
        assert_true(event_filter_match(&f, die));
        event_filter_done(&f);
        assert_int_equal(event_filter_add(&f, "colour=red", NULL), -EINVAL);
        assert_int_equal(event_filter_add(&f, "type=", NULL), -EINVAL);
        event_filter_done(&f);
        json_decref(start);
        json_decref(die);
        json_decref(other);
        json_decref(vol);
}

static void test_event_time(void **state) {
        (void) state;
        int64_t now = 1796613011000000000LL, t = 0;
        assert_int_equal(events_parse_time("1796613000", now, &t, NULL), 0);
        assert_true(t == 1796613000000000000LL);
        assert_int_equal(events_parse_time("1796613000.5", now, &t, NULL), 0);
        assert_true(t == 1796613000500000000LL);
        assert_int_equal(events_parse_time("10m", now, &t, NULL), 0);
        assert_true(t == now - 600000000000LL);
        assert_int_equal(events_parse_time("1h30m", now, &t, NULL), 0);
        assert_true(t == now - 5400000000000LL);
        assert_int_equal(events_parse_time("2026-12-07T03:10:11Z", now, &t, NULL), 0);
        assert_true(t == 1796613011000000000LL);
        assert_int_equal(events_parse_time("2026-12-07T04:10:11.25+01:00", now, &t, NULL), 0);
        assert_true(t == 1796613011250000000LL);
        assert_int_equal(events_parse_time("2026-12-07", now, &t, NULL), 0);
        assert_true(t == 1796601600000000000LL);
        KError *err = NULL;
        assert_int_equal(events_parse_time("yesterday", now, &t, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "RFC 3339"));
        kerr_free(err);
        assert_int_equal(events_parse_time("10x", now, &t, NULL), -EINVAL);
}

static void test_event_line(void **state) {
        (void) state;
        json_t *ev = ctr_event("start", "abc", "web", "busybox");
        char *line = events_format_line(ev);
        assert_string_equal(line, "2026-12-07T03:10:11.123456789Z container start abc (image=busybox, name=web, tier=web)");
        free(line);
        json_decref(ev);
}

typedef struct Seen {
        int n;
        char actions[64][16];
} Seen;

static int collect(const json_t *ev, void *userdata) {
        Seen *s = userdata;
        if (s->n < 64)
                snprintf(s->actions[s->n++], 16, "%s", json_string_value(json_object_get(ev, "Action")));
        return 0;
}

static void test_event_journal_rotates(void **state) {
        (void) state;
        char dir[] = "/tmp/kapsel-test-events-XXXXXX";
        assert_non_null(mkdtemp(dir));
        setenv("KAPSEL_EVENTS_MAX_BYTES", "600", 1);
        for (int i = 0; i < 20; i++) {
                char action[16];
                snprintf(action, sizeof(action), "a%d", i);
                events_emit(dir, "volume", action, "v", NULL);
        }
        unsetenv("KAPSEL_EVENTS_MAX_BYTES");
        char path[128];
        struct stat st;
        snprintf(path, sizeof(path), "%s/events.jsonl", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size <= 600);
        snprintf(path, sizeof(path), "%s/events.jsonl.1", dir);
        assert_int_equal(stat(path, &st), 0);
        /* the newest events are all there, in order, the oldest were dropped */
        Seen seen = {};
        EventQuery q = { .history = true };
        assert_int_equal(events_read(dir, &q, collect, &seen, NULL), 0);
        assert_true(seen.n > 2 && seen.n < 20);
        assert_string_equal(seen.actions[seen.n - 1], "a19");
        assert_string_equal(seen.actions[seen.n - 2], "a18");
        EventFilter f = {};
        assert_int_equal(event_filter_add(&f, "event=a19", NULL), 0);
        Seen one = {};
        q.filter = &f;
        assert_int_equal(events_read(dir, &q, collect, &one, NULL), 0);
        assert_int_equal(one.n, 1);
        event_filter_done(&f);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_auth_server_key(void **state) {
        (void) state;
        static const struct { const char *in, *key; } cases[] = {
                { "", "https://index.docker.io/v1/" }, { "docker.io", "https://index.docker.io/v1/" },
                { "registry-1.docker.io", "https://index.docker.io/v1/" }, { "127.0.0.1:5000", "127.0.0.1:5000" },
                { "https://reg.example:5000/v2/", "reg.example:5000" }, { "http://localhost:5000", "localhost:5000" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *k = NULL;
                assert_int_equal(auth_server_key(cases[i].in, &k), 0);
                assert_string_equal(k, cases[i].key);
                free(k);
        }
}

static void test_auth_from_json(void **state) {
        (void) state;
        /* dXNlcjpwYTpzcw== is "user:pa:ss" (a colon in the password), YWxpY2U6c2VjcmV0 "alice:secret" */
        json_t *cfg = js("{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"dXNlcjpwYTpzcw==\"},"
                         "\"https://index.docker.io/v1/\":{\"auth\":\"YWxpY2U6c2VjcmV0\"},"
                         "\"http://reg.example:443/v2/\":{\"username\":\"u\",\"password\":\"p\"},"
                         "\"bad.example\":{\"auth\":\"!!!\"},\"nocolon.example\":{\"auth\":\"YWxpY2U=\"}},"
                         "\"credsStore\":\"desktop\"}");
        char *u = NULL, *p = NULL;
        assert_int_equal(auth_from_json(cfg, "127.0.0.1:5000", &u, &p, NULL), 0);
        assert_string_equal(u, "user");
        assert_string_equal(p, "pa:ss");
        free(u);
        free(p);
        assert_int_equal(auth_from_json(cfg, "docker.io", &u, &p, NULL), 0);
        assert_string_equal(u, "alice");
        assert_string_equal(p, "secret");
        free(u);
        free(p);
        assert_int_equal(auth_from_json(cfg, "reg.example:443", &u, &p, NULL), 0);
        assert_string_equal(u, "u");
        free(u);
        free(p);
        assert_int_equal(auth_from_json(cfg, "other:5000", &u, &p, NULL), -ENOENT);
        KError *err = NULL;
        assert_int_equal(auth_from_json(cfg, "bad.example", &u, &p, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "base64"));
        kerr_free(err);
        assert_int_equal(auth_from_json(cfg, "nocolon.example", &u, &p, NULL), -EINVAL);
        json_t *empty = js("{}");
        assert_int_equal(auth_from_json(empty, "docker.io", &u, &p, NULL), -ENOENT);
        json_decref(empty);
        json_decref(cfg);
}

/* docker's X-Registry-Auth: base64url of a JSON object, with or without padding */
static void test_auth_header_decode(void **state) {
        (void) state;
        char *u, *p, *srv;
        KError *err = NULL;
        /* {"username":"alice","password":"s3cret","serveraddress":"127.0.0.1:5000"} */
        assert_int_equal(auth_header_decode("eyJ1c2VybmFtZSI6ImFsaWNlIiwicGFzc3dvcmQiOiJzM2NyZXQiLCJzZXJ2ZXJhZGRyZXNzIjoi"
                                            "MTI3LjAuMC4xOjUwMDAifQ", &u, &p, &srv, &err), 0);
        assert_string_equal(u, "alice");
        assert_string_equal(p, "s3cret");
        assert_string_equal(srv, "127.0.0.1:5000");
        free(u), free(p), free(srv);
        /* {} (what docker sends without credentials), padded: anonymous */
        assert_int_equal(auth_header_decode("e30=", &u, &p, &srv, &err), 0);
        assert_null(u);
        assert_null(p);
        assert_null(srv);
        /* not base64, not an object */
        assert_int_equal(auth_header_decode("!!!!", &u, &p, &srv, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "X-Registry-Auth"));
        kerr_free(err);
        err = NULL;
        assert_int_equal(auth_header_decode("WzFd", &u, &p, &srv, &err), -EINVAL);     /* [1] */
        kerr_free(err);
}

static void test_auth_store_roundtrip(void **state) {
        (void) state;
        char dir[] = "/tmp/kapsel-test-auth-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char sub[128], path[160];
        snprintf(sub, sizeof(sub), "%s/cfg", dir);
        snprintf(path, sizeof(path), "%s/config.json", sub);
        setenv("DOCKER_CONFIG", sub, 1);
        FILE *f = (mkdir(sub, 0700), fopen(path, "w"));
        fputs("{\"proxies\":{\"default\":{\"httpProxy\":\"x\"}}}", f);
        fclose(f);
        assert_int_equal(auth_store("127.0.0.1:5000", "bob", "s3:cret", NULL), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        char *u = NULL, *p = NULL;
        assert_int_equal(auth_lookup("http://127.0.0.1:5000", &u, &p, NULL), 0);
        assert_string_equal(u, "bob");
        assert_string_equal(p, "s3:cret");
        free(u);
        free(p);
        json_t *j = json_load_file(path, 0, NULL);
        assert_non_null(json_object_get(j, "proxies"));        /* other keys kept */
        json_decref(j);
        assert_int_equal(auth_remove("127.0.0.1:5000", NULL), 0);
        assert_int_equal(auth_remove("127.0.0.1:5000", NULL), -ENOENT);
        assert_int_equal(auth_lookup("127.0.0.1:5000", &u, &p, NULL), -ENOENT);
        unsetenv("DOCKER_CONFIG");
        assert_int_equal(rm_rf(dir), 0);
}

static void test_change_kind(void **state) {
        (void) state;
        assert_int_equal(ctr_change_kind(true, true), CTR_CHANGE_DELETED);
        assert_int_equal(ctr_change_kind(false, true), CTR_CHANGE_MODIFIED);
        assert_int_equal(ctr_change_kind(false, false), CTR_CHANGE_ADDED);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_prune_filter),
                cmocka_unit_test(test_prune_volume_wanted),
                cmocka_unit_test(test_human_size),
                cmocka_unit_test(test_event_filter),
                cmocka_unit_test(test_event_time),
                cmocka_unit_test(test_event_line),
                cmocka_unit_test(test_event_journal_rotates),
                cmocka_unit_test(test_auth_server_key),
                cmocka_unit_test(test_auth_from_json),
                cmocka_unit_test(test_auth_header_decode),
                cmocka_unit_test(test_auth_store_roundtrip),
                cmocka_unit_test(test_change_kind),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
