/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-net (virtio 1.2 §5.1) on a tap device opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and a
 * 12-byte vnet header, so a frame crosses between guest buffers and the tap in one readv/writev
 * with the header in front. No offloads are offered: the guest checksums, the tap never hands us
 * a GSO frame (TUNSETOFFLOAD 0). Queue 0 receives, queue 1 transmits. */
#include <endian.h>
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include "net.h"
#include "rxfd.h"

enum { NET_RXQ, NET_TXQ };

typedef struct VirtioNet {
        VirtioDev vdev;
        int tap;
        VirtioRxFd rx;
        VirtqElem elem;
        VirtioNetTx tx;
        struct virtio_net_config config;
        uint64_t tx_packets, tx_bytes, tx_dropped;      /* relaxed atomics: stats reads them */
} VirtioNet;

int virtio_net_tx_parse(const VirtqElem *elem, VirtioNetTx *tx) {
        struct virtio_net_hdr_v1 h;
        if (elem->n_in > 0)
                return -EINVAL;
        uint64_t total = iov_length(elem->iov, elem->n_out);
        if (total < VIRTIO_NET_HDR_LEN + VIRTIO_NET_MIN_FRAME || total > VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME)
                return -EINVAL;
        iov_to_buf(elem->iov, elem->n_out, 0, &h, sizeof(h));
        /* without CSUM/GSO features the driver must send neither (§5.1.6.2.1) */
        if ((h.flags & ~VIRTIO_NET_HDR_F_DATA_VALID) || h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
                return -EINVAL;
        memset(tx->hdr, 0, sizeof(tx->hdr));
        tx->iov[0] = (struct iovec) { .iov_base = tx->hdr, .iov_len = sizeof(tx->hdr) };
        tx->frame_len = total - VIRTIO_NET_HDR_LEN;
        tx->n_iov = 1 + iov_slice(elem->iov, elem->n_out, VIRTIO_NET_HDR_LEN, tx->frame_len, tx->iov + 1);
        return 0;
}

/* A tap takes a frame whole or not at all: when its queue is full (EAGAIN) the frame is dropped,
 * as a NIC drops on a full ring, rather than holding the device thread. */
static bool tap_write(int tap, const VirtioNetTx *tx) {
        ssize_t k;
        do
                k = writev(tap, tx->iov, (int) tx->n_iov);
        while (k < 0 && errno == EINTR);
        return k >= 0;
}

static void net_transmit(VirtioNet *n) {
        VirtQueue *vq = &n->vdev.vqs[NET_TXQ];
        while (virtio_dev_pop(&n->vdev, NET_TXQ, &n->elem) > 0) {
                if (virtio_net_tx_parse(&n->elem, &n->tx) < 0 || !tap_write(n->tap, &n->tx))
                        __atomic_fetch_add(&n->tx_dropped, 1, __ATOMIC_RELAXED);
                else {
                        __atomic_fetch_add(&n->tx_packets, 1, __ATOMIC_RELAXED);
                        __atomic_fetch_add(&n->tx_bytes, n->tx.frame_len, __ATOMIC_RELAXED);
                }
                virtq_push(vq, &n->elem, 0);
        }
        virtio_dev_notify_used(&n->vdev, NET_TXQ);
}

/* The tap wrote its 10-byte virtio_net_hdr and skipped the rest of our 12; num_buffers must
 * read 1 without VIRTIO_NET_F_MRG_RXBUF (§5.1.6.4). */
static void net_rx_filled(const VirtqElem *elem, size_t n) {
        uint16_t one = htole16(1);
        if (n >= VIRTIO_NET_HDR_LEN)
                buf_to_iov(elem->iov + elem->n_out, elem->n_in, offsetof(struct virtio_net_hdr_v1, num_buffers), &one,
                           sizeof(one));
}

static void net_queue_notify(VirtioDev *dev, unsigned q) {
        VirtioNet *n = VIRTIO_DEV_CONTAINER(dev, VirtioNet);
        if (q == NET_RXQ)
                virtio_rxfd_start(&n->rx);
        else
                net_transmit(n);
}

static void net_driver_ok(VirtioDev *dev) {
        virtio_rxfd_start(&VIRTIO_DEV_CONTAINER(dev, VirtioNet)->rx);
}

static void net_reset(VirtioDev *dev) {
        virtio_rxfd_reset(&VIRTIO_DEV_CONTAINER(dev, VirtioNet)->rx);
}

static void net_destroy(VirtioDev *dev) {
        VirtioNet *n = VIRTIO_DEV_CONTAINER(dev, VirtioNet);
        safe_close(n->tap);
        free(n);
}

static json_t *net_stats(VirtioDev *dev) {
        VirtioNet *n = VIRTIO_DEV_CONTAINER(dev, VirtioNet);
        return json_pack("{s:I, s:I, s:I}", "tx_packets", (json_int_t) __atomic_load_n(&n->tx_packets, __ATOMIC_RELAXED),
                         "tx_bytes", (json_int_t) __atomic_load_n(&n->tx_bytes, __ATOMIC_RELAXED),
                         "tx_dropped", (json_int_t) __atomic_load_n(&n->tx_dropped, __ATOMIC_RELAXED));
}

static const VirtioDeviceOps net_ops = {
        .name = "virtio-net",
        .device_id = VIRTIO_ID_NET,
        .class_code = 0x020000,         /* Ethernet controller */
        .num_queues = 2,
        .queue_size = 256,
        .features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS),
        .queue_notify = net_queue_notify,
        .driver_ok = net_driver_ok,
        .reset = net_reset,
        .destroy = net_destroy,
        .stats = net_stats,
};

