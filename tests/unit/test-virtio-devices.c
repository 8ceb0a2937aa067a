/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-console through pipes, virtio-net through a datagram socketpair standing in for the tap,
 * virtio-balloon releasing guest pages, each driven by the fake driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <jansson.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test-virtio-harness.h"

#define F_V1 (1ULL << VIRTIO_F_VERSION_1)

/* ---- console ---- */

static void test_console_both_directions(void **state) {
        Machine m;
        machine_init(&m);
        int in[2], out[2];
        assert_int_equal(pipe2(in, O_CLOEXEC), 0);
        assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
        VirtioConsoleConfig cfg = { .in_fd = in[0], .out_fd = out[1] };
        VirtioDev *con;
        assert_int_equal(virtio_console_create(&m.env, &cfg, &con, NULL), 0);
        m.fake.ioeventfd_fails = true;
        Drv d;
        drv_bring_up(&d, &m, 1, F_V1, 2, 8);

        /* guest -> host */
        uint64_t tx = drv_alloc(&d, 16, 1);
        memcpy(gpa(&m, tx, 6), "hello\n", 6);
        DrvBuf tb = { tx, 6, false };
        drv_add_chain(&d, 1, &tb, 1);
        drv_kick(&d, 1);
        char got[16] = {};
        assert_int_equal(read(out[0], got, sizeof(got)), 6);
        assert_memory_equal(got, "hello\n", 6);
        uint32_t id, len;
        assert_true(drv_get_used(&d, 1, &id, &len));

        /* host -> guest: no buffer yet, the input waits in the pipe */
        assert_int_equal(write(in[1], "typed", 5), 5);
        machine_run_loop(&m);
        assert_int_equal(m.fake.n_fds, 0);      /* it left the loop: nothing to put the input in */
        uint64_t rx = drv_alloc(&d, 64, 1);
        DrvBuf rb = { rx, 64, true };
        drv_add_chain(&d, 0, &rb, 1);
        drv_kick(&d, 0);
        assert_true(machine_run_loop(&m) >= 1);
        assert_true(drv_get_used(&d, 0, &id, &len));
        assert_int_equal(len, 5);
        assert_memory_equal(gpa(&m, rx, 5), "typed", 5);
        assert_true(msis_with_data(&m, MSI_DATA_BASE + 0) >= 1);
        /* with no buffers left the input fd leaves the loop rather than spin */
        assert_int_equal(write(in[1], "more", 4), 4);
        machine_run_loop(&m);
        assert_int_equal(m.fake.n_fds, 0);

        virtio_dev_free(con);
        machine_done(&m);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
}

/* ---- console backpressure and the agent console (one socket, both directions) ---- */

#define TX_CHAINS 6
#define TX_PARTS 2
static const uint32_t tx_part_len[TX_PARTS] = { 10000, 7000 };
#define TX_CHAIN_LEN (10000 + 7000)
#define TX_TOTAL (TX_CHAINS * TX_CHAIN_LEN)

typedef struct ConRig {
        Machine m;
        VirtioDev *con;
        int dev_fd;             /* the device's socket end (in and out), as --agent-fd gives it */
        int peer;               /* the engine's end */
        Drv d;
} ConRig;

static uint8_t tx_byte(size_t i) {
        return (uint8_t) (i * 7 + i / 251);
}

static void con_up(ConRig *r) {
        machine_init(&r->m);
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        int small = 4096;
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
        r->dev_fd = sv[0];
        r->peer = sv[1];
        VirtioConsoleConfig cfg = { .in_fd = sv[0], .out_fd = sv[0] };
        assert_int_equal(virtio_console_create(&r->m.env, &cfg, &r->con, NULL), 0);
        r->m.fake.ioeventfd_fails = true;
        drv_bring_up(&r->d, &r->m, 1, F_V1, 2, 16);
}

