/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exec-relay.h"
#include "fd-util.h"
#include "log.h"

static ExecStream *by_client(ExecRelay *x, int fd) {
        for (size_t i = 0; i < x->n_streams; i++)
                if (x->streams[i].client == fd)
                        return &x->streams[i];
        return NULL;
}

static ExecStream *by_id(ExecRelay *x, uint32_t id) {
        for (size_t i = 0; i < x->n_streams; i++)
                if (x->streams[i].id == id)
                        return &x->streams[i];
        return NULL;
}

bool exec_relay_owns(const ExecRelay *x, int fd) {
        return by_client((ExecRelay *) x, fd) != NULL;
}

/* Hang up on the client and forget the stream. (Out of the epoll first: a forked child that still
 * holds a copy of the fd would keep it registered past the close.) */
static void stream_close(ExecRelay *x, ExecStream *s) {
        if (x->epfd >= 0)
                (void) epoll_ctl(x->epfd, EPOLL_CTL_DEL, s->client, NULL);
        safe_close(s->client);
        attach_queue_done(&s->out);
        *s = x->streams[--x->n_streams];
}

/* Register the client for what the stream needs now: its frames while the agent's stdin window is
 * open (and EXIT has not come), EPOLLOUT while output waits. */
static void stream_watch(ExecRelay *x, ExecStream *s) {
        uint32_t want = (s->stdin_unacked < VM_AGENT_WINDOW && !s->exited ? EPOLLIN : 0) |
                        (attach_queue_pending(&s->out) ? EPOLLOUT : 0);
        if (x->epfd < 0 || want == s->events)
                return;
        struct epoll_event ev = { .events = want, .data.fd = s->client };
        if (epoll_ctl(x->epfd, EPOLL_CTL_MOD, s->client, &ev) == 0)
                s->events = want;
}

/* Send what the agent's socket takes now; EPOLLOUT while frames wait. */
static void agent_flush(ExecRelay *x) {
        if (x->agent_fd < 0)
                return;
        if (attach_queue_send(&x->to_agent, x->agent_fd, false) < 0)
                return;         /* kapsel-vmm is gone: the EOF that follows ends the channel */
        attach_queue_consume(&x->to_agent, x->to_agent.sent);
        uint32_t want = EPOLLIN | (attach_queue_pending(&x->to_agent) ? EPOLLOUT : 0);
        struct epoll_event ev = { .events = want, .data.fd = x->agent_fd };
        if (x->epfd >= 0 && want != x->agent_events && epoll_ctl(x->epfd, EPOLL_CTL_MOD, x->agent_fd, &ev) == 0)
                x->agent_events = want;
}

/* A frame for the agent: queued and sent as its socket takes it, so that the monitor never waits
 * on the guest (which may stop reading hvc1 at any time). */
static void agent_send(ExecRelay *x, uint8_t type, uint32_t id, const void *data, uint32_t len) {
        uint8_t h[VM_AGENT_HEADER];
        if (x->agent_fd < 0 || x->deaf)
                return;
        if (x->to_agent.len + sizeof(h) + len > EXEC_RELAY_AGENT_QUEUE_MAX) {
                x->deaf = true;
                return;
        }
        vm_agent_header(h, type, id, len);
        if (attach_queue_raw(&x->to_agent, h, sizeof(h), data, len) < 0) {
                x->deaf = true;
                return;
        }
        agent_flush(x);
}

static void send_u32(ExecRelay *x, uint8_t type, uint32_t id, uint32_t v) {
        uint8_t b[4];
        vm_agent_put_u32(b, v);
        agent_send(x, type, id, b, sizeof(b));
}

/* The client went away: the agent forgets the stream (the process keeps running, its output is
 * discarded in the guest), and so do we. */
static void stream_gone(ExecRelay *x, ExecStream *s) {
        if (!s->exited)
                agent_send(x, ATTACH_GONE, s->id, NULL, 0);
        stream_close(x, s);
}

/* After an entry point: a channel the guest broke, or stopped reading, ends here (never inside a
 * callback that still walks the streams). */
