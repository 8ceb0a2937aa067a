/* SPDX-License-Identifier: Apache-2.0 */
/* Little-endian accessors for a PciDevice's config space image, and the register layout from the
 * kernel's UAPI header (PCI local bus 3.0 §6.1). */
#pragma once

#include <endian.h>
#include <linux/pci_regs.h>
#include <stdint.h>
#include <string.h>

#include "pci.h"

#define PCI_CLASS_BRIDGE_HOST 0x0600

static inline uint16_t pci_config_get16(const PciDevice *dev, unsigned off) {
        uint16_t v;
        memcpy(&v, dev->config + off, sizeof(v));
        return le16toh(v);
}

static inline uint32_t pci_config_get32(const PciDevice *dev, unsigned off) {
        uint32_t v;
        memcpy(&v, dev->config + off, sizeof(v));
        return le32toh(v);
}

static inline void pci_config_put16(PciDevice *dev, unsigned off, uint16_t v) {
        v = htole16(v);
        memcpy(dev->config + off, &v, sizeof(v));
}

static inline void pci_config_put32(PciDevice *dev, unsigned off, uint32_t v) {
        v = htole32(v);
        memcpy(dev->config + off, &v, sizeof(v));
}
