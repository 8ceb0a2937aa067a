/* SPDX-License-Identifier: Apache-2.0 */
/* The monitor's relay between `kapsel exec` clients and the guest agent of an --isolation=vm
 * container (protocol: vm-agent.h). Each client that sent an EXEC frame on attach.sock becomes a
 * stream: its frames go to the agent tagged with the stream id, the agent's frames for that id come
 * back to it alone, and EXIT ends it. Everything the agent sends is untrusted (the guest writes it):
 * a frame breaking the protocol ends the channel, and every client gets an error.
 *
 * Nothing here blocks on a client: output for a client that does not read waits in its stream's
 * queue (bounded by the agent's window, vm-agent.h), and the relay acknowledges output only once
 * the kernel took it, so the guest stops reading that process's output; a client whose stdin the
 * process does not take stops being read (EPOLLIN off) until the agent acknowledges. The relay
 * owns its clients' epoll registration (in `epfd`) and sets EPOLLIN/EPOLLOUT as that requires. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vm-agent.h"

#define EXEC_RELAY_MAX_STREAMS 64
/* A stream's queue for its client: what a guest within its window can make us hold (every frame at
 * least 1 payload byte behind a 5-byte header), plus STARTED and EXIT. More is a protocol error. */
#define EXEC_RELAY_QUEUE_MAX (6 * (VM_AGENT_WINDOW + VM_AGENT_MAX_PAYLOAD) + 64)

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
        VmAgentReader *reader;
        bool broken;            /* the agent broke the protocol in the frames being fed */
        ExecStream streams[EXEC_RELAY_MAX_STREAMS];
        size_t n_streams;
        uint32_t next_id;
} ExecRelay;

#define EXEC_RELAY_INIT { .agent_fd = -1, .epfd = -1 }

/* Take over `agent_fd` (the VM was just prepared; closed on failure too). Any previous channel is
 * ended first. */
int exec_relay_start(ExecRelay *x, int agent_fd);
/* Is `fd` an exec client of this relay? */
bool exec_relay_owns(const ExecRelay *x, int fd);
/* A client sent a request that opens a stream (`type` EXEC with the request JSON, or TOP): it
 * becomes a stream and the request goes to the agent. On failure the client gets "kapsel: <why>" on
 * stderr and EXIT 125, and is closed. Either way the client fd belongs to the relay now. */
void exec_relay_open(ExecRelay *x, int client, uint8_t type, const void *req, uint32_t len);
/* epoll `events` on an exec client: queued output goes out (EPOLLOUT); a frame from the client is
 * forwarded (EPOLLIN), or the stream is ended (EOF, a hangup: the client went away, the process
 * keeps running without stdin and its output is discarded in the guest). */
void exec_relay_client_event(ExecRelay *x, int client, uint32_t events);
/* The agent's socket is readable: route what arrived. */
void exec_relay_agent_input(ExecRelay *x);
/* The VM ended (or is ending): every stream gets `message` on stderr (if any) and EXIT `code`, the
 * channel is closed. Idempotent. */
void exec_relay_end(ExecRelay *x, int code, const char *message);
/* exec_relay_end() and free the reader. */
void exec_relay_done(ExecRelay *x);
