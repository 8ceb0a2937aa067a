/* SPDX-License-Identifier: Apache-2.0 */
/* Modern virtio-pci transport (virtio 1.2 §4.1). BAR 0 (64-bit memory) holds the structures the
 * virtio capabilities point at; BAR 2 holds the MSI-X table and PBA (msix.c):
 *   0x0000 common config (§4.1.4.3)     0x1000 ISR status (§4.1.4.5)
 *   0x2000 device config (§4.1.4.6)     0x3000 notifications, 4 bytes per queue (§4.1.4.4)
 * The driver's progress through the status bits is enforced (§2.1, §3.1.1): features only before
 * FEATURES_OK, FEATURES_OK only with VERSION_1 and offered features, queues only between
 * FEATURES_OK and DRIVER_OK, and writing 0 resets everything. */
#include <endian.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VIRTIO_PCI_NO_LEGACY
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "le-bytes.h"
#include "msix.h"
#include "pci/pci-config.h"
#include "virtio.h"

#define BAR0_SIZE 0x4000
#define COMMON_OFFSET 0x0000
#define COMMON_LEN 0x38         /* struct virtio_pci_common_cfg without the 1.2 queue_notify_data/reset */
#define ISR_OFFSET 0x1000
#define DEVICE_OFFSET 0x2000
#define DEVICE_MAX 0x1000
#define NOTIFY_OFFSET 0x3000
#define NOTIFY_MULTIPLIER 4

#define ISR_QUEUE 0x1           /* §4.1.4.5: bit 0 used-buffer, bit 1 (VIRTIO_PCI_ISR_CONFIG) config */

#define TRANSPORT_FEATURES                                                                        \
        ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                   \
         (1ULL << VIRTIO_RING_F_EVENT_IDX))

void virtio_dev_lock(VirtioDev *dev) {
        pthread_mutex_lock(&dev->lock);
}

void virtio_dev_unlock(VirtioDev *dev) {
        pthread_mutex_unlock(&dev->lock);
}

bool virtio_dev_driver_ok(const VirtioDev *dev) {
        return dev->status & VIRTIO_CONFIG_S_DRIVER_OK;
}

bool virtio_dev_has_feature(const VirtioDev *dev, unsigned bit) {
        return bit < 64 && (dev->driver_features & (1ULL << bit));
}

void virtio_dev_config_changed(VirtioDev *dev) {
        dev->config_generation++;
        dev->isr |= VIRTIO_PCI_ISR_CONFIG;
        virtio_msix_signal(dev, dev->config_msix_vector);
}

void virtio_dev_set_needs_reset(VirtioDev *dev) {
        if (dev->status & VIRTIO_CONFIG_S_NEEDS_RESET)
                return;
        dev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
        /* §2.1.2: after DRIVER_OK the device must tell the driver; before it, the driver reads the
         * bit when it checks the status */
        if (virtio_dev_driver_ok(dev))
                virtio_dev_config_changed(dev);
}

int virtio_dev_pop(VirtioDev *dev, unsigned q, VirtqElem *elem) {
        if (q >= dev->ops->num_queues || !virtio_dev_driver_ok(dev))
                return 0;
        int r = virtq_pop(&dev->vqs[q], elem);
        if (r < 0)
                virtio_dev_set_needs_reset(dev);
        return r;
}

void virtio_dev_notify_used(VirtioDev *dev, unsigned q) {
        VirtQueue *vq = &dev->vqs[q];
        if (!virtq_should_notify(vq))
                return;
        dev->isr |= ISR_QUEUE;
        virtio_msix_signal(dev, vq->msix_vector);
}

/* ---- ioeventfd doorbells ---- */

static void notifier_event(void *opaque, uint32_t events) {
        VirtioNotifier *n = opaque;
        VirtioDev *dev = n->dev;
        virtio_dev_lock(dev);
        /* checked under the lock: a reset may have closed this notifier after the loop saw it */
        if (n->fd >= 0) {
                uint64_t v;
                (void) !read(n->fd, &v, sizeof(v));
                if (virtio_dev_driver_ok(dev) && dev->vqs[n->q].enabled)
                        dev->ops->queue_notify(dev, n->q);
        }
        virtio_dev_unlock(dev);
}

static void notifier_stop(VirtioDev *dev, VirtioNotifier *n) {
        if (n->fd < 0)
                return;
        const VmmHostOps *ops = dev->env.host->ops;
        ops->del_fd(dev->env.host->host, n->fd);
        ops->del_ioeventfd(dev->env.host->host, n->addr, 2, false, -1, n->fd);
        n->fd = safe_close(n->fd);
}

