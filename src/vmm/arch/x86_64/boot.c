/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"

static uint16_t rd16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p) {
        return (uint32_t) rd16(p) | (uint32_t) rd16(p + 2) << 16;
}
static uint64_t rd64(const uint8_t *p) {
        return (uint64_t) rd32(p) | (uint64_t) rd32(p + 4) << 32;
}
static void wr16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}
static void wr32(uint8_t *p, uint32_t v) {
        wr16(p, (uint16_t) v);
        wr16(p + 2, (uint16_t) (v >> 16));
}
static void wr64(uint8_t *p, uint64_t v) {
        wr32(p, (uint32_t) v);
        wr32(p + 4, (uint32_t) (v >> 32));
}

int bzimage_parse(const uint8_t *buf, size_t len, uint64_t file_size, BzImage *ret, KError **err) {
        if (len < BP_HEADER + 2 || len > file_size)
                return kerr_msg(err, KERR_USAGE, -ENOEXEC, "kernel: file too small for a bzImage");
        if (rd16(buf + BP_BOOT_FLAG) != 0xaa55 || memcmp(buf + BP_HEADER, "HdrS", 4) != 0)
                return kerr_msg(err, KERR_USAGE, -ENOEXEC,
                                "kernel: not a bzImage (no 0xAA55 boot flag or HdrS magic); give the compressed "
                                "kernel image (arch/x86/boot/bzImage, /boot/vmlinuz-*), not vmlinux");
        /* The header runs from 0x1f1 to 0x202 + the byte at 0x201 (boot.rst: "jump" + header length). */
        size_t hdr_end = BP_HEADER + (size_t) buf[0x201];
        if (hdr_end > len || hdr_end < BP_INIT_SIZE + 4)
                return kerr_msg(err, KERR_USAGE, -ENOEXEC, "kernel: setup header truncated");
        BzImage k = {
                .version = rd16(buf + BP_VERSION),
                .setup_sects = buf[BP_SETUP_SECTS] ? buf[BP_SETUP_SECTS] : 4,   /* 0 means 4 (boot.rst) */
                .xloadflags = rd16(buf + BP_XLOADFLAGS),
                .initrd_addr_max = rd32(buf + BP_INITRD_ADDR_MAX),
                .cmdline_size = rd32(buf + BP_CMDLINE_SIZE),
                .init_size = rd32(buf + BP_INIT_SIZE),
                .pref_address = rd64(buf + BP_PREF_ADDRESS),
                .header_len = hdr_end - BP_SETUP_SECTS,
        };
        if (k.version < BOOT_MIN_VERSION)
                return kerr_msg(err, KERR_USAGE, -ENOEXEC, "kernel: boot protocol %u.%02u is too old (need 2.12)",
                                k.version >> 8, k.version & 0xff);
        if (!(k.xloadflags & XLF_KERNEL_64))
                return kerr_msg(err, KERR_USAGE, -ENOEXEC, "kernel: no 64-bit entry point (XLF_KERNEL_64 unset)");
        if (!(buf[BP_LOADFLAGS] & LOADED_HIGH))
                return kerr_msg(err, KERR_USAGE, -ENOEXEC, "kernel: zImage (not loaded high) is not supported");
        k.pm_offset = (uint64_t) (k.setup_sects + 1) * 512;
        if (k.pm_offset >= file_size)
                return kerr_msg(err, KERR_USAGE, -ENOEXEC, "kernel: setup_sects points past the end of the file");
        k.pm_size = file_size - k.pm_offset;
        memcpy(k.header, buf + BP_SETUP_SECTS, k.header_len);
        *ret = k;
        return 0;
}

