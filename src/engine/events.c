/* SPDX-License-Identifier: Apache-2.0 */
#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "string-util.h"
#include "time-util.h"

#define EVENTS_FILE "events.jsonl"
#define EVENTS_MAX_DEFAULT (1u << 20)

static uint64_t events_max_bytes(void) {
        const char *s = getenv("KAPSEL_EVENTS_MAX_BYTES");
        char *end = NULL;
        unsigned long long v = s ? strtoull(s, &end, 10) : 0;
        return s && end && !*end && v >= 256 ? v : EVENTS_MAX_DEFAULT;
}

json_t *events_ctr_attrs(const char *image, const char *name, const json_t *config) {
        json_t *a = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(json_object_get(config, "Config"), "Labels"), k, v)
                if (json_is_string(v))
                        json_object_set(a, k, v);
        json_object_set_new(a, "image", json_string(image ?: ""));
        json_object_set_new(a, "name", json_string(name ?: ""));
        return a;
}

static json_t *event_new(const char *type, const char *action, const char *id, json_t *attrs) {
        int64_t now = now_realtime_ns();
        json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:o}, s:s, s:I, s:I}", "Type", type, "Action", action, "Actor", "ID",
                               id ?: "", "Attributes", attrs ?: json_object(), "scope", "local", "time",
                               (json_int_t) (now / 1000000000), "timeNano", (json_int_t) now);
        if (ev && streq(type, "container")) {
                /* docker's older fields, still in its messages */
                json_object_set_new(ev, "status", json_string(action));
                json_object_set_new(ev, "id", json_string(id ?: ""));
                json_object_set(ev, "from", json_object_get(attrs, "image") ?: json_string(""));
        }
        return ev;
}

void events_emit(const char *root, const char *type, const char *action, const char *id, json_t *attrs) {
        json_t *ev = event_new(type, action, id, attrs);
        _cleanup_free_ char *line = ev ? json_dumps(ev, JSON_COMPACT) : NULL, *path = NULL, *lock = NULL, *old = NULL;
        json_decref(ev);
        if (!line || asprintf(&path, "%s/" EVENTS_FILE, root) < 0 || asprintf(&lock, "%s/events.lock", root) < 0 ||
            asprintf(&old, "%s/" EVENTS_FILE ".1", root) < 0)
                return;
        _cleanup_close_ int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0 || flock(lfd, LOCK_EX) < 0)
                return;
        struct stat st;
        if (stat(path, &st) == 0 && (uint64_t) st.st_size + strlen(line) + 1 > events_max_bytes())
                (void) rename(path, old);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        size_t n = strlen(line);
        line[n] = '\n';         /* the NUL becomes the newline: one write, one line */
        (void) write_all(fd, line, n + 1);
}

/* --- filters --- */

static const char *const filter_keys[] = { "type", "event", "container", "image", "volume", "network", "label" };

int event_filter_add(EventFilter *f, const char *spec, KError **err) {
        const char *eq = strchr(spec, '=');
        _cleanup_free_ char *key = eq ? strndup(spec, (size_t) (eq - spec)) : NULL;
        if (key && streq(key, "action"))
                strcpy(key, "event");
        bool known = false;
        for (size_t i = 0; key && i < ELEMENTSOF(filter_keys); i++)
                known |= streq(key, filter_keys[i]);
        if (!known || !eq[1])
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "invalid filter \"%s\": use type=, event=, container=, image=, volume=, network= or "
                                "label= with a value", spec);
        if (!f->by_key && !(f->by_key = json_object()))
                return kerr(err, -ENOMEM, "filter");
        json_t *vals = json_object_get(f->by_key, key);
        if (!vals) {
                vals = json_array();
                json_object_set_new(f->by_key, key, vals);
        }
        json_array_append_new(vals, json_string(eq + 1));
        return 0;
}

void event_filter_done(EventFilter *f) {
        json_decref(f->by_key);
        f->by_key = NULL;
}

static const char *ev_str(const json_t *ev, const char *k) {
        return json_string_value(json_object_get(ev, k)) ?: "";
}

/* Does one filter value match the event? An object filter (container=) names the actor by id, id
 * prefix or name; label= a KEY or KEY=VALUE of the attributes. */