/* Let the kernel take queue q's doorbell writes without an exit to the VMM. Any failure leaves
 * the mmio handler as the doorbell, which works, only slower. */
static void notifier_start(VirtioDev *dev, unsigned q) {
        VirtioNotifier *n = &dev->notifiers[q];
        void *h = dev->env.host->host;
        const VmmHostOps *ops = dev->env.host->ops;
        uint64_t addr = dev->pci.bars[0].addr + NOTIFY_OFFSET + NOTIFY_MULTIPLIER * q;
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
                return;
        if (ops->add_ioeventfd(h, addr, 2, false, -1, fd, NULL) < 0) {
                close(fd);
                return;
        }
        if (ops->add_fd(h, fd, EPOLLIN, notifier_event, n, NULL) < 0) {
                ops->del_ioeventfd(h, addr, 2, false, -1, fd);
                close(fd);
                return;
        }
        n->fd = fd;
        n->addr = addr;
}

static void notifiers_sync(VirtioDev *dev) {
        bool live = virtio_dev_driver_ok(dev) && dev->pci.bars[0].addr != 0;
        for (unsigned q = 0; q < dev->ops->num_queues; q++) {
                VirtioNotifier *n = &dev->notifiers[q];
                bool want = live && dev->vqs[q].enabled;
                uint64_t addr = dev->pci.bars[0].addr + NOTIFY_OFFSET + NOTIFY_MULTIPLIER * q;
                if (n->fd >= 0 && (!want || n->addr != addr))
                        notifier_stop(dev, n);
                if (want && n->fd < 0)
                        notifier_start(dev, q);
        }
}

static void driver_ok(VirtioDev *dev);

void virtio_dev_restored(VirtioDev *dev) {
        virtio_msix_config_written(dev);
        if (virtio_dev_driver_ok(dev))
                driver_ok(dev);
}

/* ---- device status (§2.1, §3.1.1) ---- */

static void virtio_dev_reset(VirtioDev *dev) {
        /* bounded by the array too: free() may run on a device whose description was refused */
        unsigned nq = dev->ops->num_queues < VIRTIO_MAX_QUEUES ? dev->ops->num_queues : VIRTIO_MAX_QUEUES;
        for (unsigned q = 0; q < nq; q++)
                notifier_stop(dev, &dev->notifiers[q]);
        if (dev->ops->reset)
                dev->ops->reset(dev);
        for (unsigned q = 0; q < nq; q++)
                virtq_reset(&dev->vqs[q], dev->ops->queue_size);
        dev->driver_features = 0;
        dev->dfselect = dev->gfselect = 0;
        dev->queue_select = 0;
        dev->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
        dev->status = 0;
        dev->isr = 0;
}

static bool features_acceptable(const VirtioDev *dev) {
        return !(dev->driver_features & ~dev->device_features) &&
               (dev->driver_features & (1ULL << VIRTIO_F_VERSION_1));
}

/* Queues live at DRIVER_OK: each enabled queue was validated (and told about EVENT_IDX, frozen
 * with the features since FEATURES_OK) when enabled. */
static void driver_ok(VirtioDev *dev) {
        notifiers_sync(dev);
        if (dev->ops->driver_ok)
                dev->ops->driver_ok(dev);
}

static void status_write(VirtioDev *dev, uint8_t v) {
        if (v == 0) {
                virtio_dev_reset(dev);
                return;
        }
        uint8_t cur = dev->status;
        /* NEEDS_RESET is the device's to set; the driver only ever adds bits */
        uint8_t new = (uint8_t) ((v & ~VIRTIO_CONFIG_S_NEEDS_RESET) | (cur & VIRTIO_CONFIG_S_NEEDS_RESET));
        if (cur & ~new)
                return;
        uint8_t added = new & ~cur;
        if ((new & VIRTIO_CONFIG_S_DRIVER) && !(new & VIRTIO_CONFIG_S_ACKNOWLEDGE))
                return;
        if ((added & VIRTIO_CONFIG_S_FEATURES_OK) &&
            (!(new & VIRTIO_CONFIG_S_DRIVER) || !features_acceptable(dev)))
                new &= ~VIRTIO_CONFIG_S_FEATURES_OK;    /* §2.2.2: the driver re-reads and gives up */
        if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !(new & VIRTIO_CONFIG_S_FEATURES_OK))
                new &= ~VIRTIO_CONFIG_S_DRIVER_OK;
        dev->status = new;
        if ((new & ~cur) & VIRTIO_CONFIG_S_DRIVER_OK)
                driver_ok(dev);
}