static void channel_check(ExecRelay *x) {
        if (x->agent_fd < 0)
                return;         /* ended already (the flags stay until the next start) */
        if (x->broken) {
                log_error("exec: the guest agent broke the protocol; closing its channel");
                exec_relay_end(x, 125, "kapsel: exec: the guest agent broke the protocol\n");
        } else if (x->deaf) {
                log_error("exec: the guest agent stopped reading its channel; closing it");
                exec_relay_end(x, 125, "kapsel: exec: the guest agent stopped reading its channel\n");
        }
}

/* Output payload bytes in the whole frames the client has (of those sent): what the agent may send
 * again. Returns where the first frame not wholly sent starts. */
static size_t frames_sent(const AttachQueue *q, uint32_t *ret_payload) {
        size_t off = 0;
        uint32_t payload = 0;
        while (off + ATTACH_HEADER <= q->sent) {
                const uint8_t *h = q->buf + off;
                uint32_t len = vm_agent_get_u32(h + 1);
                if (off + ATTACH_HEADER + len > q->sent)
                        break;
                if (h[0] == ATTACH_STDOUT || h[0] == ATTACH_STDERR)
                        payload += len;
                off += ATTACH_HEADER + len;
        }
        *ret_payload = payload;
        return off;
}

/* Send what the client takes now, acknowledge it to the agent, and drop it from the queue. The
 * stream ends when its EXIT went out, or when the client is gone; false then. */
static bool stream_flush(ExecRelay *x, ExecStream *s) {
        if (attach_queue_send(&s->out, s->client, false) < 0) {
                stream_gone(x, s);
                return false;
        }
        uint32_t acked;
        attach_queue_consume(&s->out, frames_sent(&s->out, &acked));
        if (acked > 0 && !s->exited)
                send_u32(x, ATTACH_ACK, s->id, acked);
        if (s->out.len == 0 && s->exited) {
                stream_close(x, s);
                return false;
        }
        stream_watch(x, s);
        return true;
}

/* Queue one attach frame for the client and send what it takes. */
static bool stream_queue(ExecRelay *x, ExecStream *s, uint8_t type, const void *data, uint32_t len) {
        if (s->out.len + ATTACH_HEADER + len > EXEC_RELAY_QUEUE_MAX) {
                x->broken = true;       /* the guest ignores the window */
                return false;
        }
        if (attach_queue_frame(&s->out, type, data, len) < 0) {
                stream_gone(x, s);
                return false;
        }
        return stream_flush(x, s);
}

static void client_exit(int client, int code, const char *message) {
        if (message)
                (void) attach_send(client, ATTACH_STDERR, message, (uint32_t) strlen(message));
        uint8_t b[4];
        vm_agent_put_u32(b, (uint32_t) code);
        (void) attach_send(client, ATTACH_EXIT, b, 4);
}

int exec_relay_start(ExecRelay *x, int agent_fd) {
        exec_relay_end(x, 137, NULL);
        if (!x->reader && !(x->reader = calloc(1, sizeof(*x->reader)))) {
                safe_close(agent_fd);
                return -ENOMEM;
        }
        memset(x->reader, 0, sizeof(*x->reader));
        x->agent_fd = agent_fd;
        x->agent_events = EPOLLIN;
        x->broken = x->deaf = false;
        return 0;
}

/* Stream ids are never 0 and never one in use; they wrap after 2^32 execs. */
static uint32_t new_id(ExecRelay *x) {
        do
                x->next_id = x->next_id + 1 ?: 1;
        while (by_id(x, x->next_id));
        return x->next_id;
}

void exec_relay_open(ExecRelay *x, int client, uint8_t type, const void *req, uint32_t len) {
        const char *why = x->agent_fd < 0 ? "kapsel: exec: the container's VM has no agent channel (is it running?)\n"
                          : x->n_streams == EXEC_RELAY_MAX_STREAMS ? "kapsel: exec: too many exec sessions at once\n"
                                                                   : NULL;
        if (why) {
                client_exit(client, 125, why);
                safe_close(client);
                return;
        }
        ExecStream *s = &x->streams[x->n_streams++];
        *s = (ExecStream) { .id = new_id(x), .client = client, .events = EPOLLIN };
        agent_send(x, type, s->id, req, len);
        channel_check(x);
}

