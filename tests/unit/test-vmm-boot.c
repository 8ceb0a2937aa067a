/* SPDX-License-Identifier: Apache-2.0 */
/* Boot planning without KVM: bzImage header checks, memory layout around the PCI hole, e820,
 * zero page field offsets (zero-page.rst), initrd placement, command line limits, page tables,
 * and the MP table bytes against a reviewed golden dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/mptable.h"
#include "le-bytes.h"
#include "memory.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* A synthetic bzImage header: protocol 2.15, relocatable, 64-bit entry. */
static void fake_bzimage(uint8_t buf[4096]) {
        memset(buf, 0, 4096);
        buf[BP_SETUP_SECTS] = 27;
        buf[BP_BOOT_FLAG] = 0x55;
        buf[BP_BOOT_FLAG + 1] = 0xaa;
        buf[0x201] = 0x6a;                      /* header runs to 0x26c */
        memcpy(buf + BP_HEADER, "HdrS", 4);
        buf[BP_VERSION] = 0x0f;
        buf[BP_VERSION + 1] = 0x02;
        buf[BP_LOADFLAGS] = LOADED_HIGH;
        le32_write(buf + BP_INITRD_ADDR_MAX, 0x7fffffff);
        le32_write(buf + BP_CMDLINE_SIZE, 2047);
        buf[BP_XLOADFLAGS] = 0x03;              /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
        le32_write(buf + BP_PREF_ADDRESS, 0x1000000);
        le32_write(buf + BP_INIT_SIZE, 40 * MiB);
}

static const uint64_t FILE_SIZE = 8 * MiB;

static void test_bzimage_parse_ok(void **state) {
        uint8_t buf[4096];
        fake_bzimage(buf);
        BzImage k;
        assert_int_equal(bzimage_parse(buf, sizeof(buf), FILE_SIZE, &k, NULL), 0);
        assert_int_equal(k.version, 0x020f);
        assert_int_equal(k.pm_offset, 28 * 512);
        assert_int_equal(k.pm_size, FILE_SIZE - 28 * 512);
        assert_int_equal(k.cmdline_size, 2047);
        assert_int_equal(k.header_len, 0x26c - BP_SETUP_SECTS);
}

static void test_bzimage_setup_sects_zero_means_four(void **state) {
        uint8_t buf[4096];
        fake_bzimage(buf);
        buf[BP_SETUP_SECTS] = 0;
        BzImage k;
        assert_int_equal(bzimage_parse(buf, sizeof(buf), FILE_SIZE, &k, NULL), 0);
        assert_int_equal(k.pm_offset, 5 * 512);
}

static void expect_parse_error(uint8_t *buf, uint64_t file_size, const char *needle) {
        _cleanup_kerr_ KError *err = NULL;
        BzImage k;
        assert_int_equal(bzimage_parse(buf, 4096, file_size, &k, &err), -ENOEXEC);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("'%s' not in '%s'", needle, err->msg);
}

/* One header byte broken (or the file cut short), and the error that names it. */
static void test_bzimage_rejects(void **state) {
        static const struct {
                unsigned offset;        /* 0: leave the header alone */
                uint8_t value;
                size_t file_size;
                const char *needle;
        } cases[] = {
                { BP_HEADER, 'X', FILE_SIZE, "not a bzImage" },
                { BP_BOOT_FLAG, 0, FILE_SIZE, "not a bzImage" },
                { BP_VERSION, 0x0a, FILE_SIZE, "2.10 is too old" },
                { BP_XLOADFLAGS, 0, FILE_SIZE, "no 64-bit entry" },
                { BP_LOADFLAGS, 0, FILE_SIZE, "zImage" },
                { 0, 0, 4096, "past the end" },
                { 0x201, 0x10, FILE_SIZE, "truncated" },
        };
        uint8_t buf[4096];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                fake_bzimage(buf);
                if (cases[i].offset)
                        buf[cases[i].offset] = cases[i].value;
                expect_parse_error(buf, cases[i].file_size, cases[i].needle);
        }
}