static void con_down(ConRig *r) {
        virtio_dev_free(r->con);
        machine_done(&r->m);
        close(r->dev_fd);
        if (r->peer >= 0)
                close(r->peer);
}

/* Registrations in the fake event loop that wait for `events`. */
static unsigned watching(const Machine *m, uint32_t events) {
        unsigned n = 0;
        for (unsigned i = 0; i < m->fake.n_fds; i++)
                n += (m->fake.fds[i].events & events) != 0;
        return n;
}

/* TX_CHAINS chains of TX_PARTS buffers each, filled with tx_byte() by global offset; returns heads. */
static void con_queue_tx(ConRig *r, uint16_t heads[TX_CHAINS]) {
        size_t off = 0;
        for (unsigned c = 0; c < TX_CHAINS; c++) {
                DrvBuf b[TX_PARTS];
                for (unsigned p = 0; p < TX_PARTS; p++) {
                        b[p] = (DrvBuf) { drv_alloc(&r->d, tx_part_len[p], 1), tx_part_len[p], false };
                        uint8_t *h = gpa(&r->m, b[p].addr, b[p].len);
                        for (uint32_t i = 0; i < b[p].len; i++)
                                h[i] = tx_byte(off++);
                }
                heads[c] = drv_add_chain(&r->d, 1, b, TX_PARTS);
        }
}

/* One small chain out, returned at once: the device is not blocked. */
static void con_tx_now(ConRig *r, const char *data, uint32_t len) {
        uint64_t b = drv_alloc(&r->d, len, 1);
        memcpy(gpa(&r->m, b, len), data, len);
        drv_add_chain(&r->d, 1, &(DrvBuf) { b, len, false }, 1);
        drv_kick(&r->d, 1);
        uint32_t id, used_len;
        assert_true(drv_get_used(&r->d, 1, &id, &used_len));
}

/* What the host end reads next is exactly `data`. */
static void con_expect(ConRig *r, const char *data, size_t len) {
        char got[64];
        assert_true(len <= sizeof(got));
        assert_int_equal(recv(r->peer, got, sizeof(got), MSG_DONTWAIT), (ssize_t) len);
        assert_memory_equal(got, data, len);
}

/* Up, with every test chain queued and the socket full: the device waits for EPOLLOUT. */
static void con_up_blocked(ConRig *r, uint16_t heads[TX_CHAINS]) {
        con_up(r);
        con_queue_tx(r, heads);
        drv_kick(&r->d, 1);
        assert_int_equal(watching(&r->m, EPOLLOUT), 1);
}

static size_t bytes_queued(int fd) {
        int n = 0;
        assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
        return (size_t) n;
}

/* Take used transmit chains: each must be the next head in order, and fully written to the socket
 * (what was read plus what waits in it) by the time it is returned. */
static void take_used_tx(ConRig *r, const uint16_t heads[TX_CHAINS], unsigned *used, size_t received) {
        uint32_t id, len;
        while (drv_get_used(&r->d, 1, &id, &len)) {
                assert_true(*used < TX_CHAINS);
                assert_int_equal(id, heads[*used]);
                assert_int_equal(len, 0);
                (*used)++;
                assert_true(received + bytes_queued(r->peer) >= (size_t) *used * TX_CHAIN_LEN);
        }
}