/* Frames a client may send on an exec stream; anything else is dropped. */
static bool client_frame_ok(uint8_t type) {
        return type == ATTACH_STDIN || type == ATTACH_CLOSE_STDIN || type == ATTACH_RESIZE || type == ATTACH_SIGNAL;
}

/* One frame from the client (blocking: a client writes whole frames at once). */
static void client_read(ExecRelay *x, ExecStream *s) {
        static uint8_t buf[ATTACH_MAX_PAYLOAD];
        uint8_t type;
        uint32_t len;
        if (attach_recv(s->client, &type, buf, &len) <= 0) {
                stream_gone(x, s);
                return;
        }
        if (!client_frame_ok(type) || x->agent_fd < 0)
                return;
        agent_send(x, type, s->id, buf, len);
        if (type == ATTACH_STDIN) {
                s->stdin_unacked += len;
                stream_watch(x, s);
        }
}

static void client_event(ExecRelay *x, ExecStream *s, uint32_t events) {
        if ((events & EPOLLOUT) && !stream_flush(x, s))
                return;
        if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return;
        if (s->events & EPOLLIN)
                client_read(x, s);
        else if (events & (EPOLLHUP | EPOLLERR))
                stream_gone(x, s);     /* not reading it now, but it is gone */
}

void exec_relay_client_event(ExecRelay *x, int client, uint32_t events) {
        ExecStream *s = by_client(x, client);
        if (s)
                client_event(x, s, events);
        channel_check(x);
}

/* Frames the agent may send: output, STARTED, EXIT (which ends the stream) and ACK. */
static void agent_frame(void *userdata, uint8_t type, uint32_t stream, const uint8_t *data, uint32_t len) {
        ExecRelay *x = userdata;
        ExecStream *s = by_id(x, stream);
        if (!s || s->exited || x->broken)
                return;
        switch (type) {
        case ATTACH_STDOUT:
        case ATTACH_STDERR:
                if (len > 0)
                        (void) stream_queue(x, s, type, data, len);
                break;
        case ATTACH_ACK:
                if (len == 4) {
                        uint32_t n = vm_agent_get_u32(data);
                        s->stdin_unacked -= n < s->stdin_unacked ? n : s->stdin_unacked;
                        stream_watch(x, s);
                }
                break;
        case ATTACH_EXIT:
                if (len == 4) {
                        s->exited = true;
                        (void) stream_queue(x, s, type, data, len);
                }
                break;
        case ATTACH_STARTED:
                if (len == 4)
                        (void) stream_queue(x, s, type, data, len);
                break;
        default:
                break;
        }
}

void exec_relay_agent_input(ExecRelay *x) {
        uint8_t buf[16384];
        for (int rounds = 0; x->agent_fd >= 0 && rounds < 16; rounds++) {
                ssize_t n = recv(x->agent_fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (n <= 0) {
                        exec_relay_end(x, 137, NULL);
                        return;
                }
                if (vm_agent_feed(x->reader, buf, (size_t) n, agent_frame, x) < 0)
                        x->broken = true;
                if (x->broken || x->deaf) {
                        channel_check(x);
                        return;
                }
        }
}

void exec_relay_agent_event(ExecRelay *x, uint32_t events) {
        if (events & EPOLLOUT)
                agent_flush(x);
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                exec_relay_agent_input(x);
        channel_check(x);
}

void exec_relay_end(ExecRelay *x, int code, const char *message) {
        while (x->n_streams > 0) {
                /* what the client takes now, ending with `message` and `code`: the relay cannot wait for
                 * one that stopped reading, which then sees the connection end without an EXIT */
                ExecStream *s = &x->streams[0];
                uint8_t b[4];
                vm_agent_put_u32(b, (uint32_t) code);
                if (!s->exited && message)
                        (void) attach_queue_frame(&s->out, ATTACH_STDERR, message, (uint32_t) strlen(message));
                if (!s->exited)
                        (void) attach_queue_frame(&s->out, ATTACH_EXIT, b, sizeof(b));
                (void) attach_queue_send(&s->out, s->client, false);
                stream_close(x, s);
        }
        x->agent_fd = safe_close(x->agent_fd);
        attach_queue_done(&x->to_agent);
}

void exec_relay_done(ExecRelay *x) {
        exec_relay_end(x, 137, NULL);
        free(x->reader);
        x->reader = NULL;
}
