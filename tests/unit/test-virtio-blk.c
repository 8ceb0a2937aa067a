/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-blk against a temporary raw image, driven by the fake driver (virtio 1.2 §5.2.6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-virtio-harness.h"

#define DISK_SECTORS 2048
#define F_V1 (1ULL << VIRTIO_F_VERSION_1)

typedef struct Fixture {
        Machine m;
        VirtioDev *blk;
        Drv d;
        char path[64];
        bool readonly;
} Fixture;

static void make_disk(Fixture *f) {
        strcpy(f->path, "/tmp/kapsel-test-blk-XXXXXX");
        int fd = mkstemp(f->path);
        assert_true(fd >= 0);
        uint8_t sector[512];
        for (unsigned s = 0; s < DISK_SECTORS; s++) {
                memset(sector, (uint8_t) s, sizeof(sector));
                assert_int_equal(write(fd, sector, sizeof(sector)), sizeof(sector));
        }
        close(fd);
}

static void start(Fixture *f, bool readonly) {
        machine_init(&f->m);
        VirtioBlkConfig cfg = { .path = f->path, .readonly = readonly };
        assert_int_equal(virtio_blk_create(&f->m.env, &cfg, &f->blk, NULL), 0);
        f->m.fake.ioeventfd_fails = true;
        drv_bring_up(&f->d, &f->m, 1, F_V1 | (1ULL << VIRTIO_BLK_F_FLUSH), 1, 16);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        make_disk(f);
        start(f, false);
        *state = f;
        return 0;
}

static int setup_ro(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        make_disk(f);
        start(f, true);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        virtio_dev_free(f->blk);
        machine_done(&f->m);
        unlink(f->path);
        free(f);
        return 0;
}

/* One request: header, optional data (device-writable for reads), status byte. */
static uint8_t blk_req(Fixture *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t data_len, bool data_in,
                       uint32_t *ret_used_len) {
        uint64_t hdr = drv_alloc(&f->d, 16, 16), status = drv_alloc(&f->d, 1, 1);
        struct virtio_blk_outhdr h = { .type = htole32(type), .sector = htole64(sector) };
        memcpy(gpa(&f->m, hdr, 16), &h, 16);
        *(uint8_t *) gpa(&f->m, status, 1) = 0xee;
        DrvBuf bufs[3] = { { hdr, 16, false } };
        unsigned n = 1;
        if (data_len)
                bufs[n++] = (DrvBuf) { data, data_len, data_in };
        bufs[n++] = (DrvBuf) { status, 1, true };
        drv_add_chain(&f->d, 0, bufs, n);
        drv_kick(&f->d, 0);
        uint32_t id, len;
        assert_true(drv_get_used(&f->d, 0, &id, &len));
        if (ret_used_len)
                *ret_used_len = len;
        return *(uint8_t *) gpa(&f->m, status, 1);
}

static void read_file_sector(Fixture *f, uint64_t s, uint8_t out[512]) {
        int fd = open(f->path, O_RDONLY | O_CLOEXEC);
        assert_int_equal(pread(fd, out, 512, (off_t) (s * 512)), 512);
        close(fd);
}

static void test_capacity_in_config(void **state) {
        Fixture *f = *state;
        uint64_t cap = mmio_read(&f->m, f->d.device, 4) | mmio_read(&f->m, f->d.device + 4, 4) << 32;
        assert_int_equal(cap, DISK_SECTORS);
        assert_false(drv_device_features(&f->d) & (1ULL << VIRTIO_BLK_F_RO));
}

static void test_read(void **state) {
        Fixture *f = *state;
        uint64_t buf = drv_alloc(&f->d, 1024, 512);
        uint32_t used;
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 7, buf, 1024, true, &used), VIRTIO_BLK_S_OK);
        assert_int_equal(used, 1025);
        uint8_t *p = gpa(&f->m, buf, 1024);
        assert_int_equal(p[0], 7);
        assert_int_equal(p[511], 7);
        assert_int_equal(p[512], 8);
}

