/* SPDX-License-Identifier: Apache-2.0 */
/* PCI bus 0 through the 0xCF8/0xCFC ports: enumeration, empty slots and functions, the BAR sizing
 * protocol, BAR moves and the memory-enable bit on the mmio bus, write masks, capabilities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/pci_regs.h>
#include <string.h>

#include "pci/pci-config.h"
#include "test-virtio-harness.h"

typedef struct Dummy {
        PciDevice pci;
        unsigned reads, writes;
        uint64_t last_offset;
        unsigned config_writes;
} Dummy;

static void dummy_bar(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Dummy *d = opaque;
        d->last_offset = offset;
        if (is_write)
                d->writes++;
        else {
                d->reads++;
                memset(data, 0x5a, len);
        }
}

static void dummy_written(PciDevice *dev, uint32_t offset, uint32_t len) {
        ((Dummy *) dev->opaque)->config_writes++;
}

static void dummy_init(Dummy *d) {
        memset(d, 0, sizeof(*d));
        pci_config_set_ids(&d->pci, 0x1234, 0x5678, 0x1234, 1, 0xff0000, 2);
        d->pci.name = "dummy";
        d->pci.opaque = d;
        d->pci.config_written = dummy_written;
        d->pci.bars[0] = (PciBar) { .size = 0x4000, .is_64bit = true, .handler = dummy_bar, .opaque = d };
        d->pci.bars[2] = (PciBar) { .size = 0x1000, .handler = dummy_bar, .opaque = d };
        d->pci.wmask[0x40] = 0x0f;      /* a device register with 4 writable bits */
        d->pci.config[0x40] = 0xa0;
}

static void test_host_bridge_and_empty_slots(void **state) {
        Machine m;
        machine_init(&m);
        assert_int_equal(pci_cfg_read(&m, 0, 0, PCI_VENDOR_ID, 4), 0x29c08086);
        assert_int_equal(pci_cfg_read(&m, 0, 0, PCI_CLASS_REVISION, 4) >> 8, 0x060000);
        /* no device in slot 5, no function 1 anywhere: all ones */
        assert_int_equal(pci_cfg_read(&m, 5, 0, PCI_VENDOR_ID, 4), 0xffffffffu);
        assert_int_equal(pci_cfg_read(&m, 0, 1, PCI_VENDOR_ID, 4), 0xffffffffu);
        assert_int_equal(pci_cfg_read(&m, 0, 0, PCI_VENDOR_ID, 2), 0x8086);
        assert_int_equal(pci_cfg_read(&m, 0, 0, PCI_DEVICE_ID, 2), 0x29c0);
        assert_int_equal(pci_cfg_read(&m, 0, 0, PCI_DEVICE_ID + 1, 1), 0x29);
        /* the address register reads back; without the enable bit data reads all ones */
        uint32_t a = 0x12345678u, back = 0;
        assert_true(bus_dispatch(&m.pio, 0xcf8, (uint8_t *) &a, 4, true));
        assert_true(bus_dispatch(&m.pio, 0xcf8, (uint8_t *) &back, 4, false));
        assert_int_equal(back, 0x12345678u);
        uint32_t v = 0;
        assert_true(bus_dispatch(&m.pio, 0xcfc, (uint8_t *) &v, 4, false));
        assert_int_equal(v, 0xffffffffu);
        machine_done(&m);
}

