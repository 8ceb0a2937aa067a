/* SPDX-License-Identifier: Apache-2.0 */
/* What a virtio device model sees of its transport (kvmtool's split: device models know nothing of
 * PCI). A model embeds a VirtioDev, fills a VirtioDeviceOps table and calls virtio_dev_init(); the
 * modern virtio-pci transport (pci-transport.c, virtio 1.2 §4.1) does feature negotiation, the
 * device status state machine, queue setup, notifications and MSI-X.
 *
 * Locking: every op runs with dev->lock held, whichever thread triggered it (a vCPU through the
 * BAR, the event loop through an ioeventfd). Backend callbacks a model registers itself take the
 * lock with virtio_dev_lock()/virtio_dev_unlock(). */
#pragma once

#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/pci.h"
#include "queue.h"
#include "state/state.h"
#include "virtio-devices.h"

#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_MSIX_VECTORS (VIRTIO_MAX_QUEUES + 1)

typedef struct VirtioModelState VirtioModelState;

typedef struct VirtioDeviceOps {
        const char *name;               /* "virtio-blk": errors, bus range names */
        uint16_t device_id;             /* VIRTIO_ID_* (linux/virtio_ids.h, §5): PCI device 0x1040 + id (§4.1.2) */
        uint32_t class_code;            /* PCI class (base, sub, prog-if) */
        uint16_t num_queues;            /* <= VIRTIO_MAX_QUEUES */
        uint16_t queue_size;            /* <= VIRTQ_MAX_SIZE, power of two */
        uint64_t features;              /* device-specific bits offered; the transport adds
                                         * VERSION_1, RING_INDIRECT_DESC and RING_EVENT_IDX */
        /* the driver wrote device config bytes [offset, offset + len) (already bounds-checked);
         * NULL: device config is read-only */
        void (*config_write)(VirtioDev *dev, uint32_t offset, const uint8_t *data, uint32_t len);
        /* the driver made buffers available on queue q (enabled, DRIVER_OK) */
        void (*queue_notify)(VirtioDev *dev, unsigned q);
        /* DRIVER_OK was accepted: start backends (rx fds into the event loop, ...); optional */
        void (*driver_ok)(VirtioDev *dev);
        /* device reset (§2.4) or teardown: stop backends, forget per-driver state; optional */
        void (*reset)(VirtioDev *dev);
        /* free the model (the struct embedding the VirtioDev) and its backend */
        void (*destroy)(VirtioDev *dev);
        /* the model's counters as a new JSON object, for the control socket's `stats` (read from
         * another thread: counters are updated and read with relaxed atomics); optional */
        struct json_t *(*stats)(VirtioDev *dev);
        /* snapshots (state.c): the model's own state, and chains it holds popped but not pushed
         * (they are handed back to the ring in the saved queue state); optional, none = stateless */
        void (*save)(VirtioDev *dev, VirtioModelState *out);
        /* validate and apply; the transport and queues are already restored */
        int (*load)(VirtioDev *dev, const VirtioModelState *in, KError **err);
} VirtioDeviceOps;

/* A device model's saved state (section STATE_SEC_VIRTIO_MODEL), one plain struct for every model:
 * each uses the fields it needs (documented at its save hook). */
struct VirtioModelState {
        uint16_t device_id;                     /* VIRTIO_ID_*: a section of another model is refused */
        uint16_t inflight[VIRTIO_MAX_QUEUES];   /* chains taken off queue q and not yet used: replayed */
        uint64_t skip[VIRTIO_MAX_QUEUES];       /* bytes of the first replayed chain already handled */
        uint64_t value[4];                      /* model values (blk: capacity; balloon: num_pages, actual) */
};

typedef struct MsixEntry {
        uint32_t addr_lo, addr_hi, data, ctrl;
} MsixEntry;

/* An ioeventfd doorbell of one queue, watched by the event loop. */
typedef struct VirtioNotifier {
        VirtioDev *dev;
        unsigned q;
        int fd;                 /* eventfd, -1 when the mmio handler is the doorbell */
        uint64_t addr;          /* guest address it is registered at */
} VirtioNotifier;

