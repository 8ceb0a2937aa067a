/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "fd-util.h"
#include "logs.h"
#include "string-util.h"
#include "time-util.h"

void logs_format_time(int64_t ns, char buf[static 40]) {
        time_t s = (time_t) (ns / 1000000000);
        struct tm tm;
        gmtime_r(&s, &tm);
        size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, 40 - n, ".%09lldZ", (long long) (ns % 1000000000));
}

/* ".123" -> 123000000 ns; returns the characters used */
static size_t parse_fraction(const char *s, int64_t *ns) {
        size_t n = 0;
        int64_t scale = 100000000;
        *ns = 0;
        for (; s[n] >= '0' && s[n] <= '9'; n++, scale /= 10)
                if (scale > 0)
                        *ns += (s[n] - '0') * scale;
        return n;
}

static int parse_rfc3339(const char *s, int64_t *ret) {
        struct tm tm = { 0 };
        const char *p = strptime(s, "%Y-%m-%d", &tm);
        if (!p)
                return -EINVAL;
        int64_t frac = 0;
        bool has_time = *p == 'T' || *p == ' ';
        if (has_time) {
                if (!(p = strptime(p + 1, "%H:%M", &tm)))
                        return -EINVAL;
                if (*p == ':' && !(p = strptime(p + 1, "%S", &tm)))
                        return -EINVAL;
                if (*p == '.')
                        p += 1 + parse_fraction(p + 1, &frac);
        }
        time_t t;
        if (*p == 'Z' && !p[1])
                t = timegm(&tm);
        else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
                int hh = atoi(p + 1), mm = atoi(p + 4);
                t = timegm(&tm) - (*p == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
        } else if (!*p) {
                tm.tm_isdst = -1;
                t = has_time ? mktime(&tm) : timegm(&tm);
        } else
                return -EINVAL;
        *ret = (int64_t) t * 1000000000 + frac;
        return 0;
}

int logs_parse_time(const char *s, int64_t now_ns, int64_t *ret) {
        if (!s || !*s)
                return -EINVAL;
        size_t digits = strspn(s, "0123456789");
        if (digits > 0 && (!s[digits] || (s[digits] == '.' && !s[digits + 1 + strspn(s + digits + 1, "0123456789")]))) {
                int64_t frac = 0;
                if (s[digits] == '.')
                        parse_fraction(s + digits + 1, &frac);
                *ret = strtoll(s, NULL, 10) * 1000000000 + frac;
                return 0;
        }
        int64_t d;
        if (parse_duration_ns(s, &d) == 0) {
                *ret = now_ns - d;
                return 0;
        }
        return parse_rfc3339(s, ret);
}

/* jansson stores only UTF-8; replace bytes of invalid sequences by '?' (rare: binary output). */
static json_t *utf8_string(const char *data, size_t len) {
        json_t *j = json_stringn(data, len);
        if (j)
                return j;
        _cleanup_free_ char *copy = malloc(len);
        if (!copy)
                return NULL;
        for (size_t i = 0; i < len; i++)
                copy[i] = (unsigned char) data[i] < 0x80 ? data[i] : '?';
        return json_stringn(copy, len);
}

static int append_record(int fd, const char *stream, const char *data, size_t len) {
        char ts[40];
        logs_format_time(engine_now(), ts);
        json_t *rec = json_pack("{s:o, s:s, s:s}", "log", utf8_string(data, len), "stream", stream, "time", ts);
        if (!rec)
                return -ENOMEM;
        _cleanup_free_ char *line = json_dumps(rec, JSON_COMPACT);
        json_decref(rec);
        _cleanup_free_ char *framed = NULL;
        if (!line || asprintf(&framed, "%s\n", line) < 0)
                return -ENOMEM;
        /* O_APPEND + one write per record: concurrent readers never see two records interleaved */
        return write_all(fd, framed, strlen(framed));
}

/* One record per line, as docker's json-file does, so --tail counts the container's lines. A
 * trailing piece without a newline becomes a record of its own. */
int logs_append(int fd, const char *stream, const char *data, size_t len) {
        while (len > 0) {
                const char *nl = memchr(data, '\n', len);
                size_t n = nl ? (size_t) (nl - data) + 1 : len;
                int r = append_record(fd, stream, data, n);
                if (r < 0)
                        return r;
                data += n;
                len -= n;
        }
        return 0;
}