static void test_mem_layout(void **state) {
        MemLayout l;
        assert_int_equal(mem_layout_plan(512 * MiB, &l, NULL), 0);
        assert_int_equal(l.n_slots, 1);
        assert_int_equal(l.low_end, 512 * MiB);
        /* above 3 GiB the rest moves past the PCI hole to 4 GiB */
        assert_int_equal(mem_layout_plan(5 * GiB, &l, NULL), 0);
        assert_int_equal(l.n_slots, 2);
        assert_int_equal(l.slots[0].gpa, 0);
        assert_int_equal(l.slots[0].size, 3 * GiB);
        assert_int_equal(l.slots[1].gpa, 4 * GiB);
        assert_int_equal(l.slots[1].size, 2 * GiB);
        assert_int_equal(l.slots[1].offset, 3 * GiB);
        assert_int_equal(mem_layout_plan(3 * GiB, &l, NULL), 0);
        assert_int_equal(l.n_slots, 1);
        assert_int_equal(mem_layout_plan(32 * MiB, &l, NULL), -EINVAL);
        assert_int_equal(mem_layout_plan(512 * MiB + 4096, &l, NULL), -EINVAL);
}

static void test_e820(void **state) {
        MemLayout l;
        E820Entry e[8];
        assert_int_equal(mem_layout_plan(5 * GiB, &l, NULL), 0);
        unsigned n = boot_e820(&l, e, 8);
        assert_int_equal(n, 5);
        assert_int_equal(e[0].addr, 0);
        assert_int_equal(e[0].size, 0x9fc00);
        assert_int_equal(e[0].type, E820_RAM);
        assert_int_equal(e[1].type, E820_RESERVED);
        assert_int_equal(e[2].addr, 0xf0000);           /* MP table area */
        assert_int_equal(e[2].type, E820_RESERVED);
        assert_int_equal(e[3].addr, 1 * MiB);
        assert_int_equal(e[3].addr + e[3].size, 3 * GiB);
        assert_int_equal(e[4].addr, 4 * GiB);
        assert_int_equal(e[4].size, 2 * GiB);
        /* entries never overlap and are sorted */
        for (unsigned i = 1; i < n; i++)
                assert_true(e[i - 1].addr + e[i - 1].size <= e[i].addr);
}

static void plan(uint64_t ram, const char *cmdline, uint64_t initrd, BootPlan *p, int expect) {
        uint8_t buf[4096];
        fake_bzimage(buf);
        BzImage k;
        MemLayout l;
        assert_int_equal(bzimage_parse(buf, sizeof(buf), FILE_SIZE, &k, NULL), 0);
        assert_int_equal(mem_layout_plan(ram, &l, NULL), 0);
        assert_int_equal(boot_plan(&k, &l, cmdline, initrd, p, NULL), expect);
}

static void test_zero_page_fields(void **state) {
        BootPlan *p = malloc(sizeof(*p));
        plan(256 * MiB, "console=ttyS0", 3 * MiB + 5, p, 0);
        const uint8_t *zp = p->zero_page;
        /* setup header copied from the image, loader fields filled (boot.rst) */
        assert_memory_equal(zp + BP_HEADER, "HdrS", 4);
        assert_int_equal(zp[BP_TYPE_OF_LOADER], 0xff);
        assert_int_equal(le32_read(zp + BP_CMD_LINE_PTR), BOOT_CMDLINE_ADDR);
        assert_int_equal(le32_read(zp + BP_RAMDISK_IMAGE), p->initrd_addr);
        assert_int_equal(le32_read(zp + BP_RAMDISK_SIZE), 3 * MiB + 5);
        assert_int_equal(le32_read(zp + BP_EXT_RAMDISK_IMAGE), 0);
        assert_int_equal(zp[BP_VID_MODE], 0xff);
        /* e820 table at 0x2d0, 20 bytes per entry, count at 0x1e8 (zero-page.rst) */
        assert_int_equal(zp[BP_E820_ENTRIES], 4);
        assert_int_equal(le64_read(zp + BP_E820_TABLE + 3 * 20), 1 * MiB);
        assert_int_equal(le64_read(zp + BP_E820_TABLE + 3 * 20 + 8), 255 * MiB);
        assert_int_equal(le32_read(zp + BP_E820_TABLE + 3 * 20 + 16), E820_RAM);
        assert_int_equal(p->cmdline_len, strlen("console=ttyS0"));
        free(p);
}

