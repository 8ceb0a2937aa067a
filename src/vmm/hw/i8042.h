/* SPDX-License-Identifier: Apache-2.0 */
/* Just enough of an 8042 keyboard controller for Linux: probing (controller command byte, self
 * tests) and the reset line. A guest `reboot` pulses reset through command 0xFE (or output port bit
 * 0 via 0xD1), which ends the VM with status 0. No keyboard or mouse is attached. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "error.h"
#include "state/state.h"
#include "vmm-host.h"

#define I8042_DATA_PORT         0x60
#define I8042_CMD_PORT          0x64

typedef struct I8042 {
        pthread_mutex_t lock;
        uint8_t ctr;            /* controller command byte */
        uint8_t status;
        uint8_t outbuf;
        uint8_t pending_cmd;    /* command waiting for its data byte on port 0x60, 0 = none */
        bool reset_requested;
        VmmHost *host;
} I8042;

int i8042_init(I8042 *k, Bus *pio, VmmHost *host, KError **err);
void i8042_done(I8042 *k);
/* Bus handlers (exposed for tests). */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Saved state (section STATE_SEC_I8042). */
typedef struct I8042State {
        uint8_t ctr, status, outbuf, pending_cmd, reset_requested;
} I8042State;
extern const StateLayout i8042_state_layout;
void i8042_save(I8042 *k, I8042State *out);
int i8042_load(I8042 *k, const I8042State *in, KError **err);
