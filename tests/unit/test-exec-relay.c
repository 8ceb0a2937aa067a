/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the monitor's exec relay (src/engine/exec-relay.h): client frames reach the agent
 * tagged with the client's stream, agent frames reach only their client, EXIT ends a stream, a
 * client that goes away is reported GONE, a guest breaking the protocol ends every stream with an
 * error, and flow control: a client that stops reading blocks nothing (its output waits, unacknowledged),
 * a process that does not take its stdin stops the relay reading that client, a guest that stops
 * reading its channel blocks nothing either. The agent and the clients are socketpairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exec-relay.h"
#include "fd-util.h"

typedef struct Rig {
        ExecRelay x;
        int agent;              /* the guest's end of the channel */
        int ep;                 /* the monitor's epoll (rig_up_watched), -1 */
} Rig;

static void rig_up(Rig *r) {
        int sp[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        r->x = (ExecRelay) EXEC_RELAY_INIT;
        assert_int_equal(exec_relay_start(&r->x, sp[0]), 0);
        r->agent = sp[1];
        r->ep = -1;
}

/* rig_up() with an epoll where the relay registers its clients, as in the monitor. */
static void rig_up_watched(Rig *r) {
        rig_up(r);
        r->ep = r->x.epfd = epoll_create1(EPOLL_CLOEXEC);
        assert_true(r->ep >= 0);
}

static void rig_down(Rig *r) {
        exec_relay_done(&r->x);
        safe_close(r->agent);
        safe_close(r->ep);
}

/* A client: our end returned, the relay's end (registered in r->ep, as the monitor's accept does)
 * opened as an exec stream with `req`. */
static int client_open(Rig *r, const char *req) {
        int sp[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = sp[0] };
        if (r->ep >= 0)
                assert_int_equal(epoll_ctl(r->ep, EPOLL_CTL_ADD, sp[0], &ev), 0);
        exec_relay_open(&r->x, sp[0], ATTACH_EXEC, req, (uint32_t) strlen(req));
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
        exec_relay_client_event(&r.x, relay_b, EPOLLIN);
        Frame in = agent_frame(&r);
        assert_int_equal(in.type, ATTACH_STDIN);
        assert_int_equal(in.stream, fb.stream);
        assert_memory_equal(in.data, "hi", 2);
        /* a frame type a client must not send (EXIT) is not forwarded */
        assert_int_equal(attach_send(b, ATTACH_EXIT, "\0\0\0\0", 4), 0);
        exec_relay_client_event(&r.x, relay_b, EPOLLIN);
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
        /* the agent learns that a's 5 output bytes reached the client */
        Frame ack = agent_frame(&r);
        assert_int_equal(ack.type, ATTACH_ACK);
        assert_int_equal(ack.stream, fa.stream);
        assert_int_equal(vm_agent_get_u32((uint8_t *) ack.data), 5);

        /* b goes away: the agent is told, the stream is gone */
        close(b);
        exec_relay_client_event(&r.x, relay_b, EPOLLIN | EPOLLHUP);
        Frame cl = agent_frame(&r);
        assert_int_equal(cl.type, ATTACH_GONE);
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

/* ---- flow control ---- */

#define CHUNK (16 * 1024)

/* A client whose socket holds little, so that it fills fast; the relay's end registered in r->ep. */
static int small_client(Rig *r, int *ret_relay_end) {
        int c = client_open(r, "{\"args\":[\"x\"]}");
        (void) agent_frame(r);
        int size = 4096;
        ExecStream *s = &r->x.streams[r->x.n_streams - 1];
        assert_int_equal(setsockopt(s->client, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
        assert_int_equal(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0);
        *ret_relay_end = s->client;
        return c;
}

/* Sum of the ACKs waiting on the agent's end for `stream`; any other frame fails the test. */
static uint32_t take_acks(Rig *r, uint32_t stream) {
        uint32_t sum = 0;
        uint8_t h[VM_AGENT_HEADER + 4];
        while (recv(r->agent, h, sizeof(h), MSG_DONTWAIT | MSG_PEEK) == (ssize_t) sizeof(h)) {
                Frame f = agent_frame(r);
                assert_int_equal(f.type, ATTACH_ACK);
                assert_int_equal(f.stream, stream);
                sum += vm_agent_get_u32((uint8_t *) f.data);
        }
        return sum;
}

/* The events `fd` has registered in `ep` and pending now. */
static uint32_t ready(int ep, int fd) {
        struct epoll_event evs[8];
        int n = epoll_wait(ep, evs, 8, 0);
        for (int i = 0; i < n; i++)
                if (evs[i].data.fd == fd)
                        return evs[i].events;
        return 0;
}

/* A client that stops reading: the relay neither blocks nor acknowledges what the client has not
 * taken; another stream goes on; once the client reads, everything arrives in order and is
 * acknowledged to the byte. */
static void test_stalled_client(void **state) {
        (void) state;
        Rig r;
        rig_up_watched(&r);
        int ep = r.ep, relay_a, a = small_client(&r, &relay_a);
        uint32_t id_a = r.x.streams[0].id;
        int b = client_open(&r, "{\"args\":[\"b\"]}");
        uint32_t id_b = agent_frame(&r).stream;

        static uint8_t chunk[CHUNK];
        uint32_t sent = 0, acked = 0;
        for (int i = 0; i < 16; i++) {  /* 256 KiB: a window's worth, far more than the sockets hold */
                memset(chunk, 'a' + i, sizeof(chunk));
                assert_int_equal(vm_agent_send(r.agent, ATTACH_STDOUT, id_a, chunk, CHUNK), 0);
                sent += CHUNK;
                exec_relay_agent_input(&r.x);
                acked += take_acks(&r, id_a);
        }
        assert_true(acked < sent);
        assert_int_equal(r.x.n_streams, 2);
        assert_true(r.x.streams[0].events & EPOLLOUT);  /* output waits: the relay asked to be told */
        /* b is not held up behind a */
        assert_int_equal(vm_agent_send(r.agent, ATTACH_STDOUT, id_b, "to-b", 4), 0);
        exec_relay_agent_input(&r.x);
        char buf[128];
        expect_frame(b, ATTACH_STDOUT, buf);
        assert_string_equal(buf, "to-b");
        assert_int_equal(take_acks(&r, id_b), 4);

        /* a reads (what its socket holds, as the relay pushes more): each byte arrives, in order,
         * and everything it read is acknowledged */
        static uint8_t in[2 * ATTACH_MAX_PAYLOAD];
        size_t have = 0;
        uint32_t got = 0;
        for (int spins = 0; got < sent && spins < 100000; spins++) {
                if (ready(ep, relay_a) & EPOLLOUT)
                        exec_relay_client_event(&r.x, relay_a, EPOLLOUT);
                acked += take_acks(&r, id_a);
                ssize_t n = recv(a, in + have, sizeof(in) - have, MSG_DONTWAIT);
                if (n > 0)
                        have += (size_t) n;
                while (have >= 5 && have >= 5 + vm_agent_get_u32(in + 1)) {
                        uint32_t len = vm_agent_get_u32(in + 1);
                        assert_int_equal(in[0], ATTACH_STDOUT);
                        for (uint32_t k = 0; k < len; k++)
                                assert_int_equal(in[5 + k], 'a' + (got + k) / CHUNK);
                        got += len;
                        memmove(in, in + 5 + len, have - 5 - len);
                        have -= 5 + len;
                }
        }
        exec_relay_client_event(&r.x, relay_a, EPOLLOUT);
        acked += take_acks(&r, id_a);
        assert_int_equal(got, sent);
        assert_int_equal(acked, sent);
        assert_false(ready(ep, relay_a) & EPOLLOUT);     /* nothing waits: EPOLLOUT is off again */
        close(a);
        close(b);
        rig_down(&r);
}

/* STDIN past the window: the relay stops reading the client until the agent acknowledges. */
static void test_stdin_window(void **state) {
        (void) state;
        Rig r;
        rig_up_watched(&r);
        int ep = r.ep, relay_c, c = small_client(&r, &relay_c);
        static uint8_t data[ATTACH_MAX_PAYLOAD];
        uint32_t forwarded = 0;
        for (int i = 0; i < 16; i++) {
                assert_int_equal(attach_send(c, ATTACH_STDIN, data, sizeof(data)), 0);
                if (!(ready(ep, relay_c) & EPOLLIN))
                        break;
                exec_relay_client_event(&r.x, relay_c, EPOLLIN);
                uint8_t h[VM_AGENT_HEADER];
                static uint8_t rest[ATTACH_MAX_PAYLOAD];
                assert_int_equal(recv(r.agent, h, sizeof(h), MSG_WAITALL), (ssize_t) sizeof(h));
                uint32_t len = vm_agent_get_u32(h + 5);
                assert_int_equal(h[0], ATTACH_STDIN);
                assert_int_equal(recv(r.agent, rest, len, MSG_WAITALL), (ssize_t) len);
                forwarded += len;
                assert_true(forwarded <= VM_AGENT_WINDOW + ATTACH_MAX_PAYLOAD);
        }
        assert_int_equal(forwarded, VM_AGENT_WINDOW);   /* 4 frames of 64 KiB, then no more reads */
        assert_false(ready(ep, relay_c) & EPOLLIN);
        /* the process took 100 bytes: the window opens, the waiting frame is read */
        uint8_t b[4];
        vm_agent_put_u32(b, 100);
        assert_int_equal(vm_agent_send(r.agent, ATTACH_ACK, r.x.streams[0].id, b, 4), 0);
        exec_relay_agent_input(&r.x);
        assert_true(ready(ep, relay_c) & EPOLLIN);
        close(c);
        rig_down(&r);
}

/* A guest that ignores the window, to a client that does not read: a protocol error, and ending
 * every stream does not wait for that client. */
static void test_window_overrun(void **state) {
        (void) state;
        Rig r;
        rig_up_watched(&r);
        int relay_a, a = small_client(&r, &relay_a);
        uint32_t id = r.x.streams[0].id;
        static uint8_t chunk[ATTACH_MAX_PAYLOAD];
        for (int i = 0; i < 64 && r.x.agent_fd >= 0; i++) {
                assert_int_equal(vm_agent_send(r.agent, ATTACH_STDOUT, id, chunk, sizeof(chunk)), 0);
                exec_relay_agent_input(&r.x);
        }
        assert_int_equal(r.x.agent_fd, -1);
        assert_int_equal(r.x.n_streams, 0);
        (void) relay_a;
        close(a);
        rig_down(&r);
}

/* A guest that stops reading its channel: the relay queues what the agent has not taken and goes
 * on (nothing blocks); once the agent reads again, everything arrives in order. */
static void test_agent_not_reading(void **state) {
        (void) state;
        Rig r;
        rig_up_watched(&r);
        int size = 4096;
        assert_int_equal(setsockopt(r.x.agent_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
        assert_int_equal(setsockopt(r.agent, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0);
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = r.x.agent_fd };
        assert_int_equal(epoll_ctl(r.ep, EPOLL_CTL_ADD, r.x.agent_fd, &ev), 0);
        int relay_c, c = small_client(&r, &relay_c);
        static uint8_t data[ATTACH_MAX_PAYLOAD];
        for (int i = 0; i < 3; i++) {
                memset(data, 'a' + i, sizeof(data));
                assert_int_equal(attach_send(c, ATTACH_STDIN, data, sizeof(data)), 0);
                exec_relay_client_event(&r.x, relay_c, EPOLLIN);
        }
        assert_true(attach_queue_pending(&r.x.to_agent) > 0);
        assert_true(r.x.agent_events & EPOLLOUT);
        assert_int_equal(r.x.n_streams, 1);
        /* the agent reads: the relay sends the rest as it can; 3 STDIN frames, in order */
        static uint8_t in[4 * (VM_AGENT_HEADER + ATTACH_MAX_PAYLOAD)];
        size_t have = 0;
        for (int spins = 0; have < sizeof(in) && spins < 100000; spins++) {
                exec_relay_agent_event(&r.x, EPOLLOUT);
                ssize_t n = recv(r.agent, in + have, sizeof(in) - have, MSG_DONTWAIT);
                if (n > 0)
                        have += (size_t) n;
                else if (!attach_queue_pending(&r.x.to_agent))
                        break;
        }
        assert_int_equal(have, 3 * (VM_AGENT_HEADER + ATTACH_MAX_PAYLOAD));
        for (int i = 0; i < 3; i++) {
                const uint8_t *f = in + (size_t) i * (VM_AGENT_HEADER + ATTACH_MAX_PAYLOAD);
                assert_int_equal(f[0], ATTACH_STDIN);
                assert_int_equal(vm_agent_get_u32(f + 5), ATTACH_MAX_PAYLOAD);
                assert_int_equal(f[VM_AGENT_HEADER], 'a' + i);
                assert_int_equal(f[VM_AGENT_HEADER + ATTACH_MAX_PAYLOAD - 1], 'a' + i);
        }
        assert_false(r.x.agent_events & EPOLLOUT);
        close(c);
        rig_down(&r);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_routing),
                cmocka_unit_test(test_protocol_error_ends_all),
                cmocka_unit_test(test_vm_end),
                cmocka_unit_test(test_stalled_client),
                cmocka_unit_test(test_stdin_window),
                cmocka_unit_test(test_window_overrun),
                cmocka_unit_test(test_agent_not_reading),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