/* ---- common config (§4.1.4.3) ---- */

static VirtQueue *selected_queue(VirtioDev *dev) {
        return dev->queue_select < dev->ops->num_queues ? &dev->vqs[dev->queue_select] : NULL;
}

static uint16_t vector_or_none(uint16_t v) {
        return v < VIRTIO_MSIX_VECTORS ? v : VIRTIO_MSI_NO_VECTOR;
}

static void common_read(VirtioDev *dev, uint64_t off, uint8_t *data, uint32_t len) {
        uint8_t img[COMMON_LEN] = {};
        le32_write(img + VIRTIO_PCI_COMMON_DFSELECT, dev->dfselect);
        le32_write(img + VIRTIO_PCI_COMMON_DF, dev->dfselect < 2 ? (uint32_t) (dev->device_features >> (32 * dev->dfselect)) : 0);
        le32_write(img + VIRTIO_PCI_COMMON_GFSELECT, dev->gfselect);
        le32_write(img + VIRTIO_PCI_COMMON_GF, dev->gfselect < 2 ? (uint32_t) (dev->driver_features >> (32 * dev->gfselect)) : 0);
        le16_write(img + VIRTIO_PCI_COMMON_MSIX, dev->config_msix_vector);
        le16_write(img + VIRTIO_PCI_COMMON_NUMQ, dev->ops->num_queues);
        img[VIRTIO_PCI_COMMON_STATUS] = dev->status;
        img[VIRTIO_PCI_COMMON_CFGGENERATION] = dev->config_generation;
        le16_write(img + VIRTIO_PCI_COMMON_Q_SELECT, dev->queue_select);
        const VirtQueue *vq = selected_queue(dev);
        if (vq) {
                le16_write(img + VIRTIO_PCI_COMMON_Q_SIZE, vq->size);
                le16_write(img + VIRTIO_PCI_COMMON_Q_MSIX, vq->msix_vector);
                le16_write(img + VIRTIO_PCI_COMMON_Q_ENABLE, vq->enabled);
                le16_write(img + VIRTIO_PCI_COMMON_Q_NOFF, dev->queue_select);
                le64_write(img + VIRTIO_PCI_COMMON_Q_DESCLO, vq->desc_gpa);
                le64_write(img + VIRTIO_PCI_COMMON_Q_AVAILLO, vq->avail_gpa);
                le64_write(img + VIRTIO_PCI_COMMON_Q_USEDLO, vq->used_gpa);
        }
        memset(data, 0, len);
        if (off + len <= sizeof(img))
                memcpy(data, img + off, len);
}

/* Replace the 32-bit half at byte `half` of a 64-bit ring address. */
static void set_addr_half(uint64_t *a, unsigned half, uint32_t v) {
        *a = half ? ((*a & 0xffffffffULL) | ((uint64_t) v << 32)) : ((*a & ~0xffffffffULL) | v);
}

static void queue_enable(VirtioDev *dev, VirtQueue *vq, uint64_t v) {
        if (v != 1 || vq->enabled)
                return;         /* §4.1.4.3.2: the driver never writes 0 */
        if (virtq_setup(vq, dev->env.mem, virtio_dev_has_feature(dev, VIRTIO_RING_F_EVENT_IDX)) < 0)
                virtio_dev_set_needs_reset(dev);
}

/* Queue registers, writable between FEATURES_OK and DRIVER_OK only (§3.1.1 step 7), and only
 * while the queue is not yet enabled. */