unsigned boot_e820(const MemLayout *mem, E820Entry *out, unsigned max) {
        E820Entry e[] = {
                { 0, BOOT_EBDA_START, E820_RAM },
                { BOOT_EBDA_START, 0xa0000 - BOOT_EBDA_START, E820_RESERVED },
                { BOOT_BIOS_START, BOOT_KERNEL_ADDR - BOOT_BIOS_START, E820_RESERVED },
                { BOOT_KERNEL_ADDR, mem->low_end - BOOT_KERNEL_ADDR, E820_RAM },
        };
        unsigned n = 0;
        for (size_t i = 0; i < ELEMENTSOF(e) && n < max; i++)
                out[n++] = e[i];
        for (unsigned s = 1; s < mem->n_slots && n < max; s++)
                out[n++] = (E820Entry) { mem->slots[s].gpa, mem->slots[s].size, E820_RAM };
        return n;
}

static int place_initrd(const BzImage *k, const MemLayout *mem, BootPlan *p, uint64_t size, KError **err) {
        if (size == 0)
                return 0;
        uint64_t top = mem->low_end;
        if ((uint64_t) k->initrd_addr_max + 1 < top)
                top = (uint64_t) k->initrd_addr_max + 1;
        uint64_t addr = size > top ? 0 : (top - size) & ~0xfffULL;
        if (size > top || addr < p->kernel_end)
                return kerr_msg(err, KERR_USAGE, -ENOSPC,
                                "initrd of %llu MiB does not fit between the kernel (ends at %llu MiB) and %llu MiB: "
                                "give the VM more memory", (unsigned long long) (size >> 20),
                                (unsigned long long) (p->kernel_end >> 20), (unsigned long long) (top >> 20));
        p->initrd_addr = addr;
        p->initrd_size = size;
        return 0;
}

static void fill_zero_page(const BzImage *k, BootPlan *p) {
        uint8_t *zp = p->zero_page;
        memset(zp, 0, sizeof(p->zero_page));
        memcpy(zp + BP_SETUP_SECTS, k->header, k->header_len);
        wr16(zp + BP_VID_MODE, 0xffff);                  /* "normal" */
        zp[BP_TYPE_OF_LOADER] = 0xff;                    /* undefined loader (boot.rst) */
        wr32(zp + BP_CMD_LINE_PTR, (uint32_t) p->cmdline_addr);
        wr32(zp + BP_EXT_CMD_LINE_PTR, (uint32_t) (p->cmdline_addr >> 32));
        wr32(zp + BP_RAMDISK_IMAGE, (uint32_t) p->initrd_addr);
        wr32(zp + BP_RAMDISK_SIZE, (uint32_t) p->initrd_size);
        wr32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t) (p->initrd_addr >> 32));
        wr32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t) (p->initrd_size >> 32));
        zp[BP_E820_ENTRIES] = (uint8_t) p->n_e820;
        for (unsigned i = 0; i < p->n_e820; i++) {
                uint8_t *e = zp + BP_E820_TABLE + 20 * i;
                wr64(e, p->e820[i].addr);
                wr64(e + 8, p->e820[i].size);
                wr32(e + 16, p->e820[i].type);
        }
}

int boot_plan(const BzImage *k, const MemLayout *mem, const char *cmdline, uint64_t initrd_size, BootPlan *ret,
              KError **err) {
        BootPlan *p = ret;
        memset(p, 0, sizeof(*p));
        size_t len = strlen(cmdline);
        if (len > k->cmdline_size)
                return kerr_msg(err, KERR_USAGE, -E2BIG, "command line is %zu bytes; this kernel takes at most %u",
                                len, k->cmdline_size);
        p->cmdline_addr = BOOT_CMDLINE_ADDR;
        p->cmdline = cmdline;
        p->cmdline_len = len;
        p->kernel_addr = BOOT_KERNEL_ADDR;
        p->kernel_size = k->pm_size;
        /* A relocatable kernel loaded at 1 MiB decompresses itself at its preferred address (head_64.S
         * moves below LOAD_PHYSICAL_ADDR up to it), needing init_size bytes from there. */
        uint64_t base = k->pref_address > BOOT_KERNEL_ADDR ? k->pref_address : BOOT_KERNEL_ADDR;
        p->kernel_end = base + (k->init_size > k->pm_size ? k->init_size : k->pm_size);
        if (p->kernel_end > mem->low_end)
                return kerr_msg(err, KERR_USAGE, -ENOSPC, "kernel needs %llu MiB of RAM to boot; the VM has %llu MiB",
                                (unsigned long long) (p->kernel_end >> 20), (unsigned long long) (mem->low_end >> 20));
        int r = place_initrd(k, mem, p, initrd_size, err);
        if (r < 0)
                return r;
        p->n_e820 = boot_e820(mem, p->e820, ELEMENTSOF(p->e820));
        fill_zero_page(k, p);
        return 0;
}

