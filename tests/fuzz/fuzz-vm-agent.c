/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the guest agent channel (vm-agent.h) as the host reads it: whatever a guest writes on hvc1
 * goes through vm_agent_feed() in chunks (the first byte picks the chunk size), and every frame it
 * delivers must respect the header's bounds. The same input is also tried as an EXEC request. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vm-agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_frame(void *userdata, uint8_t type, uint32_t stream, const uint8_t *payload, uint32_t len) {
        (void) type;
        (void) payload;
        size_t *frames = userdata;
        if (stream == 0 || len > VM_AGENT_MAX_PAYLOAD)
                abort();
        (*frames)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static VmAgentReader r;
        if (size == 0)
                return 0;
        size_t chunk = (size_t) data[0] % 32 + 1, frames = 0;
        r.have = 0;
        r.broken = false;
        for (size_t off = 1; off < size; off += chunk) {
                size_t n = size - off < chunk ? size - off : chunk;
                if (vm_agent_feed(&r, data + off, n, check_frame, &frames) < 0 && !r.broken)
                        abort();
                if (r.have > sizeof(r.buf))
                        abort();
        }
        VmAgentExec x;
        if (vm_agent_exec_parse(data, size, &x, NULL) >= 0) {
                if (!x.args || !x.args[0] || x.n_gids > VM_AGENT_MAX_GIDS)
                        abort();
                vm_agent_exec_done(&x);
        }
        return 0;
}
