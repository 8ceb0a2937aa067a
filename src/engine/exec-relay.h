/* SPDX-License-Identifier: Apache-2.0 */
/* The monitor's relay between `kapsel exec` clients and the guest agent of an --isolation=vm
 * container (protocol: vm-agent.h). Each client that sent an EXEC frame on attach.sock becomes a
 * stream: its frames go to the agent tagged with the stream id, the agent's frames for that id come
 * back to it alone, and EXIT ends it. Everything the agent sends is untrusted (the guest writes it):
 * a frame breaking the protocol ends the channel, and every client gets an error. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vm-agent.h"

#define EXEC_RELAY_MAX_STREAMS 64

typedef struct ExecStream {
        uint32_t id;
        int client;             /* the exec client's socket (owned) */
} ExecStream;

typedef struct ExecRelay {
        int agent_fd;           /* our end of kapsel-vmm's --agent-fd socketpair, -1: none */
        VmAgentReader *reader;
        ExecStream streams[EXEC_RELAY_MAX_STREAMS];
        size_t n_streams;
        uint32_t next_id;
} ExecRelay;

#define EXEC_RELAY_INIT { .agent_fd = -1 }

/* Take over `agent_fd` (the VM was just prepared; closed on failure too). Any previous channel is
 * ended first. */
int exec_relay_start(ExecRelay *x, int agent_fd);
/* Is `fd` an exec client of this relay? */
bool exec_relay_owns(const ExecRelay *x, int fd);
/* A client sent EXEC with `req` (the request JSON): it becomes a stream and the request goes to the
 * agent. On failure the client gets "kapsel: <why>" on stderr and EXIT 125, and is closed. Either
 * way the client fd belongs to the relay now. */
void exec_relay_open(ExecRelay *x, int client, const void *req, uint32_t len);
/* A frame (or EOF) from an exec client: forwarded, or the stream is ended (the client went away: the
 * process loses its stdin and keeps running, its output is dropped). */
void exec_relay_client_input(ExecRelay *x, int client);
/* The agent's socket is readable: route what arrived. */
void exec_relay_agent_input(ExecRelay *x);
/* The VM ended (or is ending): every stream gets `message` on stderr (if any) and EXIT `code`, the
 * channel is closed. Idempotent. */
void exec_relay_end(ExecRelay *x, int code, const char *message);
/* exec_relay_end() and free the reader. */
void exec_relay_done(ExecRelay *x);
