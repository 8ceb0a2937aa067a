/* SPDX-License-Identifier: Apache-2.0 */
/* The event journal: what happened to containers, images, volumes and networks, as docker's event
 * messages, one JSON object a line in root/events.jsonl. Writers append one line with one write(2)
 * under an flock on root/events.lock; past a size bound (1 MiB, $KAPSEL_EVENTS_MAX_BYTES) the file
 * becomes events.jsonl.1 (the previous .1 is dropped), so the journal stays bounded. A reader (the
 * `events` verb, later a daemon's stream) replays with since/until and a filter, and may follow new
 * lines, across rotations.
 *
 * A message: {"Type":"container","Action":"start","Actor":{"ID":..,"Attributes":{"image":..,"name":..}},
 *             "scope":"local","time":<s>,"timeNano":<ns>, "status":..,"id":..,"from":..} (the last three
 *             for containers, as docker's). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* Append an event; `attrs` (may be NULL) is consumed. Failures are not the caller's: an event that
 * cannot be written is dropped (the operation it reports has happened), so this returns nothing. */
void events_emit(const char *root, const char *type, const char *action, const char *id, json_t *attrs);

/* A container's attributes: image, name, and its labels (docker's). New reference. */
json_t *events_ctr_attrs(const char *image, const char *name, const json_t *config);

/* docker's event filters: type=, event= (or action=), container=, image=, volume=, network=, label=
 * (KEY or KEY=VALUE). Values of one key are alternatives; different keys must all match. */
typedef struct EventFilter {
        json_t *by_key;         /* key -> array of values */
} EventFilter;
int event_filter_add(EventFilter *f, const char *spec, KError **err);
bool event_filter_match(const EventFilter *f, const json_t *ev);
void event_filter_done(EventFilter *f);

/* --since/--until as docker takes them: unix seconds[.fraction], RFC 3339 (date, date and time,
 * with Z or an offset), or a Go duration before now ("10m", "1h30m", "45s"). Unix ns in *ret. */
int events_parse_time(const char *s, int64_t now_ns, int64_t *ret, KError **err);

/* Called per matching event; a non-zero return stops the reading (returned by events_read). */
typedef int (*EventCallback)(const json_t *ev, void *userdata);

typedef struct EventQuery {
        bool history;           /* replay what the journal holds from `since` (else only new events) */
        int64_t since, until;   /* unix ns; 0 = unbounded */
        const EventFilter *filter;
        bool follow;            /* after the history, wait for new events until `until` */
        int poll_ms;            /* follow: how often to look (default 200) */
        volatile int *stop;     /* follow: set non-zero (a signal handler) to end the wait */
} EventQuery;

/* Replay the journal under `root` and, with q->follow, go on with new events. */
int events_read(const char *root, const EventQuery *q, EventCallback cb, void *userdata, KError **err);

/* docker's line: "2026-12-07T03:10:11.123456789Z container start ID (image=busybox, name=web)". */
char *events_format_line(const json_t *ev);