int virtio_net_create_fd(const VirtioEnv *env, int fd, const uint8_t mac[6], VirtioDev **ret, KError **err) {
        _cleanup_close_ int owned = fd;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return kerr(err, -errno, "virtio-net: make the backend fd non-blocking");
        VirtioNet *n = calloc(1, sizeof(*n));
        if (!n)
                return kerr(err, -ENOMEM, "virtio-net: allocate");
        n->tap = TAKE_FD(owned);
        memcpy(n->config.mac, mac, 6);
        n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
        virtio_rxfd_init(&n->rx, &n->vdev, NET_RXQ, n->tap, net_rx_filled);
        int r = virtio_dev_init(&n->vdev, env, &net_ops, (uint8_t *) &n->config,
                                offsetof(struct virtio_net_config, max_virtqueue_pairs), err);
        if (r < 0) {
                virtio_dev_free(&n->vdev);
                return r;
        }
        *ret = &n->vdev;
        return 0;
}

/* Attach to an existing tap (the network layer created it and owns its configuration). */
static int tap_open(const char *name, KError **err) {
        if (!name || strlen(name) >= IFNAMSIZ)
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "virtio-net: invalid tap name '%s'", name ? name : "");
        /* TUNSETIFF on a name that does not exist would create a new tap, down and unaddressed,
         * and the guest would transmit into the void: refuse instead. */
        if (if_nametoindex(name) == 0)
                return kerr_msg(err, KERR_GENERIC, -ENODEV,
                                "virtio-net: no network device '%s' (create the tap first: ip tuntap add dev %s mode tap)",
                                name, name);
        _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return kerr(err, -errno, "virtio-net: open /dev/net/tun");
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
        strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return kerr(err, -errno, "virtio-net: attach to tap '%s'", name);
        int hdr = VIRTIO_NET_HDR_LEN;
        if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
                return kerr(err, -errno, "virtio-net: tap '%s': set vnet header size", name);
        if (ioctl(fd, TUNSETOFFLOAD, 0) < 0)
                return kerr(err, -errno, "virtio-net: tap '%s': disable offloads", name);
        return TAKE_FD(fd);
}

int virtio_net_create(const VirtioEnv *env, const VirtioNetConfig *cfg, VirtioDev **ret, KError **err) {
        int fd = tap_open(cfg->tap, err);
        if (fd < 0)
                return fd;
        return virtio_net_create_fd(env, fd, cfg->mac, ret, err);
}
