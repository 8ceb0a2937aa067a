/* SPDX-License-Identifier: Apache-2.0 */
/* The snapshot state stream (src/vmm/state): framing, the strict reader's refusals, field layouts,
 * and every device model saved from one machine and restored into a second one built the same way,
 * where the guest's next request must carry on (virtio indices, MSI-X, BARs). No KVM needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/i8042.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "le-bytes.h"
#include "state/devices-state.h"
#include "state/memory-file.h"
#include "state/state.h"
#include "test-virtio-harness.h"
#include "virtio/virtio.h"

static const uint8_t *build(StateWriter *w, size_t *len) {
        const uint8_t *buf = NULL;
        assert_int_equal(state_writer_finish(w, &buf, len, NULL), 0);
        return buf;
}

static void test_crc32c_known_value(void **state) {
        /* the check value of CRC-32C (RFC 3720 B.4 uses the same polynomial) */
        assert_int_equal(state_crc32c(0, "123456789", 9), 0xe3069283);
}

static void test_round_trip(void **state) {
        StateWriter w;
        state_writer_init(&w);
        state_writer_section(&w, 7, 1, 3, "abc", 3);
        state_writer_section(&w, 7, 2, 1, "", 0);
        size_t len;
        const uint8_t *buf = build(&w, &len);
        assert_int_equal(len, STATE_HEADER_LEN + 3 * STATE_SECTION_HEADER_LEN + 3 + 4);
        StateReader r;
        assert_int_equal(state_reader_parse(&r, buf, len, NULL), 0);
        assert_int_equal(r.n, 2);
        assert_non_null(state_reader_unused(&r));
        StateSection *s = state_reader_find(&r, 7, 1);
        assert_non_null(s);
        assert_int_equal(s->version, 3);
        assert_int_equal(s->len, 3);
        assert_memory_equal(s->data, "abc", 3);
        assert_null(state_reader_find(&r, 7, 3));
        assert_non_null(state_reader_find(&r, 7, 2));
        assert_null(state_reader_unused(&r));
        state_reader_done(&r);
        state_writer_done(&w);
}

/* Parse a copy (so ASan sees reads past the end) and return the error code. */
static int parse_copy(const uint8_t *buf, size_t len, char **ret_msg) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        StateReader r;
        KError *e = NULL;
        int k = state_reader_parse(&r, copy, len, &e);
        if (k >= 0)
                state_reader_done(&r);
        if (ret_msg)
                *ret_msg = e ? strdup(e->msg) : NULL;
        kerr_free(e);
        free(copy);
        return k;
}

static void test_every_truncation_refused(void **state) {
        StateWriter w;
        state_writer_init(&w);
        state_writer_section(&w, 1, 0, 1, "0123456789", 10);
        size_t len;
        const uint8_t *buf = build(&w, &len);
        for (size_t n = 0; n < len; n++)
                assert_true(parse_copy(buf, n, NULL) < 0);
        assert_int_equal(parse_copy(buf, len, NULL), 0);
        state_writer_done(&w);
}

static void test_refusals_say_why(void **state) {
        StateWriter w;
        state_writer_init(&w);
        state_writer_section(&w, 1, 0, 1, "0123456789", 10);
        size_t len;
        const uint8_t *orig = build(&w, &len);
        uint8_t *b = malloc(len + 8);
        char *msg = NULL;
        struct { size_t off; uint8_t val; int code; const char *words; } cases[] = {
                { 0, 'X', -EBADMSG, "bad magic" },
                { 8, 2, -EPROTONOSUPPORT, "format version 2" },
                { 12, 1, -EBADMSG, "flags" },
                { STATE_HEADER_LEN + 16 + 3, 'x', -EBADMSG, "checksum mismatch" },
                { STATE_HEADER_LEN + 15, 0xff, -EBADMSG, "claims" },     /* length 0xff00000a */
                { STATE_HEADER_LEN + 12, 0xff, -EBADMSG, "truncated" },  /* length 0x000000ff */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                memcpy(b, orig, len);
                b[cases[i].off] = cases[i].val;
                assert_int_equal(parse_copy(b, len, &msg), cases[i].code);
                assert_non_null(strstr(msg, cases[i].words));
                free(msg);
        }
        /* bytes after the trailer */
        memcpy(b, orig, len);
        memset(b + len, 0, 8);
        assert_int_equal(parse_copy(b, len + 8, &msg), -EBADMSG);
        assert_non_null(strstr(msg, "after the trailer"));
        free(msg);
        free(b);
        state_writer_done(&w);
}