static void test_initrd_placement(void **state) {
        BootPlan *p = malloc(sizeof(*p));
        /* as high as possible, page aligned, inside RAM */
        plan(256 * MiB, "", 3 * MiB + 5, p, 0);
        assert_int_equal(p->initrd_addr % 4096, 0);
        assert_true(p->initrd_addr + p->initrd_size <= 256 * MiB);
        assert_true(p->initrd_addr + p->initrd_size > 256 * MiB - 4096);
        assert_true(p->initrd_addr >= p->kernel_end);
        /* with RAM past 4 GiB it stays below initrd_addr_max (2 GiB - 1) */
        plan(6 * GiB, "", 10 * MiB, p, 0);
        assert_true(p->initrd_addr + p->initrd_size <= 2 * GiB);
        /* too big to fit above the kernel's 16 MiB + 40 MiB footprint */
        plan(128 * MiB, "", 100 * MiB, p, -ENOSPC);
        /* no initrd: nothing placed */
        plan(128 * MiB, "", 0, p, 0);
        assert_int_equal(p->initrd_addr, 0);
        assert_int_equal(le32_read(p->zero_page + BP_RAMDISK_SIZE), 0);
        free(p);
}

static void test_kernel_needs_memory(void **state) {
        BootPlan *p = malloc(sizeof(*p));
        plan(64 * MiB, "", 0, p, 0);                  /* 16 + 40 MiB fits in 64 */
        assert_int_equal(p->kernel_end, 56 * MiB);
        free(p);
}

static void test_cmdline_limit(void **state) {
        BootPlan *p = malloc(sizeof(*p));
        char *s = malloc(2049);
        memset(s, 'a', 2048);
        s[2048] = '\0';
        plan(256 * MiB, s, 0, p, -E2BIG);
        s[2047] = '\0';
        plan(256 * MiB, s, 0, p, 0);
        free(s);
        free(p);
}

static void test_page_tables_and_gdt(void **state) {
        uint8_t *pt = malloc(BOOT_PAGE_TABLES_SIZE);
        boot_page_tables(pt);
        assert_int_equal(le64_read(pt), (BOOT_PML4_ADDR + 0x1000) | 3);
        assert_int_equal(le64_read(pt + 0x1000), (BOOT_PML4_ADDR + 0x2000) | 3);
        assert_int_equal(le64_read(pt + 0x2000), 0x83);
        assert_int_equal(le64_read(pt + 0x2000 + 8 * 511), (511ULL << 21) | 0x83);    /* the first GiB */
        free(pt);
        uint64_t gdt[BOOT_GDT_ENTRIES];
        boot_gdt(gdt);
        assert_true(gdt[2] & (1ULL << 53));     /* __BOOT_CS: long mode */
        assert_int_equal((gdt[3] >> 40) & 0xff, 0x93); /* __BOOT_DS: present, data, writable */
}

static void test_boot_load_copies(void **state) {
        /* a fake "kernel file": setup sectors then a recognizable protected-mode part */
        char path[] = "/tmp/test-vmm-boot-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        uint8_t *img = calloc(1, 64 * 1024);
        fake_bzimage(img);
        memset(img + 28 * 512, 0xab, 64 * 1024 - 28 * 512);
        assert_int_equal(write(fd, img, 64 * 1024), 64 * 1024);
        BzImage k;
        MemLayout l;
        BootPlan *p = malloc(sizeof(*p));
        assert_int_equal(bzimage_parse(img, 4096, 64 * 1024, &k, NULL), 0);
        assert_int_equal(mem_layout_plan(64 * MiB, &l, NULL), 0);
        assert_int_equal(boot_plan(&k, &l, "hello", 0, p, NULL), 0);
        uint8_t *ram = calloc(1, 64 * MiB);
        GuestMem mem = { .regions = { { .gpa = 0, .size = 64 * MiB, .hva = ram } }, .n_regions = 1 };
        assert_int_equal(boot_load(p, &k, fd, -1, &mem, NULL), 0);
        assert_int_equal(ram[BOOT_KERNEL_ADDR], 0xab);
        assert_int_equal(ram[BOOT_KERNEL_ADDR + 64 * 1024 - 28 * 512 - 1], 0xab);
        assert_string_equal((char *) ram + BOOT_CMDLINE_ADDR, "hello");
        assert_memory_equal(ram + BOOT_ZERO_PAGE_ADDR, p->zero_page, BOOT_ZERO_PAGE_SIZE);
        /* guest memory too small for the plan: refused, not written past the end */
        mem.regions[0].size = 512 * 1024;
        assert_int_equal(boot_load(p, &k, fd, -1, &mem, NULL), -EFAULT);
        free(ram);
        free(p);
        free(img);
        close(fd);
}