static void test_console_tx_backpressure(void **state) {
        ConRig r;
        con_up(&r);
        uint16_t heads[TX_CHAINS];
        con_queue_tx(&r, heads);
        drv_kick(&r.d, 1);

        /* the socket took what it could; the device holds the rest and waits for EPOLLOUT */
        unsigned used = 0;
        take_used_tx(&r, heads, &used, 0);
        assert_true(used < TX_CHAINS);
        assert_true(bytes_queued(r.peer) < TX_TOTAL);
        assert_int_equal(watching(&r.m, EPOLLOUT), 1);
        for (unsigned i = 0; i < r.m.fake.n_fds; i++)   /* its own fd: the rx side may hold dev_fd */
                if (r.m.fake.fds[i].events & EPOLLOUT)
                        assert_int_not_equal(r.m.fake.fds[i].fd, r.dev_fd);
        /* a kick while blocked changes nothing */
        drv_kick(&r.d, 1);
        take_used_tx(&r, heads, &used, 0);
        assert_true(used < TX_CHAINS);

        /* the reader drains slowly; every byte arrives, in order */
        uint8_t *got = malloc(TX_TOTAL);
        assert_non_null(got);
        size_t n = 0;
        for (unsigned round = 0; round < 100000 && (n < TX_TOTAL || used < TX_CHAINS); round++) {
                ssize_t k = recv(r.peer, got + n, TX_TOTAL - n < 1500 ? TX_TOTAL - n : 1500, MSG_DONTWAIT);
                if (k > 0)
                        n += (size_t) k;
                else
                        assert_true(k < 0 && errno == EAGAIN);
                machine_run_loop(&r.m);
                take_used_tx(&r, heads, &used, n);
        }
        assert_int_equal(n, TX_TOTAL);
        assert_int_equal(used, TX_CHAINS);
        for (size_t i = 0; i < TX_TOTAL; i++)
                if (got[i] != tx_byte(i))
                        fail_msg("byte %zu: got 0x%02x, sent 0x%02x", i, got[i], tx_byte(i));
        free(got);
        assert_int_equal(recv(r.peer, &(char) { 0 }, 1, MSG_DONTWAIT), -1);
        /* drained: the transmit side left the loop, and the guest was told about its buffers */
        assert_int_equal(watching(&r.m, EPOLLOUT), 0);
        assert_true(msis_with_data(&r.m, MSI_DATA_BASE + 1) >= 1);
        con_down(&r);
}

/* The reader goes away while output is pending: the data is dropped, the chains come back, and
 * the device does not keep waiting for a writable fd. */
static void test_console_tx_peer_gone(void **state) {
        ConRig r;
        uint16_t heads[TX_CHAINS];
        con_up_blocked(&r, heads);
        r.peer = safe_close(r.peer);
        machine_run_loop(&r.m);
        uint32_t id, len;
        unsigned used = 0;
        while (drv_get_used(&r.d, 1, &id, &len))
                used++;
        assert_int_equal(used, TX_CHAINS);
        assert_int_equal(watching(&r.m, EPOLLOUT), 0);
        /* later output is dropped at once too */
        con_tx_now(&r, "lost", 4);
        con_down(&r);
}

/* A device reset forgets the pending chain and stops waiting for the fd. */
static void test_console_tx_reset_while_blocked(void **state) {
        ConRig r;
        uint16_t heads[TX_CHAINS];
        con_up_blocked(&r, heads);
        drv_set_status(&r.d, 0);
        assert_int_equal(drv_status(&r.d), 0);
        assert_int_equal(watching(&r.m, EPOLLOUT), 0);
        assert_int_equal(r.m.fake.n_fds, 0);
        /* a new driver transmits again on the same fd */
        char sink[65536];
        while (recv(r.peer, sink, sizeof(sink), MSG_DONTWAIT) > 0)
                ;
        drv_bring_up(&r.d, &r.m, 1, F_V1, 2, 16);
        con_tx_now(&r, "again", 5);
        con_expect(&r, "again", 5);
        con_down(&r);
}

/* Host -> guest on the agent console: bytes from the socket fill receive buffers, in order,
 * while the guest also transmits on the same socket. */
