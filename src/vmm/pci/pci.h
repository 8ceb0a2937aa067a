/* SPDX-License-Identifier: Apache-2.0 */
/* PCI: one host bridge (bus 0) with configuration mechanism #1 on ports 0xCF8/0xCFC (PCI local bus
 * 3.0 §3.2.2.3.2), 32 device slots, and an MMIO window below 4 GiB from which memory BARs are
 * pre-assigned (the guest may move them; the bus follows). Only memory BARs exist (no I/O BARs).
 * Device models fill a PciDevice and hand it to pci_bus_add(). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "error.h"
#include "state/state.h"

#define PCI_MAX_BARS 6
#define PCI_CONFIG_SPACE_SIZE 256       /* conventional config space; no extended (PCIe) space */

typedef struct PciBar {
        uint64_t size;          /* power of two >= 4096, 0 = BAR unused */
        bool is_64bit;          /* 64-bit memory BAR: takes this and the next BAR slot */
        BusHandler handler;     /* accesses relative to the BAR start */
        void *opaque;
        uint64_t addr;          /* current guest address (set by pci_bus_add, updated on guest writes) */
} PciBar;

typedef struct PciDevice {
        /* config space image; the device model fills IDs, class, capabilities before pci_bus_add() */
        uint8_t config[PCI_CONFIG_SPACE_SIZE];
        /* bits the guest may write, per byte of config space (1 = writable); BARs and the command
         * register are handled by the bus itself */
        uint8_t wmask[PCI_CONFIG_SPACE_SIZE];
        PciBar bars[PCI_MAX_BARS];
        /* optional: called after the guest wrote config space bytes [offset, offset + len), e.g. to
         * follow an MSI-X enable bit */
        void (*config_written)(struct PciDevice *dev, uint32_t offset, uint32_t len);
        void *opaque;           /* the device model */
        const char *name;
        uint8_t slot;           /* set by pci_bus_add */
} PciDevice;

typedef struct PciBus PciBus;

/* Create bus 0: registers 0xCF8..0xCFF on `pio`; BARs are placed in [mmio_base, mmio_base + mmio_size)
 * and registered on `mmio`. */
int pci_bus_new(Bus *pio, Bus *mmio, uint64_t mmio_base, uint64_t mmio_size, PciBus **ret, KError **err);
void pci_bus_free(PciBus *bus);
/* Place dev in the next free slot, assign its BARs and register them. dev must outlive the bus. */
int pci_bus_add(PciBus *bus, PciDevice *dev, KError **err);
/* Take dev off the bus: its BARs leave the mmio bus and its slot reads as empty. NULL-safe. Devices
 * are removed before pci_bus_free() (reverse order of creation). */
void pci_bus_remove(PciBus *bus, PciDevice *dev);

/* Helpers for device models building a config space. */
void pci_config_set_ids(PciDevice *dev, uint16_t vendor, uint16_t device, uint16_t subsys_vendor,
                        uint16_t subsys, uint32_t class_code, uint8_t revision);
/* Append a capability of `len` bytes (first byte = cap ID) to the list; returns its config offset or
 * -ENOSPC. Only capabilities whose length the list can recover are accepted: vendor-specific (length
 * in byte 2) and MSI-X (12 bytes); others give -EOPNOTSUPP. */
int pci_config_add_cap(PciDevice *dev, const uint8_t *cap, uint8_t len);

/* ---- snapshots ---- */

/* The 0xCF8 latch (section STATE_SEC_PCI_BUS). */
typedef struct PciBusState {
        uint32_t address;
        uint16_t host_command;  /* the host bridge's command register (its only writable bits) */
} PciBusState;
/* One function's config space (section STATE_SEC_PCI_DEV, instance = slot). */
typedef struct PciDeviceState {
        uint8_t config[PCI_CONFIG_SPACE_SIZE];
} PciDeviceState;
extern const StateLayout pci_bus_state_layout, pci_device_state_layout;

void pci_bus_save(PciBus *bus, PciBusState *out);
void pci_bus_load(PciBus *bus, const PciBusState *in);
void pci_device_save(PciBus *bus, PciDevice *dev, PciDeviceState *out);
/* Only what the guest can write is taken (command, BARs, interrupt line, bits in wmask); every
 * other byte (IDs, class, capabilities) must equal the device built now, or the snapshot is of a
 * different machine and is refused. BARs are re-registered where the guest had placed them. */
int pci_device_load(PciBus *bus, PciDevice *dev, const PciDeviceState *in, KError **err);