static bool value_matches(const char *key, const char *want, const json_t *ev) {
        const json_t *actor = json_object_get(ev, "Actor");
        const json_t *attrs = json_object_get(actor, "Attributes");
        const char *id = ev_str(actor, "ID");
        if (streq(key, "type"))
                return streq(want, ev_str(ev, "Type"));
        if (streq(key, "event"))
                return streq(want, ev_str(ev, "Action"));
        if (streq(key, "label")) {
                const char *eq = strchr(want, '=');
                _cleanup_free_ char *k = strndup(want, eq ? (size_t) (eq - want) : strlen(want));
                const json_t *v = k ? json_object_get(attrs, k) : NULL;
                return v && (!eq || streq(json_string_value(v) ?: "", eq + 1));
        }
        /* container=, image=, volume=, network=: events of that type about that object; image=
         * also takes containers of that image */
        const char *type = ev_str(ev, "Type");
        const char *name = ev_str(attrs, "name");
        if (streq(key, "image") && streq(type, "container"))
                return streq(want, ev_str(attrs, "image"));
        if (!streq(key, type))
                return false;
        return streq(want, name) || streq(want, id) || (strlen(want) >= 3 && startswith(id, want)) ||
               (streq(type, "image") && streq(want, ev_str(actor, "ID")));
}

bool event_filter_match(const EventFilter *f, const json_t *ev) {
        const char *key;
        json_t *vals;
        json_object_foreach(f ? f->by_key : NULL, key, vals) {
                bool any = false;
                size_t i;
                json_t *v;
                json_array_foreach(vals, i, v) any |= value_matches(key, json_string_value(v), ev);
                if (!any)
                        return false;
        }
        return true;
}

/* RFC 3339: YYYY-MM-DD[THH:MM:SS[.frac]][Z|+hh:mm|-hh:mm] (no zone: UTC). */
static int parse_rfc3339(const char *s, int64_t *ret) {
        struct tm tm = {};
        const char *p = strptime(s, "%Y-%m-%d", &tm);
        if (!p)
                return -EINVAL;
        int64_t frac = 0, offset = 0;
        if (*p == 'T' || *p == ' ') {
                if (!(p = strptime(p + 1, "%H:%M:%S", &tm)))
                        return -EINVAL;
                if (*p == '.') {
                        int64_t scale = 100000000;
                        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                                frac += (*p - '0') * scale;
                }
        }
        if (*p == 'Z')
                p++;
        else if (*p == '+' || *p == '-') {
                int hh, mm;
                if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
                        return -EINVAL;
                offset = (*p == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
                p += 6;
        }
        if (*p)
                return -EINVAL;
        time_t t = timegm(&tm);
        if (t == (time_t) -1 || t < 0 || t > 9000000000LL)    /* 1970 .. 2255: ns fit in int64 */
                return -EINVAL;
        *ret = ((int64_t) t - offset) * 1000000000LL + frac;
        return 0;
}

int events_parse_time(const char *s, int64_t now_ns, int64_t *ret, KError **err) {
        char *end = NULL;
        errno = 0;
        long long sec = strtoll(s, &end, 10);
        if (*s && end != s && !errno && (!*end || *end == '.') && !strchr(s, '-') && sec >= 0 &&
            sec < INT64_MAX / 1000000000LL) {
                int64_t frac = 0, scale = 100000000;
                const char *p = end;
                if (*p == '.')
                        for (p++; *p >= '0' && *p <= '9' && scale > 0; p++, scale /= 10)
                                frac += (*p - '0') * scale;
                if (!*p) {
                        *ret = (int64_t) sec * 1000000000LL + frac;
                        return 0;
                }
        }
        int64_t d;
        if (parse_duration_ns(s, &d) == 0) {
                *ret = now_ns - d;
                return 0;
        }
        if (parse_rfc3339(s, ret) == 0)
                return 0;
        return kerr_msg(err, KERR_USAGE, -EINVAL,
                        "invalid time \"%s\": use unix seconds, RFC 3339 (2026-12-07T03:10:00Z) or a duration (10m, 1h30m)", s);
}

/* --- reading --- */

char *events_format_line(const json_t *ev) {
        int64_t ns = (int64_t) json_integer_value(json_object_get(ev, "timeNano"));
        time_t t = (time_t) (ns / 1000000000);
        struct tm tm;
        char when[32];
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        const json_t *actor = json_object_get(ev, "Actor");
        const json_t *attrs = json_object_get(actor, "Attributes");
        /* attributes sorted by key, as docker prints them */
        const char **keys = calloc(json_object_size(attrs) + 1, sizeof(char *));
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *) attrs, k, v) if (keys) keys[n++] = k;
        for (size_t i = 1; keys && i < n; i++)
                for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                        const char *tmp = keys[j];
                        keys[j] = keys[j - 1];
                        keys[j - 1] = tmp;
                }
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
                free(keys);
                return NULL;
        }
        fprintf(f, "%s.%09lldZ %s %s %s", when, (long long) (ns % 1000000000), ev_str(ev, "Type"), ev_str(ev, "Action"),
                ev_str(actor, "ID"));
        for (size_t i = 0; keys && i < n; i++)
                fprintf(f, "%s%s=%s", i ? ", " : " (", keys[i], json_string_value(json_object_get(attrs, keys[i])) ?: "");
        if (n)
                fputc(')', f);
        fclose(f);
        free(keys);
        return buf;
}

