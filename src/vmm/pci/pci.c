/* SPDX-License-Identifier: Apache-2.0 */
/* PCI bus 0 behind configuration mechanism #1 (PCI local bus 3.0 §3.2.2.3.2): the guest latches a
 * bus/device/function/register address in 0xCF8 and then reads or writes 1, 2 or 4 bytes through
 * 0xCFC..0xCFF. Every device is a type 0 header with memory BARs only; the bus owns the command
 * register and the BARs (sizing protocol, §6.2.5.1) and keeps each BAR registered on the mmio bus
 * at the address the guest programmed, while memory decoding is enabled. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "le-bytes.h"
#include "pci.h"
#include "pci-config.h"

#define PCI_CONFIG_PORT 0xcf8
#define PCI_CONFIG_PORTS_LEN 8
#define PCI_MAX_SLOTS 32

/* Mechanism #1 address register (0xCF8) fields. */
#define PCI_CF8_ENABLE 0x80000000u
#define PCI_CF8_BUS(a) (((a) >> 16) & 0xff)
#define PCI_CF8_SLOT(a) (((a) >> 11) & 0x1f)
#define PCI_CF8_FUNC(a) (((a) >> 8) & 0x7)
#define PCI_CF8_REG(a) ((a) & 0xfc)

/* Command register bits a guest may set: I/O space, memory space, bus master, INTx disable. */
#define PCI_COMMAND_WMASK (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE)

typedef struct PciSlot {
        PciDevice *dev;
        bool mapped[PCI_MAX_BARS];              /* registered on the mmio bus ... */
        uint64_t mapped_addr[PCI_MAX_BARS];     /* ... at this address */
} PciSlot;

struct PciBus {
        Bus *pio, *mmio;
        uint64_t mmio_base, mmio_size, mmio_next;
        pthread_mutex_t lock;   /* the 0xCF8 latch and every config space */
        uint32_t address;       /* last value written to 0xCF8 */
        PciSlot slots[PCI_MAX_SLOTS];
        PciDevice host_bridge;
};

