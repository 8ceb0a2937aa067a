/* SPDX-License-Identifier: Apache-2.0 */
/* The stream protocol between a container's monitor and the clients attached to it (`run` in the
 * foreground, `attach`, `start -a`), over the unix socket containers/<id>/attach.sock. Each frame
 * is a 5-byte header (type, big-endian payload length) and the payload:
 *
 *   STDIN    client -> monitor   bytes for the container's stdin (or pty)
 *   STDOUT   monitor -> client   container output (everything, on a tty)
 *   STDERR   monitor -> client
 *   EXIT     monitor -> client   4-byte big-endian exit code (128+N for signal N); the last frame
 *   RESIZE   client -> monitor   rows, cols (2 bytes each, big-endian)
 *   CLOSE_STDIN client -> monitor  the client's stdin ended
 *   START    client -> monitor   the first client of a foreground run is ready: start the process
 *   HELLO    client -> monitor   (no payload) an attach client: from now on, send me the output
 *
 * A connection gets output only after its first frame: EXEC and TOP (vm-agent.h) open a stream to
 * an --isolation=vm guest's agent instead, which must not see the container's output. An attach
 * client starts with HELLO (or START, RESIZE, STDIN: any frame that is not EXEC or TOP).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
        ATTACH_STDIN = 0,
        ATTACH_STDOUT = 1,
        ATTACH_STDERR = 2,
        ATTACH_EXIT = 3,
        ATTACH_RESIZE = 4,
        ATTACH_CLOSE_STDIN = 5,
        ATTACH_START = 6,
        ATTACH_HELLO = 13,      /* 7-12: the guest agent's (vm-agent.h) */
};

#define ATTACH_MAX_PAYLOAD (64 * 1024)
#define ATTACH_HEADER 5         /* type, big-endian payload length */

int attach_send(int fd, uint8_t type, const void *data, uint32_t len);

/* Frames for one peer that the monitor must not block on: queued, sent as the socket takes them.
 * buf[0..sent) went out (the last of it may be part of a frame); attach_queue_consume() drops it. */
typedef struct AttachQueue {
        uint8_t *buf;
        size_t len, sent;
} AttachQueue;

/* Append one frame; -ENOMEM. */
int attach_queue_frame(AttachQueue *q, uint8_t type, const void *data, uint32_t len);
/* Append `hlen` header bytes and `len` payload bytes as they are (another framing); -ENOMEM. */
int attach_queue_raw(AttachQueue *q, const void *header, size_t hlen, const void *data, size_t len);
/* Send what `fd` takes now (MSG_DONTWAIT), or, with `wait`, all of it: 0, or -errno when the
 * peer is gone. */
int attach_queue_send(AttachQueue *q, int fd, bool wait);
/* Drop the first `n` bytes (n <= sent). */
void attach_queue_consume(AttachQueue *q, size_t n);
static inline size_t attach_queue_pending(const AttachQueue *q) {
        return q->len - q->sent;
}
void attach_queue_done(AttachQueue *q);
/* Read one frame into buf (ATTACH_MAX_PAYLOAD bytes); 0 on EOF, 1 on a frame, -errno on error or
 * an oversized frame. */
int attach_recv(int fd, uint8_t *ret_type, void *buf, uint32_t *ret_len);

/* Connect to a monitor's socket. The socket path may exceed sun_path (deep temp roots), so the
 * directory is opened first and the socket named through /proc/self/fd/N/. */
int attach_connect(const char *ctr_dir);
/* Bind + listen on ctr_dir/attach.sock (replacing a stale one). */
int attach_listen(const char *ctr_dir);
