/* SPDX-License-Identifier: Apache-2.0 */
/* The web console's WebSocket frame parser (src/daemon/websocket.c, RFC 6455 §5.2): client frames
 * are unmasked in place, incomplete ones wait for more bytes, and frames that break the protocol
 * (unmasked, oversized, long or fragmented control frames) end the connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "web.h"

/* A masked client frame of `payload` into buf; returns its length. */
static size_t client_frame(unsigned char *buf, int first_byte, const char *payload, size_t n) {
        static const unsigned char mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
        size_t hl = 2;
        buf[0] = (unsigned char) first_byte;
        if (n < 126)
                buf[1] = (unsigned char) (0x80 | n);
        else {
                buf[1] = 0x80 | 126;
                buf[2] = (unsigned char) (n >> 8);
                buf[3] = (unsigned char) n;
                hl = 4;
        }
        memcpy(buf + hl, mask, 4);
        for (size_t i = 0; i < n; i++)
                buf[hl + 4 + i] = (unsigned char) payload[i] ^ mask[i & 3];
        return hl + 4 + n;
}

static void test_binary_frame_unmasked(void **state) {
        (void) state;
        unsigned char buf[64];
        size_t n = client_frame(buf, 0x82, "echo hi\n", 8);
        WsFrame f;
        assert_int_equal(websocket_frame(buf, n, &f), (ssize_t) n);
        assert_int_equal(f.opcode, 2);
        assert_int_equal(f.len, 8);
        assert_memory_equal(f.data, "echo hi\n", 8);
}

static void test_incomplete_waits(void **state) {
        (void) state;
        unsigned char buf[512];
        char big[300];
        memset(big, 'x', sizeof(big));
        size_t n = client_frame(buf, 0x82, big, sizeof(big));
        WsFrame f;
        for (size_t cut = 0; cut < n; cut++)
                assert_int_equal(websocket_frame(buf, cut, &f), 0);
        assert_int_equal(websocket_frame(buf, n, &f), (ssize_t) n);
        assert_int_equal(f.len, 300);
        assert_int_equal(f.data[299], 'x');
}

static void test_protocol_errors(void **state) {
        (void) state;
        unsigned char buf[256];
        WsFrame f;
        /* unmasked */
        memcpy(buf, "\x82\x03" "abc", 5);
        assert_int_equal(websocket_frame(buf, 5, &f), -EPROTO);
        /* a length over the 1 MiB cap, refused before its bytes arrive */
        memcpy(buf, "\x82\xff\x00\x00\x00\x00\x7f\x00\x00\x00", 10);
        assert_int_equal(websocket_frame(buf, 10, &f), -EPROTO);
        /* a ping with 126 bytes, and a fragmented ping (§5.5) */
        char p[126];
        memset(p, 'p', sizeof(p));
        size_t n = client_frame(buf, 0x89, p, sizeof(p));
        assert_int_equal(websocket_frame(buf, n, &f), -EPROTO);
        n = client_frame(buf, 0x09, "p", 1);
        assert_int_equal(websocket_frame(buf, n, &f), -EPROTO);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_binary_frame_unmasked),
                cmocka_unit_test(test_incomplete_waits),
                cmocka_unit_test(test_protocol_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
