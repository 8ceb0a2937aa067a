/* SPDX-License-Identifier: Apache-2.0 */
/* The control socket: a unix stream socket speaking JSON lines. Each request is one object with a
 * "cmd" ("pause", "resume", "stop", "stats", "balloon" with "pages", "snapshot" with "dir", "migrate" with "to", "token" and optional
 * "max_downtime_ms"); each reply is one object with
 * "ok" (true, plus results; or false with "error"). The protocol part is pure (control_handle_line)
 * and fuzzed; the socket part lives in the VM's event loop.
 *
 * stats replies: state, uptime_ms, vcpus [{index, cpu_time_ns, exits}], exits (totals by reason),
 * memory {guest_bytes}, balloon_pages, and devices: each virtio model's counters, e.g.
 * {"device": "virtio-net", "tx_packets", "tx_bytes", "tx_dropped"}, {"device": "virtio-balloon",
 * "released_pages"}. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "error.h"
#include "event-loop.h"

typedef struct ControlOps {
        int (*pause)(void *opaque);
        int (*resume)(void *opaque);
        int (*stop)(void *opaque);
        /* fill `reply` with statistics */
        int (*stats)(void *opaque, json_t *reply);
        /* set the balloon target in 4 KiB pages; fill `reply` with the current size */
        int (*balloon)(void *opaque, uint32_t pages, json_t *reply);
        /* write a snapshot of the paused VM to the existing directory `dir`; on failure *ret_msg
         * may hold the reason (malloc'ed). Optional: NULL answers "unknown cmd". */
        int (*snapshot)(void *opaque, const char *dir, json_t *reply, char **ret_msg);
        /* start a live migration over `fd`, a connection to the target `to` the client passed with
         * the request (SCM_RIGHTS: the confined VMM opens no connections itself), presenting `token`;
         * the op owns fd. Returns once the copy runs in the background (stats shows its progress).
         * Optional. */
        int (*migrate)(void *opaque, const char *to, const char *token, unsigned max_downtime_ms, int fd,
                       json_t *reply, char **ret_msg);
} ControlOps;

#define CONTROL_MAX_LINE 4096

/* Handle one request line (without the newline); returns the reply line (without newline), malloc'ed. */
char *control_handle_line(const ControlOps *ops, void *opaque, const char *line, size_t len);
/* Same with the fd that came with the request (-1: none); an op that takes it sets *fd to -1. */
char *control_handle_line_fd(const ControlOps *ops, void *opaque, const char *line, size_t len, int *fd);

typedef struct Control Control;
int control_open(const char *path, EventLoop *loop, const ControlOps *ops, void *opaque, Control **ret, KError **err);
/* Client side: send one request line to the socket at `path`, return the reply line (malloc'ed). */
int control_request(const char *path, const char *line, char **ret_reply, KError **err);
/* Same, passing `fd` (>= 0) along with the request (SCM_RIGHTS). */
int control_request_fd(const char *path, const char *line, int fd, char **ret_reply, KError **err);

/* Close every connection and remove the socket file. NULL-safe. */
void control_free(Control *c);
