/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the guest agent protocol (src/engine/vm-agent.h): frames through the incremental
 * reader at every split, protocol errors, the EXEC request's round trip and its checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "string-util.h"
#include "vm-agent.h"

typedef struct Seen {
        uint8_t type[8];
        uint32_t stream[8], len[8];
        char data[8][32];
        size_t n;
} Seen;

static void collect(void *userdata, uint8_t type, uint32_t stream, const uint8_t *data, uint32_t len) {
        Seen *s = userdata;
        assert_true(s->n < 8);
        s->type[s->n] = type;
        s->stream[s->n] = stream;
        s->len[s->n] = len;
        memcpy(s->data[s->n], data, len < 31 ? len : 31);
        s->n++;
}

static size_t frame(uint8_t *out, uint8_t type, uint32_t stream, const char *payload) {
        size_t len = strlen(payload);
        vm_agent_header(out, type, stream, (uint32_t) len);
        memcpy(out + VM_AGENT_HEADER, payload, len);
        return VM_AGENT_HEADER + len;
}

/* Three frames (one empty) fed at every possible split point come out whole and in order. */
static void test_reader_splits(void **state) {
        (void) state;
        uint8_t wire[128];
        size_t n = frame(wire, ATTACH_STDOUT, 7, "hello");
        n += frame(wire + n, ATTACH_CLOSE_STDIN, 1, "");
        n += frame(wire + n, ATTACH_STDERR, 0xfffffffe, "err");
        for (size_t cut = 0; cut <= n; cut++) {
                VmAgentReader *r = calloc(1, sizeof(*r));
                Seen s = { 0 };
                assert_int_equal(vm_agent_feed(r, wire, cut, collect, &s), 0);
                assert_int_equal(vm_agent_feed(r, wire + cut, n - cut, collect, &s), 0);
                assert_int_equal(s.n, 3);
                assert_int_equal(s.type[0], ATTACH_STDOUT);
                assert_int_equal(s.stream[0], 7);
                assert_int_equal(s.len[0], 5);
                assert_memory_equal(s.data[0], "hello", 5);
                assert_int_equal(s.type[1], ATTACH_CLOSE_STDIN);
                assert_int_equal(s.len[1], 0);
                assert_int_equal(s.stream[2], 0xfffffffe);
                assert_memory_equal(s.data[2], "err", 3);
                assert_int_equal(r->have, 0);
                free(r);
        }
}

/* Byte by byte, too. */
static void test_reader_bytewise(void **state) {
        (void) state;
        uint8_t wire[64];
        size_t n = frame(wire, ATTACH_EXIT, 3, "\0\0\0\x2a");
        n = VM_AGENT_HEADER + 4;
        VmAgentReader *r = calloc(1, sizeof(*r));
        Seen s = { 0 };
        for (size_t i = 0; i < n; i++)
                assert_int_equal(vm_agent_feed(r, wire + i, 1, collect, &s), 0);
        assert_int_equal(s.n, 1);
        free(r);
}

/* Stream 0 and an oversized length break the reader for good; frames before it were delivered. */
static void test_reader_protocol_errors(void **state) {
        (void) state;
        uint8_t wire[64];
        size_t n = frame(wire, ATTACH_STDOUT, 1, "ok");
        vm_agent_header(wire + n, ATTACH_STDOUT, 0, 1);
        VmAgentReader *r = calloc(1, sizeof(*r));
        Seen s = { 0 };
        assert_int_equal(vm_agent_feed(r, wire, n + VM_AGENT_HEADER, collect, &s), -EPROTO);
        assert_int_equal(s.n, 1);
        assert_true(r->broken);
        assert_int_equal(vm_agent_feed(r, wire, n, collect, &s), -EPROTO);
        assert_int_equal(s.n, 1);
        memset(r, 0, sizeof(*r));
        vm_agent_header(wire, ATTACH_STDOUT, 1, VM_AGENT_MAX_PAYLOAD + 1);
        assert_int_equal(vm_agent_feed(r, wire, VM_AGENT_HEADER, collect, &s), -EPROTO);
        free(r);
}

