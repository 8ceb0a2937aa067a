/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "string-util.h"

static struct {
        int fd;                 /* -1: stderr only */
        LogFormat format;
        LogLevel max_level;
        const char *program;
        bool stderr_fields;     /* non-error lines on stderr as time= level= msg= (runc's) */
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

void log_set_stderr_fields(bool on) {
        state.stderr_fields = on;
}

/* msg as a double-quoted value: backslash and double quote escaped, control bytes as \n, \t or \xNN. */
static char *quote_text(const char *msg) {
        size_t n = strlen(msg);
        char *q = malloc(4 * n + 3), *w = q;
        if (!q)
                return NULL;
        *w++ = '"';
        for (const unsigned char *r = (const unsigned char *) msg; *r; r++) {
                if (*r == '"' || *r == '\\') {
                        *w++ = '\\';
                        *w++ = (char) *r;
                } else if (*r == '\n') {
                        *w++ = '\\';
                        *w++ = 'n';
                } else if (*r == '\t') {
                        *w++ = '\\';
                        *w++ = 't';
                } else if (*r < 0x20)
                        w += sprintf(w, "\\x%02x", *r);
                else
                        *w++ = (char) *r;
        }
        *w++ = '"';
        *w = 0;
        return q;
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

static void emit_line(int fd, LogFormat format, LogLevel level, const char *msg) {
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
        } else {
                /* logrus' text shape, which runc users grep for: time="..." level=debug msg="..." */
                _cleanup_free_ char *quoted = quote_text(msg);
                n = asprintf(&line, "time=\"%s.%09ldZ\" level=%s msg=%s\n", ts, now.tv_nsec, level_names[level],
                             quoted ? quoted : "\"\"");
        }
        if (n > 0)
                write_all(fd, line, (size_t) n);
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
                emit_line(state.fd, state.format, level, msg);
        else if (state.stderr_fields && level != LOG_LVL_ERROR) {
                emit_line(STDERR_FILENO, state.format, level, msg);
                errno = saved;
                return;
        }
        if (state.fd < 0 || level == LOG_LVL_ERROR) {
                _cleanup_free_ char *line = NULL;
                n = asprintf(&line, "%s: %s%s\n", state.program,
                             level == LOG_LVL_ERROR ? "" : level == LOG_LVL_WARN ? "warning: " : "", msg);
                if (n > 0)
                        write_all(STDERR_FILENO, line, (size_t) n);
        }
        errno = saved;
}