static void test_enumerate_and_bar_sizing(void **state) {
        Machine m;
        machine_init(&m);
        Dummy d;
        dummy_init(&d);
        assert_int_equal(pci_bus_add(m.pci, &d.pci, NULL), 0);
        assert_int_equal(d.pci.slot, 1);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_VENDOR_ID, 4), 0x56781234);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_CLASS_REVISION, 4), 0xff000002);

        /* pre-assigned inside the window, naturally aligned, 64-bit type */
        uint32_t lo = pci_cfg_read(&m, 1, 0, PCI_BASE_ADDRESS_0, 4);
        assert_int_equal(lo & 0xf, PCI_BASE_ADDRESS_MEM_TYPE_64);
        uint64_t addr = lo & ~0xfu;
        assert_true(addr >= MACHINE_PCI_BASE && addr < MACHINE_PCI_BASE + MACHINE_PCI_SIZE);
        assert_int_equal(addr % 0x4000, 0);

        /* sizing: memory decode off, all ones, read the mask, restore */
        pci_cfg_write(&m, 1, PCI_COMMAND, 0, 2);
        pci_cfg_write(&m, 1, PCI_BASE_ADDRESS_0, 0xffffffffu, 4);
        pci_cfg_write(&m, 1, PCI_BASE_ADDRESS_1, 0xffffffffu, 4);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_BASE_ADDRESS_0, 4), 0xffffc004u);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_BASE_ADDRESS_1, 4), 0xffffffffu);
        pci_cfg_write(&m, 1, PCI_BASE_ADDRESS_2, 0xffffffffu, 4);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_BASE_ADDRESS_2, 4), 0xfffff000u);
        /* unused BARs and the expansion ROM size as 0: not implemented */
        pci_cfg_write(&m, 1, PCI_BASE_ADDRESS_4, 0xffffffffu, 4);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_BASE_ADDRESS_4, 4), 0);
        pci_cfg_write(&m, 1, PCI_ROM_ADDRESS, 0xffffffffu, 4);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_ROM_ADDRESS, 4), 0);
        machine_done(&m);
}

static void test_bar_move_and_memory_enable(void **state) {
        Machine m;
        machine_init(&m);
        Dummy d;
        dummy_init(&d);
        assert_int_equal(pci_bus_add(m.pci, &d.pci, NULL), 0);
        uint64_t old = d.pci.bars[0].addr;
        assert_int_equal(mmio_read(&m, old + 8, 4), 0x5a5a5a5a);
        assert_int_equal(d.last_offset, 8);

        /* decode off: the BAR leaves the bus */
        pci_cfg_write(&m, 1, PCI_COMMAND, 0, 2);
        assert_int_equal(mmio_read(&m, old + 8, 4), 0xffffffffu);
        assert_int_equal(d.reads, 1);

        /* move it above 4 GiB, decode on: it answers there and only there */
        uint64_t new = 0x123400000000ULL;
        pci_cfg_write(&m, 1, PCI_BASE_ADDRESS_0, (uint32_t) new, 4);
        pci_cfg_write(&m, 1, PCI_BASE_ADDRESS_1, (uint32_t) (new >> 32), 4);
        pci_cfg_write(&m, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        assert_int_equal(d.pci.bars[0].addr, new);
        assert_int_equal(mmio_read(&m, new + 0x10, 2), 0x5a5a);
        assert_int_equal(d.last_offset, 0x10);
        assert_int_equal(mmio_read(&m, old + 8, 4), 0xffffffffu);

        /* a move while decoding follows at once; low bits of an unaligned address are dropped */
        pci_cfg_write(&m, 1, PCI_BASE_ADDRESS_1, 0, 4);
        pci_cfg_write(&m, 1, PCI_BASE_ADDRESS_0, 0xd0001234u, 4);
        assert_int_equal(d.pci.bars[0].addr, 0xd0000000u);
        mmio_write(&m, 0xd0000000u + 4, 1, 4);
        assert_int_equal(d.writes, 1);
        machine_done(&m);
}

static void test_wmask_and_config_written(void **state) {
        Machine m;
        machine_init(&m);
        Dummy d;
        dummy_init(&d);
        assert_int_equal(pci_bus_add(m.pci, &d.pci, NULL), 0);
        /* read-only IDs stay */
        pci_cfg_write(&m, 1, PCI_VENDOR_ID, 0xffffffffu, 4);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_VENDOR_ID, 4), 0x56781234);
        /* only the writable bits of a device register change */
        pci_cfg_write(&m, 1, 0x40, 0x55, 1);
        assert_int_equal(pci_cfg_read(&m, 1, 0, 0x40, 1), 0xa5);
        /* command: only I/O, memory, master and INTx-disable bits stick */
        pci_cfg_write(&m, 1, PCI_COMMAND, 0xffff, 2);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_COMMAND, 2), 0x0407);
        assert_true(d.config_writes >= 3);
        /* an access that crosses the selected dword goes nowhere */
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_VENDOR_ID + 3, 2), 0xffff);
        machine_done(&m);
}

