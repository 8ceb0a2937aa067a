/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshots of the virtio-pci transport: status, features, MSI-X, every queue's registers and ring
 * indices, and the model's own state through its save/load hooks. */
#include <errno.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "le-bytes.h"
#include "virtio.h"

static const StateField virtio_fields[] = {
        STATE_FIELD(VirtioState, device_id), STATE_FIELD(VirtioState, num_queues),
        STATE_FIELD(VirtioState, device_features), STATE_FIELD(VirtioState, driver_features),
        STATE_FIELD(VirtioState, dfselect), STATE_FIELD(VirtioState, gfselect),
        STATE_FIELD(VirtioState, status), STATE_FIELD(VirtioState, isr),
        STATE_FIELD(VirtioState, config_generation), STATE_FIELD(VirtioState, queue_select),
        STATE_FIELD(VirtioState, config_msix_vector), STATE_ARRAY(VirtioState, msix_addr_lo),
        STATE_ARRAY(VirtioState, msix_addr_hi), STATE_ARRAY(VirtioState, msix_data),
        STATE_ARRAY(VirtioState, msix_ctrl), STATE_FIELD(VirtioState, msix_pba),
};
const StateLayout virtio_state_layout = { "virtio", STATE_SEC_VIRTIO, 1, virtio_fields, ELEMENTSOF(virtio_fields) };

static const StateField virtio_queue_fields[] = {
        STATE_FIELD(VirtioQueueState, size), STATE_FIELD(VirtioQueueState, msix_vector),
        STATE_FIELD(VirtioQueueState, enabled), STATE_FIELD(VirtioQueueState, broken),
        STATE_FIELD(VirtioQueueState, signalled_used_valid), STATE_FIELD(VirtioQueueState, desc_gpa),
        STATE_FIELD(VirtioQueueState, avail_gpa), STATE_FIELD(VirtioQueueState, used_gpa),
        STATE_FIELD(VirtioQueueState, last_avail_idx), STATE_FIELD(VirtioQueueState, used_idx),
        STATE_FIELD(VirtioQueueState, signalled_used),
};
const StateLayout virtio_queue_state_layout = { "virtio-queue", STATE_SEC_VIRTIO_QUEUE, 1, virtio_queue_fields,
                                                ELEMENTSOF(virtio_queue_fields) };

static const StateField virtio_model_fields[] = {
        STATE_FIELD(VirtioModelState, device_id), STATE_ARRAY(VirtioModelState, inflight),
        STATE_ARRAY(VirtioModelState, skip), STATE_ARRAY(VirtioModelState, value),
};
const StateLayout virtio_model_state_layout = { "virtio-model", STATE_SEC_VIRTIO_MODEL, 1, virtio_model_fields,
                                                ELEMENTSOF(virtio_model_fields) };

