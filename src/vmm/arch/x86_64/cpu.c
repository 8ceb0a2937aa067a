/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "boot.h"
#include "cpu.h"

int cpuid_get_supported(int kvm_fd, CpuidTable *ret, KError **err) {
        memset(ret, 0, sizeof(*ret));
        ret->hdr.nent = CPUID_MAX_ENTRIES;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, ret) < 0)
                return kerr(err, -errno, "KVM_GET_SUPPORTED_CPUID");
        return 0;
}

static unsigned order_base_2(unsigned n) {
        unsigned s = 0;
        while ((1U << s) < n)
                s++;
        return s;
}

void cpuid_for_vcpu(CpuidTable *t, unsigned index, unsigned n_cpus) {
        for (unsigned i = 0; i < t->hdr.nent; i++) {
                struct kvm_cpuid_entry2 *e = &t->entries[i];
                switch (e->function) {
                case 1:
                        /* EBX[31:24] initial APIC id, [23:16] logical processors per package */
                        e->ebx = (e->ebx & 0x0000ffff) | (index << 24) | ((n_cpus & 0xff) << 16);
                        e->ecx |= 1U << 31;             /* hypervisor present */
                        if (n_cpus > 1)
                                e->edx |= 1U << 28;     /* HTT: the EBX count is valid */
                        break;
                case 0xb:
                case 0x1f:
                        /* Extended topology (SDM vol. 2A CPUID 0BH): level 0 = SMT (1 thread per core),
                         * level 1 = core (n_cpus cores); EDX = x2APIC id at every level. */
                        if (e->index == 0) {
                                e->eax = 0;
                                e->ebx = 1;
                                e->ecx = (1U << 8) | 0;
                        } else if (e->index == 1) {
                                e->eax = order_base_2(n_cpus);
                                e->ebx = n_cpus;
                                e->ecx = (2U << 8) | 1;
                        } else {
                                e->eax = e->ebx = 0;
                                e->ecx = e->index;
                        }
                        e->edx = index;
                        break;
                default:
                        break;
                }
        }
}

/* MSRs a 64-bit kernel expects in a sane state (SDM vol. 4); MISC_ENABLE: fast strings;
 * MTRR default type: enabled, write-back, so the guest does not run uncached. */
static const struct { uint32_t index; uint64_t value; } boot_msrs[] = {
        { 0x174, 0 },                   /* IA32_SYSENTER_CS */
        { 0x175, 0 },                   /* IA32_SYSENTER_ESP */
        { 0x176, 0 },                   /* IA32_SYSENTER_EIP */
        { 0xc0000081, 0 },              /* STAR */
        { 0xc0000082, 0 },              /* LSTAR */
        { 0xc0000083, 0 },              /* CSTAR */
        { 0xc0000084, 0 },              /* SFMASK */
        { 0xc0000102, 0 },              /* KERNEL_GS_BASE */
        { 0x1a0, 1 },                   /* IA32_MISC_ENABLE: fast strings */
        { 0x2ff, (1 << 11) | 6 },       /* IA32_MTRR_DEF_TYPE: E, WB */
};

static int set_msrs(int fd, KError **err) {
        struct {
                struct kvm_msrs hdr;
                struct kvm_msr_entry e[ELEMENTSOF(boot_msrs)];
        } m = { .hdr.nmsrs = ELEMENTSOF(boot_msrs) };
        for (size_t i = 0; i < ELEMENTSOF(boot_msrs); i++)
                m.e[i] = (struct kvm_msr_entry) { .index = boot_msrs[i].index, .data = boot_msrs[i].value };
        int n = ioctl(fd, KVM_SET_MSRS, &m);
        if (n < 0)
                return kerr(err, -errno, "KVM_SET_MSRS");
        if ((size_t) n < ELEMENTSOF(boot_msrs))
                return kerr_msg(err, KERR_HOST, -EINVAL, "KVM_SET_MSRS: MSR 0x%x refused", boot_msrs[n].index);
        return 0;
}