static void test_capabilities(void **state) {
        Dummy d;
        dummy_init(&d);
        uint8_t vndr[16] = { PCI_CAP_ID_VNDR, 0, 16, 1 };
        uint8_t msix[12] = { PCI_CAP_ID_MSIX };
        uint8_t other[8] = { PCI_CAP_ID_PM };
        int a = pci_config_add_cap(&d.pci, vndr, sizeof(vndr));
        int b = pci_config_add_cap(&d.pci, msix, sizeof(msix));
        assert_int_equal(a, PCI_STD_HEADER_SIZEOF);
        assert_int_equal(b, PCI_STD_HEADER_SIZEOF + 16);
        assert_int_equal(d.pci.config[PCI_CAPABILITY_LIST], a);
        assert_int_equal(d.pci.config[a + 1], b);
        assert_int_equal(d.pci.config[b + 1], 0);
        assert_true(pci_config_get16(&d.pci, PCI_STATUS) & PCI_STATUS_CAP_LIST);
        assert_int_equal(pci_config_add_cap(&d.pci, other, sizeof(other)), -EOPNOTSUPP);
        assert_int_equal(pci_config_add_cap(&d.pci, msix, 8), -EINVAL);
        /* fill the space: -ENOSPC, list intact */
        int r;
        while ((r = pci_config_add_cap(&d.pci, vndr, sizeof(vndr))) > 0)
                assert_true(r + 16 <= PCI_CONFIG_SPACE_SIZE);
        assert_int_equal(r, -ENOSPC);
}

static void test_bad_bars_refused(void **state) {
        Machine m;
        machine_init(&m);
        Dummy d;
        dummy_init(&d);
        d.pci.bars[1] = (PciBar) { .size = 0x1000, .handler = dummy_bar };  /* overlaps 64-bit BAR 0 */
        assert_int_equal(pci_bus_add(m.pci, &d.pci, NULL), -EINVAL);
        dummy_init(&d);
        d.pci.bars[2].size = 0x1800;    /* not a power of two */
        assert_int_equal(pci_bus_add(m.pci, &d.pci, NULL), -EINVAL);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_VENDOR_ID, 4), 0xffffffffu);
        machine_done(&m);
}

static void test_remove(void **state) {
        Machine m;
        machine_init(&m);
        Dummy d;
        dummy_init(&d);
        assert_int_equal(pci_bus_add(m.pci, &d.pci, NULL), 0);
        uint64_t a = d.pci.bars[0].addr;
        pci_bus_remove(m.pci, &d.pci);
        assert_int_equal(pci_cfg_read(&m, 1, 0, PCI_VENDOR_ID, 4), 0xffffffffu);
        assert_int_equal(mmio_read(&m, a, 4), 0xffffffffu);
        assert_int_equal(m.mmio.n_ranges, 0);
        machine_done(&m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_host_bridge_and_empty_slots),
                cmocka_unit_test(test_enumerate_and_bar_sizing),
                cmocka_unit_test(test_bar_move_and_memory_enable),
                cmocka_unit_test(test_wmask_and_config_written),
                cmocka_unit_test(test_capabilities),
                cmocka_unit_test(test_bad_bars_refused),
                cmocka_unit_test(test_remove),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
