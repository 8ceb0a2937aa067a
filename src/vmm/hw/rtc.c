/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "rtc.h"

/* Register map, MC146818A data sheet. */
enum {
        RTC_SECONDS = 0x00,
        RTC_MINUTES = 0x02,
        RTC_HOURS = 0x04,
        RTC_WEEKDAY = 0x06,
        RTC_DAY = 0x07,
        RTC_MONTH = 0x08,
        RTC_YEAR = 0x09,
        RTC_REG_A = 0x0a,
        RTC_REG_B = 0x0b,
        RTC_REG_C = 0x0c,
        RTC_REG_D = 0x0d,
        RTC_CENTURY = 0x32,     /* the IBM PC's conventional century byte */
};
#define REG_B_24H       0x02
#define REG_D_VRT       0x80    /* valid RAM and time (battery good) */

static uint8_t bcd(int v) {
        return (uint8_t) ((v / 10) << 4 | (v % 10));
}

/* UTC calendar fields from a time_t, by arithmetic: glibc's gmtime_r() opens /etc/localtime on
 * first use, which the run loop's seccomp filter forbids. Days to civil date per the proleptic
 * Gregorian calendar, counting 400-year eras from 0000-03-01. */
static void rtc_civil(time_t t, struct tm *tm) {
        int64_t days = t / 86400, secs = t % 86400;
        if (secs < 0) {
                secs += 86400;
                days--;
        }
        tm->tm_hour = (int) (secs / 3600);
        tm->tm_min = (int) (secs / 60 % 60);
        tm->tm_sec = (int) (secs % 60);
        tm->tm_wday = (int) ((days % 7 + 11) % 7);     /* 1970-01-01 was a Thursday */
        int64_t z = days + 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;                                 /* [0, 146096] */
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;   /* [0, 399] */
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);         /* [0, 365] from March 1st */
        int64_t mp = (5 * doy + 2) / 153;                               /* March = 0 */
        tm->tm_mday = (int) (doy - (153 * mp + 2) / 5 + 1);
        tm->tm_mon = (int) (mp < 10 ? mp + 2 : mp - 10);
        tm->tm_year = (int) (yoe + era * 400 + (tm->tm_mon <= 1)) - 1900;
}

static uint8_t rtc_time_reg(Rtc *r, uint8_t idx) {
        struct tm tm;
        rtc_civil(r->now(), &tm);
        switch (idx) {
        case RTC_SECONDS:
                return bcd(tm.tm_sec);
        case RTC_MINUTES:
                return bcd(tm.tm_min);
        case RTC_HOURS:
                return bcd(tm.tm_hour);
        case RTC_WEEKDAY:
                return bcd(tm.tm_wday + 1);
        case RTC_DAY:
                return bcd(tm.tm_mday);
        case RTC_MONTH:
                return bcd(tm.tm_mon + 1);
        case RTC_YEAR:
                return bcd(tm.tm_year % 100);
        default:
                return bcd((tm.tm_year + 1900) / 100);
        }
}

static uint8_t rtc_read(Rtc *r) {
        uint8_t idx = r->index;
        switch (idx) {
        case RTC_SECONDS:
        case RTC_MINUTES:
        case RTC_HOURS:
        case RTC_WEEKDAY:
        case RTC_DAY:
        case RTC_MONTH:
        case RTC_YEAR:
        case RTC_CENTURY:
                return rtc_time_reg(r, idx);
        case RTC_REG_A:
                return r->cmos[idx] & 0x7f;     /* UIP never set: an update is never in progress */
        case RTC_REG_C:
                return 0;                       /* no interrupt flags, reading clears them */
        case RTC_REG_D:
                return REG_D_VRT;
        default:
                return r->cmos[idx];
        }
}

static void rtc_write(Rtc *r, uint8_t v) {
        switch (r->index) {
        case RTC_REG_B:
                /* keep BCD 24-hour mode: the guest may toggle interrupt enables, not the data format */
                r->cmos[RTC_REG_B] = (uint8_t) ((v & ~0x06) | REG_B_24H);
                break;
        case RTC_REG_C:
        case RTC_REG_D:
                break;
        default:
                /* time writes (hwclock --systohc) are dropped: the clock follows the host */
                if (r->index > RTC_YEAR)
                        r->cmos[r->index] = v;
                break;
        }
}

void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Rtc *r = opaque;
        pthread_mutex_lock(&r->lock);
        for (uint32_t i = 0; i < len; i++) {
                if (((offset + i) & 1) == 0) {
                        if (is_write)
                                r->index = data[i] & 0x7f;      /* bit 7 masks NMI; nothing to mask */
                        else
                                data[i] = r->index;
                } else if (is_write)
                        rtc_write(r, data[i]);
                else
                        data[i] = rtc_read(r);
        }
        pthread_mutex_unlock(&r->lock);
}

static time_t rtc_host_now(void) {
        return time(NULL);
}

int rtc_init(Rtc *r, Bus *pio, time_t (*now)(void), KError **err) {
        *r = (Rtc) { .now = now ? now : rtc_host_now };
        pthread_mutex_init(&r->lock, NULL);
        r->cmos[RTC_REG_A] = 0x26;      /* 32.768 kHz time base, 1.024 kHz rate */
        r->cmos[RTC_REG_B] = REG_B_24H;
        return bus_register(pio, RTC_PORT, 2, rtc_io, r, "rtc", err);
}

void rtc_done(Rtc *r) {
        pthread_mutex_destroy(&r->lock);
}

/* ---- snapshots ---- */

static const StateField rtc_fields[] = { STATE_FIELD(RtcState, index), STATE_ARRAY(RtcState, cmos) };
const StateLayout rtc_state_layout = { "rtc", STATE_SEC_RTC, 1, rtc_fields, ELEMENTSOF(rtc_fields) };

void rtc_save(Rtc *r, RtcState *out) {
        pthread_mutex_lock(&r->lock);
        out->index = r->index;
        memcpy(out->cmos, r->cmos, sizeof(out->cmos));
        pthread_mutex_unlock(&r->lock);
}

int rtc_load(Rtc *r, const RtcState *in, KError **err) {
        if (in->index > 0x7f)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "rtc state: index 0x%02x outside CMOS RAM", in->index);
        pthread_mutex_lock(&r->lock);
        r->index = in->index;
        memcpy(r->cmos, in->cmos, sizeof(r->cmos));
        pthread_mutex_unlock(&r->lock);
        return 0;
}
