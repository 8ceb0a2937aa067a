/* SPDX-License-Identifier: Apache-2.0 */
/* MSI-X table, PBA and capability of a virtio-pci function (PCI local bus 3.0 §6.8.2). */
#include <endian.h>
#include <string.h>

#include "msix.h"
#include "pci/pci-config.h"

#define MSIX_CTRL_OFFSET(dev) ((unsigned) (dev)->msix_cap + PCI_MSIX_FLAGS)

int virtio_msix_init(VirtioDev *dev) {
        uint8_t cap[PCI_CAP_MSIX_SIZEOF] = { PCI_CAP_ID_MSIX };
        uint16_t ctrl = htole16(VIRTIO_MSIX_VECTORS - 1);
        uint32_t table = htole32(0 | VIRTIO_MSIX_BAR);
        uint32_t pba = htole32(VIRTIO_MSIX_PBA_OFFSET | VIRTIO_MSIX_BAR);
        memcpy(cap + PCI_MSIX_FLAGS, &ctrl, 2);
        memcpy(cap + PCI_MSIX_TABLE, &table, 4);
        memcpy(cap + PCI_MSIX_PBA, &pba, 4);
        int off = pci_config_add_cap(&dev->pci, cap, sizeof(cap));
        if (off < 0)
                return off;
        dev->msix_cap = (uint8_t) off;
        /* only Enable and Function Mask (bits 15, 14 of Message Control) are writable */
        dev->pci.wmask[off + PCI_MSIX_FLAGS + 1] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
        for (unsigned i = 0; i < VIRTIO_MSIX_VECTORS; i++)
                dev->msix[i] = (MsixEntry) { .ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT };
        return 0;
}

static bool msix_vector_masked(const VirtioDev *dev, uint16_t v) {
        return dev->msix_masked || (dev->msix[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static void msix_deliver(VirtioDev *dev, uint16_t v) {
        const MsixEntry *e = &dev->msix[v];
        MsiMessage m = { .address = ((uint64_t) e->addr_hi << 32) | e->addr_lo, .data = e->data };
        dev->env.host->ops->signal_msi(dev->env.host->host, &m);
}

void virtio_msix_signal(VirtioDev *dev, uint16_t v) {
        if (v >= VIRTIO_MSIX_VECTORS || !dev->msix_enabled)
                return;
        if (msix_vector_masked(dev, v)) {
                dev->msix_pba |= 1u << v;
                return;
        }
        msix_deliver(dev, v);
}

/* Pending vectors that are no longer masked fire now (§6.8.2.9). */
static void msix_flush_pending(VirtioDev *dev) {
        if (!dev->msix_enabled)
                return;
        for (uint16_t v = 0; v < VIRTIO_MSIX_VECTORS; v++)
                if ((dev->msix_pba & (1u << v)) && !msix_vector_masked(dev, v)) {
                        dev->msix_pba &= ~(1u << v);
                        msix_deliver(dev, v);
                }
}

void virtio_msix_config_written(VirtioDev *dev) {
        uint16_t ctrl = pci_config_get16(&dev->pci, MSIX_CTRL_OFFSET(dev));
        dev->msix_enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;
        dev->msix_masked = ctrl & PCI_MSIX_FLAGS_MASKALL;
        msix_flush_pending(dev);
}

/* Table entries are accessed as dwords (or a qword for the address); anything else reads as zero
 * and is dropped on write, which §6.8.2 allows. */
static void msix_table_access(VirtioDev *dev, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        uint64_t v = 0;
        unsigned idx = (unsigned) (offset / PCI_MSIX_ENTRY_SIZE), field = (unsigned) (offset % PCI_MSIX_ENTRY_SIZE);
        if (idx >= VIRTIO_MSIX_VECTORS || (len != 4 && len != 8) || (field % len)) {
                if (!is_write)
                        memset(data, 0, len);
                return;
        }
        uint32_t *words = (uint32_t *) &dev->msix[idx];
        if (!is_write) {
                for (unsigned k = 0; k < len / 4; k++)
                        v |= (uint64_t) words[field / 4 + k] << (32 * k);
                v = htole64(v);
                memcpy(data, &v, len);
                return;
        }
        memcpy(&v, data, len);
        v = le64toh(v);
        for (unsigned k = 0; k < len / 4; k++) {
                unsigned w = field / 4 + k;
                uint32_t x = (uint32_t) (v >> (32 * k));
                words[w] = w == 3 ? (x & PCI_MSIX_ENTRY_CTRL_MASKBIT) : x;
        }
        msix_flush_pending(dev);
}

void virtio_msix_bar_access(VirtioDev *dev, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        if (offset < VIRTIO_MSIX_PBA_OFFSET) {
                msix_table_access(dev, offset, data, len, is_write);
                return;
        }
        if (is_write)
                return;         /* the PBA is read-only */
        uint64_t pba = offset - VIRTIO_MSIX_PBA_OFFSET < 8 ? htole64(dev->msix_pba) : 0;
        uint64_t o = (offset - VIRTIO_MSIX_PBA_OFFSET) % 8;
        memset(data, 0, len);
        if (o + len <= 8)
                memcpy(data, (uint8_t *) &pba + o, len);
}
