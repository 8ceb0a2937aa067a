/* SPDX-License-Identifier: Apache-2.0 */
/* Legacy devices against a fake VmmHost that records IRQ edges and exit requests: 16550 registers,
 * FIFO and interrupts, i8042 probing and reset, CMOS RTC in BCD; the pio bus dispatching to them;
 * the event loop; the seccomp filter killing a forbidden syscall. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "event-loop.h"
#include "hw/i8042.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "vm.h"

typedef struct FakeHost {
        int irq_level[32];
        int irq_raises[32];
        int exit_requests;
        int exit_status;
} FakeHost;

static int fake_set_irq_line(void *host, unsigned gsi, int level) {
        FakeHost *h = host;
        if (level && !h->irq_level[gsi])
                h->irq_raises[gsi]++;
        h->irq_level[gsi] = level;
        return 0;
}
static int fake_add_fd(void *host, int fd, uint32_t events, VmmFdHandler handler, void *opaque, KError **err) {
        return 0;
}
static int fake_del_fd(void *host, int fd) {
        return 0;
}
static void fake_request_exit(void *host, int status) {
        FakeHost *h = host;
        h->exit_requests++;
        h->exit_status = status;
}
static const VmmHostOps fake_ops = {
        .set_irq_line = fake_set_irq_line,
        .add_fd = fake_add_fd,
        .del_fd = fake_del_fd,
        .request_exit = fake_request_exit,
};

static uint8_t in8(Bus *b, uint64_t port) {
        uint8_t v = 0;
        if (!bus_dispatch(b, port, &v, 1, false))
                return 0xff;
        return v;
}
static void out8(Bus *b, uint64_t port, uint8_t v) {
        bus_dispatch(b, port, &v, 1, true);
}

#define COM1 SERIAL_COM1_BASE

typedef struct SerialFixture {
        Bus pio;
        FakeHost fh;
        VmmHost host;
        Serial s;
        int out[2];
} SerialFixture;

static int serial_setup(void **state) {
        SerialFixture *f = calloc(1, sizeof(*f));
        bus_init(&f->pio, "pio");
        f->host = (VmmHost) { .ops = &fake_ops, .host = &f->fh };
        assert_int_equal(pipe2(f->out, O_CLOEXEC | O_NONBLOCK), 0);
        assert_int_equal(serial_init(&f->s, &f->pio, COM1, 4, -1, f->out[1], &f->host, NULL), 0);
        *state = f;
        return 0;
}
static int serial_teardown(void **state) {
        SerialFixture *f = *state;
        serial_done(&f->s);
        bus_done(&f->pio);
        close(f->out[0]);
        close(f->out[1]);
        free(f);
        return 0;
}

static void test_serial_output(void **state) {
        SerialFixture *f = *state;
        out8(&f->pio, COM1, 'h');
        out8(&f->pio, COM1, 'i');
        char buf[8];
        assert_int_equal(read(f->out[0], buf, sizeof(buf)), 2);
        assert_memory_equal(buf, "hi", 2);
        assert_int_equal(in8(&f->pio, COM1 + 5) & 0x60, 0x60);         /* LSR: THRE | TEMT */
}

static void test_serial_divisor_latch(void **state) {
        SerialFixture *f = *state;
        out8(&f->pio, COM1 + 3, 0x80);                                  /* DLAB */
        out8(&f->pio, COM1, 0x01);
        out8(&f->pio, COM1 + 1, 0x02);
        assert_int_equal(in8(&f->pio, COM1), 0x01);
        assert_int_equal(in8(&f->pio, COM1 + 1), 0x02);
        out8(&f->pio, COM1 + 3, 0x03);                                  /* 8N1, DLAB off */
        assert_int_equal(in8(&f->pio, COM1 + 1), 0x00);                 /* IER again */
        char c;
        assert_int_equal(read(f->out[0], &c, 1), -1);                   /* the divisor was not output */
        out8(&f->pio, COM1 + 7, 0x5a);
        assert_int_equal(in8(&f->pio, COM1 + 7), 0x5a);                 /* scratch */
}

static void test_serial_fifo_and_iir(void **state) {
        SerialFixture *f = *state;
        assert_int_equal(in8(&f->pio, COM1 + 2), 0x01);                 /* no interrupt, no FIFO */
        out8(&f->pio, COM1 + 2, 0x01);                                  /* FCR: enable FIFO */
        assert_int_equal(in8(&f->pio, COM1 + 2), 0xc1);                 /* 16550A: FIFO bits set */
}

static void test_serial_loopback_probe(void **state) {
        SerialFixture *f = *state;
        /* Linux's 8250 autoconfig: MCR = LOOP | OUT2 | RTS must read back MSR 0x90 in the top nibble */
        out8(&f->pio, COM1 + 4, 0x1a);
        assert_int_equal(in8(&f->pio, COM1 + 6) & 0xf0, 0x90);
        out8(&f->pio, COM1, 'x');                                       /* loops back into RBR */
        assert_int_equal(in8(&f->pio, COM1 + 5) & 0x01, 0x01);
        assert_int_equal(in8(&f->pio, COM1), 'x');
        char c;
        assert_int_equal(read(f->out[0], &c, 1), -1);                   /* not sent to the host */
}

