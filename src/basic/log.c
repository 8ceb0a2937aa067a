/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "string-util.h"

static struct {
        int fd;                 /* -1: stderr only */
        LogFormat format;
        LogLevel max_level;
        const char *program;
} state = { .fd = -1, .format = LOG_FORMAT_TEXT, .max_level = LOG_LVL_WARN, .program = "kapsel" };

static const char *const level_names[] = {
        [LOG_LVL_ERROR] = "error", [LOG_LVL_WARN] = "warning",
        [LOG_LVL_INFO] = "info",   [LOG_LVL_DEBUG] = "debug",
};

int log_open(const char *path, LogFormat format, LogLevel max_level) {
        state.format = format;
        state.max_level = max_level;
        if (!path)
                return 0;
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        safe_close(state.fd);
        state.fd = fd;
        return 0;
}

void log_set_max_level(LogLevel level) {
        state.max_level = level;
}

void log_set_program(const char *name) {
        state.program = name;
}

static void write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, s, n);
                if (w <= 0)
                        return;
                s += w;
                n -= (size_t) w;
        }
}

static void emit_file(LogLevel level, const char *msg) {
        char ts[64];
        struct timespec now;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

        _cleanup_free_ char *line = NULL;
        int n;
        if (state.format == LOG_FORMAT_JSON) {
                _cleanup_free_ char *quoted = json_quote(msg);
                n = asprintf(&line, "{\"level\":\"%s\",\"msg\":%s,\"time\":\"%s.%09ldZ\"}\n",
                             level_names[level], quoted ? quoted : "\"\"", ts, now.tv_nsec);
        } else
                n = asprintf(&line, "%s.%09ldZ %s: %s\n", ts, now.tv_nsec, level_names[level], msg);
        if (n > 0)
                write_all(state.fd, line, (size_t) n);
}

void log_msg(LogLevel level, const char *fmt, ...) {
        if (level > state.max_level)
                return;
        int saved = errno;
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;

        if (state.fd >= 0)
                emit_file(level, msg);
        if (state.fd < 0 || level == LOG_LVL_ERROR) {
                _cleanup_free_ char *line = NULL;
                n = asprintf(&line, "%s: %s%s\n", state.program,
                             level == LOG_LVL_ERROR ? "" : level == LOG_LVL_WARN ? "warning: " : "", msg);
                if (n > 0)
                        write_all(STDERR_FILENO, line, (size_t) n);
        }
        errno = saved;
}