void pci_config_set_ids(PciDevice *dev, uint16_t vendor, uint16_t device, uint16_t subsys_vendor, uint16_t subsys,
                        uint32_t class_code, uint8_t revision) {
        pci_config_put16(dev, PCI_VENDOR_ID, vendor);
        pci_config_put16(dev, PCI_DEVICE_ID, device);
        pci_config_put16(dev, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
        pci_config_put16(dev, PCI_SUBSYSTEM_ID, subsys);
        le32_write(dev->config + PCI_REVISION_ID, (class_code << 8) | revision);
        dev->config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
}

/* Length of a capability already in the list. The list itself does not record lengths, so only
 * capabilities whose length can be derived are accepted: vendor-specific ones carry it in their
 * third byte (§6.7, used by virtio), MSI-X is always 12 bytes (§6.8.2). */
static int pci_cap_length(const uint8_t *cap) {
        switch (cap[0]) {
        case PCI_CAP_ID_VNDR:
                return cap[2] >= 3 ? cap[2] : -EINVAL;
        case PCI_CAP_ID_MSIX:
                return PCI_CAP_MSIX_SIZEOF;
        default:
                return -EOPNOTSUPP;
        }
}

int pci_config_add_cap(PciDevice *dev, const uint8_t *cap, uint8_t len) {
        int l = len >= 3 ? pci_cap_length(cap) : -EINVAL;
        if (l < 0 || l != len)
                return l < 0 ? l : -EINVAL;
        /* Capabilities follow the 64-byte header, dword aligned (§6.7): walk to the end of the list
         * (bounded: a list we built has no loops, but stay safe) and place the new one after the
         * last. */
        uint8_t *link = dev->config + PCI_CAPABILITY_LIST;
        unsigned end = PCI_STD_HEADER_SIZEOF;
        for (unsigned guard = 0; *link && guard < PCI_CONFIG_SPACE_SIZE / 4; guard++) {
                uint8_t off = *link;
                int cl = pci_cap_length(dev->config + off);
                if (cl < 0)
                        return cl;
                if (off + (unsigned) cl > end)
                        end = off + (unsigned) cl;
                link = dev->config + off + PCI_CAP_LIST_NEXT;
        }
        end = (end + 3) & ~3u;
        if (end + len > PCI_CONFIG_SPACE_SIZE)
                return -ENOSPC;
        memcpy(dev->config + end, cap, len);
        dev->config[end + PCI_CAP_LIST_NEXT] = 0;
        *link = (uint8_t) end;
        pci_config_put16(dev, PCI_STATUS, pci_config_get16(dev, PCI_STATUS) | PCI_STATUS_CAP_LIST);
        return (int) end;
}

/* ---- BARs ---- */

/* Flag bits in the low dword of a memory BAR: type (32/64-bit); never prefetchable here. */
static uint32_t bar_flags(const PciBar *b) {
        return b->is_64bit ? PCI_BASE_ADDRESS_MEM_TYPE_64 : PCI_BASE_ADDRESS_MEM_TYPE_32;
}

static uint64_t bar_read_addr(const PciDevice *dev, unsigned i) {
        uint64_t a = le32_read(dev->config + PCI_BASE_ADDRESS_0 + 4 * i) & PCI_BASE_ADDRESS_MEM_MASK;
        if (dev->bars[i].is_64bit)
                a |= (uint64_t) le32_read(dev->config + PCI_BASE_ADDRESS_0 + 4 * (i + 1)) << 32;
        return a;
}

/* Store a BAR value: the low log2(size) address bits read as zero, which is what makes the
 * all-ones write of the sizing protocol read back as the size mask. */
static void bar_write_addr(PciDevice *dev, unsigned i, uint64_t addr) {
        PciBar *b = &dev->bars[i];
        addr &= ~(b->size - 1);
        if (!b->is_64bit)
                addr &= 0xffffffffu;
        le32_write(dev->config + PCI_BASE_ADDRESS_0 + 4 * i, (uint32_t) addr | bar_flags(b));
        if (b->is_64bit)
                le32_write(dev->config + PCI_BASE_ADDRESS_0 + 4 * (i + 1), (uint32_t) (addr >> 32));
        b->addr = addr;
}

/* Make the mmio bus match the BARs and the memory-enable bit. A BAR that cannot be registered
 * (it overlaps another range, or sits at 0 while the guest is still sizing) stays unmapped, as an
 * address conflict would on real hardware. */
static void pci_slot_update_mappings(PciBus *bus, PciSlot *s) {
        PciDevice *dev = s->dev;
        bool mem = pci_config_get16(dev, PCI_COMMAND) & PCI_COMMAND_MEMORY;
        for (unsigned i = 0; i < PCI_MAX_BARS; i++) {
                PciBar *b = &dev->bars[i];
                if (b->size == 0)
                        continue;
                bool want = mem && b->addr != 0 && b->addr + b->size > b->addr;
                if (s->mapped[i] && (!want || s->mapped_addr[i] != b->addr)) {
                        (void) bus_unregister(bus->mmio, s->mapped_addr[i]);
                        s->mapped[i] = false;
                }
                if (want && !s->mapped[i] &&
                    bus_register(bus->mmio, b->addr, b->size, b->handler, b->opaque, dev->name, NULL) == 0) {
                        s->mapped[i] = true;
                        s->mapped_addr[i] = b->addr;
                }
                if (b->is_64bit)
                        i++;
        }
}

static bool range_has_bar(uint32_t off, uint32_t len) {
        return off < PCI_BASE_ADDRESS_5 + 4 && off + len > PCI_BASE_ADDRESS_0;
}

static bool range_has_command(uint32_t off, uint32_t len) {
        return off < PCI_COMMAND + 2 && off + len > PCI_COMMAND;
}

/* ---- config space access ---- */

static void pci_config_write(PciBus *bus, PciSlot *s, uint32_t off, const uint8_t *data, uint32_t len) {
        PciDevice *dev = s->dev;
        uint64_t old_addr[PCI_MAX_BARS];
        for (unsigned i = 0; i < PCI_MAX_BARS; i++)
                old_addr[i] = dev->bars[i].size ? bar_read_addr(dev, i) : 0;

        for (uint32_t k = 0; k < len; k++) {
                uint32_t o = off + k;
                uint8_t m = dev->wmask[o];
                if (range_has_command(o, 1))
                        m = (uint8_t) (PCI_COMMAND_WMASK >> (8 * (o - PCI_COMMAND)));
                else if (range_has_bar(o, 1))
                        m = 0xff;       /* normalised below */
                dev->config[o] = (uint8_t) ((dev->config[o] & ~m) | (data[k] & m));
        }

        if (range_has_bar(off, len))
                for (unsigned i = 0; i < PCI_MAX_BARS; i++) {
                        PciBar *b = &dev->bars[i];
                        if (b->size == 0) {
                                le32_write(dev->config + PCI_BASE_ADDRESS_0 + 4 * i, 0);
                                continue;
                        }
                        uint64_t a = bar_read_addr(dev, i);
                        bar_write_addr(dev, i, a);
                        if (b->is_64bit)
                                i++;
                }
        bool moved = false;
        for (unsigned i = 0; i < PCI_MAX_BARS; i++)
                moved |= dev->bars[i].size && dev->bars[i].addr != old_addr[i];
        if (moved || range_has_command(off, len))
                pci_slot_update_mappings(bus, s);
        if (dev->config_written)
                dev->config_written(dev, off, len);
}

static PciSlot *pci_bus_target(PciBus *bus, uint32_t *ret_reg) {
        uint32_t a = bus->address;
        if (!(a & PCI_CF8_ENABLE) || PCI_CF8_BUS(a) != 0 || PCI_CF8_FUNC(a) != 0)
                return NULL;
        PciSlot *s = &bus->slots[PCI_CF8_SLOT(a)];
        if (!s->dev)
                return NULL;
        *ret_reg = PCI_CF8_REG(a);
        return s;
}

static void pci_data_access(PciBus *bus, uint32_t byte, uint8_t *data, uint32_t len, bool is_write) {
        uint32_t reg = 0;
        PciSlot *s = pci_bus_target(bus, &reg);
        /* an access through 0xCFC..0xCFF must stay inside the dword the address register selects */
        if (!s || byte + len > 4) {
                if (!is_write)
                        memset(data, 0xff, len);
                return;
        }
        uint32_t off = reg + byte;
        if (is_write)
                pci_config_write(bus, s, off, data, len);
        else
                memcpy(data, s->dev->config + off, len);
}

static void pci_config_ports(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        PciBus *bus = opaque;
        pthread_mutex_lock(&bus->lock);
        if (offset >= 4)
                pci_data_access(bus, (uint32_t) offset - 4, data, len, is_write);
        else if (offset == 0 && len == 4) {
                /* only a dword access hits the address register (§3.2.2.3.2) */
                if (is_write)
                        bus->address = le32_read(data);
                else
                        le32_write(data, bus->address);
        } else if (!is_write)
                memset(data, 0xff, len);
        pthread_mutex_unlock(&bus->lock);
}

/* ---- bus ---- */

/* Next address in the window aligned to size (BARs are naturally aligned, §6.2.5.1). */
static int pci_bus_alloc(PciBus *bus, uint64_t size, uint64_t *ret) {
        uint64_t a = (bus->mmio_next + size - 1) & ~(size - 1);
        if (a < bus->mmio_next || a + size < a || a + size > bus->mmio_base + bus->mmio_size)
                return -ENOSPC;
        bus->mmio_next = a + size;
        *ret = a;
        return 0;
}

static int pci_bus_check_bars(const PciDevice *dev, KError **err) {
        for (unsigned i = 0; i < PCI_MAX_BARS; i++) {
                const PciBar *b = &dev->bars[i];
                if (b->size == 0)
                        continue;
                if (b->size < 4096 || (b->size & (b->size - 1)) || !b->handler ||
                    (!b->is_64bit && b->size > 0x80000000u))
                        return kerr_msg(err, KERR_GENERIC, -EINVAL, "pci: %s: invalid BAR %u (size 0x%llx)",
                                        dev->name, i, (unsigned long long) b->size);
                if (b->is_64bit && (i + 1 >= PCI_MAX_BARS || dev->bars[i + 1].size))
                        return kerr_msg(err, KERR_GENERIC, -EINVAL,
                                        "pci: %s: 64-bit BAR %u needs the next slot free", dev->name, i);
                if (b->is_64bit)
                        i++;
        }
        return 0;
}

int pci_bus_add(PciBus *bus, PciDevice *dev, KError **err) {
        int r = pci_bus_check_bars(dev, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&bus->lock);
        unsigned slot = 0;
        while (slot < PCI_MAX_SLOTS && bus->slots[slot].dev)
                slot++;
        if (slot == PCI_MAX_SLOTS) {
                pthread_mutex_unlock(&bus->lock);
                return kerr_msg(err, KERR_GENERIC, -ENOSPC, "pci: no free slot for %s", dev->name);
        }
        uint64_t next = bus->mmio_next;
        for (unsigned i = 0; i < PCI_MAX_BARS && r == 0; i++) {
                uint64_t a = 0;
                if (dev->bars[i].size == 0)
                        continue;
                r = pci_bus_alloc(bus, dev->bars[i].size, &a);
                if (r == 0)
                        bar_write_addr(dev, i, a);
                if (dev->bars[i].is_64bit)
                        i++;
        }
        if (r < 0) {
                bus->mmio_next = next;
                pthread_mutex_unlock(&bus->lock);
                return kerr_msg(err, KERR_GENERIC, r, "pci: %s: BARs do not fit in the PCI window", dev->name);
        }
        /* the bus owns these: the guest writes them through the bus's own rules */
        memset(dev->wmask + PCI_COMMAND, 0, 4);
        memset(dev->wmask + PCI_BASE_ADDRESS_0, 0, 6 * 4);
        dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
        dev->slot = (uint8_t) slot;
        /* pre-assigned and decoding, as firmware would leave it */
        pci_config_put16(dev, PCI_COMMAND, PCI_COMMAND_MEMORY);
        bus->slots[slot] = (PciSlot) { .dev = dev };
        pci_slot_update_mappings(bus, &bus->slots[slot]);
        pthread_mutex_unlock(&bus->lock);
        return 0;
}

void pci_bus_remove(PciBus *bus, PciDevice *dev) {
        if (!bus || !dev)
                return;
        pthread_mutex_lock(&bus->lock);
        for (unsigned slot = 0; slot < PCI_MAX_SLOTS; slot++) {
                PciSlot *s = &bus->slots[slot];
                if (s->dev != dev)
                        continue;
                for (unsigned i = 0; i < PCI_MAX_BARS; i++)
                        if (s->mapped[i])
                                (void) bus_unregister(bus->mmio, s->mapped_addr[i]);
                *s = (PciSlot) {};
        }
        pthread_mutex_unlock(&bus->lock);
}

int pci_bus_new(Bus *pio, Bus *mmio, uint64_t mmio_base, uint64_t mmio_size, PciBus **ret, KError **err) {
        if (mmio_size == 0 || mmio_base + mmio_size < mmio_base)
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "pci: invalid MMIO window");
        PciBus *bus = calloc(1, sizeof(*bus));
        if (!bus)
                return kerr(err, -ENOMEM, "pci: allocate bus");
        *bus = (PciBus) { .pio = pio, .mmio = mmio, .mmio_base = mmio_base, .mmio_size = mmio_size,
                          .mmio_next = mmio_base };
        pthread_mutex_init(&bus->lock, NULL);
        /* Host bridge at 00.0: a neutral ID from the Red Hat range QEMU's generic bridges use would
         * be another project's; the Q35 host bridge ID is what Linux expects on x86 and needs no
         * driver quirks. */
        bus->host_bridge.name = "pci-host-bridge";
        pci_config_set_ids(&bus->host_bridge, 0x8086, 0x29c0, 0, 0, PCI_CLASS_BRIDGE_HOST << 8, 0);
        bus->slots[0].dev = &bus->host_bridge;
        int r = bus_register(pio, PCI_CONFIG_PORT, PCI_CONFIG_PORTS_LEN, pci_config_ports, bus, "pci-config", err);
        if (r < 0) {
                pthread_mutex_destroy(&bus->lock);
                free(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

void pci_bus_free(PciBus *bus) {
        if (!bus)
                return;
        for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++)
                pci_bus_remove(bus, bus->slots[slot].dev);
        (void) bus_unregister(bus->pio, PCI_CONFIG_PORT);
        pthread_mutex_destroy(&bus->lock);
        free(bus);
}

/* ---- snapshots ---- */

static const StateField pci_bus_fields[] = { STATE_FIELD(PciBusState, address),
                                             STATE_FIELD(PciBusState, host_command) };
const StateLayout pci_bus_state_layout = { "pci-bus", STATE_SEC_PCI_BUS, 1, pci_bus_fields,
                                           ELEMENTSOF(pci_bus_fields) };
static const StateField pci_device_fields[] = { STATE_ARRAY(PciDeviceState, config) };
const StateLayout pci_device_state_layout = { "pci-device", STATE_SEC_PCI_DEV, 1, pci_device_fields,
                                              ELEMENTSOF(pci_device_fields) };

void pci_bus_save(PciBus *bus, PciBusState *out) {
        pthread_mutex_lock(&bus->lock);
        out->address = bus->address;
        out->host_command = pci_config_get16(&bus->host_bridge, PCI_COMMAND);
        pthread_mutex_unlock(&bus->lock);
}

void pci_bus_load(PciBus *bus, const PciBusState *in) {
        pthread_mutex_lock(&bus->lock);
        bus->address = in->address;
        pci_config_put16(&bus->host_bridge, PCI_COMMAND, in->host_command & PCI_COMMAND_WMASK);
        pthread_mutex_unlock(&bus->lock);
}

void pci_device_save(PciBus *bus, PciDevice *dev, PciDeviceState *out) {
        pthread_mutex_lock(&bus->lock);
        memcpy(out->config, dev->config, sizeof(out->config));
        pthread_mutex_unlock(&bus->lock);
}

static uint8_t pci_guest_writable(const PciDevice *dev, unsigned o) {
        if (range_has_command(o, 1))
                return (uint8_t) (PCI_COMMAND_WMASK >> (8 * (o - PCI_COMMAND)));
        if (range_has_bar(o, 1))
                return 0xff;
        return dev->wmask[o];
}

int pci_device_load(PciBus *bus, PciDevice *dev, const PciDeviceState *in, KError **err) {
        PciSlot *s = NULL;
        for (unsigned i = 0; i < PCI_MAX_SLOTS && !s; i++)
                if (bus->slots[i].dev == dev)
                        s = &bus->slots[i];
        if (!s)
                return kerr_msg(err, KERR_GENERIC, -ENODEV, "pci state: %s is not on the bus", dev->name);
        for (unsigned o = 0; o < PCI_CONFIG_SPACE_SIZE; o++) {
                uint8_t m = pci_guest_writable(dev, o);
                if ((in->config[o] & ~m) != (dev->config[o] & ~m))
                        return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                        "pci state: slot %u (%s) differs at config byte 0x%02x (0x%02x, this VM has "
                                        "0x%02x): the snapshot is of a different device", dev->slot, dev->name, o,
                                        in->config[o], dev->config[o]);
        }
        pthread_mutex_lock(&bus->lock);
        memcpy(dev->config, in->config, sizeof(dev->config));
        for (unsigned i = 0; i < PCI_MAX_BARS; i++) {
                if (dev->bars[i].size == 0)
                        le32_write(dev->config + PCI_BASE_ADDRESS_0 + 4 * i, 0);
                else
                        bar_write_addr(dev, i, bar_read_addr(dev, i));
                if (dev->bars[i].is_64bit)
                        i++;
        }
        pci_slot_update_mappings(bus, s);
        pthread_mutex_unlock(&bus->lock);
        return 0;
}
