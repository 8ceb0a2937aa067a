/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-net transmit parsing (virtio 1.2 §5.1.6.2), apart from the I/O so it can be fuzzed. */
#pragma once

#include <stdint.h>
#include <sys/uio.h>

#include "queue.h"

#define VIRTIO_NET_HDR_LEN 12           /* struct virtio_net_hdr_v1: VERSION_1 always has num_buffers */
#define VIRTIO_NET_MIN_FRAME 14         /* an Ethernet header */
#define VIRTIO_NET_MAX_FRAME (65535 + 14 + 4)

typedef struct VirtioNetTx {
        uint8_t hdr[VIRTIO_NET_HDR_LEN];        /* sanitised header handed to the tap */
        struct iovec iov[VIRTQ_MAX_IOV + 1];    /* iov[0] = hdr, then the frame */
        unsigned n_iov;
        uint64_t frame_len;
} VirtioNetTx;

/* Check one transmit chain: readable buffers only, a 12-byte header asking for no offload (none is
 * offered), a frame of sane size. Returns 0 with *tx ready for writev(), or -EINVAL (drop it). */
int virtio_net_tx_parse(const VirtqElem *elem, VirtioNetTx *tx);
