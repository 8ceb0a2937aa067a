/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "mptable.h"

/* Entry sizes and types, MP spec 1.4 §4.3 table 4-3. */
#define MPF_SIZE        16
#define MPC_HDR_SIZE    44
#define MPC_PROC_SIZE   20
#define MPC_SMALL_SIZE  8
enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_IOINTR, MP_LINTR };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };
#define CPU_ENABLED     0x01
#define CPU_BOOTPROC    0x02
#define ISA_IRQS        16

static void wr16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}
static void wr32(uint8_t *p, uint32_t v) {
        wr16(p, (uint16_t) v);
        wr16(p + 2, (uint16_t) (v >> 16));
}

/* Every table's bytes, checksum included, sum to 0 mod 256 (§4.1, §4.2). */
static uint8_t checksum(const uint8_t *p, size_t len) {
        uint8_t s = 0;
        for (size_t i = 0; i < len; i++)
                s = (uint8_t) (s + p[i]);
        return (uint8_t) -s;
}

static unsigned n_entries(unsigned n_cpus) {
        /* processors, 2 buses, 1 IOAPIC, ISA interrupts except the cascade (2), 2 local interrupts */
        return n_cpus + 2 + 1 + (ISA_IRQS - 1) + 2;
}

size_t mptable_size(unsigned n_cpus) {
        return MPF_SIZE + MPC_HDR_SIZE + (size_t) n_cpus * MPC_PROC_SIZE + (n_entries(n_cpus) - n_cpus) * MPC_SMALL_SIZE;
}

static uint8_t *put_processor(uint8_t *p, unsigned apic_id) {
        p[0] = MP_PROCESSOR;
        p[1] = (uint8_t) apic_id;
        p[2] = MPTABLE_LAPIC_VERSION;
        p[3] = CPU_ENABLED | (apic_id == 0 ? CPU_BOOTPROC : 0);
        wr32(p + 4, 0x600);             /* signature: family 6; the guest reads CPUID anyway */
        wr32(p + 8, 0x201);             /* features: FPU, APIC */
        return p + MPC_PROC_SIZE;
}

static uint8_t *put_bus(uint8_t *p, uint8_t id, const char type[6]) {
        p[0] = MP_BUS;
        p[1] = id;
        memcpy(p + 2, type, 6);
        return p + MPC_SMALL_SIZE;
}

static uint8_t *put_intr(uint8_t *p, uint8_t kind, uint8_t irqtype, uint8_t bus, uint8_t bus_irq, uint8_t dest,
                         uint8_t pin) {
        p[0] = kind;
        p[1] = irqtype;
        wr16(p + 2, 0);                 /* polarity and trigger conform to the bus (ISA: edge, high) */
        p[4] = bus;
        p[5] = bus_irq;
        p[6] = dest;
        p[7] = pin;
        return p + MPC_SMALL_SIZE;
}

size_t mptable_build(unsigned n_cpus, uint32_t gpa, uint8_t *out, size_t out_len) {
        size_t size = mptable_size(n_cpus);
        if (n_cpus == 0 || n_cpus > MPTABLE_MAX_CPUS || out_len < size)
                return 0;
        memset(out, 0, size);
        uint8_t *mpf = out, *mpc = out + MPF_SIZE;
        uint8_t ioapic_id = (uint8_t) n_cpus;

        uint8_t *p = mpc + MPC_HDR_SIZE;
        for (unsigned i = 0; i < n_cpus; i++)
                p = put_processor(p, i);
        p = put_bus(p, MPTABLE_BUS_PCI, "PCI   ");
        p = put_bus(p, MPTABLE_BUS_ISA, "ISA   ");
        p[0] = MP_IOAPIC;
        p[1] = ioapic_id;
        p[2] = MPTABLE_IOAPIC_VERSION;
        p[3] = 1;                       /* enabled */
        wr32(p + 4, MPTABLE_IOAPIC_ADDR);
        p += MPC_SMALL_SIZE;
        /* ISA IRQ n -> IOAPIC pin n: KVM's default GSI routing (the PIT raises GSI 0 on pin 0). */
        for (uint8_t irq = 0; irq < ISA_IRQS; irq++)
                if (irq != 2)
                        p = put_intr(p, MP_IOINTR, MP_INT, MPTABLE_BUS_ISA, irq, ioapic_id, irq);
        /* LINT0 = ExtINT (the 8259 in virtual-wire mode), LINT1 = NMI, on every local APIC (0xff). */
        p = put_intr(p, MP_LINTR, MP_EXTINT, MPTABLE_BUS_ISA, 0, 0xff, 0);
        p = put_intr(p, MP_LINTR, MP_NMI, MPTABLE_BUS_ISA, 0, 0xff, 1);

        uint16_t mpc_len = (uint16_t) (p - mpc);
        memcpy(mpc, "PCMP", 4);
        wr16(mpc + 4, mpc_len);
        mpc[6] = 4;                     /* spec revision 1.4 */
        memcpy(mpc + 8, "KAPSEL  ", 8);
        memcpy(mpc + 16, "KAPSEL-VMM  ", 12);
        wr16(mpc + 34, (uint16_t) n_entries(n_cpus));
        wr32(mpc + 36, MPTABLE_LAPIC_ADDR);
        mpc[7] = checksum(mpc, mpc_len);

        memcpy(mpf, "_MP_", 4);
        wr32(mpf + 4, gpa + MPF_SIZE);
        mpf[8] = 1;                     /* length in 16-byte paragraphs */
        mpf[9] = 4;
        mpf[10] = checksum(mpf, MPF_SIZE);
        return size;
}