/* vm_agent_send writes exactly one frame the reader accepts; bad arguments are refused. */
static void test_send(void **state) {
        (void) state;
        int sp[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
        assert_int_equal(vm_agent_send(sp[0], ATTACH_STDIN, 9, "abc", 3), 0);
        assert_int_equal(vm_agent_send(sp[0], ATTACH_STDIN, 0, "abc", 3), -EINVAL);
        assert_int_equal(vm_agent_send(sp[0], ATTACH_STDIN, 1, "", VM_AGENT_MAX_PAYLOAD + 1), -EINVAL);
        uint8_t buf[64];
        ssize_t k = read(sp[1], buf, sizeof(buf));
        assert_int_equal(k, VM_AGENT_HEADER + 3);
        VmAgentReader *r = calloc(1, sizeof(*r));
        Seen s = { 0 };
        assert_int_equal(vm_agent_feed(r, buf, (size_t) k, collect, &s), 0);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.stream[0], 9);
        free(r);
        close(sp[0]);
        close(sp[1]);
}

static void test_exec_round_trip(void **state) {
        (void) state;
        char *args[] = { "sh", "-c", "echo $X", NULL }, *env[] = { "X=1", "EMPTY=", NULL };
        VmAgentExec x = { .args = args, .env = env, .cwd = "/tmp", .has_user = true, .uid = 1000, .gid = 100,
                          .gids = { 5, 6 }, .n_gids = 2, .tty = true };
        char *text = NULL;
        assert_int_equal(vm_agent_exec_format(&x, &text, NULL), 0);
        VmAgentExec y;
        assert_int_equal(vm_agent_exec_parse(text, strlen(text), &y, NULL), 0);
        assert_int_equal(strv_length(y.args), 3);
        assert_string_equal(y.args[2], "echo $X");
        assert_string_equal(y.env[1], "EMPTY=");
        assert_string_equal(y.cwd, "/tmp");
        assert_true(y.has_user);
        assert_int_equal(y.uid, 1000);
        assert_int_equal(y.gid, 100);
        assert_int_equal(y.n_gids, 2);
        assert_int_equal(y.gids[1], 6);
        assert_true(y.tty);
        assert_false(y.detach);
        vm_agent_exec_done(&y);
        free(text);
        /* defaults: no cwd, no user */
        VmAgentExec d = { .args = args };
        assert_int_equal(vm_agent_exec_format(&d, &text, NULL), 0);
        assert_int_equal(vm_agent_exec_parse(text, strlen(text), &y, NULL), 0);
        assert_null(y.cwd);
        assert_false(y.has_user);
        assert_int_equal(strv_length(y.env), 0);
        vm_agent_exec_done(&y);
        free(text);
}

static void test_exec_refused(void **state) {
        (void) state;
        static const struct {
                const char *json, *what;
        } bad[] = {
                { "[]", "not a JSON object" },
                { "{\"args\":[]}", "\"args\" must have" },
                { "{}", "\"args\" must have" },
                { "{\"args\":\"sh\"}", "array of strings" },
                { "{\"args\":[1]}", "args[0]" },
                { "{\"args\":[\"sh\"],\"env\":[\"NOEQ\"]}", "env[0]" },
                { "{\"args\":[\"sh\"],\"env\":[\"=x\"]}", "env[0]" },
                { "{\"args\":[\"sh\"],\"cwd\":\"rel\"}", "absolute" },
                { "{\"args\":[\"sh\"],\"user\":{\"uid\":-1,\"gid\":0}}", "\"user\"" },
                { "{\"args\":[\"sh\"],\"user\":{\"uid\":0}}", "\"user\"" },
                { "{\"args\":[\"sh\"],\"user\":{\"uid\":0,\"gid\":0,\"additionalGids\":[\"x\"]}}", "additionalGids[0]" },
                { "{\"args\":[\"sh\"],\"args\":[\"x\"]}", "not a JSON object" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                KError *err = NULL;
                VmAgentExec y;
                assert_true(vm_agent_exec_parse(bad[i].json, strlen(bad[i].json), &y, &err) < 0);
                assert_non_null(err);
                if (!strstr(err->msg, bad[i].what))
                        fail_msg("%s: got \"%s\", want \"%s\"", bad[i].json, err->msg, bad[i].what);
                kerr_free(err);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reader_splits),
                cmocka_unit_test(test_reader_bytewise),
                cmocka_unit_test(test_reader_protocol_errors),
                cmocka_unit_test(test_send),
                cmocka_unit_test(test_exec_round_trip),
                cmocka_unit_test(test_exec_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