typedef struct Reader {
        const EventQuery *q;
        EventCallback cb;
        void *userdata;
        char *pending;          /* a line not complete yet (a writer mid-way) */
        size_t n_pending;
} Reader;

/* Feed complete lines of what `fd` has from its current offset. Returns the callback's verdict. */
#define READ_CHUNK 65536

static int reader_feed(Reader *rd, int fd) {
        /* on the heap: a caller may read on a small thread stack (kapseld's streams) */
        _cleanup_free_ char *buf = malloc(READ_CHUNK);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf, READ_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return 0;
                char *grown = realloc(rd->pending, rd->n_pending + (size_t) n + 1);
                if (!grown)
                        return -ENOMEM;
                rd->pending = grown;
                memcpy(rd->pending + rd->n_pending, buf, (size_t) n);
                rd->n_pending += (size_t) n;
                char *start = rd->pending, *nl;
                while ((nl = memchr(start, '\n', rd->n_pending - (size_t) (start - rd->pending)))) {
                        *nl = 0;
                        json_t *ev = json_loads(start, 0, NULL);
                        start = nl + 1;
                        if (!ev)
                                continue;       /* a damaged line: skip it */
                        int64_t t = (int64_t) json_integer_value(json_object_get(ev, "timeNano"));
                        int r = 0;
                        bool in_range = (!rd->q->since || t >= rd->q->since) && (!rd->q->until || t <= rd->q->until);
                        if (in_range && event_filter_match(rd->q->filter, ev))
                                r = rd->cb(ev, rd->userdata);
                        json_decref(ev);
                        if (r != 0)
                                return r;
                }
                rd->n_pending -= (size_t) (start - rd->pending);
                memmove(rd->pending, start, rd->n_pending);
        }
}

static int open_journal(const char *path, ino_t *ret_ino) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        *ret_ino = 0;
        if (fd >= 0 && fstat(fd, &st) == 0)
                *ret_ino = st.st_ino;
        return fd;
}

int events_read(const char *root, const EventQuery *q, EventCallback cb, void *userdata, KError **err) {
        _cleanup_free_ char *path = NULL, *old = NULL;
        if (asprintf(&path, "%s/" EVENTS_FILE, root) < 0 || asprintf(&old, "%s/" EVENTS_FILE ".1", root) < 0)
                return kerr(err, -ENOMEM, "events");
        Reader rd = { .q = q, .cb = cb, .userdata = userdata };
        int r = 0;
        ino_t ino = 0;
        _cleanup_close_ int fd = -EBADF;
        if (q->history) {
                _cleanup_close_ int ofd = open(old, O_RDONLY | O_CLOEXEC);
                if (ofd >= 0)
                        r = reader_feed(&rd, ofd);
                rd.n_pending = 0;
                fd = open_journal(path, &ino);
                if (r == 0 && fd >= 0)
                        r = reader_feed(&rd, fd);
        } else if ((fd = open_journal(path, &ino)) >= 0)
                (void) lseek(fd, 0, SEEK_END);
        while (r == 0 && q->follow && !(q->stop && *q->stop)) {
                if (q->until && now_realtime_ns() > q->until)
                        break;
                (void) poll(NULL, 0, q->poll_ms > 0 ? q->poll_ms : 200);
                struct stat st;
                if (stat(path, &st) == 0 && st.st_ino != ino) {
                        /* rotated (or created): finish the old file, then read the new one from its start */
                        if (fd >= 0 && (r = reader_feed(&rd, fd)) != 0)
                                break;
                        safe_close(fd);
                        rd.n_pending = 0;
                        fd = open_journal(path, &ino);
                }
                if (fd >= 0)
                        r = reader_feed(&rd, fd);
        }
        free(rd.pending);
        return r < 0 && r != -ENOMEM ? r : r == -ENOMEM ? kerr(err, r, "events") : r;
}
