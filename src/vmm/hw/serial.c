/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "serial.h"

/* Register offsets (data sheet table 2); DLL/DLM replace RBR/THR and IER while LCR.DLAB is set. */
enum { UART_RX = 0, UART_IER = 1, UART_IIR = 2, UART_LCR = 3, UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7 };
#define IER_RDI         0x01
#define IER_THRI        0x02
#define IIR_NO_INT      0x01
#define IIR_THRI        0x02
#define IIR_RDI         0x04
#define IIR_FIFO_BITS   0xc0
#define FCR_FIFO_ENABLE 0x01
#define FCR_CLEAR_RX    0x02
#define LCR_DLAB        0x80
#define MCR_DTR         0x01
#define MCR_RTS         0x02
#define MCR_OUT1        0x04
#define MCR_OUT2        0x08
#define MCR_LOOP        0x10
#define LSR_DR          0x01
#define LSR_THRE        0x20
#define LSR_TEMT        0x40
#define MSR_CTS         0x10
#define MSR_DSR         0x20
#define MSR_RI          0x40
#define MSR_DCD         0x80

static uint8_t serial_iir(const Serial *s) {
        uint8_t fifo = (s->fcr & FCR_FIFO_ENABLE) ? IIR_FIFO_BITS : 0;
        if ((s->ier & IER_RDI) && s->rx_count > 0)
                return fifo | IIR_RDI;
        if ((s->ier & IER_THRI) && s->thre_pending)
                return fifo | IIR_THRI;
        return fifo | IIR_NO_INT;
}

/* The line follows the interrupt condition; edges reach the IOAPIC (ISA IRQs are edge-triggered). */
static void serial_update_irq(Serial *s) {
        bool want = !(serial_iir(s) & IIR_NO_INT);
        if (want == s->irq_raised || !s->host)
                return;
        s->irq_raised = want;
        s->host->ops->set_irq_line(s->host->host, s->irq, want ? 1 : 0);
}

static void serial_in_ready(void *opaque, uint32_t events);

static void serial_watch_input(Serial *s, bool on) {
        if (s->in_fd < 0 || !s->host || s->in_watched == on)
                return;
        if (on)
                s->in_watched = s->host->ops->add_fd(s->host->host, s->in_fd, EPOLLIN, serial_in_ready, s, NULL) >= 0;
        else {
                s->host->ops->del_fd(s->host->host, s->in_fd);
                s->in_watched = false;
        }
}

unsigned serial_receive(Serial *s, const uint8_t *buf, unsigned len) {
        unsigned n = 0;
        while (n < len && s->rx_count < SERIAL_RX_FIFO) {
                s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO] = buf[n++];
                s->rx_count++;
        }
        if (s->rx_count > 0)
                s->lsr |= LSR_DR;
        serial_update_irq(s);
        return n;
}

static void serial_in_ready(void *opaque, uint32_t events) {
        Serial *s = opaque;
        pthread_mutex_lock(&s->lock);
        uint8_t buf[SERIAL_RX_FIFO];
        unsigned room = SERIAL_RX_FIFO - s->rx_count;
        ssize_t n = room > 0 ? read(s->in_fd, buf, room) : 0;
        if (n > 0)
                serial_receive(s, buf, (unsigned) n);
        /* EOF, error or a full FIFO: stop watching until the guest drains it (or forever on EOF). */
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || s->rx_count == SERIAL_RX_FIFO)
                serial_watch_input(s, false);
        if (n == 0 && room > 0)
                s->in_fd = -1;
        pthread_mutex_unlock(&s->lock);
}

static uint8_t serial_read_rx(Serial *s) {
        if (s->rx_count == 0)
                return 0;
        uint8_t c = s->rx[s->rx_head];
        s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
        if (--s->rx_count == 0)
                s->lsr &= (uint8_t) ~LSR_DR;
        serial_watch_input(s, true);
        return c;
}

static void serial_transmit(Serial *s, uint8_t c) {
        if (s->mcr & MCR_LOOP)
                serial_receive(s, &c, 1);
        else if (s->out_fd >= 0)
                while (write(s->out_fd, &c, 1) < 0 && errno == EINTR)
                        ;
        s->thre_pending = true;         /* sent at once: THR empty again */
}

/* In loopback the modem inputs mirror the outputs (data sheet, MCR bit 4). */
static uint8_t serial_msr(const Serial *s) {
        if (!(s->mcr & MCR_LOOP))
                return s->msr;
        uint8_t m = 0;
        if (s->mcr & MCR_RTS)
                m |= MSR_CTS;
        if (s->mcr & MCR_DTR)
                m |= MSR_DSR;
        if (s->mcr & MCR_OUT1)
                m |= MSR_RI;
        if (s->mcr & MCR_OUT2)
                m |= MSR_DCD;
        return m;
}

static uint8_t serial_read(Serial *s, unsigned reg) {
        bool dlab = s->lcr & LCR_DLAB;
        switch (reg) {
        case UART_RX:
                return dlab ? s->dll : serial_read_rx(s);
        case UART_IER:
                return dlab ? s->dlm : s->ier;
        case UART_IIR: {
                uint8_t iir = serial_iir(s);
                if ((iir & 0x0f) == IIR_THRI)
                        s->thre_pending = false;        /* reading IIR acknowledges THRE */
                return iir;
        }
        case UART_LCR:
                return s->lcr;
        case UART_MCR:
                return s->mcr;
        case UART_LSR:
                return s->lsr;
        case UART_MSR:
                return serial_msr(s);
        default:
                return s->scr;
        }
}

