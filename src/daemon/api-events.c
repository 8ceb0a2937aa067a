/* SPDX-License-Identifier: Apache-2.0 */
/* GET /events: the engine's event journal (events_read) as docker's stream of JSON lines, with
 * since, until and filters. Without until (or with one in the future) the stream follows new events
 * until the client goes away. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "events.h"
#include "fd-util.h"
#include "json-util.h"

typedef struct EventsJob {
        char *root;
        EventFilter filter;
        EventQuery q;
        volatile int stop;      /* set by the watcher when the client has gone */
        volatile int done;      /* set when the reading ended: the watcher ends too */
        int fd;
} EventsJob;

static void events_job_free(void *p) {
        EventsJob *j = p;
        event_filter_done(&j->filter);
        free(j->root);
        free(j);
}

/* A follow with no new events never writes, so a closed client is noticed here, not by write(2). */
static void *watch_peer(void *arg) {
        EventsJob *j = arg;
        while (!j->done) {
                struct pollfd p = { .fd = j->fd, .events = 0 };
                if (poll(&p, 1, 200) > 0 && (p.revents & (POLLERR | POLLHUP))) {
                        j->stop = 1;
                        break;
                }
        }
        return NULL;
}

static int send_event(const json_t *ev, void *userdata) {
        EventsJob *j = userdata;
        _cleanup_free_ char *line = json_dumps(ev, JSON_COMPACT);
        if (!line)
                return -ENOMEM;
        size_t len = strlen(line);
        line[len] = '\n';       /* json_dumps's NUL: the line's end on the wire */
        return write_all(j->fd, line, len + 1);
}

static void events_run(int fd, void *data) {
        EventsJob *j = data;
        j->fd = fd;
        pthread_t w;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        bool watching = j->q.follow && pthread_create(&w, &attr, watch_peer, j) == 0;
        pthread_attr_destroy(&attr);
        (void) events_read(j->root, &j->q, send_event, j, NULL);
        j->done = 1;
        if (watching)
                pthread_join(w, NULL);
}

/* docker's filters={"type":["container"],"event":["start"]} (or {"type":{"container":true}}). */
static int add_filters(EventFilter *f, const char *q, KError **err) {
        _cleanup_json_ json_t *filters = json_loads(q, 0, NULL);
        if (!json_is_object(filters))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "filters: expected a JSON object like {\"type\":[\"container\"]}");
        const char *key, *name;
        json_t *values, *v;
        size_t i;
        json_object_foreach(filters, key, values) {
                json_t *list = json_array();
                if (json_is_array(values))
                        json_array_foreach(values, i, v) json_array_append(list, v);
                else if (json_is_object(values))
                        json_object_foreach(values, name, v) if (json_is_true(v)) json_array_append_new(list, json_string(name));
                int r = 0;
                json_array_foreach(list, i, v) {
                        _cleanup_free_ char *spec = NULL;
                        if (!json_is_string(v))
                                continue;
                        if (asprintf(&spec, "%s=%s", key, json_string_value(v)) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        if ((r = event_filter_add(f, spec, err)) < 0)
                                break;
                }
                json_decref(list);
                if (r < 0)
                        return r;
        }
        return 0;
}

int api_events(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        int r = api_engine(rq, &e, err);
        if (r < 0)
                return r;
        EventsJob *j = calloc(1, sizeof(*j));
        if (!j || !(j->root = strdup(e->root))) {
                free(j);
                return -ENOMEM;
        }
        int64_t now = engine_now();
        const char *since = api_query(rq, "since"), *until = api_query(rq, "until"), *f = api_query(rq, "filters");
        j->q.filter = &j->filter;
        if (since && *since && (r = events_parse_time(since, now, &j->q.since, err)) >= 0)
                j->q.history = true;
        if (r >= 0 && until && *until && (r = events_parse_time(until, now, &j->q.until, err)) >= 0)
                j->q.history = true;
        if (r >= 0 && f && *f)
                r = add_filters(&j->filter, f, err);
        if (r < 0) {
                events_job_free(j);
                return r;
        }
        /* as docker: an until in the past gives the history and ends the stream */
        j->q.follow = !j->q.until || j->q.until > now;
        j->q.stop = &j->stop;
        return api_stream(rs, "application/json", events_run, j, events_job_free, err);
}