void virtio_dev_save(VirtioDev *dev, StateWriter *w) {
        uint32_t slot = dev->pci.slot;
        VirtioState st = {};
        VirtioModelState ms = { .device_id = dev->ops->device_id };
        virtio_dev_lock(dev);
        if (dev->ops->save)
                dev->ops->save(dev, &ms);
        st = (VirtioState) {
                .device_id = dev->ops->device_id, .num_queues = dev->ops->num_queues,
                .device_features = dev->device_features, .driver_features = dev->driver_features,
                .dfselect = dev->dfselect, .gfselect = dev->gfselect, .status = dev->status, .isr = dev->isr,
                .config_generation = dev->config_generation, .queue_select = dev->queue_select,
                .config_msix_vector = dev->config_msix_vector, .msix_pba = dev->msix_pba,
        };
        for (unsigned v = 0; v < VIRTIO_MSIX_VECTORS; v++) {
                st.msix_addr_lo[v] = dev->msix[v].addr_lo;
                st.msix_addr_hi[v] = dev->msix[v].addr_hi;
                st.msix_data[v] = dev->msix[v].data;
                st.msix_ctrl[v] = dev->msix[v].ctrl;
        }
        state_put(w, &virtio_state_layout, slot, &st);
        for (unsigned q = 0; q < dev->ops->num_queues; q++) {
                const VirtQueue *vq = &dev->vqs[q];
                VirtioQueueState qs = {
                        .size = vq->size, .msix_vector = vq->msix_vector, .enabled = vq->enabled,
                        .broken = vq->broken, .signalled_used_valid = vq->signalled_used_valid,
                        .desc_gpa = vq->desc_gpa, .avail_gpa = vq->avail_gpa, .used_gpa = vq->used_gpa,
                        /* chains the model still holds go back to the ring: the restored device
                         * takes them again (and skips what it had already done with them) */
                        .last_avail_idx = (uint16_t) (vq->last_avail_idx - ms.inflight[q]),
                        .used_idx = vq->used_idx, .signalled_used = vq->signalled_used,
                };
                state_put(w, &virtio_queue_state_layout, slot << 8 | q, &qs);
        }
        virtio_dev_unlock(dev);
        state_put(w, &virtio_model_state_layout, slot, &ms);
}

static bool vector_ok(uint16_t v) {
        return v < VIRTIO_MSIX_VECTORS || v == VIRTIO_MSI_NO_VECTOR;
}

static int virtio_check(const VirtioDev *dev, const VirtioState *st, KError **err) {
        const char *name = dev->ops->name;
        if (st->device_id != dev->ops->device_id || st->num_queues != dev->ops->num_queues)
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "%s state (slot %u): saved from device id %u with %u queues, this VM has id %u with "
                                "%u: restore with the same devices", name, dev->pci.slot, st->device_id,
                                st->num_queues, dev->ops->device_id, dev->ops->num_queues);
        if (st->device_features != dev->device_features || (st->driver_features & ~dev->device_features))
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "%s state (slot %u): features 0x%llx/0x%llx do not match this device's 0x%llx", name,
                                dev->pci.slot, (unsigned long long) st->device_features,
                                (unsigned long long) st->driver_features, (unsigned long long) dev->device_features);
        uint8_t known = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
                        VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED;
        bool reachable = !(st->status & ~known) &&
                         (!(st->status & VIRTIO_CONFIG_S_DRIVER_OK) || (st->status & VIRTIO_CONFIG_S_FEATURES_OK)) &&
                         (!(st->status & VIRTIO_CONFIG_S_FEATURES_OK) ||
                          (st->driver_features & (1ULL << VIRTIO_F_VERSION_1)));
        if (!reachable)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s state (slot %u): device status 0x%02x is not one a "
                                "driver can reach", name, dev->pci.slot, st->status);
        if (!vector_ok(st->config_msix_vector) || (st->msix_pba >> VIRTIO_MSIX_VECTORS))
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s state (slot %u): MSI-X vector out of range", name,
                                dev->pci.slot);
        return 0;
}