void boot_gdt(uint64_t gdt[BOOT_GDT_ENTRIES]) {
        gdt[0] = 0;
        gdt[1] = 0;
        gdt[2] = 0x00af9b000000ffffULL;  /* 0x10: 64-bit code, present, DPL0, execute/read, G, L */
        gdt[3] = 0x00cf93000000ffffULL;  /* 0x18: flat 4 GiB data, read/write, G, D/B */
}

void boot_page_tables(uint8_t out[BOOT_PAGE_TABLES_SIZE]) {
        memset(out, 0, BOOT_PAGE_TABLES_SIZE);
        uint64_t pdpt = BOOT_PML4_ADDR + 0x1000, pd = BOOT_PML4_ADDR + 0x2000;
        wr64(out, pdpt | 0x3);                           /* present | writable */
        wr64(out + 0x1000, pd | 0x3);
        for (uint64_t i = 0; i < 512; i++)
                wr64(out + 0x2000 + 8 * i, (i << 21) | 0x83);     /* 2 MiB page: present | writable | PS */
}

static int pread_to_guest(int fd, uint64_t off, uint64_t gpa, uint64_t len, const GuestMem *mem, const char *what,
                          KError **err) {
        uint8_t *dst = guest_mem_ptr(mem, gpa, len);
        if (!dst)
                return kerr_msg(err, KERR_GENERIC, -EFAULT, "%s at 0x%llx+0x%llx is outside guest RAM", what,
                                (unsigned long long) gpa, (unsigned long long) len);
        while (len > 0) {
                ssize_t n = pread(fd, dst, len, (off_t) off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return kerr(err, n < 0 ? -errno : -EIO, "read %s", what);
                dst += n;
                off += (uint64_t) n;
                len -= (uint64_t) n;
        }
        return 0;
}

static int put(const GuestMem *mem, uint64_t gpa, const void *src, size_t len, KError **err) {
        void *dst = guest_mem_ptr(mem, gpa, len);
        if (!dst)
                return kerr_msg(err, KERR_GENERIC, -EFAULT, "boot data at 0x%llx outside guest RAM",
                                (unsigned long long) gpa);
        memcpy(dst, src, len);
        return 0;
}

int boot_load(const BootPlan *p, const BzImage *k, int kernel_fd, int initrd_fd, const GuestMem *mem, KError **err) {
        int r = pread_to_guest(kernel_fd, k->pm_offset, p->kernel_addr, p->kernel_size, mem, "kernel", err);
        if (r < 0)
                return r;
        if (initrd_fd >= 0 && p->initrd_size > 0) {
                r = pread_to_guest(initrd_fd, 0, p->initrd_addr, p->initrd_size, mem, "initrd", err);
                if (r < 0)
                        return r;
        }
        uint64_t gdt[BOOT_GDT_ENTRIES];
        boot_gdt(gdt);
        uint8_t pt[BOOT_PAGE_TABLES_SIZE];
        boot_page_tables(pt);
        if ((r = put(mem, p->cmdline_addr, p->cmdline, p->cmdline_len + 1, err)) < 0 ||
            (r = put(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt), err)) < 0 ||
            (r = put(mem, BOOT_PML4_ADDR, pt, sizeof(pt), err)) < 0 ||
            (r = put(mem, BOOT_ZERO_PAGE_ADDR, p->zero_page, sizeof(p->zero_page), err)) < 0)
                return r;
        return 0;
}
