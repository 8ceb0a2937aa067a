/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Close the client and forget the stream (closing the fd also takes it out of the monitor's epoll). */
static void stream_close(ExecRelay *x, ExecStream *s) {
        safe_close(s->client);
        *s = x->streams[--x->n_streams];
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
        return 0;
}

/* Stream ids are never 0 and never one in use; they wrap after 2^32 execs. */
static uint32_t new_id(ExecRelay *x) {
        do
                x->next_id = x->next_id + 1 ?: 1;
        while (by_id(x, x->next_id));
        return x->next_id;
}

void exec_relay_open(ExecRelay *x, int client, const void *req, uint32_t len) {
        const char *why = x->agent_fd < 0 ? "kapsel: exec: the container's VM has no agent channel (is it running?)\n"
                          : x->n_streams == EXEC_RELAY_MAX_STREAMS ? "kapsel: exec: too many exec sessions at once\n"
                                                                   : NULL;
        if (why) {
                client_exit(client, 125, why);
                safe_close(client);
                return;
        }
        ExecStream *s = &x->streams[x->n_streams++];
        *s = (ExecStream) { .id = new_id(x), .client = client };
        if (vm_agent_send(x->agent_fd, ATTACH_EXEC, s->id, req, len) < 0) {
                client_exit(client, 125, "kapsel: exec: the guest agent channel failed\n");
                stream_close(x, s);
        }
}

/* Frames a client may send on an exec stream; anything else is dropped. */
static bool client_frame_ok(uint8_t type) {
        return type == ATTACH_STDIN || type == ATTACH_CLOSE_STDIN || type == ATTACH_RESIZE || type == ATTACH_SIGNAL;
}

void exec_relay_client_input(ExecRelay *x, int client) {
        ExecStream *s = by_client(x, client);
        if (!s)
                return;
        static uint8_t buf[ATTACH_MAX_PAYLOAD];
        uint8_t type;
        uint32_t len;
        if (attach_recv(client, &type, buf, &len) <= 0) {
                /* gone: the process loses its stdin; its later frames find no stream and are dropped */
                if (x->agent_fd >= 0)
                        (void) vm_agent_send(x->agent_fd, ATTACH_CLOSE_STDIN, s->id, NULL, 0);
                stream_close(x, s);
                return;
        }
        if (client_frame_ok(type) && x->agent_fd >= 0)
                (void) vm_agent_send(x->agent_fd, type, s->id, buf, len);
}

/* Frames the agent may send; an EXIT ends the stream. */
static void agent_frame(void *userdata, uint8_t type, uint32_t stream, const uint8_t *data, uint32_t len) {
        ExecRelay *x = userdata;
        ExecStream *s = by_id(x, stream);
        bool known = type == ATTACH_STDOUT || type == ATTACH_STDERR || type == ATTACH_STARTED || type == ATTACH_EXIT;
        if (!s || !known || ((type == ATTACH_EXIT || type == ATTACH_STARTED) && len != 4))
                return;
        if (attach_send(s->client, type, data, len) < 0 || type == ATTACH_EXIT)
                stream_close(x, s);
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
                if (vm_agent_feed(x->reader, buf, (size_t) n, agent_frame, x) < 0) {
                        log_error("exec: the guest agent broke the protocol; closing its channel");
                        exec_relay_end(x, 125, "kapsel: exec: the guest agent broke the protocol\n");
                        return;
                }
        }
}

void exec_relay_end(ExecRelay *x, int code, const char *message) {
        while (x->n_streams > 0) {
                client_exit(x->streams[0].client, code, message);
                stream_close(x, &x->streams[0]);
        }
        x->agent_fd = safe_close(x->agent_fd);
}

void exec_relay_done(ExecRelay *x) {
        exec_relay_end(x, 137, NULL);
        free(x->reader);
        x->reader = NULL;
}