static int virtio_queue_load(VirtioDev *dev, VirtQueue *vq, unsigned q, const VirtioQueueState *qs, KError **err) {
        const char *name = dev->ops->name;
        if (qs->size == 0 || qs->size > vq->max_size || (qs->size & (qs->size - 1)) || !vector_ok(qs->msix_vector) ||
            qs->enabled > 1 || qs->broken > 1 || qs->signalled_used_valid > 1)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s state (slot %u): queue %u: size %u or vector %u invalid "
                                "(at most %u entries)", name, dev->pci.slot, q, qs->size, qs->msix_vector, vq->max_size);
        vq->size = qs->size;
        vq->msix_vector = qs->msix_vector;
        vq->desc_gpa = qs->desc_gpa;
        vq->avail_gpa = qs->avail_gpa;
        vq->used_gpa = qs->used_gpa;
        if (!qs->enabled)
                return 0;
        int r = virtq_setup(vq, dev->env.mem, virtio_dev_has_feature(dev, VIRTIO_RING_F_EVENT_IDX));
        if (r < 0)
                return kerr_msg(err, KERR_CONFIG, r, "%s state (slot %u): queue %u rings (0x%llx, 0x%llx, 0x%llx) are "
                                "not inside guest memory or misaligned", name, dev->pci.slot, q,
                                (unsigned long long) qs->desc_gpa, (unsigned long long) qs->avail_gpa,
                                (unsigned long long) qs->used_gpa);
        /* the driver's avail idx runs at most a ring ahead of us, and we are at most a ring of
         * chains ahead of what we used */
        uint16_t avail_idx = le16_read(vq->avail + 2);
        if ((uint16_t) (avail_idx - qs->last_avail_idx) > qs->size ||
            (uint16_t) (qs->last_avail_idx - qs->used_idx) > qs->size) {
                vq->enabled = false;
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s state (slot %u): queue %u indices (avail %u, next %u, "
                                "used %u) do not fit a ring of %u", name, dev->pci.slot, q, avail_idx,
                                qs->last_avail_idx, qs->used_idx, qs->size);
        }
        vq->last_avail_idx = qs->last_avail_idx;
        vq->used_idx = qs->used_idx;
        vq->signalled_used = qs->signalled_used;
        vq->signalled_used_valid = qs->signalled_used_valid;
        vq->broken = qs->broken;
        return 0;
}

static int virtio_load_locked(VirtioDev *dev, StateReader *r, const VirtioState *st, KError **err) {
        uint32_t slot = dev->pci.slot;
        dev->driver_features = st->driver_features;
        dev->dfselect = st->dfselect;
        dev->gfselect = st->gfselect;
        dev->status = st->status;
        dev->isr = st->isr;
        dev->config_generation = st->config_generation;
        dev->queue_select = st->queue_select;
        dev->config_msix_vector = st->config_msix_vector;
        dev->msix_pba = st->msix_pba;
        for (unsigned v = 0; v < VIRTIO_MSIX_VECTORS; v++)
                dev->msix[v] = (MsixEntry) { .addr_lo = st->msix_addr_lo[v], .addr_hi = st->msix_addr_hi[v],
                                             .data = st->msix_data[v], .ctrl = st->msix_ctrl[v] & 1 };
        for (unsigned q = 0; q < dev->ops->num_queues; q++) {
                VirtioQueueState qs;
                int k = state_get(r, &virtio_queue_state_layout, slot << 8 | q, &qs, NULL, err);
                if (k < 0)
                        return k;
                k = virtio_queue_load(dev, &dev->vqs[q], q, &qs, err);
                if (k < 0)
                        return k;
        }
        VirtioModelState ms;
        int k = state_get(r, &virtio_model_state_layout, slot, &ms, NULL, err);
        if (k < 0)
                return k;
        if (ms.device_id != dev->ops->device_id)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s state (slot %u): model state of device id %u",
                                dev->ops->name, slot, ms.device_id);
        for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
                if (ms.inflight[q] > (q < dev->ops->num_queues ? dev->vqs[q].size : 0))
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s state (slot %u): %u chains in flight on "
                                        "queue %u", dev->ops->name, slot, ms.inflight[q], q);
        return dev->ops->load ? dev->ops->load(dev, &ms, err) : 0;
}

int virtio_dev_load(VirtioDev *dev, StateReader *r, KError **err) {
        VirtioState st;
        int k = state_get(r, &virtio_state_layout, dev->pci.slot, &st, NULL, err);
        if (k < 0)
                return k;
        k = virtio_check(dev, &st, err);
        if (k < 0)
                return k;
        virtio_dev_lock(dev);
        k = virtio_load_locked(dev, r, &st, err);
        if (k >= 0)
                virtio_dev_restored(dev);
        virtio_dev_unlock(dev);
        return k;
}