static void queue_write(VirtioDev *dev, uint64_t off, uint64_t v, uint32_t len) {
        VirtQueue *vq = selected_queue(dev);
        if (!vq || vq->enabled || !(dev->status & VIRTIO_CONFIG_S_FEATURES_OK) || virtio_dev_driver_ok(dev))
                return;
        switch (off) {
        case VIRTIO_PCI_COMMON_Q_SIZE:
                if (len == 2 && v >= 1 && v <= vq->max_size && !(v & (v - 1)))
                        vq->size = (uint16_t) v;
                break;
        case VIRTIO_PCI_COMMON_Q_MSIX:
                if (len == 2)
                        vq->msix_vector = vector_or_none((uint16_t) v);
                break;
        case VIRTIO_PCI_COMMON_Q_ENABLE:
                if (len == 2)
                        queue_enable(dev, vq, v);
                break;
        case VIRTIO_PCI_COMMON_Q_DESCLO ... VIRTIO_PCI_COMMON_Q_USEDHI + 3: {
                uint64_t *regs[] = { &vq->desc_gpa, &vq->avail_gpa, &vq->used_gpa };
                uint64_t rel = off - VIRTIO_PCI_COMMON_Q_DESCLO;
                uint64_t *a = regs[rel / 8];
                if (len == 8 && rel % 8 == 0)
                        *a = v;
                else if (len == 4 && rel % 4 == 0)
                        set_addr_half(a, (unsigned) (rel % 8) / 4, (uint32_t) v);
                break;
        }
        default:
                break;
        }
}

static void common_write(VirtioDev *dev, uint64_t off, const uint8_t *data, uint32_t len) {
        uint64_t v = 0;
        memcpy(&v, data, len);
        v = le64toh(v);
        switch (off) {
        case VIRTIO_PCI_COMMON_DFSELECT:
                if (len == 4)
                        dev->dfselect = (uint32_t) v;
                break;
        case VIRTIO_PCI_COMMON_GFSELECT:
                if (len == 4)
                        dev->gfselect = (uint32_t) v;
                break;
        case VIRTIO_PCI_COMMON_GF:
                /* features are fixed once FEATURES_OK was accepted (§2.2) */
                if (len == 4 && dev->gfselect < 2 && !(dev->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
                        unsigned sh = 32 * dev->gfselect;
                        dev->driver_features = (dev->driver_features & ~(0xffffffffULL << sh)) | (v << sh);
                }
                break;
        case VIRTIO_PCI_COMMON_MSIX:
                if (len == 2)
                        dev->config_msix_vector = vector_or_none((uint16_t) v);
                break;
        case VIRTIO_PCI_COMMON_STATUS:
                if (len == 1)
                        status_write(dev, (uint8_t) v);
                break;
        case VIRTIO_PCI_COMMON_Q_SELECT:
                if (len == 2)
                        dev->queue_select = (uint16_t) v;
                break;
        default:
                queue_write(dev, off, v, len);
                break;
        }
}

/* ---- BAR 0 ---- */

static void device_cfg_access(VirtioDev *dev, uint64_t off, uint8_t *data, uint32_t len, bool is_write) {
        bool inside = off < dev->config_len && len <= dev->config_len - off;
        if (!is_write) {
                memset(data, 0, len);
                if (inside)
                        memcpy(data, dev->config + off, len);
        } else if (inside && dev->ops->config_write)
                dev->ops->config_write(dev, (uint32_t) off, data, len);
}

static void notify_write(VirtioDev *dev, uint64_t off) {
        unsigned q = (unsigned) (off / NOTIFY_MULTIPLIER);
        if (off % NOTIFY_MULTIPLIER == 0 && q < dev->ops->num_queues && virtio_dev_driver_ok(dev) &&
            dev->vqs[q].enabled)
                dev->ops->queue_notify(dev, q);
}

static void bar0_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write) {
        VirtioDev *dev = opaque;
        virtio_dev_lock(dev);
        if (off < ISR_OFFSET) {
                if (is_write)
                        common_write(dev, off, data, len);
                else
                        common_read(dev, off, data, len);
        } else if (off < DEVICE_OFFSET) {
                if (!is_write) {
                        memset(data, 0, len);
                        if (off == ISR_OFFSET) {
                                data[0] = dev->isr;
                                dev->isr = 0;   /* reading clears it (§4.1.4.5) */
                        }
                }
        } else if (off < NOTIFY_OFFSET)
                device_cfg_access(dev, off - DEVICE_OFFSET, data, len, is_write);
        else if (is_write)
                notify_write(dev, off - NOTIFY_OFFSET);
        else
                memset(data, 0, len);
        virtio_dev_unlock(dev);
}

static void bar2_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write) {
        VirtioDev *dev = opaque;
        virtio_dev_lock(dev);
        virtio_msix_bar_access(dev, off, data, len, is_write);
        virtio_dev_unlock(dev);
}

static void config_written(PciDevice *pci, uint32_t offset, uint32_t len) {
        VirtioDev *dev = pci->opaque;
        virtio_dev_lock(dev);
        virtio_msix_config_written(dev);
        notifiers_sync(dev);    /* the guest may have moved BAR 0 */
        virtio_dev_unlock(dev);
}

