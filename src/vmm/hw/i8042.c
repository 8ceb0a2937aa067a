/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>

#include "i8042.h"

/* Status bits and commands, IBM PC/AT technical reference (8042 section); Linux i8042.h uses the same. */
#define STR_OBF         0x01
#define STR_SYSFLAG     0x04
#define STR_CMDDAT      0x08
#define STR_AUXDATA     0x20
#define CTR_KBDDIS      0x10
#define CTR_AUXDIS      0x20
enum {
        CMD_READ_CTR = 0x20,
        CMD_WRITE_CTR = 0x60,
        CMD_AUX_DISABLE = 0xa7,
        CMD_AUX_ENABLE = 0xa8,
        CMD_AUX_TEST = 0xa9,
        CMD_SELF_TEST = 0xaa,
        CMD_KBD_TEST = 0xab,
        CMD_KBD_DISABLE = 0xad,
        CMD_KBD_ENABLE = 0xae,
        CMD_WRITE_OUTPUT = 0xd1,
        CMD_WRITE_KBD_OUT = 0xd2,
        CMD_WRITE_AUX_OUT = 0xd3,
        CMD_WRITE_AUX = 0xd4,
        CMD_RESET = 0xfe,
};

static void i8042_put(I8042 *k, uint8_t v, bool aux) {
        k->outbuf = v;
        k->status |= STR_OBF;
        if (aux)
                k->status |= STR_AUXDATA;
        else
                k->status &= (uint8_t) ~STR_AUXDATA;
}

static void i8042_reset(I8042 *k) {
        if (k->reset_requested)
                return;
        k->reset_requested = true;
        if (k->host)
                k->host->ops->request_exit(k->host->host, 0);
}

static void i8042_command(I8042 *k, uint8_t cmd) {
        k->status |= STR_CMDDAT;
        switch (cmd) {
        case CMD_READ_CTR:
                i8042_put(k, k->ctr, false);
                break;
        case CMD_WRITE_CTR:
        case CMD_WRITE_OUTPUT:
        case CMD_WRITE_KBD_OUT:
        case CMD_WRITE_AUX_OUT:
        case CMD_WRITE_AUX:
                k->pending_cmd = cmd;
                break;
        case CMD_AUX_DISABLE:
                k->ctr |= CTR_AUXDIS;
                break;
        case CMD_AUX_ENABLE:
                k->ctr &= (uint8_t) ~CTR_AUXDIS;
                break;
        case CMD_KBD_DISABLE:
                k->ctr |= CTR_KBDDIS;
                break;
        case CMD_KBD_ENABLE:
                k->ctr &= (uint8_t) ~CTR_KBDDIS;
                break;
        case CMD_SELF_TEST:
                k->status |= STR_SYSFLAG;
                i8042_put(k, 0x55, false);
                break;
        case CMD_KBD_TEST:
        case CMD_AUX_TEST:
                i8042_put(k, 0x00, false);      /* interface OK */
                break;
        case CMD_RESET:
                i8042_reset(k);
                break;
        default:
                break;
        }
}

static void i8042_data(I8042 *k, uint8_t v) {
        uint8_t cmd = k->pending_cmd;
        k->pending_cmd = 0;
        k->status &= (uint8_t) ~STR_CMDDAT;
        switch (cmd) {
        case CMD_WRITE_CTR:
                k->ctr = v;
                break;
        case CMD_WRITE_OUTPUT:
                if (!(v & 1))           /* output port bit 0 low = system reset */
                        i8042_reset(k);
                break;
        case CMD_WRITE_KBD_OUT:
                i8042_put(k, v, false);
                break;
        case CMD_WRITE_AUX_OUT:
                i8042_put(k, v, true);
                break;
        default:
                /* bytes for the keyboard or mouse: no device is attached, so nothing answers */
                break;
        }
}

void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        I8042 *k = opaque;
        pthread_mutex_lock(&k->lock);
        if (is_write)
                i8042_data(k, data[0]);
        else {
                data[0] = k->outbuf;
                k->status &= (uint8_t) ~(STR_OBF | STR_AUXDATA);
        }
        for (uint32_t i = 1; i < len && !is_write; i++)
                data[i] = 0xff;
        pthread_mutex_unlock(&k->lock);
}

void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        I8042 *k = opaque;
        pthread_mutex_lock(&k->lock);
        if (is_write)
                i8042_command(k, data[0]);
        else
                data[0] = k->status;
        for (uint32_t i = 1; i < len && !is_write; i++)
                data[i] = 0xff;
        pthread_mutex_unlock(&k->lock);
}

int i8042_init(I8042 *k, Bus *pio, VmmHost *host, KError **err) {
        /* after power-on: keyboard interrupt enabled, system flag, translation (what a BIOS leaves) */
        *k = (I8042) { .ctr = 0x45, .status = STR_SYSFLAG, .host = host };
        pthread_mutex_init(&k->lock, NULL);
        int r = bus_register(pio, I8042_DATA_PORT, 1, i8042_data_io, k, "i8042 data", err);
        if (r < 0)
                return r;
        r = bus_register(pio, I8042_CMD_PORT, 1, i8042_cmd_io, k, "i8042 command", err);
        if (r < 0) {
                bus_unregister(pio, I8042_DATA_PORT);
                return r;
        }
        return 0;
}

void i8042_done(I8042 *k) {
        pthread_mutex_destroy(&k->lock);
}

/* ---- snapshots ---- */

static const StateField i8042_fields[] = {
        STATE_FIELD(I8042State, ctr), STATE_FIELD(I8042State, status), STATE_FIELD(I8042State, outbuf),
        STATE_FIELD(I8042State, pending_cmd), STATE_FIELD(I8042State, reset_requested),
};
const StateLayout i8042_state_layout = { "i8042", STATE_SEC_I8042, 1, i8042_fields, ELEMENTSOF(i8042_fields) };

void i8042_save(I8042 *k, I8042State *out) {
        pthread_mutex_lock(&k->lock);
        *out = (I8042State) { .ctr = k->ctr, .status = k->status, .outbuf = k->outbuf,
                              .pending_cmd = k->pending_cmd, .reset_requested = k->reset_requested };
        pthread_mutex_unlock(&k->lock);
}

static bool i8042_pending_valid(uint8_t cmd) {
        static const uint8_t ok[] = { 0, CMD_WRITE_CTR, CMD_WRITE_OUTPUT, CMD_WRITE_KBD_OUT, CMD_WRITE_AUX_OUT,
                                      CMD_WRITE_AUX };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                if (ok[i] == cmd)
                        return true;
        return false;
}

int i8042_load(I8042 *k, const I8042State *in, KError **err) {
        if (!i8042_pending_valid(in->pending_cmd) || in->reset_requested > 1)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "i8042 state: invalid pending command 0x%02x",
                                in->pending_cmd);
        /* a VM that asked for a reset was ending; a snapshot of it cannot resume */
        if (in->reset_requested)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "i8042 state: the guest had requested a reset");
        pthread_mutex_lock(&k->lock);
        k->ctr = in->ctr;
        k->status = in->status;
        k->outbuf = in->outbuf;
        k->pending_cmd = in->pending_cmd;
        pthread_mutex_unlock(&k->lock);
        return 0;
}
