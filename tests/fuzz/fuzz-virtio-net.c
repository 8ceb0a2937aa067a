/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-net transmit parsing on guest-controlled chains: no crash, and what would go to the tap
 * is exactly a clean 12-byte header plus a frame of sane size taken from the chain. */
#include <stdio.h>

#include "fuzz-virtio-common.h"
#include "virtio/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzQueue f;
        if (fuzz_queue_init(&f, data, size) < 0)
                return 0;
        static VirtqElem elem;
        static VirtioNetTx tx;
        static const uint8_t zero[VIRTIO_NET_HDR_LEN];
        for (unsigned i = 0; i < f.vq.size && virtq_pop(&f.vq, &elem) > 0; i++) {
                if (virtio_net_tx_parse(&elem, &tx) == 0) {
                        if (tx.frame_len < VIRTIO_NET_MIN_FRAME || tx.frame_len > VIRTIO_NET_MAX_FRAME ||
                            iov_length(tx.iov + 1, tx.n_iov - 1) != tx.frame_len || tx.iov[0].iov_base != tx.hdr ||
                            memcmp(tx.hdr, zero, sizeof(zero)) != 0) {
                                fprintf(stderr, "bad transmit plan\n");
                                abort();
                        }
                }
                virtq_push(&f.vq, &elem, 0);
        }
        fuzz_queue_done(&f);
        return 0;
}