static void test_console_agent_receive(void **state) {
        ConRig r;
        con_up(&r);
        assert_int_equal(send(r.peer, "\0\0\0\5hello", 9, 0), 9);
        assert_int_equal(send(r.peer, "\0\0\0\3bye", 7, 0), 7);
        uint64_t rx[2] = { drv_alloc(&r.d, 12, 1), drv_alloc(&r.d, 12, 1) };
        for (unsigned i = 0; i < 2; i++)
                drv_add_chain(&r.d, 0, &(DrvBuf) { rx[i], 12, true }, 1);
        drv_kick(&r.d, 0);
        assert_true(machine_run_loop(&r.m) >= 1);
        uint32_t id, len, total = 0;
        uint8_t got[24];
        for (unsigned i = 0; i < 2 && drv_get_used(&r.d, 0, &id, &len); i++) {
                memcpy(got + total, gpa(&r.m, rx[i], len), len);
                total += len;
        }
        assert_int_equal(total, 16);
        assert_memory_equal(got, "\0\0\0\5hello\0\0\0\3bye", 16);
        assert_true(msis_with_data(&r.m, MSI_DATA_BASE + 0) >= 1);

        /* and the guest's answer goes out on the same socket */
        con_tx_now(&r, "\0\0\0\2ok", 6);
        con_expect(&r, "\0\0\0\2ok", 6);
        con_down(&r);
}

/* A regular file as output (--virtio-console-out FILE): no EAGAIN, no event loop, all written. */
static void test_console_tx_regular_file(void **state) {
        Machine m;
        machine_init(&m);
        char path[] = "/tmp/kapsel-vcon-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC | O_APPEND);
        assert_true(fd >= 0);
        unlink(path);
        VirtioConsoleConfig cfg = { .in_fd = -1, .out_fd = fd };
        VirtioDev *con;
        assert_int_equal(virtio_console_create(&m.env, &cfg, &con, NULL), 0);
        m.fake.ioeventfd_fails = true;
        Drv d;
        drv_bring_up(&d, &m, 1, F_V1, 2, 8);
        uint64_t b = drv_alloc(&d, 70000, 1);
        for (uint32_t i = 0; i < 70000; i++)
                *(uint8_t *) gpa(&m, b + i, 1) = tx_byte(i);
        drv_add_chain(&d, 1, &(DrvBuf) { b, 70000, false }, 1);
        drv_kick(&d, 1);
        uint32_t id, len;
        assert_true(drv_get_used(&d, 1, &id, &len));
        assert_int_equal(m.fake.n_fds, 0);
        assert_int_equal(lseek(fd, 0, SEEK_END), 70000);
        uint8_t *back = malloc(70000);
        assert_non_null(back);
        assert_int_equal(pread(fd, back, 70000, 0), 70000);
        assert_memory_equal(back, gpa(&m, b, 70000), 70000);
        free(back);
        virtio_dev_free(con);
        machine_done(&m);
        close(fd);
}

/* ---- net ---- */

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

typedef struct NetRig {
        Machine m;
        VirtioDev *net;
        int peer;               /* the "host side of the tap" */
        int tap;                /* the device's end (the device owns it) */
        Drv d;
} NetRig;

static void net_up(NetRig *r) {
        machine_init(&r->m);
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
        r->peer = sv[1];
        r->tap = sv[0];
        assert_int_equal(virtio_net_create_fd(&r->m.env, sv[0], mac, &r->net, NULL), 0);
        r->m.fake.ioeventfd_fails = true;
        drv_bring_up(&r->d, &r->m, 1, F_V1 | (1ULL << VIRTIO_NET_F_MAC), 2, 16);
}

static void net_down(NetRig *r) {
        virtio_dev_free(r->net);
        machine_done(&r->m);
        close(r->peer);
}

static void test_net_mac_in_config(void **state) {
        NetRig r;
        net_up(&r);
        for (unsigned i = 0; i < 6; i++)
                assert_int_equal(mmio_read(&r.m, r.d.device + i, 1), mac[i]);
        assert_int_equal(mmio_read(&r.m, r.d.device + 6, 2), VIRTIO_NET_S_LINK_UP);
        net_down(&r);
}

