/* SPDX-License-Identifier: Apache-2.0 */
/* MSI-X for the virtio-pci transport (PCI local bus 3.0 §6.8.2): the capability in config space,
 * the vector table and the pending bit array in their own BAR. Called with dev->lock held. */
#pragma once

#include "virtio.h"

#define VIRTIO_MSIX_BAR 2
#define VIRTIO_MSIX_BAR_SIZE 0x1000
#define VIRTIO_MSIX_PBA_OFFSET 0x800

/* Add the capability (table and PBA in BAR VIRTIO_MSIX_BAR) and mask every vector. */
int virtio_msix_init(VirtioDev *dev);
/* Deliver vector v, or latch it pending while masked. NO_VECTOR and a disabled MSI-X do nothing:
 * this transport has no INTx fallback. */
void virtio_msix_signal(VirtioDev *dev, uint16_t v);
/* Follow the enable and function-mask bits after a config space write; unmasking delivers what is
 * pending. */
void virtio_msix_config_written(VirtioDev *dev);
/* BAR handler body for the table and the PBA. */
void virtio_msix_bar_access(VirtioDev *dev, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
