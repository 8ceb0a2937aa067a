/* SPDX-License-Identifier: Apache-2.0 */
/* The monitor's relay between `kapsel exec` clients and the guest agent of an --isolation=vm
 * container (protocol: vm-agent.h). Each client that sent an EXEC frame on attach.sock becomes a
 * stream: its frames go to the agent tagged with the stream id, the agent's frames for that id come
 * back to it alone, and EXIT ends it. Everything the agent sends is untrusted (the guest writes it):
 * a frame breaking the protocol ends the channel, and every client gets an error.
 *
 * Nothing here waits for a peer to read: output for a client that does not read waits in its
 * stream's queue (bounded by the agent's window, vm-agent.h), and the relay acknowledges output
 * only once the kernel took it, so the guest stops reading that process's output; a client whose
 * stdin the process does not take stops being read (EPOLLIN off) until the agent acknowledges; and
 * frames for a guest that does not read its channel wait in `to_agent` (bounded: past that the
 * channel ends). The relay owns the epoll registration of its clients and of the agent's socket
 * (in `epfd`) and sets EPOLLIN/EPOLLOUT as that requires. A client's frame is read whole once its
 * first byte is there (kapsel's own CLI writes frames whole; the socket is root's). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vm-agent.h"

#define EXEC_RELAY_MAX_STREAMS 64
/* A stream's queue for its client: what a guest within its window can make us hold (every frame at
 * least 1 payload byte behind a 5-byte header), plus STARTED and EXIT. More is a protocol error. */
#define EXEC_RELAY_QUEUE_MAX ((ATTACH_HEADER + 1) * (VM_AGENT_WINDOW + VM_AGENT_MAX_PAYLOAD) + 64)
/* Frames for the agent that the guest has not read yet: every stream's stdin window, and room for
 * the small ones (ACK, SIGNAL, RESIZE, GONE). A guest that lets more pile up has stopped reading its
 * channel, which then ends. */
#define EXEC_RELAY_AGENT_QUEUE_MAX (EXEC_RELAY_MAX_STREAMS * (VM_AGENT_WINDOW + VM_AGENT_MAX_PAYLOAD) + (1 << 20))

typedef struct ExecStream {
        uint32_t id;
        int client;             /* the exec client's socket (owned) */
        AttachQueue out;        /* frames for the client not taken yet */
        uint32_t stdin_unacked; /* STDIN payload bytes sent to the agent, not acknowledged yet */
        uint32_t events;        /* what the client is registered for in epfd */
        bool exited;            /* EXIT is queued: the stream ends once the queue is out */
} ExecStream;

typedef struct ExecRelay {
        int agent_fd;           /* our end of kapsel-vmm's --agent-fd socketpair, -1: none */
        int epfd;               /* the monitor's epoll, where client fds are registered (-1: none) */
        AttachQueue to_agent;   /* frames the agent's socket has not taken yet */
        uint32_t agent_events;  /* what agent_fd is registered for in epfd */
        VmAgentReader *reader;
        bool broken;            /* the agent broke the protocol in the frames being fed */
        bool deaf;              /* the agent stopped reading: to_agent passed its bound */
        ExecStream streams[EXEC_RELAY_MAX_STREAMS];
        size_t n_streams;
        uint32_t next_id;
} ExecRelay;

#define EXEC_RELAY_INIT { .agent_fd = -1, .epfd = -1 }

/* Take over `agent_fd` (the VM was just prepared; closed on failure too), registered in epfd for
 * EPOLLIN by the caller. Any previous channel is ended first. */
int exec_relay_start(ExecRelay *x, int agent_fd);
/* Is `fd` an exec client of this relay? */
bool exec_relay_owns(const ExecRelay *x, int fd);
/* A client (registered in epfd for EPOLLIN, as the monitor's accept does) sent a request that
 * opens a stream (`type` EXEC with the request JSON, or TOP): it becomes a stream and the request
 * goes to the agent. On failure the client gets "kapsel: <why>" on stderr and EXIT 125, and is
 * closed. Either way the client fd belongs to the relay now. */
void exec_relay_open(ExecRelay *x, int client, uint8_t type, const void *req, uint32_t len);
/* epoll `events` on an exec client: queued output goes out (EPOLLOUT); a frame from the client is
 * forwarded (EPOLLIN), or the stream is ended (EOF, a hangup: the client went away, the process
 * keeps running without stdin and its output is discarded in the guest). */
void exec_relay_client_event(ExecRelay *x, int client, uint32_t events);
/* The agent's socket is readable: route what arrived. */
void exec_relay_agent_input(ExecRelay *x);
/* epoll `events` on the agent's socket: queued frames go out (EPOLLOUT), input is routed. */
void exec_relay_agent_event(ExecRelay *x, uint32_t events);
/* The VM ended (or is ending): every stream gets `message` on stderr (if any) and EXIT `code`, the
 * channel is closed. Idempotent. */
void exec_relay_end(ExecRelay *x, int code, const char *message);
/* exec_relay_end() and free the reader. */
void exec_relay_done(ExecRelay *x);