struct VirtioDev {
        PciDevice pci;
        const VirtioDeviceOps *ops;
        VirtioEnv env;
        pthread_mutex_t lock;

        uint8_t *config;                /* device config (§4.1.4.6), owned by the model */
        uint32_t config_len;
        uint8_t config_generation;

        uint64_t device_features, driver_features;
        uint32_t dfselect, gfselect;
        uint8_t status;
        uint8_t isr;
        uint16_t queue_select;
        uint16_t config_msix_vector;
        VirtQueue vqs[VIRTIO_MAX_QUEUES];
        VirtioNotifier notifiers[VIRTIO_MAX_QUEUES];

        MsixEntry msix[VIRTIO_MSIX_VECTORS];
        uint32_t msix_pba;              /* pending bits, one per vector */
        bool msix_enabled, msix_masked;
        uint8_t msix_cap;               /* config offset of the MSI-X capability */
};

/* Build the PCI function (IDs, BARs, virtio and MSI-X capabilities) and plug it into env->pci.
 * `config` (config_len bytes, may be 0) stays owned by the model. */
int virtio_dev_init(VirtioDev *dev, const VirtioEnv *env, const VirtioDeviceOps *ops, uint8_t *config,
                    uint32_t config_len, KError **err);

void virtio_dev_lock(VirtioDev *dev);
void virtio_dev_unlock(VirtioDev *dev);
bool virtio_dev_driver_ok(const VirtioDev *dev);
bool virtio_dev_has_feature(const VirtioDev *dev, unsigned bit);

/* virtq_pop() on queue q of a live device; a broken ring marks the device DEVICE_NEEDS_RESET. */
int virtio_dev_pop(VirtioDev *dev, unsigned q, VirtqElem *elem);
/* After pushing used buffers on q: interrupt the driver if it asked for it. */
void virtio_dev_notify_used(VirtioDev *dev, unsigned q);
/* Device config changed (§2.5.2): new generation, ISR bit 1, config MSI-X vector. */
void virtio_dev_config_changed(VirtioDev *dev);
/* Something the driver did cannot be recovered without a reset: DEVICE_NEEDS_RESET (§2.1.2) plus
 * a config change notification. */
void virtio_dev_set_needs_reset(VirtioDev *dev);

#define VIRTIO_DEV_CONTAINER(ptr, type) ((type *) ((char *) (ptr) - __builtin_offsetof(type, vdev)))

/* ---- snapshots (state.c) ---- */

/* The transport (section STATE_SEC_VIRTIO, instance = PCI slot). */
typedef struct VirtioState {
        uint16_t device_id, num_queues;         /* identity checks */
        uint64_t device_features, driver_features;
        uint32_t dfselect, gfselect;
        uint8_t status, isr, config_generation;
        uint16_t queue_select, config_msix_vector;
        uint32_t msix_addr_lo[VIRTIO_MSIX_VECTORS], msix_addr_hi[VIRTIO_MSIX_VECTORS];
        uint32_t msix_data[VIRTIO_MSIX_VECTORS], msix_ctrl[VIRTIO_MSIX_VECTORS];
        uint32_t msix_pba;
} VirtioState;

/* One queue (section STATE_SEC_VIRTIO_QUEUE, instance = slot << 8 | queue). */
typedef struct VirtioQueueState {
        uint16_t size, msix_vector;
        uint8_t enabled, broken, signalled_used_valid;
        uint64_t desc_gpa, avail_gpa, used_gpa;
        uint16_t last_avail_idx, used_idx, signalled_used;
} VirtioQueueState;

extern const StateLayout virtio_state_layout, virtio_queue_state_layout, virtio_model_state_layout;

/* Append the transport, queue and model sections of dev (the VM is paused). */
void virtio_dev_save(VirtioDev *dev, StateWriter *w);
/* Restore them into a device built from the same configuration, after its PCI config space:
 * features must be a subset of what this device offers, the status a state the driver can reach,
 * every enabled queue's rings inside guest memory with sane indices. Backends restart when the
 * driver was running. */
int virtio_dev_load(VirtioDev *dev, StateReader *r, KError **err);
/* pci-transport.c: after a load, start what DRIVER_OK starts (doorbells, backends). */
void virtio_dev_restored(VirtioDev *dev);