static void serial_write(Serial *s, unsigned reg, uint8_t v) {
        bool dlab = s->lcr & LCR_DLAB;
        switch (reg) {
        case UART_RX:
                if (dlab)
                        s->dll = v;
                else
                        serial_transmit(s, v);
                break;
        case UART_IER:
                if (dlab)
                        s->dlm = v;
                else {
                        /* enabling THRI with an empty THR raises the interrupt at once (data sheet) */
                        if ((v & IER_THRI) && !(s->ier & IER_THRI))
                                s->thre_pending = true;
                        s->ier = v & 0x0f;
                }
                break;
        case UART_IIR:                  /* FCR on write */
                if (v & FCR_CLEAR_RX) {
                        s->rx_count = 0;
                        s->lsr &= (uint8_t) ~LSR_DR;
                        serial_watch_input(s, true);
                }
                s->fcr = v & (FCR_FIFO_ENABLE | 0xc0);
                break;
        case UART_LCR:
                s->lcr = v;
                break;
        case UART_MCR:
                s->mcr = v & 0x1f;
                break;
        case UART_SCR:
                s->scr = v;
                break;
        default:                        /* LSR and MSR are read-only */
                break;
        }
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Serial *s = opaque;
        pthread_mutex_lock(&s->lock);
        for (uint32_t i = 0; i < len; i++) {
                unsigned reg = (unsigned) ((offset + i) & 7);
                if (is_write)
                        serial_write(s, reg, data[i]);
                else
                        data[i] = serial_read(s, reg);
        }
        serial_update_irq(s);
        pthread_mutex_unlock(&s->lock);
}

int serial_init(Serial *s, Bus *pio, uint16_t base, unsigned irq, int in_fd, int out_fd, VmmHost *host,
                KError **err) {
        *s = (Serial) { .lsr = LSR_THRE | LSR_TEMT, .msr = MSR_DCD | MSR_DSR | MSR_CTS, .mcr = MCR_OUT2,
                        .out_fd = out_fd, .in_fd = in_fd, .irq = irq, .host = host };
        pthread_mutex_init(&s->lock, NULL);
        int r = bus_register(pio, base, 8, serial_io, s, "serial", err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        serial_watch_input(s, true);
        pthread_mutex_unlock(&s->lock);
        return 0;
}

void serial_done(Serial *s) {
        pthread_mutex_lock(&s->lock);
        serial_watch_input(s, false);
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_destroy(&s->lock);
}

/* ---- snapshots ---- */

static const StateField serial_fields[] = {
        STATE_FIELD(SerialState, ier), STATE_FIELD(SerialState, lcr), STATE_FIELD(SerialState, mcr),
        STATE_FIELD(SerialState, lsr), STATE_FIELD(SerialState, msr), STATE_FIELD(SerialState, scr),
        STATE_FIELD(SerialState, dll), STATE_FIELD(SerialState, dlm), STATE_FIELD(SerialState, fcr),
        STATE_ARRAY(SerialState, rx), STATE_FIELD(SerialState, rx_head), STATE_FIELD(SerialState, rx_count),
        STATE_FIELD(SerialState, irq_raised), STATE_FIELD(SerialState, thre_pending),
};
const StateLayout serial_state_layout = { "serial", STATE_SEC_SERIAL, 1, serial_fields, ELEMENTSOF(serial_fields) };

void serial_save(Serial *s, SerialState *out) {
        pthread_mutex_lock(&s->lock);
        *out = (SerialState) { .ier = s->ier, .lcr = s->lcr, .mcr = s->mcr, .lsr = s->lsr, .msr = s->msr,
                               .scr = s->scr, .dll = s->dll, .dlm = s->dlm, .fcr = s->fcr,
                               .rx_head = s->rx_head, .rx_count = s->rx_count,
                               .irq_raised = s->irq_raised, .thre_pending = s->thre_pending };
        memcpy(out->rx, s->rx, sizeof(out->rx));
        pthread_mutex_unlock(&s->lock);
}

int serial_load(Serial *s, const SerialState *in, KError **err) {
        if (in->rx_head >= SERIAL_RX_FIFO || in->rx_count > SERIAL_RX_FIFO)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "serial state: receive FIFO head %u count %u outside %u bytes",
                                in->rx_head, in->rx_count, SERIAL_RX_FIFO);
        if ((in->ier & ~0x0f) || (in->mcr & ~0x1f) || (in->fcr & ~(FCR_FIFO_ENABLE | 0xc0)) || in->irq_raised > 1 ||
            in->thre_pending > 1)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "serial state: reserved register bits set");
        pthread_mutex_lock(&s->lock);
        s->ier = in->ier;
        s->lcr = in->lcr;
        s->mcr = in->mcr;
        s->lsr = in->lsr;
        s->msr = in->msr;
        s->scr = in->scr;
        s->dll = in->dll;
        s->dlm = in->dlm;
        s->fcr = in->fcr;
        memcpy(s->rx, in->rx, sizeof(s->rx));
        s->rx_head = in->rx_head;
        s->rx_count = in->rx_count;
        s->thre_pending = in->thre_pending;
        /* the line level lives in the in-kernel irqchip state; resync ours from the registers */
        s->irq_raised = in->irq_raised;
        serial_update_irq(s);
        serial_watch_input(s, s->rx_count < SERIAL_RX_FIFO);
        pthread_mutex_unlock(&s->lock);
        return 0;
}