static void test_write_then_read_back(void **state) {
        Fixture *f = *state;
        uint64_t buf = drv_alloc(&f->d, 512, 512), back = drv_alloc(&f->d, 512, 512);
        memset(gpa(&f->m, buf, 512), 0xab, 512);
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, 100, buf, 512, false, NULL), VIRTIO_BLK_S_OK);
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 100, back, 512, true, NULL), VIRTIO_BLK_S_OK);
        assert_memory_equal(gpa(&f->m, back, 512), gpa(&f->m, buf, 512), 512);
        uint8_t disk[512];
        read_file_sector(f, 100, disk);
        assert_memory_equal(disk, gpa(&f->m, buf, 512), 512);
        read_file_sector(f, 101, disk);
        assert_int_equal(disk[0], 101);
}

static void test_out_of_range(void **state) {
        Fixture *f = *state;
        uint64_t buf = drv_alloc(&f->d, 1024, 512);
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, DISK_SECTORS, buf, 512, true, NULL), VIRTIO_BLK_S_IOERR);
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, buf, 1024, true, NULL), VIRTIO_BLK_S_IOERR);
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, 1ULL << 62, buf, 512, false, NULL), VIRTIO_BLK_S_IOERR);
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512, false, NULL), VIRTIO_BLK_S_IOERR);
        /* not a whole number of sectors */
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 0, buf, 100, true, NULL), VIRTIO_BLK_S_IOERR);
        /* the last sector itself is fine */
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, buf, 512, true, NULL), VIRTIO_BLK_S_OK);
}

static void test_get_id_and_unsupported(void **state) {
        Fixture *f = *state;
        uint64_t buf = drv_alloc(&f->d, VIRTIO_BLK_ID_BYTES, 1);
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_GET_ID, 0, buf, VIRTIO_BLK_ID_BYTES, true, NULL), VIRTIO_BLK_S_OK);
        assert_memory_equal(gpa(&f->m, buf, 6), "kapsel", 6);
        assert_int_equal(blk_req(f, 77, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
}

static void test_short_header(void **state) {
        Fixture *f = *state;
        uint64_t hdr = drv_alloc(&f->d, 8, 8), status = drv_alloc(&f->d, 1, 1);
        DrvBuf bufs[2] = { { hdr, 8, false }, { status, 1, true } };
        drv_add_chain(&f->d, 0, bufs, 2);
        drv_kick(&f->d, 0);
        uint32_t id, len;
        assert_true(drv_get_used(&f->d, 0, &id, &len));
        assert_int_equal(*(uint8_t *) gpa(&f->m, status, 1), VIRTIO_BLK_S_IOERR);
        assert_false(drv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_no_status_byte(void **state) {
        Fixture *f = *state;
        DrvBuf b = { drv_alloc(&f->d, 16, 16), 16, false };
        drv_add_chain(&f->d, 0, &b, 1);
        drv_kick(&f->d, 0);
        uint32_t id, len;
        assert_false(drv_get_used(&f->d, 0, &id, &len));
        assert_true(drv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_readonly_refuses_writes(void **state) {
        Fixture *f = *state;
        assert_true(drv_device_features(&f->d) & (1ULL << VIRTIO_BLK_F_RO));
        uint64_t buf = drv_alloc(&f->d, 512, 512);
        memset(gpa(&f->m, buf, 512), 0xcd, 512);
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, 5, buf, 512, false, NULL), VIRTIO_BLK_S_IOERR);
        uint8_t disk[512], expect[512];
        read_file_sector(f, 5, disk);
        memset(expect, 5, sizeof(expect));
        assert_memory_equal(disk, expect, 512);
        /* reads still work */
        assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 5, buf, 512, true, NULL), VIRTIO_BLK_S_OK);
        assert_memory_equal(gpa(&f->m, buf, 512), expect, 512);
}

static void test_missing_disk(void **state) {
        Machine m;
        machine_init(&m);
        VirtioBlkConfig cfg = { .path = "/nonexistent/disk.img" };
        VirtioDev *d = NULL;
        KError *e = NULL;
        assert_true(virtio_blk_create(&m.env, &cfg, &d, &e) < 0);
        assert_non_null(e);
        assert_non_null(strstr(e->msg, "/nonexistent/disk.img"));
        kerr_free(e);
        assert_int_equal(m.mmio.n_ranges, 0);
        machine_done(&m);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_capacity_in_config),
                T(test_read),
                T(test_write_then_read_back),
                T(test_out_of_range),
                T(test_get_id_and_unsupported),
                T(test_short_header),
                T(test_no_status_byte),
                cmocka_unit_test_setup_teardown(test_readonly_refuses_writes, setup_ro, teardown),
                cmocka_unit_test(test_missing_disk),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