static void test_serial_rx_interrupt(void **state) {
        SerialFixture *f = *state;
        out8(&f->pio, COM1 + 1, 0x01);                                  /* IER: receive data */
        assert_int_equal(f->fh.irq_level[4], 0);
        pthread_mutex_lock(&f->s.lock);
        assert_int_equal(serial_receive(&f->s, (const uint8_t *) "ab", 2), 2);
        pthread_mutex_unlock(&f->s.lock);
        assert_int_equal(f->fh.irq_level[4], 1);
        assert_int_equal(in8(&f->pio, COM1 + 2) & 0x0f, 0x04);         /* IIR: received data */
        assert_int_equal(in8(&f->pio, COM1), 'a');
        assert_int_equal(in8(&f->pio, COM1), 'b');
        assert_int_equal(f->fh.irq_level[4], 0);                        /* drained: line drops */
        assert_int_equal(in8(&f->pio, COM1 + 5) & 0x01, 0);
        /* the FIFO holds SERIAL_RX_FIFO bytes, no more */
        uint8_t many[SERIAL_RX_FIFO + 10];
        memset(many, 'z', sizeof(many));
        pthread_mutex_lock(&f->s.lock);
        assert_int_equal(serial_receive(&f->s, many, sizeof(many)), SERIAL_RX_FIFO);
        pthread_mutex_unlock(&f->s.lock);
}

static void test_serial_thre_interrupt(void **state) {
        SerialFixture *f = *state;
        out8(&f->pio, COM1 + 1, 0x02);                                  /* IER: THR empty */
        assert_int_equal(f->fh.irq_raises[4], 1);                       /* empty THR interrupts at once */
        assert_int_equal(in8(&f->pio, COM1 + 2) & 0x0f, 0x02);
        assert_int_equal(f->fh.irq_level[4], 0);                        /* IIR read acknowledged it */
        out8(&f->pio, COM1, 'x');                                       /* each byte sent: THRE again */
        assert_int_equal(f->fh.irq_raises[4], 2);
        out8(&f->pio, COM1 + 1, 0x00);
        assert_int_equal(f->fh.irq_level[4], 0);
}

static void test_i8042_probe_and_reset(void **state) {
        Bus pio;
        FakeHost fh = { 0 };
        VmmHost host = { .ops = &fake_ops, .host = &fh };
        I8042 k;
        bus_init(&pio, "pio");
        assert_int_equal(i8042_init(&k, &pio, &host, NULL), 0);
        out8(&pio, 0x64, 0xaa);                                         /* self test */
        assert_int_equal(in8(&pio, 0x64) & 0x01, 0x01);
        assert_int_equal(in8(&pio, 0x60), 0x55);
        assert_int_equal(in8(&pio, 0x64) & 0x01, 0x00);
        out8(&pio, 0x64, 0x60);                                         /* write CTR */
        out8(&pio, 0x60, 0x47);
        out8(&pio, 0x64, 0x20);                                         /* read CTR */
        assert_int_equal(in8(&pio, 0x60), 0x47);
        out8(&pio, 0x64, 0xab);
        assert_int_equal(in8(&pio, 0x60), 0x00);
        assert_int_equal(fh.exit_requests, 0);
        out8(&pio, 0x64, 0xfe);                                         /* pulse reset */
        assert_int_equal(fh.exit_requests, 1);
        assert_int_equal(fh.exit_status, 0);
        out8(&pio, 0x64, 0xfe);
        assert_int_equal(fh.exit_requests, 1);                          /* once */
        i8042_done(&k);
        bus_done(&pio);
}

static void test_i8042_output_port_reset(void **state) {
        Bus pio;
        FakeHost fh = { 0 };
        VmmHost host = { .ops = &fake_ops, .host = &fh };
        I8042 k;
        bus_init(&pio, "pio");
        assert_int_equal(i8042_init(&k, &pio, &host, NULL), 0);
        out8(&pio, 0x64, 0xd1);
        out8(&pio, 0x60, 0x03);                                         /* bit 0 high: no reset */
        assert_int_equal(fh.exit_requests, 0);
        out8(&pio, 0x64, 0xd1);
        out8(&pio, 0x60, 0x02);
        assert_int_equal(fh.exit_requests, 1);
        i8042_done(&k);
        bus_done(&pio);
}

/* 2024-02-29 23:59:58 UTC, a Thursday */
static time_t fixed_now(void) {
        return 1709251198;
}

static uint8_t cmos(Bus *pio, uint8_t reg) {
        out8(pio, 0x70, reg);
        return in8(pio, 0x71);
}

