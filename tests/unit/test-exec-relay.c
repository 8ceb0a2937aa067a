/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the monitor's exec relay (src/engine/exec-relay.h): client frames reach the agent
 * tagged with the client's stream, agent frames reach only their client, EXIT ends a stream, a
 * client that goes away closes the process's stdin, and a guest breaking the protocol ends every
 * stream with an error. The agent and the clients are socketpairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exec-relay.h"
#include "fd-util.h"

typedef struct Rig {
        ExecRelay x;
        int agent;              /* the guest's end of the channel */
} Rig;

static void rig_up(Rig *r) {
        int sp[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        r->x = (ExecRelay) EXEC_RELAY_INIT;
        assert_int_equal(exec_relay_start(&r->x, sp[0]), 0);
        r->agent = sp[1];
}

static void rig_down(Rig *r) {
        exec_relay_done(&r->x);
        safe_close(r->agent);
}

/* A client: our end returned, the relay's end opened as an exec stream with `req`. */
static int client_open(Rig *r, const char *req) {
        int sp[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        exec_relay_open(&r->x, sp[0], req, (uint32_t) strlen(req));
        return sp[1];
}

typedef struct Frame {
        uint8_t type;
        uint32_t stream, len;
        char data[128];
} Frame;

static void keep(void *userdata, uint8_t type, uint32_t stream, const uint8_t *data, uint32_t len) {
        Frame *f = userdata;
        *f = (Frame) { .type = type, .stream = stream, .len = len };
        memcpy(f->data, data, len < sizeof(f->data) ? len : sizeof(f->data));
}

/* The next frame the agent got (one is expected). */
static Frame agent_frame(Rig *r) {
        static VmAgentReader rd;
        memset(&rd, 0, sizeof(rd));
        uint8_t buf[256];
        ssize_t n = recv(r->agent, buf, VM_AGENT_HEADER, MSG_DONTWAIT);
        assert_int_equal(n, VM_AGENT_HEADER);
        uint32_t len = vm_agent_get_u32(buf + 5);
        assert_true(len <= sizeof(buf) - VM_AGENT_HEADER);
        if (len)
                assert_int_equal(recv(r->agent, buf + n, len, MSG_DONTWAIT), (ssize_t) len);
        Frame f = { 0 };
        assert_int_equal(vm_agent_feed(&rd, buf, VM_AGENT_HEADER + len, keep, &f), 0);
        return f;
}

static int client_recv(int c, uint8_t *type, char *buf) {
        static uint8_t b[ATTACH_MAX_PAYLOAD];
        uint32_t len;
        int r = attach_recv(c, type, b, &len);
        if (r > 0)
                memcpy(buf, b, len < 127 ? len : 127), buf[len < 127 ? len : 127] = 0;
        return r;
}

/* The next frame on client socket c is of `type`; its payload (NUL-terminated) in buf. */
static void expect_frame(int c, uint8_t type, char *buf) {
        uint8_t got;
        assert_int_equal(client_recv(c, &got, buf), 1);
        assert_int_equal(got, type);
}

static void test_routing(void **state) {
        (void) state;
        Rig r;
        rig_up(&r);
        int a = client_open(&r, "{\"args\":[\"a\"]}"), b = client_open(&r, "{\"args\":[\"b\"]}");
        Frame fa = agent_frame(&r), fb = agent_frame(&r);
        assert_int_equal(fa.type, ATTACH_EXEC);
        assert_int_equal(fb.type, ATTACH_EXEC);
        assert_true(fa.stream != 0 && fb.stream != 0 && fa.stream != fb.stream);
        assert_memory_equal(fa.data, "{\"args\":[\"a\"]}", fa.len);

        /* client b's stdin goes to the agent on b's stream */
        assert_int_equal(attach_send(b, ATTACH_STDIN, "hi", 2), 0);
        int relay_b = r.x.streams[1].client;
        exec_relay_client_input(&r.x, relay_b);
        Frame in = agent_frame(&r);
        assert_int_equal(in.type, ATTACH_STDIN);
        assert_int_equal(in.stream, fb.stream);
        assert_memory_equal(in.data, "hi", 2);
        /* a frame type a client must not send (EXIT) is not forwarded */
        assert_int_equal(attach_send(b, ATTACH_EXIT, "\0\0\0\0", 4), 0);
        exec_relay_client_input(&r.x, relay_b);
        assert_int_equal(recv(r.agent, &(char) { 0 }, 1, MSG_DONTWAIT), -1);

        /* the agent's output for a reaches a only; EXIT ends a's stream and closes it */
        assert_int_equal(vm_agent_send(r.agent, ATTACH_STDOUT, fa.stream, "out-a", 5), 0);
        assert_int_equal(vm_agent_send(r.agent, ATTACH_EXIT, fa.stream, "\0\0\0\7", 4), 0);
        assert_int_equal(vm_agent_send(r.agent, ATTACH_STDOUT, 999, "nobody", 6), 0);     /* unknown: dropped */
        exec_relay_agent_input(&r.x);
        char buf[128];
        expect_frame(a, ATTACH_STDOUT, buf);
        assert_string_equal(buf, "out-a");
        expect_frame(a, ATTACH_EXIT, buf);
        assert_int_equal(vm_agent_get_u32((uint8_t *) buf), 7);
        assert_int_equal(client_recv(a, &(uint8_t) { 0 }, buf), 0);        /* closed after EXIT */
        assert_int_equal(r.x.n_streams, 1);
        assert_int_equal(recv(b, buf, sizeof(buf), MSG_DONTWAIT), -1);  /* b got nothing */

        /* b goes away: the agent is told its stdin closed, the stream is gone */
        close(b);
        exec_relay_client_input(&r.x, relay_b);
        Frame cl = agent_frame(&r);
        assert_int_equal(cl.type, ATTACH_CLOSE_STDIN);
        assert_int_equal(cl.stream, fb.stream);
        assert_int_equal(r.x.n_streams, 0);
        close(a);
        rig_down(&r);
}

/* A guest that breaks the protocol: every client gets the error and 125, the channel is closed. */
static void test_protocol_error_ends_all(void **state) {
        (void) state;
        Rig r;
        rig_up(&r);
        int a = client_open(&r, "{\"args\":[\"a\"]}");
        (void) agent_frame(&r);
        uint8_t bad[VM_AGENT_HEADER];
        vm_agent_header(bad, ATTACH_STDOUT, 0, 1);      /* stream 0 */
        assert_int_equal(write(r.agent, bad, sizeof(bad)), (ssize_t) sizeof(bad));
        exec_relay_agent_input(&r.x);
        char buf[128];
        expect_frame(a, ATTACH_STDERR, buf);
        assert_non_null(strstr(buf, "broke the protocol"));
        expect_frame(a, ATTACH_EXIT, buf);
        assert_int_equal(vm_agent_get_u32((uint8_t *) buf), 125);
        assert_int_equal(r.x.agent_fd, -1);
        /* with no channel, a new exec is refused at once */
        int c = client_open(&r, "{\"args\":[\"c\"]}");
        expect_frame(c, ATTACH_STDERR, buf);
        assert_non_null(strstr(buf, "no agent channel"));
        close(a);
        close(c);
        rig_down(&r);
}

/* The VM ends: open streams get EXIT 137, as docker reports exec'd processes of a stopped container. */
static void test_vm_end(void **state) {
        (void) state;
        Rig r;
        rig_up(&r);
        int a = client_open(&r, "{\"args\":[\"a\"]}");
        (void) agent_frame(&r);
        r.agent = safe_close(r.agent);
        exec_relay_agent_input(&r.x);           /* EOF: kapsel-vmm is gone */
        char buf[128];
        expect_frame(a, ATTACH_EXIT, buf);
        assert_int_equal(vm_agent_get_u32((uint8_t *) buf), 137);
        assert_int_equal(r.x.n_streams, 0);
        close(a);
        rig_down(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_routing),
                cmocka_unit_test(test_protocol_error_ends_all),
                cmocka_unit_test(test_vm_end),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
