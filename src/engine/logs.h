/* SPDX-License-Identifier: Apache-2.0 */
/* Container logs in docker's json-file format, one JSON object per line:
 *   {"log":"hello\n","stream":"stdout","time":"2026-11-23T09:00:00.123456789Z"}
 * The monitor appends; `kapsel logs` reads, filters and follows. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Append one record (stream "stdout" or "stderr") at time now. */
int logs_append(int fd, const char *stream, const char *data, size_t len);

typedef struct LogsOptions {
        bool timestamps;        /* prefix each line with its RFC 3339 time */
        long tail;              /* last N lines only; < 0 = all */
        bool follow;            /* keep reading until `alive` says the writer is gone */
        int64_t since, until;   /* unix ns: only records at or after since / at or before until (0: no
                                 * bound); following ends at a record past until */
        bool (*alive)(void *userdata);
        void *userdata;
        /* NULL: print to stdout/stderr; else each record (with its time prefix) goes here */
        int (*sink)(void *userdata, bool is_stderr, const char *data, size_t len);
} LogsOptions;

/* Print the log at `path` to stdout/stderr by stream. */
int logs_print(const char *path, const LogsOptions *o, KError **err);

/* RFC 3339 with nanoseconds, UTC, from unix ns. */
void logs_format_time(int64_t ns, char buf[static 40]);

/* docker's --since/--until: RFC 3339 ("2026-11-23T09:00:00Z", fractions, "+01:00", a date alone;
 * without a zone the local time), a unix timestamp ("1700000000[.nnnnnnnnn]") or a duration back
 * from `now_ns` ("10m", "1h30m", "1.5s", "250ms"). Returns 0 and unix ns, or -EINVAL. */
int logs_parse_time(const char *s, int64_t now_ns, int64_t *ret);
