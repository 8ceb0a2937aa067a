/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the target side of a live migration stream (src/vmm/migration.c, mig_receive_stream): the
 * input is what a source (untrusted: anyone who can reach the --incoming address) sends, fed
 * through a socketpair. Hello, token, RAM size, page runs and the state record must be checked
 * before use: nothing may write outside the fake RAM, crash or hang. The state goes to the strict
 * state reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE (1u << 20)

static int load_state(void *opaque, const uint8_t *buf, size_t len, KError **err) {
        StateReader r;
        int k = state_reader_parse(&r, buf, len, err);
        if (k >= 0)
                state_reader_done(&r);
        return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int sv[2];
        if (size > 64 * 1024 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return 0;
        int buf = 4 * 1024 * 1024;
        (void) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
        if (write(sv[0], data, size) != (ssize_t) size) {
                close(sv[0]);
                close(sv[1]);
                return 0;
        }
        shutdown(sv[0], SHUT_WR);       /* the source goes quiet: reads end, never block */
        uint8_t *ram = calloc(1, RAM_SIZE);
        if (!ram)
                abort();
        MigTarget t = { .token = "fuzz-token", .ram = ram, .ram_size = RAM_SIZE, .n_vcpus = 1,
                        .load_state = load_state };
        KError *e = NULL;
        if (mig_receive_stream(&t, sv[1], &e) < 0 && (!e || !e->msg[0]))
                abort();        /* a refusal always says why */
        kerr_free(e);
        free(ram);
        close(sv[0]);
        close(sv[1]);
        return 0;
}