static void test_rtc_bcd(void **state) {
        Bus pio;
        Rtc r;
        bus_init(&pio, "pio");
        assert_int_equal(rtc_init(&r, &pio, fixed_now, NULL), 0);
        assert_int_equal(cmos(&pio, 0x00), 0x58);
        assert_int_equal(cmos(&pio, 0x02), 0x59);
        assert_int_equal(cmos(&pio, 0x04), 0x23);
        assert_int_equal(cmos(&pio, 0x06), 0x05);                       /* Sunday = 1 */
        assert_int_equal(cmos(&pio, 0x07), 0x29);
        assert_int_equal(cmos(&pio, 0x08), 0x02);
        assert_int_equal(cmos(&pio, 0x09), 0x24);
        assert_int_equal(cmos(&pio, 0x32), 0x20);
        assert_int_equal(cmos(&pio, 0x0a) & 0x80, 0);                   /* no update in progress */
        assert_int_equal(cmos(&pio, 0x0b) & 0x06, 0x02);                /* BCD, 24 h */
        assert_int_equal(cmos(&pio, 0x0d), 0x80);                       /* battery good */
        /* the guest cannot switch to binary mode; CMOS RAM keeps what it writes; NMI bit ignored */
        out8(&pio, 0x70, 0x0b);
        out8(&pio, 0x71, 0x06);
        assert_int_equal(cmos(&pio, 0x0b) & 0x04, 0);
        out8(&pio, 0x70, 0x80 | 0x40);
        out8(&pio, 0x71, 0x77);
        assert_int_equal(cmos(&pio, 0x40), 0x77);
        out8(&pio, 0x70, 0x00);
        out8(&pio, 0x71, 0x11);                                         /* time writes dropped */
        assert_int_equal(cmos(&pio, 0x00), 0x58);
        rtc_done(&r);
        bus_done(&pio);
}

static void test_unclaimed_port_floats_high(void **state) {
        Bus pio;
        bus_init(&pio, "pio");
        uint8_t v = 0;
        assert_false(bus_dispatch(&pio, 0x2f8, &v, 1, false));          /* COM2: nothing there */
        bus_done(&pio);
}

static int loop_hits;
static void loop_handler(void *opaque, uint32_t events) {
        int *fds = opaque;
        char c;
        assert_int_equal(read(fds[0], &c, 1), 1);
        loop_hits++;
        event_loop_quit(*(EventLoop **) (fds + 2));
}

static void test_event_loop_dispatch_and_del(void **state) {
        EventLoop *l = NULL;
        assert_int_equal(event_loop_new(&l, NULL), 0);
        int fds[2 + sizeof(EventLoop *) / sizeof(int)];
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        memcpy(fds + 2, &l, sizeof(l));
        assert_int_equal(event_loop_add(l, fds[0], EPOLLIN, loop_handler, fds, NULL), 0);
        assert_int_equal(write(fds[1], "x", 1), 1);
        assert_int_equal(event_loop_run(l), 0);
        assert_int_equal(loop_hits, 1);
        assert_int_equal(event_loop_del(l, fds[0]), 0);
        assert_int_equal(event_loop_del(l, fds[0]), -ENOENT);
        close(fds[0]);
        close(fds[1]);
        event_loop_free(l);
}

/* The run loop's filter: allowed calls work, a forbidden one (socket) kills the process. */
static void test_seccomp_kills_forbidden_syscall(void **state) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (vm_seccomp_install(NULL) < 0)
                        _exit(3);
                if (write(p[1], "k", 1) != 1)          /* allowed */
                        _exit(4);
                socket(AF_INET, SOCK_STREAM, 0);       /* forbidden: never returns */
                _exit(5);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        char c;
        assert_int_equal(read(p[0], &c, 1), 1);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSYS);
        close(p[0]);
        close(p[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_serial_output, serial_setup, serial_teardown),
                cmocka_unit_test_setup_teardown(test_serial_divisor_latch, serial_setup, serial_teardown),
                cmocka_unit_test_setup_teardown(test_serial_fifo_and_iir, serial_setup, serial_teardown),
                cmocka_unit_test_setup_teardown(test_serial_loopback_probe, serial_setup, serial_teardown),
                cmocka_unit_test_setup_teardown(test_serial_rx_interrupt, serial_setup, serial_teardown),
                cmocka_unit_test_setup_teardown(test_serial_thre_interrupt, serial_setup, serial_teardown),
                cmocka_unit_test(test_i8042_probe_and_reset),
                cmocka_unit_test(test_i8042_output_port_reset),
                cmocka_unit_test(test_rtc_bcd),
                cmocka_unit_test(test_unclaimed_port_floats_high),
                cmocka_unit_test(test_event_loop_dispatch_and_del),
                cmocka_unit_test(test_seccomp_kills_forbidden_syscall),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