/* ---- capabilities and setup ---- */

static int add_virtio_cap(VirtioDev *dev, uint8_t type, uint32_t offset, uint32_t length) {
        uint8_t cap[sizeof(struct virtio_pci_notify_cap)] = {};
        struct virtio_pci_cap c = {
                .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = sizeof(struct virtio_pci_cap), .cfg_type = type,
                .bar = 0, .offset = htole32(offset), .length = htole32(length),
        };
        if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
                uint32_t mult = htole32(NOTIFY_MULTIPLIER);
                c.cap_len = sizeof(struct virtio_pci_notify_cap);
                memcpy(cap + sizeof(c), &mult, sizeof(mult));
        }
        memcpy(cap, &c, sizeof(c));
        return pci_config_add_cap(&dev->pci, cap, c.cap_len);
}

static int virtio_dev_build_pci(VirtioDev *dev) {
        const VirtioDeviceOps *ops = dev->ops;
        PciDevice *p = &dev->pci;
        /* §4.1.2: 0x1040 + device type, revision 1 (modern only), subsystem ID >= 0x40 */
        pci_config_set_ids(p, 0x1af4, (uint16_t) (0x1040 + ops->device_id), 0x1af4, 0x40, ops->class_code, 1);
        p->name = ops->name;
        p->opaque = dev;
        p->config_written = config_written;
        p->bars[0] = (PciBar) { .size = BAR0_SIZE, .is_64bit = true, .handler = bar0_access, .opaque = dev };
        p->bars[VIRTIO_MSIX_BAR] = (PciBar) { .size = VIRTIO_MSIX_BAR_SIZE, .is_64bit = true,
                                              .handler = bar2_access, .opaque = dev };
        struct { uint8_t type; uint32_t off, len; } caps[] = {
                { VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFFSET, COMMON_LEN },
                { VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFFSET, NOTIFY_MULTIPLIER * ops->num_queues },
                { VIRTIO_PCI_CAP_ISR_CFG, ISR_OFFSET, 1 },
                { VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFFSET, dev->config_len },
        };
        for (size_t i = 0; i < ELEMENTSOF(caps); i++) {
                if (caps[i].len == 0)
                        continue;       /* no device config: no capability (§4.1.4.6) */
                int r = add_virtio_cap(dev, caps[i].type, caps[i].off, caps[i].len);
                if (r < 0)
                        return r;
        }
        return virtio_msix_init(dev);
}

int virtio_dev_init(VirtioDev *dev, const VirtioEnv *env, const VirtioDeviceOps *ops, uint8_t *config,
                    uint32_t config_len, KError **err) {
        /* first what virtio_dev_free() needs, so a model can always unwind through it */
        dev->ops = ops;
        dev->env = *env;
        pthread_mutex_init(&dev->lock, NULL);
        for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
                dev->notifiers[q] = (VirtioNotifier) { .dev = dev, .q = q, .fd = -1 };
        if (ops->num_queues == 0 || ops->num_queues > VIRTIO_MAX_QUEUES || config_len > DEVICE_MAX ||
            ops->queue_size == 0 || ops->queue_size > VIRTQ_MAX_SIZE || (ops->queue_size & (ops->queue_size - 1)))
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "%s: invalid device description", ops->name);
        dev->config = config;
        dev->config_len = config_len;
        dev->device_features = ops->features | TRANSPORT_FEATURES;
        for (unsigned q = 0; q < ops->num_queues; q++)
                virtq_reset(&dev->vqs[q], ops->queue_size);
        dev->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
        int r = virtio_dev_build_pci(dev);
        if (r < 0)
                return kerr(err, r, "%s: build PCI config space", ops->name);
        return pci_bus_add(env->pci, &dev->pci, err);
}

json_t *virtio_dev_stats(VirtioDev *dev) {
        json_t *st = dev->ops->stats ? dev->ops->stats(dev) : NULL;
        if (st && json_object_set_new(st, "device", json_string(dev->ops->name)) < 0) {
                json_decref(st);
                return NULL;
        }
        return st;
}

void virtio_dev_free(VirtioDev *dev) {
        if (!dev)
                return;
        pci_bus_remove(dev->env.pci, &dev->pci);
        virtio_dev_lock(dev);
        virtio_dev_reset(dev);
        virtio_dev_unlock(dev);
        pthread_mutex_destroy(&dev->lock);
        dev->ops->destroy(dev);
}
