/* SPDX-License-Identifier: Apache-2.0 */
/* The virtio-pci transport and the split virtqueue, driven by the fake driver: feature negotiation,
 * the status state machine, doorbells (mmio and ioeventfd), MSI-X masking, notification
 * suppression, and hostile descriptor chains that must each end with DEVICE_NEEDS_RESET, not a
 * crash or a hang. virtio-rng is the device under test: it consumes any chain it is given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#define VIRTIO_PCI_NO_LEGACY
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <unistd.h>

#include "test-virtio-harness.h"

#define F_V1 (1ULL << VIRTIO_F_VERSION_1)
#define F_EVENT_IDX (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT (1ULL << VIRTIO_RING_F_INDIRECT_DESC)
#define QSIZE 8
#define CONFIG_VECTOR_DATA (MSI_DATA_BASE + 4)

typedef struct Fixture {
        Machine m;
        VirtioDev *rng;
        Drv d;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        machine_init(&f->m);
        assert_int_equal(virtio_rng_create(&f->m.env, &f->rng, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        virtio_dev_free(f->rng);
        machine_done(&f->m);
        free(f);
        return 0;
}

static void up(Fixture *f, uint64_t features) {
        f->m.fake.ioeventfd_fails = true;       /* doorbells through the BAR unless a test wants eventfds */
        drv_bring_up(&f->d, &f->m, 1, features, 1, QSIZE);
}

/* ---- negotiation and status ---- */

static void test_ids_and_features(void **state) {
        Fixture *f = *state;
        drv_probe(&f->d, &f->m, 1);
        assert_int_equal(pci_cfg_read(&f->m, 1, 0, PCI_DEVICE_ID, 2), 0x1044);
        assert_int_equal(pci_cfg_read(&f->m, 1, 0, PCI_REVISION_ID, 1), 1);
        uint64_t feat = drv_device_features(&f->d);
        assert_true(feat & F_V1);
        assert_true(feat & F_EVENT_IDX);
        assert_true(feat & F_INDIRECT);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
}

static void test_features_ok_needs_version_1(void **state) {
        Fixture *f = *state;
        drv_probe(&f->d, &f->m, 1);
        uint8_t s = drv_negotiate(&f->d, F_EVENT_IDX);
        assert_false(s & VIRTIO_CONFIG_S_FEATURES_OK);
        /* and without FEATURES_OK no DRIVER_OK */
        drv_driver_ok(&f->d);
        assert_false(drv_status(&f->d) & VIRTIO_CONFIG_S_DRIVER_OK);
}

static void test_features_ok_refuses_unoffered(void **state) {
        Fixture *f = *state;
        drv_probe(&f->d, &f->m, 1);
        assert_false(drv_negotiate(&f->d, F_V1 | (1ULL << 40)) & VIRTIO_CONFIG_S_FEATURES_OK);
        assert_true(drv_negotiate(&f->d, F_V1) & VIRTIO_CONFIG_S_FEATURES_OK);
        /* features are frozen after FEATURES_OK */
        common_write(&f->d, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
        common_write(&f->d, VIRTIO_PCI_COMMON_GF, F_EVENT_IDX, 4);
        common_write(&f->d, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_GF, 4), 0);
}

static void test_status_order(void **state) {
        Fixture *f = *state;
        drv_probe(&f->d, &f->m, 1);
        drv_set_status(&f->d, VIRTIO_CONFIG_S_DRIVER);  /* DRIVER without ACKNOWLEDGE */
        assert_int_equal(drv_status(&f->d), 0);
        drv_set_status(&f->d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        drv_set_status(&f->d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        drv_set_status(&f->d, VIRTIO_CONFIG_S_ACKNOWLEDGE);     /* clearing a bit is ignored */
        assert_int_equal(drv_status(&f->d), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        /* queue registers are closed before FEATURES_OK */
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SIZE, 4, 2);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
}

static void test_no_queue_changes_after_driver_ok(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
        uint32_t desc = common_read(&f->d, VIRTIO_PCI_COMMON_Q_DESCLO, 4);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_DESCLO, 0x2000, 4);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SIZE, 2, 2);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_MSIX, 3, 2);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_DESCLO, 4), desc);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_SIZE, 2), QSIZE);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_MSIX, 2), 0);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
}

