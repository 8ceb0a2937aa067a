/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the monitor's exec relay (exec-relay.h) with what a guest agent may write: the input goes
 * to the relay through its agent socket, in chunks (the first byte picks the chunk size), while two
 * exec streams are open, one of whose clients never reads. Whatever the guest sends, the relay must
 * not block, must keep each stream's queue within EXEC_RELAY_QUEUE_MAX, and (under ASan) must not
 * touch freed memory or leak. Stream ids are 1 and 2, so inputs can address them. */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exec-relay.h"
#include "fd-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(int fd) {
        static uint8_t buf[65536];
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
}

static int open_client(ExecRelay *x) {
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                abort();
        static const char req[] = "{\"args\":[\"x\"]}";
        exec_relay_open(x, sp[0], ATTACH_EXEC, req, sizeof(req) - 1);
        return sp[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        signal(SIGPIPE, SIG_IGN);
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                abort();
        ExecRelay x = EXEC_RELAY_INIT;
        if (exec_relay_start(&x, sp[0]) < 0)
                abort();
        int agent = sp[1];
        int reader = open_client(&x), stalled = open_client(&x);
        drain(agent);
        size_t chunk = (size_t) data[0] % 4096 + 1;
        for (size_t off = 1; off < size && x.agent_fd >= 0; off += chunk) {
                size_t n = size - off < chunk ? size - off : chunk;
                if (write(agent, data + off, n) != (ssize_t) n)
                        abort();
                exec_relay_agent_input(&x);
                for (size_t i = 0; i < x.n_streams; i++)
                        if (x.streams[i].out.len > EXEC_RELAY_QUEUE_MAX || x.streams[i].out.sent > x.streams[i].out.len)
                                abort();
                drain(agent);   /* ACKs */
                drain(reader);
        }
        exec_relay_done(&x);
        safe_close(agent);
        safe_close(reader);
        safe_close(stalled);
        return 0;
}