static void test_duplicate_section_refused(void **state) {
        StateWriter w;
        state_writer_init(&w);
        state_writer_section(&w, 5, 9, 1, "a", 1);
        state_writer_section(&w, 5, 9, 1, "b", 1);
        size_t len;
        const uint8_t *buf = build(&w, &len);
        char *msg = NULL;
        assert_int_equal(parse_copy(buf, len, &msg), -EBADMSG);
        assert_non_null(strstr(msg, "twice"));
        free(msg);
        state_writer_done(&w);
}

static void test_writer_limits(void **state) {
        StateWriter w;
        state_writer_init(&w);
        uint8_t *big = calloc(1, STATE_MAX_SECTION + 1);
        state_writer_section(&w, 1, 0, 1, big, STATE_MAX_SECTION + 1);
        const uint8_t *buf;
        size_t len;
        assert_int_equal(state_writer_finish(&w, &buf, &len, NULL), -EFBIG);
        free(big);
        state_writer_done(&w);
}

typedef struct Demo {
        uint8_t a;
        uint16_t b[3];
        uint32_t c;
        uint64_t d;
} Demo;
static const StateField demo_fields[] = { STATE_FIELD(Demo, a), STATE_ARRAY(Demo, b), STATE_FIELD(Demo, c),
                                          STATE_FIELD(Demo, d) };
static const StateLayout demo_layout = { "demo", 0x99, 2, demo_fields, ELEMENTSOF(demo_fields) };

static void test_layout(void **state) {
        assert_int_equal(state_layout_size(&demo_layout), 1 + 6 + 4 + 8);
        Demo in = { 1, { 2, 0x300, 4 }, 0xdeadbeef, 0x0102030405060708ULL }, out;
        StateWriter w;
        state_writer_init(&w);
        state_put(&w, &demo_layout, 4, &in);
        size_t len;
        const uint8_t *buf = build(&w, &len);
        /* little-endian on the wire whatever the host */
        assert_int_equal(le16_read(buf + STATE_HEADER_LEN + STATE_SECTION_HEADER_LEN + 3), 0x300);
        StateReader r;
        assert_int_equal(state_reader_parse(&r, buf, len, NULL), 0);
        assert_int_equal(state_get(&r, &demo_layout, 4, &out, NULL, NULL), 0);
        assert_memory_equal(&in.b, &out.b, sizeof(in.b));
        assert_int_equal(out.a, 1);
        assert_int_equal(out.c, 0xdeadbeef);
        assert_int_equal(out.d, 0x0102030405060708ULL);
        bool found = true;
        assert_int_equal(state_get(&r, &demo_layout, 5, &out, &found, NULL), 0);
        assert_false(found);
        KError *e = NULL;
        assert_int_equal(state_get(&r, &demo_layout, 5, &out, NULL, &e), -ENOENT);
        kerr_free(e);
        /* a newer section version is refused, and so is a payload of another size */
        StateLayout v3 = demo_layout;
        v3.version = 3;
        assert_int_equal(state_get(&r, &v3, 4, &out, NULL, NULL), -EPROTONOSUPPORT);
        assert_int_equal(state_decode(&demo_layout, buf, 3, &out), -EBADMSG);
        state_reader_done(&r);
        state_writer_done(&w);
}

