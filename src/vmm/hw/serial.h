/* SPDX-License-Identifier: Apache-2.0 */
/* A 16550A UART (National Semiconductor PC16550D data sheet): registers, 16-byte receive FIFO,
 * loopback, THRE and receive-data interrupts on a legacy IRQ line. Output goes to a host fd as it
 * is written; input is read from a host fd in the event loop. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "error.h"
#include "state/state.h"
#include "vmm-host.h"

#define SERIAL_COM1_BASE        0x3f8
#define SERIAL_COM1_IRQ         4
#define SERIAL_RX_FIFO          64

typedef struct Serial {
        pthread_mutex_t lock;
        uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
        uint8_t rx[SERIAL_RX_FIFO];
        unsigned rx_head, rx_count;
        bool irq_raised;
        bool thre_pending;      /* THR empty interrupt not yet acknowledged by an IIR read */
        int out_fd;             /* guest output, -1 to discard */
        int in_fd;              /* guest input, -1 for none */
        bool in_watched;        /* in_fd is in the event loop (paused while the FIFO is full) */
        unsigned irq;
        VmmHost *host;
} Serial;

/* Register the UART at `base` on the pio bus. */
int serial_init(Serial *s, Bus *pio, uint16_t base, unsigned irq, int in_fd, int out_fd, VmmHost *host,
                KError **err);
void serial_done(Serial *s);
/* The bus handler (exposed for tests). */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Queue bytes as if they arrived on the line; returns how many fit. */
unsigned serial_receive(Serial *s, const uint8_t *buf, unsigned len);

/* Saved state (section STATE_SEC_SERIAL): registers, the receive FIFO and interrupt latches. The
 * host fds are not state: a restored UART writes to the new process's console. */
typedef struct SerialState {
        uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
        uint8_t rx[SERIAL_RX_FIFO];
        uint32_t rx_head, rx_count;
        uint8_t irq_raised, thre_pending;
} SerialState;
extern const StateLayout serial_state_layout;
void serial_save(Serial *s, SerialState *out);
/* Checks FIFO bounds and register bits; refuses with a message naming the bad field. */
int serial_load(Serial *s, const SerialState *in, KError **err);
