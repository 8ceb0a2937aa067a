/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>
#include <time.h>

/* Wall-clock time in nanoseconds since the epoch (timestamps shown to users). */
static inline int64_t now_realtime_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Monotonic nanoseconds (intervals). */
static inline uint64_t now_monotonic_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

/* A duration as Go's time.ParseDuration writes it, which is how docker and runc take them
 * ("30s", "1m30s", "1.5h", "250ms", "10us"): non-negative numbers, each with a unit (ns, us, µs,
 * ms, s, m, h). An empty string, a number without its unit, a sign and totals past about 31 years
 * are -EINVAL. *ret: nanoseconds. */
int parse_duration_ns(const char *s, int64_t *ret);
