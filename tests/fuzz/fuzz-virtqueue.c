/* SPDX-License-Identifier: Apache-2.0 */
/* Pop every chain a guest-controlled ring offers, push it back, ask about notification: whatever
 * the rings hold, this must neither crash nor loop, and every buffer must lie inside guest RAM. */
#include <stdio.h>

#include "fuzz-virtio-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside_ram(const FuzzQueue *f, const VirtqElem *e) {
        for (unsigned i = 0; i < e->n_out + e->n_in; i++) {
                const uint8_t *p = e->iov[i].iov_base;
                if (p < f->ram || e->iov[i].iov_len > FUZZ_RAM || p + e->iov[i].iov_len > f->ram + FUZZ_RAM) {
                        fprintf(stderr, "buffer outside guest RAM\n");
                        abort();
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzQueue f;
        if (fuzz_queue_init(&f, data, size) < 0)
                return 0;
        static VirtqElem elem;
        /* a ring never holds more than size chains: one more pop must find it empty or broken */
        for (unsigned i = 0; i <= f.vq.size; i++) {
                int r = virtq_pop(&f.vq, &elem);
                if (r <= 0)
                        break;
                if (elem.n_out + elem.n_in > VIRTQ_MAX_IOV)
                        abort();
                check_inside_ram(&f, &elem);
                virtq_push(&f.vq, &elem, (uint32_t) iov_length(elem.iov + elem.n_out, elem.n_in));
                (void) virtq_should_notify(&f.vq);
                if (i == f.vq.size)
                        abort();
        }
        fuzz_queue_done(&f);
        return 0;
}
