/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-blk request parsing and execution on guest-controlled chains, against a small in-memory
 * disk: no crash, and every request that may run stays inside the disk. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz-virtio-common.h"
#include "virtio/blk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DISK_SECTORS 64

static int disk_fd(void) {
        static int fd = -1;
        if (fd < 0) {
                fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
                if (fd < 0 || ftruncate(fd, DISK_SECTORS * VIRTIO_BLK_SECTOR_SIZE) < 0)
                        abort();
        }
        return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzQueue f;
        if (fuzz_queue_init(&f, data, size) < 0)
                return 0;
        static VirtqElem elem;
        static VirtioBlkReq req;
        bool readonly = f.param & 1;
        for (unsigned i = 0; i < f.vq.size && virtq_pop(&f.vq, &elem) > 0; i++) {
                if (virtio_blk_parse(&elem, DISK_SECTORS, readonly, &req) < 0)
                        break;
                if (req.status == 0 && (req.type == 0 || req.type == 1) &&
                    (req.offset + req.data_len > DISK_SECTORS * VIRTIO_BLK_SECTOR_SIZE || (readonly && req.type == 1))) {
                        fprintf(stderr, "request escapes the disk\n");
                        abort();
                }
                virtq_push(&f.vq, &elem, virtio_blk_execute(&req, disk_fd()));
        }
        fuzz_queue_done(&f);
        return 0;
}
