/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-blk (virtio 1.2 §5.2) on a raw image file. A request is one chain: a 16-byte header
 * {le32 type, le32 reserved, le64 sector} in readable buffers, the data, and one status byte at
 * the very end of the writable buffers (§5.2.6). Requests run synchronously on the thread that
 * saw the doorbell: with ioeventfd that is the event loop, never a vCPU. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk.h"
#include "virtio.h"

#define BLK_QUEUE_SIZE 256
#define BLK_HDR_SIZE 16
/* the chain also carries the header and the status: segments left for data (§5.2.3 seg_max) */
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2)

typedef struct VirtioBlk {
        VirtioDev vdev;
        int fd;
        bool readonly;
        uint64_t capacity;      /* sectors */
        struct virtio_blk_config config;
        VirtqElem elem;         /* scratch for the notify handler (runs under vdev.lock) */
        VirtioBlkReq req;
} VirtioBlk;

/* Where the payload of each request type lives, and whether it needs a sector range check. */
static uint8_t blk_parse_data(const VirtqElem *elem, uint32_t type, uint64_t out_len, uint64_t in_data,
                              bool readonly, VirtioBlkReq *req) {
        const struct iovec *in = elem->iov + elem->n_out;
        switch (type) {
        case VIRTIO_BLK_T_IN:
        case VIRTIO_BLK_T_GET_ID:
                req->n_data = iov_slice(in, elem->n_in, 0, in_data, req->data);
                req->data_len = in_data;
                return VIRTIO_BLK_S_OK;
        case VIRTIO_BLK_T_OUT:
                if (readonly)
                        return VIRTIO_BLK_S_IOERR;
                req->n_data = iov_slice(elem->iov, elem->n_out, BLK_HDR_SIZE, out_len - BLK_HDR_SIZE, req->data);
                req->data_len = out_len - BLK_HDR_SIZE;
                return VIRTIO_BLK_S_OK;
        case VIRTIO_BLK_T_FLUSH:
                return VIRTIO_BLK_S_OK;
        default:
                return VIRTIO_BLK_S_UNSUPP;
        }
}

int virtio_blk_parse(const VirtqElem *elem, uint64_t capacity, bool readonly, VirtioBlkReq *req) {
        *req = (VirtioBlkReq) { .status = VIRTIO_BLK_S_IOERR };
        if (elem->n_in == 0)
                return -EINVAL;
        const struct iovec *last = &elem->iov[elem->n_out + elem->n_in - 1];
        req->status_byte = (uint8_t *) last->iov_base + last->iov_len - 1;

        uint64_t out_len = iov_length(elem->iov, elem->n_out);
        uint64_t in_data = iov_length(elem->iov + elem->n_out, elem->n_in) - 1;
        uint8_t hdr[BLK_HDR_SIZE];
        if (iov_to_buf(elem->iov, elem->n_out, 0, hdr, sizeof(hdr)) < sizeof(hdr))
                return 0;       /* short header: IOERR */
        uint32_t type;
        uint64_t sector;
        memcpy(&type, hdr, 4);
        memcpy(&sector, hdr + 8, 8);
        req->type = le32toh(type);
        sector = le64toh(sector);

        req->status = blk_parse_data(elem, req->type, out_len, in_data, readonly, req);
        if (req->status != VIRTIO_BLK_S_OK || (req->type != VIRTIO_BLK_T_IN && req->type != VIRTIO_BLK_T_OUT))
                return 0;
        /* whole sectors, entirely inside the disk; sector <= capacity first, so no overflow */
        if (req->data_len % VIRTIO_BLK_SECTOR_SIZE || sector > capacity ||
            req->data_len / VIRTIO_BLK_SECTOR_SIZE > capacity - sector) {
                req->status = VIRTIO_BLK_S_IOERR;
                return 0;
        }
        req->offset = sector * VIRTIO_BLK_SECTOR_SIZE;
        return 0;
}

/* preadv/pwritev until the whole iovec array is done; a read past the end of the file yields
 * zeros (a sparse or truncated image). */
static int blk_rw(int fd, struct iovec *iov, unsigned n, uint64_t offset, bool write) {
        while (n > 0) {
                ssize_t k = write ? pwritev(fd, iov, (int) n, (off_t) offset) : preadv(fd, iov, (int) n, (off_t) offset);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0) {
                        if (write)
                                return -EIO;
                        for (unsigned i = 0; i < n; i++)
                                memset(iov[i].iov_base, 0, iov[i].iov_len);
                        return 0;
                }
                offset += (uint64_t) k;
                iov_advance(&iov, &n, (size_t) k);
        }
        return 0;
}