/* The record through o->sink (kapseld's log stream): the time prefix and the text as one write. */
static int emit_sink(const LogsOptions *o, json_t *rec, bool is_stderr) {
        json_t *log = json_object_get(rec, "log");
        const char *t = o->timestamps ? json_string_value(json_object_get(rec, "time")) : NULL;
        _cleanup_free_ char *line = NULL;
        int n = asprintf(&line, "%s%s%.*s", t ?: "", t ? " " : "", (int) json_string_length(log),
                         json_string_value(log) ?: "");
        return n < 0 ? -ENOMEM : o->sink(o->userdata, is_stderr, line, (size_t) n);
}

/* Emit one stored record within --since/--until. Returns 1 past until (the rest is later still) or
 * when the sink failed: nothing more is to be emitted. */
static int emit(const char *line, const LogsOptions *o) {
        bool timestamps = o->timestamps;
        json_t *rec = json_loads(line, 0, NULL);
        if (!rec)
                return 0;       /* a torn last line (writer killed mid-write): skip it */
        int64_t t = 0;
        if ((o->since || o->until) && parse_rfc3339(json_string_value(json_object_get(rec, "time")) ?: "", &t) == 0 &&
            ((o->since && t < o->since) || (o->until && t > o->until))) {
                json_decref(rec);
                return o->until && t > o->until;
        }
        const char *stream = json_string_value(json_object_get(rec, "stream"));
        json_t *log = json_object_get(rec, "log");
        if (o->sink) {          /* a sink that fails (the client went away) ends the stream */
                int r = emit_sink(o, rec, stream && streq(stream, "stderr"));
                json_decref(rec);
                return r < 0 ? 1 : 0;
        }
        FILE *out = stream && streq(stream, "stderr") ? stderr : stdout;
        if (timestamps)
                fprintf(out, "%s ", json_string_value(json_object_get(rec, "time")) ?: "");
        fwrite(json_string_value(log) ?: "", 1, json_string_length(log), out);
        fflush(out);
        json_decref(rec);
        return 0;
}

/* Print complete lines from buf, keep a trailing partial line for the next read. *ret_done: a
 * record past --until was seen. */
static size_t emit_lines(char *buf, size_t len, const LogsOptions *o, bool *ret_done) {
        size_t start = 0;
        for (size_t i = 0; i < len && !*ret_done; i++)
                if (buf[i] == '\n') {
                        buf[i] = 0;
                        *ret_done = emit(buf + start, o) > 0;
                        start = i + 1;
                }
        return start;
}

/* Offset where the last `tail` lines begin (the file ends with a newline). */
static off_t tail_offset(int fd, long tail) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end <= 0)
                return 0;
        char buf[4096];
        long seen = 0;
        off_t pos = end - 1;    /* skip the final newline */
        while (pos > 0) {
                size_t chunk = pos > (off_t) sizeof(buf) ? sizeof(buf) : (size_t) pos;
                pos -= (off_t) chunk;
                if (pread(fd, buf, chunk, pos) != (ssize_t) chunk)
                        return 0;
                for (size_t i = chunk; i-- > 0;)
                        if (buf[i] == '\n' && ++seen == tail)
                                return pos + (off_t) i + 1;
        }
        return 0;
}

int logs_print(const char *path, const LogsOptions *o, KError **err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;       /* never started: no output yet */
                return kerr(err, -errno, "open log %s", path);
        }
        if (o->tail == 0 && !o->follow)
                return 0;
        off_t off = o->tail > 0 ? tail_offset(fd, o->tail) : o->tail == 0 ? lseek(fd, 0, SEEK_END) : 0;
        if (lseek(fd, off, SEEK_SET) < 0)
                return kerr(err, -errno, "seek log %s", path);
        size_t cap = 256 * 1024, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return kerr(err, -ENOMEM, "logs");
        for (;;) {
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0)
                        return kerr(err, -errno, "read log %s", path);
                if (n == 0) {
                        if (!o->follow || !o->alive || !o->alive(o->userdata) || (o->until && engine_now() > o->until)) {
                                /* one more read after the writer is gone catches its last lines */
                                if (o->follow && (n = read(fd, buf + len, cap - len)) > 0)
                                        goto got;
                                break;
                        }
                        usleep(50 * 1000);
                        continue;
                }
        got:
                len += (size_t) n;
                bool done = false;
                size_t used = emit_lines(buf, len, o, &done);
                if (done)
                        break;
                memmove(buf, buf + used, len - used);
                len -= used;
                if (len == cap) {       /* one line longer than the buffer: grow */
                        char *nb = realloc(buf, cap * 2);
                        if (!nb)
                                return kerr(err, -ENOMEM, "logs");
                        buf = nb;
                        cap *= 2;
                }
        }
        return 0;
}