static void test_net_transmit(void **state) {
        NetRig r;
        net_up(&r);
        /* header and frame in separate buffers, as Linux sends them */
        uint64_t hdr = drv_alloc(&r.d, 12, 2), frame = drv_alloc(&r.d, 60, 2);
        memset(gpa(&r.m, frame, 60), 0x42, 60);
        DrvBuf b[2] = { { hdr, 12, false }, { frame, 60, false } };
        drv_add_chain(&r.d, 1, b, 2);
        drv_kick(&r.d, 1);
        uint8_t pkt[128];
        ssize_t n = recv(r.peer, pkt, sizeof(pkt), MSG_DONTWAIT);
        assert_int_equal(n, 72);
        static const uint8_t zero[12];
        assert_memory_equal(pkt, zero, 12);
        assert_memory_equal(pkt + 12, gpa(&r.m, frame, 60), 60);
        uint32_t id, len;
        assert_true(drv_get_used(&r.d, 1, &id, &len));

        /* a GSO request without the feature is dropped, the chain still returned */
        struct virtio_net_hdr_v1 *h = gpa(&r.m, hdr, 12);
        h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        drv_add_chain(&r.d, 1, b, 2);
        drv_kick(&r.d, 1);
        assert_int_equal(recv(r.peer, pkt, sizeof(pkt), MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
        assert_true(drv_get_used(&r.d, 1, &id, &len));
        /* so is a runt frame */
        h->gso_type = 0;
        b[1].len = 4;
        drv_add_chain(&r.d, 1, b, 2);
        drv_kick(&r.d, 1);
        assert_int_equal(recv(r.peer, pkt, sizeof(pkt), MSG_DONTWAIT), -1);
        assert_true(drv_get_used(&r.d, 1, &id, &len));
        /* and a frame the tap has no room for: dropped at once, the chain returned */
        b[1].len = 60;
        while (send(r.tap, pkt, 72, MSG_DONTWAIT) > 0)  /* the peer reads nothing: its queue fills */
                ;
        drv_add_chain(&r.d, 1, b, 2);
        drv_kick(&r.d, 1);
        assert_true(drv_get_used(&r.d, 1, &id, &len));
        json_t *st = virtio_dev_stats(r.net);
        assert_non_null(st);
        assert_string_equal(json_string_value(json_object_get(st, "device")), "virtio-net");
        assert_int_equal(json_integer_value(json_object_get(st, "tx_packets")), 1);
        assert_int_equal(json_integer_value(json_object_get(st, "tx_bytes")), 60);
        assert_int_equal(json_integer_value(json_object_get(st, "tx_dropped")), 3);
        json_decref(st);
        net_down(&r);
}

static void test_net_receive(void **state) {
        NetRig r;
        net_up(&r);
        uint8_t pkt[12 + 64] = {};
        memset(pkt + 12, 0x77, 64);
        pkt[10] = 0x99;         /* garbage where num_buffers goes: the device must set it to 1 */
        assert_int_equal(send(r.peer, pkt, sizeof(pkt), 0), (ssize_t) sizeof(pkt));
        uint64_t buf = drv_alloc(&r.d, 1526, 2);
        DrvBuf b = { buf, 1526, true };
        drv_add_chain(&r.d, 0, &b, 1);
        drv_kick(&r.d, 0);
        assert_true(machine_run_loop(&r.m) >= 1);
        uint32_t id, len;
        assert_true(drv_get_used(&r.d, 0, &id, &len));
        assert_int_equal(len, sizeof(pkt));
        struct virtio_net_hdr_v1 *h = gpa(&r.m, buf, 12);
        assert_int_equal(le16toh(h->num_buffers), 1);
        assert_memory_equal(gpa(&r.m, buf + 12, 64), pkt + 12, 64);
        assert_true(msis_with_data(&r.m, MSI_DATA_BASE + 0) >= 1);
        net_down(&r);
}

/* ---- balloon ---- */

static void test_balloon_inflate_releases_pages(void **state) {
        Machine m;
        machine_init(&m);
        VirtioDev *bal;
        assert_int_equal(virtio_balloon_create(&m.env, &bal, NULL), 0);
        m.fake.ioeventfd_fails = true;
        Drv d;
        drv_bring_up(&d, &m, 1, F_V1, 2, 8);

        /* the host asks for 3 pages: config changes, interrupt on the config vector */
        unsigned before = msis_with_data(&m, MSI_DATA_BASE + 4);
        uint8_t gen = (uint8_t) common_read(&d, 21, 1);
        assert_int_equal(virtio_balloon_set_target(bal, 3), 0);
        assert_int_equal(msis_with_data(&m, MSI_DATA_BASE + 4), before + 1);
        assert_int_not_equal((uint8_t) common_read(&d, 21, 1), gen);
        assert_int_equal(mmio_read(&m, d.device, 4), 3);

        /* three guest pages full of data, the middle one far from the others */
        uint64_t pages[3] = { MACHINE_RAM_GPA + 0x200000, MACHINE_RAM_GPA + 0x201000, MACHINE_RAM_GPA + 0x300000 };
        for (unsigned i = 0; i < 3; i++)
                memset(gpa(&m, pages[i], 4096), 0xaa, 4096);
        uint64_t keep = MACHINE_RAM_GPA + 0x202000;
        memset(gpa(&m, keep, 4096), 0xbb, 4096);
        uint64_t pfns = drv_alloc(&d, 16, 4);
        for (unsigned i = 0; i < 3; i++)
                gpa_put32(&m, pfns + 4 * i, (uint32_t) (pages[i] >> 12));
        gpa_put32(&m, pfns + 12, 0xfffff);      /* not RAM: ignored */
        DrvBuf b = { pfns, 16, false };
        drv_add_chain(&d, 0, &b, 1);
        drv_kick(&d, 0);
        uint32_t id, len;
        assert_true(drv_get_used(&d, 0, &id, &len));
        static const uint8_t zero[4096];
        for (unsigned i = 0; i < 3; i++)
                assert_memory_equal(gpa(&m, pages[i], 4096), zero, 4096);
        assert_int_equal(*(uint8_t *) gpa(&m, keep, 1), 0xbb);
        json_t *st = virtio_dev_stats(bal);
        assert_int_equal(json_integer_value(json_object_get(st, "released_pages")), 3);
        json_decref(st);

        /* the guest reports what it holds */
        mmio_write(&m, d.device + 4, 3, 4);
        assert_int_equal(virtio_balloon_actual(bal), 3);
        /* num_pages is the host's: a guest write is ignored */
        mmio_write(&m, d.device, 99, 4);
        assert_int_equal(mmio_read(&m, d.device, 4), 3);
        /* deflate just returns the chain */
        drv_add_chain(&d, 1, &b, 1);
        drv_kick(&d, 1);
        assert_true(drv_get_used(&d, 1, &id, &len));

        virtio_dev_free(bal);
        machine_done(&m);
}

static void test_balloon_target_on_other_device(void **state) {
        Machine m;
        machine_init(&m);
        VirtioDev *rng;
        assert_int_equal(virtio_rng_create(&m.env, &rng, NULL), 0);
        assert_int_equal(virtio_balloon_set_target(rng, 1), -EINVAL);
        virtio_dev_free(rng);
        machine_done(&m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_console_both_directions),
                cmocka_unit_test(test_console_tx_backpressure),
                cmocka_unit_test(test_console_tx_peer_gone),
                cmocka_unit_test(test_console_tx_reset_while_blocked),
                cmocka_unit_test(test_console_agent_receive),
                cmocka_unit_test(test_console_tx_regular_file),
                cmocka_unit_test(test_net_mac_in_config),
                cmocka_unit_test(test_net_transmit),
                cmocka_unit_test(test_net_receive),
                cmocka_unit_test(test_balloon_inflate_releases_pages),
                cmocka_unit_test(test_balloon_target_on_other_device),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