static int set_fpu(int fd, KError **err) {
        struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };    /* FNINIT state, SSE exceptions masked */
        if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
                return kerr(err, -errno, "KVM_SET_FPU");
        return 0;
}

/* LINT0 = ExtINT, LINT1 = NMI: virtual-wire mode, as the MP table says (MP spec §3.6.2.2). */
static int set_lint(int fd, KError **err) {
        struct kvm_lapic_state l;
        if (ioctl(fd, KVM_GET_LAPIC, &l) < 0)
                return kerr(err, -errno, "KVM_GET_LAPIC");
        uint32_t *lint0 = (uint32_t *) (void *) &l.regs[0x350], *lint1 = (uint32_t *) (void *) &l.regs[0x360];
        *lint0 = (*lint0 & ~0x700U) | (7U << 8);
        *lint1 = (*lint1 & ~0x700U) | (4U << 8);
        if (ioctl(fd, KVM_SET_LAPIC, &l) < 0)
                return kerr(err, -errno, "KVM_SET_LAPIC");
        return 0;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code) {
        *s = (struct kvm_segment) { .base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
                                    .dpl = 0, .db = code ? 0 : 1, .s = 1, .l = code ? 1 : 0, .g = 1 };
}

/* boot.rst "64-bit BOOT PROTOCOL": long mode, paging on with an identity map, __BOOT_CS/__BOOT_DS
 * flat segments, interrupts off, rsi = boot_params. */
static int set_boot_regs(int fd, uint64_t entry, KError **err) {
        struct kvm_sregs s;
        if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
                return kerr(err, -errno, "KVM_GET_SREGS");
        seg(&s.cs, 0x10, 0xb, true);
        seg(&s.ds, 0x18, 0x3, false);
        s.es = s.fs = s.gs = s.ss = s.ds;
        s.gdt = (struct kvm_dtable) { .base = BOOT_GDT_ADDR, .limit = BOOT_GDT_ENTRIES * 8 - 1 };
        s.idt = (struct kvm_dtable) { .base = 0, .limit = 0 };
        s.cr3 = BOOT_PML4_ADDR;
        s.cr4 |= 1U << 5;                               /* PAE */
        s.cr0 = (s.cr0 | 0x80000001U | 0x10U) & ~0x60000000U; /* PG | PE | ET; caches on (no CD/NW) */
        s.efer |= (1U << 8) | (1U << 10);               /* LME | LMA */
        if (ioctl(fd, KVM_SET_SREGS, &s) < 0)
                return kerr(err, -errno, "KVM_SET_SREGS");
        struct kvm_regs r = { .rflags = 2, .rip = entry, .rsi = BOOT_ZERO_PAGE_ADDR, .rsp = BOOT_STACK_ADDR,
                              .rbp = BOOT_STACK_ADDR };
        if (ioctl(fd, KVM_SET_REGS, &r) < 0)
                return kerr(err, -errno, "KVM_SET_REGS");
        return 0;
}

int cpu_setup(int vcpu_fd, const CpuidTable *supported, unsigned index, unsigned n_cpus, uint64_t entry,
              KError **err) {
        CpuidTable *t = malloc(sizeof(*t));
        if (!t)
                return kerr(err, -ENOMEM, "vCPU %u CPUID", index);
        memcpy(t, supported, sizeof(*t));
        cpuid_for_vcpu(t, index, n_cpus);
        int r = ioctl(vcpu_fd, KVM_SET_CPUID2, t) < 0 ? -errno : 0;
        free(t);
        if (r < 0)
                return kerr(err, r, "vCPU %u: KVM_SET_CPUID2", index);
        if ((r = set_msrs(vcpu_fd, err)) < 0 || (r = set_fpu(vcpu_fd, err)) < 0 || (r = set_lint(vcpu_fd, err)) < 0)
                return kerr_prefix(err, r, "vCPU %u", index);
        if (index == 0 && (r = set_boot_regs(vcpu_fd, entry, err)) < 0)
                return kerr_prefix(err, r, "vCPU %u", index);
        return 0;
}
