/* SPDX-License-Identifier: Apache-2.0 */
/* The guest agent channel of `kapsel run --isolation=vm` (issue 7): how `kapsel exec` reaches a
 * process inside the micro-VM. Three hops, one byte stream each way:
 *
 *   kapsel exec  --attach.sock-->  monitor  --socketpair-->  kapsel-vmm --agent-fd  --virtio-console-->
 *   /dev/hvc1 in the guest, read by guest init's agent loop (src/helpers/guest-agent.c)
 *
 * The client speaks the attach protocol (attach.h) to the monitor, starting with an EXEC frame. The
 * monitor gives each exec client a stream id and relays: client frames go to the agent tagged with
 * the id, agent frames for that id go to that client only (not to the container's attach clients).
 * Frame types are the attach protocol's, so relaying never translates payloads.
 *
 * An agent frame is a 9-byte header and the payload:
 *   type (1 byte) | stream (4 bytes, big-endian, never 0) | length (4 bytes, big-endian) | payload
 * length <= VM_AGENT_MAX_PAYLOAD. A header that breaks this is a protocol error: the reader stops
 * (the host drops the channel; everything arriving from the guest is untrusted).
 *
 *   host -> guest   EXEC         JSON request (below); opens the stream
 *                   TOP          (no payload) opens a stream that lists the container's processes in
 *                                the guest: STDOUT rows under proc-util.h's PROC_TOP_HEADER (at most
 *                                VM_AGENT_WINDOW bytes), then EXIT 0
 *                   STDIN        bytes for the process's stdin (or its pty)
 *                   CLOSE_STDIN  the client's stdin ended (a pty gets ^D)
 *                   RESIZE       rows, cols (2 bytes each, big-endian)
 *                   SIGNAL       4-byte big-endian signal number for the process
 *                   ACK          4-byte big-endian count: that many STDOUT/STDERR payload bytes of
 *                                the stream reached its client
 *                   GONE         the client went away: the process keeps running without stdin, its
 *                                output is discarded in the guest, and no EXIT follows
 *   guest -> host   STARTED      4-byte big-endian pid (in the guest): the process was exec'd
 *                   STDOUT       output (everything, on a pty); never empty
 *                   STDERR
 *                   ACK          4-byte big-endian count: that many STDIN payload bytes were taken
 *                                by the process (or dropped, its stdin being closed)
 *                   EXIT         4-byte big-endian exit code, 128+N for signal N, 126/127 when it
 *                                could not be exec'd (after an STDERR message); the stream's last frame
 *
 * Flow control, per stream and direction, as SSH channels do it: a sender keeps at most
 * VM_AGENT_WINDOW payload bytes unacknowledged. Past that it stops reading its source (the
 * process's stdout and stderr in the guest; the client's socket in the monitor) until ACKs come, so
 * a client that stops reading, or a process that stops reading its stdin, stalls its own stream and
 * nothing else: no side blocks on, or drops, another stream's data. One frame may overshoot the
 * window (a sender checks before it reads), so a receiver holds at most VM_AGENT_WINDOW +
 * VM_AGENT_MAX_PAYLOAD payload bytes per stream.
 *
 * A detached exec (-d) gets STARTED (or STDERR + EXIT) and no more frames: its stdio is /dev/null.
 * Frames for a stream the receiver does not know are dropped (one that ended, or a client gone).
 *
 * EXEC request, JSON:
 *   {"args": ["sh", "-c", "..."],                 required, non-empty, strings
 *    "env": ["K=V", ...],                         added to (overriding) the container's env
 *    "cwd": "/work",                              absolute; default: the container's cwd
 *    "user": {"uid": 0, "gid": 0, "additionalGids": [..]},   default: the container's user
 *    "tty": false, "detach": false}
 * The host resolves user names against the image (the guest has no NSS). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attach.h"
#include "error.h"

enum {
        ATTACH_EXEC = 7,        /* client -> monitor -> agent: the request, opens an exec stream */
        ATTACH_SIGNAL = 8,      /* client -> monitor -> agent: signal the exec'd process */
        ATTACH_STARTED = 9,     /* agent -> monitor -> client: the exec'd process's pid */
        ATTACH_ACK = 10,        /* monitor <-> agent: payload bytes delivered (flow control) */
        ATTACH_GONE = 11,       /* monitor -> agent: the stream's client went away */
        ATTACH_TOP = 12,        /* client -> monitor -> agent: list the guest's processes */
};

#define VM_AGENT_WINDOW (256 * 1024)

#define VM_AGENT_HEADER 9
#define VM_AGENT_MAX_PAYLOAD ATTACH_MAX_PAYLOAD
#define VM_AGENT_DEVICE "/dev/hvc1"
#define VM_AGENT_MAX_ARGS 4096
#define VM_AGENT_MAX_GIDS 64

/* Build a header for a frame of `len` payload bytes. */
void vm_agent_header(uint8_t h[VM_AGENT_HEADER], uint8_t type, uint32_t stream, uint32_t len);

/* Send one frame, all of it, on a blocking fd (or waiting for a non-blocking one to drain).
 * Returns 0 or -errno. */
int vm_agent_send(int fd, uint8_t type, uint32_t stream, const void *data, uint32_t len);

/* Incremental reader: bytes in (as they come, any split), whole frames out. */
typedef struct VmAgentReader {
        uint8_t buf[VM_AGENT_HEADER + VM_AGENT_MAX_PAYLOAD];
        size_t have;
        bool broken;            /* a bad header was seen: nothing more is accepted */
} VmAgentReader;

typedef void (*VmAgentFrameFn)(void *userdata, uint8_t type, uint32_t stream, const uint8_t *data, uint32_t len);

/* Feed `len` bytes; calls `fn` for each complete frame. Returns 0, or -EPROTO once a header is
 * invalid (stream 0 or length over the maximum): the reader is then broken for good. */
int vm_agent_feed(VmAgentReader *r, const void *data, size_t len, VmAgentFrameFn fn, void *userdata);

/* The EXEC request (see the schema above). Strings are owned by the struct after parsing. */
typedef struct VmAgentExec {
        char **args;            /* NULL-terminated, at least one */
        char **env;             /* NULL-terminated, may be empty */
        char *cwd;              /* NULL: the container's */
        bool has_user;
        uid_t uid;
        gid_t gid;
        gid_t gids[VM_AGENT_MAX_GIDS];
        size_t n_gids;
        bool tty, detach;
} VmAgentExec;

/* Request -> compact JSON text (caller frees). */
int vm_agent_exec_format(const VmAgentExec *x, char **ret, KError **err);
/* JSON text -> request, every field checked; errors say which field is wrong (KERR_USAGE). */
int vm_agent_exec_parse(const void *data, size_t len, VmAgentExec *ret, KError **err);
void vm_agent_exec_done(VmAgentExec *x);

/* A 4-byte big-endian value (EXIT codes, pids, signals). */
void vm_agent_put_u32(uint8_t b[4], uint32_t v);
uint32_t vm_agent_get_u32(const uint8_t b[4]);