static uint8_t sum(const uint8_t *p, size_t n) {
        uint8_t s = 0;
        for (size_t i = 0; i < n; i++)
                s = (uint8_t) (s + p[i]);
        return s;
}

static void test_mptable_structure(void **state) {
        uint8_t buf[4096];
        for (unsigned n = 1; n <= MPTABLE_MAX_CPUS; n++) {
                size_t len = mptable_build(n, BOOT_BIOS_START, buf, sizeof(buf));
                assert_int_equal(len, mptable_size(n));
                assert_memory_equal(buf, "_MP_", 4);
                assert_int_equal(le32_read(buf + 4), BOOT_BIOS_START + 16);
                assert_int_equal(sum(buf, 16), 0);                     /* MP spec §4.1 checksum */
                const uint8_t *mpc = buf + 16;
                assert_memory_equal(mpc, "PCMP", 4);
                uint16_t mpc_len = (uint16_t) (mpc[4] | mpc[5] << 8);
                assert_int_equal(16 + mpc_len, len);
                assert_int_equal(sum(mpc, mpc_len), 0);                /* §4.2 base table checksum */
                assert_int_equal(le32_read(mpc + 36), MPTABLE_LAPIC_ADDR);
                /* processor entries: APIC ids 0..n-1, only the first is the BSP */
                for (unsigned i = 0; i < n; i++) {
                        const uint8_t *e = mpc + 44 + 20 * i;
                        assert_int_equal(e[0], 0);
                        assert_int_equal(e[1], i);
                        assert_int_equal(e[3], i == 0 ? 3 : 1);
                }
                /* the IOAPIC follows the buses and takes id n */
                const uint8_t *io = mpc + 44 + 20 * n + 16;
                assert_int_equal(io[0], 2);
                assert_int_equal(io[1], n);
                assert_int_equal(le32_read(io + 4), MPTABLE_IOAPIC_ADDR);
        }
        assert_int_equal(mptable_build(0, 0, buf, sizeof(buf)), 0);
        assert_int_equal(mptable_build(MPTABLE_MAX_CPUS + 1, 0, buf, sizeof(buf)), 0);
        assert_int_equal(mptable_build(2, 0, buf, 100), 0);
}

/* Compare with tests/golden/vmm/mptable-<n>cpu.hex (one line of hex per 16 bytes); with
 * KAPSEL_UPDATE_GOLDEN=1 rewrite it instead (then review the diff). */
static void golden_mptable(unsigned n) {
        uint8_t buf[2048];
        size_t len = mptable_build(n, BOOT_BIOS_START, buf, sizeof(buf));
        char *text = malloc(len * 3 + len / 16 + 2), *t = text;
        for (size_t i = 0; i < len; i++)
                t += sprintf(t, "%02x%s", buf[i], (i % 16 == 15 || i == len - 1) ? "\n" : " ");
        char path[512];
        snprintf(path, sizeof(path), "%s/mptable-%ucpu.hex", VMM_GOLDEN_DIR, n);
        if (getenv("KAPSEL_UPDATE_GOLDEN")) {
                FILE *f = fopen(path, "we");
                assert_non_null(f);
                fputs(text, f);
                fclose(f);
        }
        FILE *f = fopen(path, "re");
        if (!f)
                fail_msg("missing golden file %s (run with KAPSEL_UPDATE_GOLDEN=1 and review)", path);
        char want[8192] = "";
        size_t got = fread(want, 1, sizeof(want) - 1, f);
        want[got] = '\0';
        fclose(f);
        assert_string_equal(text, want);
        free(text);
}

static void test_mptable_golden(void **state) {
        golden_mptable(1);
        golden_mptable(2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bzimage_parse_ok),
                cmocka_unit_test(test_bzimage_setup_sects_zero_means_four),
                cmocka_unit_test(test_bzimage_rejects),
                cmocka_unit_test(test_mem_layout),
                cmocka_unit_test(test_e820),
                cmocka_unit_test(test_zero_page_fields),
                cmocka_unit_test(test_initrd_placement),
                cmocka_unit_test(test_kernel_needs_memory),
                cmocka_unit_test(test_cmdline_limit),
                cmocka_unit_test(test_page_tables_and_gdt),
                cmocka_unit_test(test_boot_load_copies),
                cmocka_unit_test(test_mptable_structure),
                cmocka_unit_test(test_mptable_golden),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
