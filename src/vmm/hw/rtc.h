/* SPDX-License-Identifier: Apache-2.0 */
/* MC146818 CMOS real-time clock on ports 0x70 (index, bit 7 = NMI mask) and 0x71 (data): the
 * current host time (UTC) in BCD, 24-hour mode, plus 128 bytes of CMOS RAM. No alarms or periodic
 * interrupts. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bus.h"
#include "error.h"
#include "state/state.h"

#define RTC_PORT        0x70

typedef struct Rtc {
        pthread_mutex_t lock;
        uint8_t index;
        uint8_t cmos[128];
        time_t (*now)(void);    /* time source (tests fix it) */
} Rtc;

/* now: time source, NULL for the host clock (tests pass a fixed one). */
int rtc_init(Rtc *r, Bus *pio, time_t (*now)(void), KError **err);
void rtc_done(Rtc *r);
void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Saved state (section STATE_SEC_RTC): the index latch and CMOS RAM; the time registers are read
 * from the host clock, so a restored guest sees the time of the restore. */
typedef struct RtcState {
        uint8_t index;
        uint8_t cmos[128];
} RtcState;
extern const StateLayout rtc_state_layout;
void rtc_save(Rtc *r, RtcState *out);
int rtc_load(Rtc *r, const RtcState *in, KError **err);
