/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-blk request parsing (virtio 1.2 §5.2.6), separate from the I/O so that it can be fuzzed
 * and unit-tested on its own. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "queue.h"

#define VIRTIO_BLK_SECTOR_SIZE 512

typedef struct VirtioBlkReq {
        uint32_t type;                  /* VIRTIO_BLK_T_* */
        uint8_t status;                 /* VIRTIO_BLK_S_OK unless parsing already failed it */
        uint64_t offset;                /* byte offset in the image (IN/OUT) */
        struct iovec data[VIRTQ_MAX_IOV];       /* payload: what is read (OUT) or written (IN/GET_ID) */
        unsigned n_data;
        uint64_t data_len;
        uint8_t *status_byte;           /* the last writable byte of the chain */
} VirtioBlkReq;

/* Parse one chain against a disk of `capacity` sectors. Returns 0 with *req filled (req->status
 * says whether the request may run), or -EINVAL when the chain has no writable status byte: such a
 * chain cannot be answered and the queue is unusable. */
int virtio_blk_parse(const VirtqElem *elem, uint64_t capacity, bool readonly, VirtioBlkReq *req);

/* Run a parsed request on `fd` (the raw image) and write the status byte. Returns the number of
 * bytes written into the chain's writable buffers, for the used ring. */
uint32_t virtio_blk_execute(VirtioBlkReq *req, int fd);