uint32_t virtio_blk_execute(VirtioBlkReq *req, int fd) {
        static const char id[VIRTIO_BLK_ID_BYTES] = "kapsel-virtio-blk";
        uint32_t written = 1;
        if (req->status == VIRTIO_BLK_S_OK)
                switch (req->type) {
                case VIRTIO_BLK_T_IN:
                        if (blk_rw(fd, req->data, req->n_data, req->offset, false) < 0)
                                req->status = VIRTIO_BLK_S_IOERR;
                        else
                                written += (uint32_t) req->data_len;
                        break;
                case VIRTIO_BLK_T_OUT:
                        if (blk_rw(fd, req->data, req->n_data, req->offset, true) < 0)
                                req->status = VIRTIO_BLK_S_IOERR;
                        break;
                case VIRTIO_BLK_T_FLUSH:
                        if (fdatasync(fd) < 0)
                                req->status = VIRTIO_BLK_S_IOERR;
                        break;
                case VIRTIO_BLK_T_GET_ID:
                        written += (uint32_t) buf_to_iov(req->data, req->n_data, 0, id, sizeof(id));
                        break;
                default:
                        req->status = VIRTIO_BLK_S_UNSUPP;
                        break;
                }
        *req->status_byte = req->status;
        return written;
}

static void blk_queue_notify(VirtioDev *dev, unsigned q) {
        VirtioBlk *b = VIRTIO_DEV_CONTAINER(dev, VirtioBlk);
        int r;
        while ((r = virtio_dev_pop(dev, q, &b->elem)) > 0) {
                if (virtio_blk_parse(&b->elem, b->capacity, b->readonly, &b->req) < 0) {
                        virtio_dev_set_needs_reset(dev);
                        break;
                }
                virtq_push(&dev->vqs[q], &b->elem, virtio_blk_execute(&b->req, b->fd));
        }
        virtio_dev_notify_used(dev, q);
}

static void blk_destroy(VirtioDev *dev) {
        VirtioBlk *b = VIRTIO_DEV_CONTAINER(dev, VirtioBlk);
        safe_close(b->fd);
        free(b);
}

/* value[0]: the disk's capacity in sectors; a restore onto a disk of another size is refused (the
 * guest's file system would run past the end). */
static void blk_save(VirtioDev *dev, VirtioModelState *out) {
        out->value[0] = VIRTIO_DEV_CONTAINER(dev, VirtioBlk)->capacity;
}

static int blk_load(VirtioDev *dev, const VirtioModelState *in, KError **err) {
        VirtioBlk *b = VIRTIO_DEV_CONTAINER(dev, VirtioBlk);
        if (in->value[0] != b->capacity)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "virtio-blk state (slot %u): the disk had %llu sectors, it "
                                "has %llu now: restore with the disk the snapshot was taken with", dev->pci.slot,
                                (unsigned long long) in->value[0], (unsigned long long) b->capacity);
        return 0;
}

static const VirtioDeviceOps blk_ops = {
        .name = "virtio-blk",
        .device_id = VIRTIO_ID_BLOCK,
        .class_code = 0x018000,         /* mass storage, other */
        .num_queues = 1,
        .queue_size = BLK_QUEUE_SIZE,
        .features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH),
        .queue_notify = blk_queue_notify,
        .destroy = blk_destroy,
        .save = blk_save,
        .load = blk_load,
};

int virtio_blk_create(const VirtioEnv *env, const VirtioBlkConfig *cfg, VirtioDev **ret, KError **err) {
        _cleanup_close_ int fd = open(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd < 0)
                return kerr(err, -errno, "virtio-blk: open disk '%s'", cfg->path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return kerr(err, -errno, "virtio-blk: stat disk '%s'", cfg->path);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "virtio-blk: disk '%s' is not a file or block device",
                                cfg->path);
        off_t size = S_ISBLK(st.st_mode) ? lseek(fd, 0, SEEK_END) : st.st_size;
        if (size < 0)
                return kerr(err, -errno, "virtio-blk: size of disk '%s'", cfg->path);

        VirtioBlk *b = calloc(1, sizeof(*b));
        if (!b)
                return kerr(err, -ENOMEM, "virtio-blk: allocate");
        b->fd = TAKE_FD(fd);
        b->readonly = cfg->readonly;
        b->capacity = (uint64_t) size / VIRTIO_BLK_SECTOR_SIZE;
        b->config.capacity = htole64(b->capacity);
        b->config.seg_max = htole32(BLK_SEG_MAX);
        b->config.blk_size = htole32(VIRTIO_BLK_SECTOR_SIZE);
        int r = virtio_dev_init(&b->vdev, env, &blk_ops,
                                (uint8_t *) &b->config, sizeof(b->config), err);
        if (r < 0) {
                virtio_dev_free(&b->vdev);
                return kerr_prefix(err, r, "virtio-blk '%s'", cfg->path);
        }
        /* before the guest runs: the only per-instance feature */
        if (cfg->readonly)
                b->vdev.device_features |= 1ULL << VIRTIO_BLK_F_RO;
        *ret = &b->vdev;
        return 0;
}
