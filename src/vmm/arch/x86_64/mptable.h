/* SPDX-License-Identifier: Apache-2.0 */
/* Intel MultiProcessor Specification 1.4 tables, so a guest without ACPI finds every vCPU, the
 * IOAPIC and how ISA interrupts reach it. Pure: produces bytes for a guest address. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define MPTABLE_MAX_CPUS        64
#define MPTABLE_LAPIC_ADDR      0xfee00000U
#define MPTABLE_IOAPIC_ADDR     0xfec00000U
#define MPTABLE_LAPIC_VERSION   0x14    /* integrated local APIC */
#define MPTABLE_IOAPIC_VERSION  0x11    /* what KVM's in-kernel IOAPIC reports */
#define MPTABLE_BUS_PCI         0
#define MPTABLE_BUS_ISA         1

/* Bytes needed for n_cpus. */
size_t mptable_size(unsigned n_cpus);
/* Write the floating pointer (MP spec §4.1) followed by the configuration table (§4.2) to `out`,
 * which is placed at guest address `gpa` (16-byte aligned). Returns bytes written, or 0 when
 * n_cpus is out of range or out_len too small. The IOAPIC gets id n_cpus (after the APIC ids). */
size_t mptable_build(unsigned n_cpus, uint32_t gpa, uint8_t *out, size_t out_len);