static void test_file_round_trip(void **state) {
        char dir[] = "/tmp/test-vmm-state.XXXXXX";
        assert_non_null(mkdtemp(dir));
        int dfd = open(dir, O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(state_file_write(dfd, "state", (const uint8_t *) "hello", 5, NULL), 0);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(state_file_read(dfd, "state", &buf, &len, NULL), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(buf, "hello", 5);
        free(buf);
        assert_true(state_file_read(dfd, "missing", &buf, &len, NULL) < 0);
        unlinkat(dfd, "state", 0);
        close(dfd);
        rmdir(dir);
}

static void test_memory_file_sparse(void **state) {
        char dir[] = "/tmp/test-vmm-state.XXXXXX";
        assert_non_null(mkdtemp(dir));
        int dfd = open(dir, O_DIRECTORY | O_CLOEXEC);
        size_t len = 64 * 4096;
        uint8_t *ram = calloc(1, len);
        memset(ram + 5 * 4096, 0xab, 4096);
        memset(ram + 6 * 4096 + 100, 0xcd, 10);
        ram[len - 1] = 7;
        assert_int_equal(memory_file_save(dfd, "memory", ram, len, NULL), 0);
        int fd = memory_file_open(dfd, "memory", len, NULL);
        assert_true(fd >= 0);
        uint8_t *back = malloc(len);
        assert_int_equal(pread(fd, back, len, 0), (ssize_t) len);
        assert_memory_equal(back, ram, len);
        /* the zero pages are holes: the first data is at page 5 */
        off_t data = lseek(fd, 0, SEEK_DATA);
        assert_true(data == 5 * 4096 || data == 0);     /* 0: a file system without holes */
        close(fd);
        /* a RAM size other than the file's is refused with both sizes */
        KError *e = NULL;
        assert_int_equal(memory_file_open(dfd, "memory", 2 * len, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "memory size"));
        kerr_free(e);
        unlinkat(dfd, "memory", 0);
        close(dfd);
        rmdir(dir);
        free(ram);
        free(back);
}

/* ---- device models ---- */

static uint8_t in8(Bus *b, uint64_t port) {
        uint8_t v = 0;
        bus_dispatch(b, port, &v, 1, false);
        return v;
}
static void out8(Bus *b, uint64_t port, uint8_t v) {
        bus_dispatch(b, port, &v, 1, true);
}

/* One machine: legacy devices and one virtio device of `kind` on the fake host. */
typedef struct Box {
        Machine m;
        Serial serial;
        I8042 i8042;
        Rtc rtc;
        VirtioDev *dev;
        StateDevices devs;
} Box;

static time_t fixed_now(void) {
        return 1700000000;
}

static void box_init(Box *b, int kind) {
        memset(b, 0, sizeof(*b));
        machine_init(&b->m);
        assert_int_equal(serial_init(&b->serial, &b->m.pio, SERIAL_COM1_BASE, 4, -1, -1, NULL, NULL), 0);
        assert_int_equal(i8042_init(&b->i8042, &b->m.pio, NULL, NULL), 0);
        assert_int_equal(rtc_init(&b->rtc, &b->m.pio, fixed_now, NULL), 0);
        if (kind == 0)
                assert_int_equal(virtio_rng_create(&b->m.env, &b->dev, NULL), 0);
        else
                assert_int_equal(virtio_balloon_create(&b->m.env, &b->dev, NULL), 0);
        b->devs = (StateDevices) { .serial = &b->serial, .i8042 = &b->i8042, .rtc = &b->rtc, .pci = b->m.pci,
                                   .virtio = &b->dev, .n_virtio = 1 };
}

static void box_done(Box *b) {
        virtio_dev_free(b->dev);
        serial_done(&b->serial);
        i8042_done(&b->i8042);
        rtc_done(&b->rtc);
        machine_done(&b->m);
}

static const uint8_t *box_save(Box *b, StateWriter *w, size_t *len) {
        state_writer_init(w);
        state_devices_save(&b->devs, w);
        return build(w, len);
}

static int box_load(Box *b, const uint8_t *buf, size_t len, char **ret_msg) {
        StateReader r;
        KError *e = NULL;
        int k = state_reader_parse(&r, buf, len, &e);
        if (k >= 0)
                k = state_devices_load(&b->devs, &r, &e);
        if (k >= 0 && state_reader_unused(&r))
                k = -EBADMSG;
        if (ret_msg)
                *ret_msg = e ? strdup(e->msg) : NULL;
        kerr_free(e);
        state_reader_done(&r);
        return k;
}

static void test_legacy_round_trip(void **state) {
        Box *a = malloc(sizeof(Box)), *b = malloc(sizeof(Box));
        box_init(a, 0);
        box_init(b, 0);
        Bus *pa = &a->m.pio, *pb = &b->m.pio;
        out8(pa, SERIAL_COM1_BASE + 3, 0x83);   /* DLAB */
        out8(pa, SERIAL_COM1_BASE + 0, 0x01);   /* 115200 */
        out8(pa, SERIAL_COM1_BASE + 3, 0x03);   /* 8N1 */
        out8(pa, SERIAL_COM1_BASE + 7, 0x5a);   /* scratch */
        out8(pa, SERIAL_COM1_BASE + 4, 0x10);   /* loopback: a written byte is received */
        out8(pa, SERIAL_COM1_BASE + 0, 'k');
        out8(pa, 0x64, 0x60);                   /* i8042: write controller command byte */
        out8(pa, 0x60, 0x47);
        out8(pa, 0x70, 0x40);                   /* CMOS RAM byte */
        out8(pa, 0x71, 0x99);
        StateWriter w;
        size_t len;
        const uint8_t *buf = box_save(a, &w, &len);
        assert_int_equal(box_load(b, buf, len, NULL), 0);
        assert_int_equal(in8(pb, SERIAL_COM1_BASE + 7), 0x5a);
        assert_int_equal(in8(pb, SERIAL_COM1_BASE + 3), 0x03);
        assert_true(in8(pb, SERIAL_COM1_BASE + 5) & 1);         /* data ready ... */
        assert_int_equal(in8(pb, SERIAL_COM1_BASE + 0), 'k');   /* ... the byte in the FIFO */
        out8(pb, 0x64, 0x20);
        assert_int_equal(in8(pb, 0x60), 0x47);
        out8(pb, 0x70, 0x40);
        assert_int_equal(in8(pb, 0x71), 0x99);
        state_writer_done(&w);
        box_done(a);
        box_done(b);
        free(a);
        free(b);
}

static void test_serial_bad_fifo_refused(void **state) {
        Box *b = malloc(sizeof(Box));
        box_init(b, 0);
        SerialState ss;
        serial_save(&b->serial, &ss);
        ss.rx_head = SERIAL_RX_FIFO;
        KError *e = NULL;
        assert_int_equal(serial_load(&b->serial, &ss, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "FIFO"));
        kerr_free(e);
        box_done(b);
        free(b);
}

#define QSIZE 16

/* The guest asks for random bytes, is snapshotted mid-life, and the clone's next request is served
 * in order: same queue indices, same MSI-X routing, BARs where the guest put them. */
static void test_virtio_round_trip_continues(void **state) {
        Box *a = malloc(sizeof(Box)), *b = malloc(sizeof(Box));
        box_init(a, 0);
        box_init(b, 0);
        Drv d;
        drv_bring_up(&d, &a->m, 1, 1ULL << VIRTIO_F_VERSION_1, 1, QSIZE);
        for (int i = 0; i < 3; i++) {
                uint64_t buf = drv_alloc(&d, 16, 16);
                DrvBuf bb = { buf, 16, true };
                drv_add_chain(&d, 0, &bb, 1);
                drv_kick(&d, 0);
                uint32_t id, len;
                assert_true(drv_get_used(&d, 0, &id, &len));
        }
        StateWriter w;
        size_t len;
        const uint8_t *buf = box_save(a, &w, &len);
        /* the clone gets the same RAM (the memory file) and the state */
        memcpy(b->m.ram, a->m.ram, b->m.ram_size);
        char *msg = NULL;
        assert_int_equal(box_load(b, buf, len, &msg), 0);
        free(msg);
        assert_int_equal(b->dev->vqs[0].last_avail_idx, 3);
        assert_int_equal(b->dev->vqs[0].used_idx, 3);
        assert_true(b->dev->msix_enabled);
        assert_int_equal(b->dev->status, a->dev->status);
        /* the guest driver goes on against the clone */
        d.m = &b->m;
        unsigned before = msis_with_data(&b->m, MSI_DATA_BASE + 0);
        uint64_t rb = drv_alloc(&d, 16, 16);
        DrvBuf bb = { rb, 16, true };
        uint16_t head = drv_add_chain(&d, 0, &bb, 1);
        drv_kick(&d, 0);
        uint32_t id, ulen;
        assert_true(drv_get_used(&d, 0, &id, &ulen));
        assert_int_equal(id, head);
        assert_int_equal(ulen, 16);
        assert_true(msis_with_data(&b->m, MSI_DATA_BASE + 0) > before);
        state_writer_done(&w);
        box_done(a);
        box_done(b);
        free(a);
        free(b);
}

/* A live migration sees what devices write into guest RAM: the buffers they fill and the used ring
 * (KVM's dirty log only has the guest's own writes). */
static void test_device_writes_marked_dirty(void **state) {
        Box *a = malloc(sizeof(Box));
        box_init(a, 0);
        Drv d;
        drv_bring_up(&d, &a->m, 1, 1ULL << VIRTIO_F_VERSION_1, 1, QSIZE);
        uint64_t pages = MACHINE_RAM_SIZE / 4096;
        uint64_t *bm = calloc(pages / 64, 8);
        a->m.mem.dirty_base = a->m.ram;
        a->m.mem.dirty_pages = pages;
        __atomic_store_n(&a->m.mem.dirty, bm, __ATOMIC_RELEASE);
        uint64_t buf = drv_alloc(&d, 4096, 4096);
        DrvBuf bb = { buf, 64, true };
        drv_add_chain(&d, 0, &bb, 1);
        drv_kick(&d, 0);
        uint32_t id, len;
        assert_true(drv_get_used(&d, 0, &id, &len));
        uint64_t bp = (buf - MACHINE_RAM_GPA) / 4096, up = (d.q[0].used - MACHINE_RAM_GPA) / 4096;
        assert_true(bm[bp / 64] & (1ULL << (bp % 64)));
        assert_true(bm[up / 64] & (1ULL << (up % 64)));
        unsigned n = 0;
        for (uint64_t w = 0; w < pages / 64; w++)
                n += (unsigned) __builtin_popcountll(bm[w]);
        assert_true(n <= 3);            /* the buffer and the used ring, nothing else */
        a->m.mem.dirty = NULL;
        free(bm);
        box_done(a);
        free(a);
}

/* Rewrite one field of the queue section of slot 1, queue 0, and re-checksum. */
static uint8_t *patch_queue(const uint8_t *buf, size_t len, void (*patch)(VirtioQueueState *)) {
        StateReader r;
        assert_int_equal(state_reader_parse(&r, buf, len, NULL), 0);
        StateWriter w;
        state_writer_init(&w);
        for (size_t i = 0; i < r.n; i++) {
                StateSection *s = &r.sections[i];
                if (s->id == STATE_SEC_VIRTIO_QUEUE && s->instance == (1 << 8 | 0)) {
                        VirtioQueueState qs;
                        assert_int_equal(state_decode(&virtio_queue_state_layout, s->data, s->len, &qs), 0);
                        patch(&qs);
                        state_put(&w, &virtio_queue_state_layout, s->instance, &qs);
                } else
                        state_writer_section(&w, s->id, s->instance, s->version, s->data, s->len);
        }
        const uint8_t *out;
        size_t n;
        assert_int_equal(state_writer_finish(&w, &out, &n, NULL), 0);
        assert_int_equal(n, len);
        uint8_t *copy = malloc(n);
        memcpy(copy, out, n);
        state_writer_done(&w);
        state_reader_done(&r);
        return copy;
}

static void patch_ring_outside(VirtioQueueState *q) {
        q->used_gpa = 0xfff00000;
}
static void patch_index_ahead(VirtioQueueState *q) {
        q->last_avail_idx += 100;
}
static void patch_size(VirtioQueueState *q) {
        q->size = 3;
}

static void test_virtio_hostile_queue_refused(void **state) {
        struct { void (*patch)(VirtioQueueState *); const char *words; } cases[] = {
                { patch_ring_outside, "not inside guest memory" },
                { patch_index_ahead, "do not fit" },
                { patch_size, "size 3" },
        };
        Box *a = malloc(sizeof(Box));
        box_init(a, 0);
        Drv d;
        drv_bring_up(&d, &a->m, 1, 1ULL << VIRTIO_F_VERSION_1, 1, QSIZE);
        StateWriter w;
        size_t len;
        const uint8_t *buf = box_save(a, &w, &len);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Box *b = malloc(sizeof(Box));
                box_init(b, 0);
                memcpy(b->m.ram, a->m.ram, b->m.ram_size);
                uint8_t *bad = patch_queue(buf, len, cases[i].patch);
                char *msg = NULL;
                assert_true(box_load(b, bad, len, &msg) < 0);
                assert_non_null(msg);
                assert_non_null(strstr(msg, cases[i].words));
                free(msg);
                free(bad);
                box_done(b);
                free(b);
        }
        state_writer_done(&w);
        box_done(a);
        free(a);
}

static void test_virtio_other_device_refused(void **state) {
        Box *a = malloc(sizeof(Box)), *b = malloc(sizeof(Box));
        box_init(a, 0);         /* rng */
        box_init(b, 1);         /* balloon */
        StateWriter w;
        size_t len;
        const uint8_t *buf = box_save(a, &w, &len);
        char *msg = NULL;
        assert_true(box_load(b, buf, len, &msg) < 0);
        assert_non_null(strstr(msg, "different device"));
        free(msg);
        state_writer_done(&w);
        box_done(a);
        box_done(b);
        free(a);
        free(b);
}

static void test_balloon_target_survives(void **state) {
        Box *a = malloc(sizeof(Box)), *b = malloc(sizeof(Box));
        box_init(a, 1);
        box_init(b, 1);
        assert_int_equal(virtio_balloon_set_target(a->dev, 64), 0);
        StateWriter w;
        size_t len;
        const uint8_t *buf = box_save(a, &w, &len);
        assert_int_equal(box_load(b, buf, len, NULL), 0);
        VirtioModelState ms;
        b->dev->ops->save(b->dev, &ms);
        assert_int_equal(ms.value[0], 64);
        state_writer_done(&w);
        box_done(a);
        box_done(b);
        free(a);
        free(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crc32c_known_value),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_every_truncation_refused),
                cmocka_unit_test(test_refusals_say_why),
                cmocka_unit_test(test_duplicate_section_refused),
                cmocka_unit_test(test_writer_limits),
                cmocka_unit_test(test_layout),
                cmocka_unit_test(test_file_round_trip),
                cmocka_unit_test(test_memory_file_sparse),
                cmocka_unit_test(test_legacy_round_trip),
                cmocka_unit_test(test_serial_bad_fifo_refused),
                cmocka_unit_test(test_virtio_round_trip_continues),
                cmocka_unit_test(test_virtio_hostile_queue_refused),
                cmocka_unit_test(test_virtio_other_device_refused),
                cmocka_unit_test(test_balloon_target_survives),
                cmocka_unit_test(test_device_writes_marked_dirty),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