static void test_reset_clears_everything(void **state) {
        Fixture *f = *state;
        up(f, F_V1 | F_EVENT_IDX);
        drv_set_status(&f->d, 0);
        assert_int_equal(drv_status(&f->d), 0);
        common_write(&f->d, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_GF, 4), 0);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
        /* and the device comes up again */
        up(f, F_V1);
}

static void test_queue_size_and_vector_validation(void **state) {
        Fixture *f = *state;
        drv_probe(&f->d, &f->m, 1);
        drv_negotiate(&f->d, F_V1);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SIZE, 6, 2);    /* not a power of two */
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SIZE, 128, 2);  /* above the maximum */
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_MSIX, 99, 2);   /* no such MSI-X vector */
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SELECT, 5, 2);  /* no such queue */
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
        /* a ring outside RAM is refused at enable */
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_DESCLO, 0x10000, 4);
        common_write(&f->d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
        assert_int_equal(common_read(&f->d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
        assert_true(drv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* ---- data path ---- */

static void test_rng_fills_buffers_mmio_doorbell(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        uint64_t buf = drv_alloc(&f->d, 64, 16);
        DrvBuf b = { buf, 64, true };
        uint16_t head = drv_add_chain(&f->d, 0, &b, 1);
        drv_kick(&f->d, 0);
        uint32_t id, len;
        assert_true(drv_get_used(&f->d, 0, &id, &len));
        assert_int_equal(id, head);
        assert_int_equal(len, 64);
        static const uint8_t zero[64];
        assert_memory_not_equal(gpa(&f->m, buf, 64), zero, 64);
        assert_int_equal(msis_with_data(&f->m, MSI_DATA_BASE + 0), 1);
        assert_false(drv_get_used(&f->d, 0, &id, &len));
}

static void test_ioeventfd_doorbell_follows_bar(void **state) {
        Fixture *f = *state;
        drv_bring_up(&f->d, &f->m, 1, F_V1, 1, QSIZE);
        assert_int_equal(f->m.fake.n_ioevents, 1);
        assert_int_equal(f->m.fake.ioevents[0].addr, f->d.notify);
        DrvBuf b = { drv_alloc(&f->d, 16, 16), 16, true };
        drv_add_chain(&f->d, 0, &b, 1);
        uint64_t one = 1;
        assert_int_equal(write(f->m.fake.ioevents[0].fd, &one, sizeof(one)), sizeof(one));
        assert_int_equal(machine_run_loop(&f->m), 1);
        uint32_t id, len;
        assert_true(drv_get_used(&f->d, 0, &id, &len));

        /* the guest moves BAR 0: the doorbell moves with it */
        uint64_t nb = 0xd0000000u;
        pci_cfg_write(&f->m, 1, PCI_BASE_ADDRESS_0, (uint32_t) nb, 4);
        assert_int_equal(f->m.fake.n_ioevents, 1);
        assert_int_equal(f->m.fake.ioevents[0].addr, nb + (f->d.notify - f->d.bar0));
        /* reset drops it */
        mmio_write(&f->m, nb + (f->d.common - f->d.bar0) + VIRTIO_PCI_COMMON_STATUS, 0, 1);
        assert_int_equal(f->m.fake.n_ioevents, 0);
        assert_int_equal(f->m.fake.n_fds, 0);
}

static void test_msix_mask_and_pending(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        uint64_t entry0 = f->d.bar2 + 0;
        mmio_write(&f->m, entry0 + 12, PCI_MSIX_ENTRY_CTRL_MASKBIT, 4);
        DrvBuf b = { drv_alloc(&f->d, 16, 16), 16, true };
        drv_add_chain(&f->d, 0, &b, 1);
        drv_kick(&f->d, 0);
        assert_int_equal(msis_with_data(&f->m, MSI_DATA_BASE), 0);
        assert_int_equal(mmio_read(&f->m, f->d.bar2 + 0x800, 8) & 1, 1);        /* pending */
        mmio_write(&f->m, entry0 + 12, 0, 4);                                       /* unmask */
        assert_int_equal(msis_with_data(&f->m, MSI_DATA_BASE), 1);
        assert_int_equal(mmio_read(&f->m, f->d.bar2 + 0x800, 8) & 1, 0);
        /* function mask through config space */
        unsigned cap = 0;
        for (unsigned off = pci_cfg_read(&f->m, 1, 0, PCI_CAPABILITY_LIST, 1); off;
             off = pci_cfg_read(&f->m, 1, 0, off + 1, 1))
                if (pci_cfg_read(&f->m, 1, 0, off, 1) == PCI_CAP_ID_MSIX)
                        cap = off;
        uint16_t ctrl = (uint16_t) pci_cfg_read(&f->m, 1, 0, cap + PCI_MSIX_FLAGS, 2);
        pci_cfg_write(&f->m, 1, cap + PCI_MSIX_FLAGS, ctrl | PCI_MSIX_FLAGS_MASKALL, 2);
        drv_add_chain(&f->d, 0, &b, 1);
        drv_kick(&f->d, 0);
        assert_int_equal(msis_with_data(&f->m, MSI_DATA_BASE), 1);
        pci_cfg_write(&f->m, 1, cap + PCI_MSIX_FLAGS, ctrl, 2);
        assert_int_equal(msis_with_data(&f->m, MSI_DATA_BASE), 2);
}

static void test_no_interrupt_flag(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        uint16_t *flags = gpa(&f->m, f->d.q[0].avail, 2);
        *flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
        DrvBuf b = { drv_alloc(&f->d, 16, 16), 16, true };
        drv_add_chain(&f->d, 0, &b, 1);
        drv_kick(&f->d, 0);
        uint32_t id, len;
        assert_true(drv_get_used(&f->d, 0, &id, &len));
        assert_int_equal(f->m.fake.n_msis, 0);
}

static void test_event_idx_suppression(void **state) {
        Fixture *f = *state;
        up(f, F_V1 | F_EVENT_IDX);
        uint16_t *used_event = gpa(&f->m, f->d.q[0].avail + 4 + 2 * QSIZE, 2);
        uint16_t *avail_event = gpa(&f->m, f->d.q[0].used + 4 + 8 * QSIZE, 2);
        DrvBuf b = { drv_alloc(&f->d, 16, 16), 16, true };
        /* first completion always interrupts; then only when used idx passes used_event */
        *used_event = htole16(3);
        for (unsigned i = 0; i < 5; i++) {
                drv_add_chain(&f->d, 0, &b, 1);
                drv_kick(&f->d, 0);
        }
        /* used idx went 1 (first: notify), 2, 3, 4 (passes event 3: notify), 5 */
        assert_int_equal(msis_with_data(&f->m, MSI_DATA_BASE), 2);
        /* the device asks to be kicked at the next entry */
        assert_int_equal(le16toh(*avail_event), 5);
}

static void test_indirect_chain(void **state) {
        Fixture *f = *state;
        up(f, F_V1 | F_INDIRECT);
        uint64_t table = drv_alloc(&f->d, 3 * 16, 16), bufs = drv_alloc(&f->d, 3 * 32, 16);
        uint8_t *t = gpa(&f->m, table, 48);
        for (unsigned i = 0; i < 3; i++) {
                uint64_t a = htole64(bufs + 32 * i);
                uint32_t l = htole32(32);
                uint16_t fl = htole16(VRING_DESC_F_WRITE | (i < 2 ? VRING_DESC_F_NEXT : 0)), nx = htole16(i + 1);
                memcpy(t + 16 * i, &a, 8);
                memcpy(t + 16 * i + 8, &l, 4);
                memcpy(t + 16 * i + 12, &fl, 2);
                memcpy(t + 16 * i + 14, &nx, 2);
        }
        drv_put_desc(&f->d, 0, 0, table, 48, VRING_DESC_F_INDIRECT, 0);
        drv_publish(&f->d, 0, 0, 1);
        drv_kick(&f->d, 0);
        uint32_t id, len;
        assert_true(drv_get_used(&f->d, 0, &id, &len));
        assert_int_equal(len, 96);
        assert_false(drv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_avail_idx_wraps(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        DrvBuf b = { drv_alloc(&f->d, 4, 4), 4, true };
        unsigned done = 0;
        uint32_t id, len;
        /* 65536 + 16 chains: avail and used indices wrap through 0 */
        for (unsigned round = 0; round < (65536 + 16) / QSIZE; round++) {
                for (unsigned i = 0; i < QSIZE; i++)
                        drv_add_chain(&f->d, 0, &b, 1);
                drv_kick(&f->d, 0);
                while (drv_get_used(&f->d, 0, &id, &len))
                        done++;
        }
        assert_int_equal(done, 65536 + 16);
        assert_int_equal(drv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* ---- hostile chains: each must leave the device in NEEDS_RESET with nothing used ---- */

static void expect_broken(Fixture *f) {
        drv_kick(&f->d, 0);
        uint32_t id, len;
        assert_false(drv_get_used(&f->d, 0, &id, &len));
        assert_true(drv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
        assert_int_equal(msis_with_data(&f->m, CONFIG_VECTOR_DATA), 1);
        /* and it stays refused: a second kick does nothing more */
        drv_kick(&f->d, 0);
        assert_false(drv_get_used(&f->d, 0, &id, &len));
        /* a reset brings it back */
        up(f, F_V1);
        DrvBuf b = { drv_alloc(&f->d, 8, 8), 8, true };
        drv_add_chain(&f->d, 0, &b, 1);
        drv_kick(&f->d, 0);
        assert_true(drv_get_used(&f->d, 0, &id, &len));
}

static uint64_t buf16(Fixture *f) {
        return drv_alloc(&f->d, 16, 16);
}

static void test_hostile_loop(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        uint64_t b = buf16(f);
        drv_put_desc(&f->d, 0, 0, b, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
        drv_put_desc(&f->d, 0, 1, b, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_self_loop(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        drv_put_desc(&f->d, 0, 3, buf16(f), 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
        drv_publish(&f->d, 0, 3, 1);
        expect_broken(f);
}

static void test_hostile_next_out_of_range(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        drv_put_desc(&f->d, 0, 0, buf16(f), 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, QSIZE);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_head_out_of_range(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        drv_publish(&f->d, 0, 0xffff, 1);
        expect_broken(f);
}

static void test_hostile_address_beyond_ram(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        drv_put_desc(&f->d, 0, 0, MACHINE_RAM_GPA + MACHINE_RAM_SIZE - 8, 16, VRING_DESC_F_WRITE, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_address_below_ram(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        drv_put_desc(&f->d, 0, 0, 0, 16, VRING_DESC_F_WRITE, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_length_wraps(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        drv_put_desc(&f->d, 0, 0, 0xfffffffffffff000ULL, 0x2000, VRING_DESC_F_WRITE, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_oversize_length(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        drv_put_desc(&f->d, 0, 0, MACHINE_RAM_GPA, 0xffffffffu, VRING_DESC_F_WRITE, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_readable_after_writable(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        uint64_t b = buf16(f);
        drv_put_desc(&f->d, 0, 0, b, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
        drv_put_desc(&f->d, 0, 1, b, 16, 0, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_avail_jump(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        drv_put_desc(&f->d, 0, 0, buf16(f), 16, VRING_DESC_F_WRITE, 0);
        drv_publish(&f->d, 0, 0, QSIZE + 1);
        expect_broken(f);
}

static void test_hostile_avail_goes_backwards(void **state) {
        Fixture *f = *state;
        up(f, F_V1);
        drv_put_desc(&f->d, 0, 0, buf16(f), 16, VRING_DESC_F_WRITE, 0);
        drv_publish(&f->d, 0, 0, 0xffff);       /* idx - last = 65535 */
        expect_broken(f);
}

/* An indirect table at `table` with n entries chained in order, each flagged `flags`. */
static void put_indirect(Fixture *f, uint64_t table, unsigned n, uint16_t flags, uint64_t buf) {
        uint8_t *t = gpa(&f->m, table, 16ULL * n);
        for (unsigned i = 0; i < n; i++) {
                uint64_t a = htole64(buf);
                uint32_t l = htole32(4);
                uint16_t fl = htole16(flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0)), nx = htole16(i + 1);
                memcpy(t + 16 * i, &a, 8);
                memcpy(t + 16 * i + 8, &l, 4);
                memcpy(t + 16 * i + 12, &fl, 2);
                memcpy(t + 16 * i + 14, &nx, 2);
        }
}

static void test_hostile_nested_indirect(void **state) {
        Fixture *f = *state;
        up(f, F_V1 | F_INDIRECT);
        uint64_t inner = drv_alloc(&f->d, 32, 16), outer = drv_alloc(&f->d, 16, 16);
        put_indirect(f, inner, 2, VRING_DESC_F_WRITE, buf16(f));
        put_indirect(f, outer, 1, VRING_DESC_F_INDIRECT, inner);
        uint8_t *o = gpa(&f->m, outer + 8, 4);
        uint32_t l = htole32(32);
        memcpy(o, &l, 4);
        drv_put_desc(&f->d, 0, 0, outer, 16, VRING_DESC_F_INDIRECT, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_indirect_too_long(void **state) {
        Fixture *f = *state;
        up(f, F_V1 | F_INDIRECT);
        unsigned n = 300;       /* more buffers than any chain may carry */
        uint64_t table = drv_alloc(&f->d, 16 * n, 16);
        put_indirect(f, table, n, VRING_DESC_F_WRITE, buf16(f));
        drv_put_desc(&f->d, 0, 0, table, 16 * n, VRING_DESC_F_INDIRECT, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_indirect_bad_length(void **state) {
        Fixture *f = *state;
        up(f, F_V1 | F_INDIRECT);
        uint64_t table = drv_alloc(&f->d, 32, 16);
        put_indirect(f, table, 2, VRING_DESC_F_WRITE, buf16(f));
        drv_put_desc(&f->d, 0, 0, table, 24, VRING_DESC_F_INDIRECT, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_indirect_loop(void **state) {
        Fixture *f = *state;
        up(f, F_V1 | F_INDIRECT);
        uint64_t table = drv_alloc(&f->d, 32, 16);
        put_indirect(f, table, 2, VRING_DESC_F_WRITE, buf16(f));
        uint16_t back = 0;
        uint16_t fl = htole16(VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
        memcpy(gpa(&f->m, table + 16 + 12, 2), &fl, 2);
        memcpy(gpa(&f->m, table + 16 + 14, 2), &back, 2);
        drv_put_desc(&f->d, 0, 0, table, 32, VRING_DESC_F_INDIRECT, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

static void test_hostile_indirect_with_next(void **state) {
        Fixture *f = *state;
        up(f, F_V1 | F_INDIRECT);
        uint64_t table = drv_alloc(&f->d, 16, 16);
        put_indirect(f, table, 1, VRING_DESC_F_WRITE, buf16(f));
        drv_put_desc(&f->d, 0, 0, table, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
        drv_put_desc(&f->d, 0, 1, buf16(f), 16, VRING_DESC_F_WRITE, 0);
        drv_publish(&f->d, 0, 0, 1);
        expect_broken(f);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_ids_and_features),
                T(test_features_ok_needs_version_1),
                T(test_features_ok_refuses_unoffered),
                T(test_status_order),
                T(test_no_queue_changes_after_driver_ok),
                T(test_reset_clears_everything),
                T(test_queue_size_and_vector_validation),
                T(test_rng_fills_buffers_mmio_doorbell),
                T(test_ioeventfd_doorbell_follows_bar),
                T(test_msix_mask_and_pending),
                T(test_no_interrupt_flag),
                T(test_event_idx_suppression),
                T(test_indirect_chain),
                T(test_avail_idx_wraps),
                T(test_hostile_loop),
                T(test_hostile_self_loop),
                T(test_hostile_next_out_of_range),
                T(test_hostile_head_out_of_range),
                T(test_hostile_address_beyond_ram),
                T(test_hostile_address_below_ram),
                T(test_hostile_length_wraps),
                T(test_hostile_oversize_length),
                T(test_hostile_readable_after_writable),
                T(test_hostile_avail_jump),
                T(test_hostile_avail_goes_backwards),
                T(test_hostile_nested_indirect),
                T(test_hostile_indirect_too_long),
                T(test_hostile_indirect_bad_length),
                T(test_hostile_indirect_loop),
                T(test_hostile_indirect_with_next),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
