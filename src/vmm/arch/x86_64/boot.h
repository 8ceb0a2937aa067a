/* SPDX-License-Identifier: Apache-2.0 */
/* Linux x86 boot protocol (Documentation/arch/x86/boot.rst, zero-page.rst), 64-bit entry.
 *
 * Plan: parse the bzImage setup header, lay out e820, command line, initrd and the zero page
 * (boot_params) as bytes; all pure and unit-tested. Apply: copy the kernel and initrd into guest
 * memory and write the plan's blobs (boot_load()). The vCPU registers for the 64-bit entry are set
 * by cpu.c from the same constants. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "guest-mem.h"
#include "memory.h"

/* Fixed low-memory layout (all below 1 MiB, in the first RAM range). */
#define BOOT_GDT_ADDR           0x500ULL
#define BOOT_ZERO_PAGE_ADDR     0x7000ULL
#define BOOT_STACK_ADDR         0x8ff0ULL
#define BOOT_PML4_ADDR          0x9000ULL       /* then PDPT at +0x1000, PD at +0x2000 */
#define BOOT_CMDLINE_ADDR       0x20000ULL
#define BOOT_EBDA_START         0x9fc00ULL      /* end of conventional memory (639 KiB) */
#define BOOT_BIOS_START         0xf0000ULL      /* MP table lives here (MP spec 1.4 §4: BIOS ROM area) */
#define BOOT_KERNEL_ADDR        0x100000ULL     /* protected-mode kernel at 1 MiB (boot.rst "loading the rest") */
#define BOOT_ZERO_PAGE_SIZE     4096

/* Setup-header offsets inside boot_params (zero-page.rst, boot.rst "THE REAL-MODE KERNEL HEADER"). */
#define BP_EXT_RAMDISK_IMAGE    0x0c0
#define BP_EXT_RAMDISK_SIZE     0x0c4
#define BP_EXT_CMD_LINE_PTR     0x0c8
#define BP_E820_ENTRIES         0x1e8
#define BP_SETUP_SECTS          0x1f1
#define BP_VID_MODE             0x1fa
#define BP_BOOT_FLAG            0x1fe
#define BP_HEADER               0x202
#define BP_VERSION              0x206
#define BP_TYPE_OF_LOADER       0x210
#define BP_LOADFLAGS            0x211
#define BP_CODE32_START         0x214
#define BP_RAMDISK_IMAGE        0x218
#define BP_RAMDISK_SIZE         0x21c
#define BP_CMD_LINE_PTR         0x228
#define BP_INITRD_ADDR_MAX      0x22c
#define BP_KERNEL_ALIGNMENT     0x230
#define BP_RELOCATABLE          0x234
#define BP_XLOADFLAGS           0x236
#define BP_CMDLINE_SIZE         0x238
#define BP_PREF_ADDRESS         0x258
#define BP_INIT_SIZE            0x260
#define BP_E820_TABLE           0x2d0
#define BP_E820_MAX             128

#define XLF_KERNEL_64           (1 << 0)
#define LOADED_HIGH             (1 << 0)
#define BOOT_MIN_VERSION        0x020c  /* 2.12: xloadflags, so XLF_KERNEL_64 can be checked */

#define E820_RAM                1
#define E820_RESERVED           2

typedef struct BzImage {
        uint16_t version;
        uint8_t setup_sects;
        uint16_t xloadflags;
        uint32_t initrd_addr_max;
        uint32_t cmdline_size;  /* max length without the NUL */
        uint32_t init_size;     /* memory the kernel needs from its load address while booting */
        uint64_t pref_address;
        uint64_t pm_offset;     /* file offset of the protected-mode kernel */
        uint64_t pm_size;
        uint8_t header[BOOT_ZERO_PAGE_SIZE - BP_SETUP_SECTS];   /* setup header bytes as in the file */
        size_t header_len;
} BzImage;

/* Parse the first `len` bytes of a bzImage whose whole size is file_size. */
int bzimage_parse(const uint8_t *buf, size_t len, uint64_t file_size, BzImage *ret, KError **err);

typedef struct E820Entry {
        uint64_t addr, size;
        uint32_t type;
} E820Entry;

typedef struct BootPlan {
        E820Entry e820[8];
        unsigned n_e820;
        uint64_t kernel_addr, kernel_size, kernel_end;  /* kernel_end: load + init_size footprint */
        uint64_t initrd_addr, initrd_size;
        uint64_t cmdline_addr;
        const char *cmdline;    /* borrowed from boot_plan()'s caller */
        size_t cmdline_len;
        uint8_t zero_page[BOOT_ZERO_PAGE_SIZE];
} BootPlan;

/* e820 map for a memory layout: low RAM, EBDA and BIOS area reserved, RAM from 1 MiB, RAM above 4 GiB. */
unsigned boot_e820(const MemLayout *mem, E820Entry *out, unsigned max);

/* Lay out the boot: initrd as high as allowed (below initrd_addr_max and the end of low RAM, above
 * the kernel's footprint), the command line, and the zero page. */
int boot_plan(const BzImage *k, const MemLayout *mem, const char *cmdline, uint64_t initrd_size, BootPlan *ret,
              KError **err);

/* GDT (null, null, __BOOT_CS 0x10, __BOOT_DS 0x18) and identity page tables mapping the first
 * GiB with 2 MiB pages, as bytes to put at BOOT_GDT_ADDR and BOOT_PML4_ADDR. */
#define BOOT_GDT_ENTRIES 4
void boot_gdt(uint64_t gdt[BOOT_GDT_ENTRIES]);
#define BOOT_PAGE_TABLES_SIZE (3 * 4096)
void boot_page_tables(uint8_t out[BOOT_PAGE_TABLES_SIZE]);

/* Apply: copy kernel (from kernel_fd) and initrd (initrd_fd, -1 for none) and the plan's blobs into
 * guest memory. */
int boot_load(const BootPlan *p, const BzImage *k, int kernel_fd, int initrd_fd, const GuestMem *mem, KError **err);
