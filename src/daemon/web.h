/* SPDX-License-Identifier: Apache-2.0 */
/* The web console: kapseld serves a browser front end under /console/ (on its unix socket, and on
 * --web-listen ADDR:PORT with TLS). web.c owns login, sessions and CSRF and serves the bundled
 * files; /console/api/<docker route> runs the same handlers as the socket once the session (and
 * for a state change its CSRF header) checks out. web-stats.c samples the host and the containers'
 * counters for the graphs; websocket.c carries an exec's terminal over RFC 6455. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon.h"

/* Load the login token (created 0600 under the root and printed once on the first start) and find
 * the bundled files. */
int web_init(const DaemonConfig *cfg, KError **err);
/* Is this request the console's? */
bool web_wants(const DaemonConfig *cfg, const char *url);
/* The request's body as server.c read it (opaque here; the socket's handlers take it as it is). */
struct Upload;
const char *server_upload_body(const struct Upload *u, size_t *ret_len);

/* May this console request's body be read (called with the headers only)? Only the login and
 * requests of a live session may send one: a stranger's upload is refused before it is read. */
bool web_may_send_body(struct MHD_Connection *c, const char *url);
enum MHD_Result web_refuse_early(struct MHD_Connection *c);

/* Answer a console request (called with the whole body read). */
enum MHD_Result web_request(const DaemonConfig *cfg, struct MHD_Connection *c, const char *method, const char *url,
                            struct Upload *u);
/* Start the TCP listener of --web-listen (TLS unless loopback) with the socket's request handlers.
 * It lasts as long as the process (which exits when the socket's server returns). */
int web_start(const DaemonConfig *cfg, MHD_AccessHandlerCallback on_request, MHD_RequestCompletedCallback on_completed,
              KError **err);

/* web_start with server.c's request handlers (kapseld calls it before server_run). */
int server_web_start(const DaemonConfig *cfg, KError **err);

/* Run one API request of the socket's (server.c) for the console: url like "/containers/json". */
enum MHD_Result server_api(const DaemonConfig *cfg, struct MHD_Connection *c, const char *method, const char *url,
                           struct Upload *u);

/* Security headers every console response carries (CSP and friends). */
void web_secure_headers(struct MHD_Response *r);

/* GET /console/instances: every container and VM of the root with its kind (NULL and *err on failure). */
json_t *web_instances(const DaemonConfig *cfg, KError **err);

/* GET /console/stats: host numbers and every running container's counters, as JSON. */
json_t *web_stats(const DaemonConfig *cfg);

/* One frame of a WebSocket client (RFC 6455 §5.2), unmasked in place. */
#define WS_MAX_FRAME (1 << 20)
typedef struct WsFrame {
        int opcode;
        const unsigned char *data;
        size_t len;
} WsFrame;
/* The next complete frame at p[0..avail): bytes it takes, 0 when incomplete, -EPROTO when it
 * breaks the protocol (unmasked, too long, a long or fragmented control frame). */
ssize_t websocket_frame(unsigned char *p, size_t avail, WsFrame *ret);

/* GET /console/ws/exec/{id} and /console/ws/attach/{id} with Upgrade: websocket: an exec's pty, or
 * a container's or VM's own stdio (attach; a VM's serial console), over a WebSocket. */
typedef enum WsKind { WS_EXEC, WS_ATTACH } WsKind;
enum MHD_Result websocket_terminal(const DaemonConfig *cfg, struct MHD_Connection *c, WsKind kind, const char *id);
