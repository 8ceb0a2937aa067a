/* SPDX-License-Identifier: Apache-2.0 */
/* The web console's WebSocket frame parser (src/daemon/websocket.c) over arbitrary client bytes:
 * frames are taken one after another until one is incomplete or breaks the protocol; every frame
 * returned must lie inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        unsigned char *buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        size_t off = 0;
        for (;;) {
                WsFrame f;
                ssize_t n = websocket_frame(buf + off, size - off, &f);
                if (n <= 0)
                        break;
                if ((size_t) n > size - off || f.data < buf + off || f.data + f.len > buf + off + (size_t) n)
                        abort();
                off += (size_t) n;
        }
        free(buf);
        return 0;
}
