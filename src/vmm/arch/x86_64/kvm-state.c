/* SPDX-License-Identifier: Apache-2.0 */
/* vCPU and in-kernel device state through KVM's GET/SET ioctls (api.rst §4). */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm-state.h"
#include "le-bytes.h"

/* One fixed-size KVM struct per section: the ioctl pair and the size. */
typedef struct KvmBlob {
        const char *name;
        uint32_t id;
        unsigned long get, set;
        size_t size;
} KvmBlob;

#define BLOB(n, id, g, s, type) { n, id, g, s, sizeof(type) }
static const KvmBlob vcpu_blobs[] = {
        BLOB("regs", STATE_SEC_VCPU_REGS, KVM_GET_REGS, KVM_SET_REGS, struct kvm_regs),
        BLOB("sregs", STATE_SEC_VCPU_SREGS, KVM_GET_SREGS, KVM_SET_SREGS, struct kvm_sregs),
        BLOB("xsave", STATE_SEC_VCPU_XSAVE, KVM_GET_XSAVE, KVM_SET_XSAVE, struct kvm_xsave),
        BLOB("fpu", STATE_SEC_VCPU_FPU, KVM_GET_FPU, KVM_SET_FPU, struct kvm_fpu),
        BLOB("xcrs", STATE_SEC_VCPU_XCRS, KVM_GET_XCRS, KVM_SET_XCRS, struct kvm_xcrs),
        BLOB("lapic", STATE_SEC_VCPU_LAPIC, KVM_GET_LAPIC, KVM_SET_LAPIC, struct kvm_lapic_state),
        BLOB("vcpu events", STATE_SEC_VCPU_EVENTS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, struct kvm_vcpu_events),
        BLOB("debug registers", STATE_SEC_VCPU_DEBUGREGS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
             struct kvm_debugregs),
        BLOB("MP state", STATE_SEC_VCPU_MP_STATE, KVM_GET_MP_STATE, KVM_SET_MP_STATE, struct kvm_mp_state),
};

static const KvmBlob *blob(uint32_t id) {
        for (size_t i = 0; i < ELEMENTSOF(vcpu_blobs); i++)
                if (vcpu_blobs[i].id == id)
                        return &vcpu_blobs[i];
        return NULL;
}

static int blob_save(int fd, const KvmBlob *b, unsigned index, StateWriter *w, KError **err) {
        _cleanup_free_ void *buf = calloc(1, b->size);
        if (!buf)
                return kerr(err, -ENOMEM, "vCPU %u: %s", index, b->name);
        if (ioctl(fd, b->get, buf) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "vCPU %u: read %s", index, b->name);
        state_writer_section(w, b->id, index, 1, buf, b->size);
        return 0;
}

static int blob_load(int fd, const KvmBlob *b, unsigned index, StateReader *r, KError **err) {
        const StateSection *s = state_reader_find(r, b->id, index);
        if (!s)
                return kerr_msg(err, KERR_CONFIG, -ENOENT, "state: vCPU %u has no %s section", index, b->name);
        if (s->version != 1 || s->len != b->size)
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "state: vCPU %u %s section is version %u, %u bytes; "
                                "expected version 1, %zu bytes (another kernel ABI?)", index, b->name, s->version,
                                s->len, b->size);
        _cleanup_free_ void *buf = malloc(b->size);
        if (!buf)
                return kerr(err, -ENOMEM, "vCPU %u: %s", index, b->name);
        memcpy(buf, s->data, b->size);
        if (b->id == STATE_SEC_VCPU_EVENTS)
                /* the fields of the saved struct are all valid; let KVM take them all */
                ((struct kvm_vcpu_events *) buf)->flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
                                                           KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
        if (ioctl(fd, b->set, buf) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "vCPU %u: restore %s (KVM refused the saved value)", index,
                                 b->name);
        return 0;
}

/* ---- MSRs ---- */

int kvm_state_msr_list(int kvm_fd, MsrList *ret, KError **err) {
        struct {
                struct kvm_msr_list hdr;
                uint32_t index[KVM_STATE_MAX_MSRS];
        } l = { .hdr.nmsrs = KVM_STATE_MAX_MSRS };
        if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &l) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "KVM_GET_MSR_INDEX_LIST");
        ret->n = l.hdr.nmsrs < KVM_STATE_MAX_MSRS ? l.hdr.nmsrs : KVM_STATE_MAX_MSRS;
        memcpy(ret->index, l.index, ret->n * sizeof(uint32_t));
        return 0;
}

typedef struct MsrBuf {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[KVM_STATE_MAX_MSRS];
} MsrBuf;

#define MSR_ENTRY_WIRE 16

static int msrs_save(int fd, unsigned index, const MsrList *list, StateWriter *w, KError **err) {
        _cleanup_free_ MsrBuf *m = calloc(1, sizeof(*m));
        if (!m)
                return kerr(err, -ENOMEM, "vCPU %u: MSRs", index);
        _cleanup_free_ MsrBuf *part = calloc(1, sizeof(*part));
        if (!part)
                return kerr(err, -ENOMEM, "vCPU %u: MSRs", index);
        uint32_t n = list->n < KVM_STATE_MAX_MSRS ? list->n : KVM_STATE_MAX_MSRS;
        for (uint32_t i = 0; i < n; i++)
                m->e[i].index = list->index[i];
        /* KVM_GET_MSRS stops at the first MSR it cannot read: leave that one out and go on */
        uint32_t done = 0;
        while (done < n) {
                part->hdr.nmsrs = n - done;
                memcpy(part->e, m->e + done, (n - done) * sizeof(struct kvm_msr_entry));
                int k = ioctl(fd, KVM_GET_MSRS, part);
                if (k < 0)
                        return kerr_kind(err, KERR_HOST, -errno, "vCPU %u: KVM_GET_MSRS", index);
                memcpy(m->e + done, part->e, (size_t) k * sizeof(struct kvm_msr_entry));
                done += (uint32_t) k;
                if (done < n) {
                        memmove(m->e + done, m->e + done + 1, (n - done - 1) * sizeof(struct kvm_msr_entry));
                        n--;
                }
        }
        _cleanup_free_ uint8_t *wire = malloc(4 + (size_t) n * MSR_ENTRY_WIRE);
        if (!wire)
                return kerr(err, -ENOMEM, "vCPU %u: MSRs", index);
        le32_write(wire, n);
        for (uint32_t i = 0; i < n; i++) {
                le32_write(wire + 4 + MSR_ENTRY_WIRE * i, m->e[i].index);
                le32_write(wire + 8 + MSR_ENTRY_WIRE * i, 0);
                le64_write(wire + 12 + MSR_ENTRY_WIRE * i, m->e[i].data);
        }
        state_writer_section(w, STATE_SEC_VCPU_MSRS, index, 1, wire, 4 + (size_t) n * MSR_ENTRY_WIRE);
        return 0;
}

static int msrs_load(int fd, unsigned index, StateReader *r, KError **err) {
        const StateSection *s = state_reader_find(r, STATE_SEC_VCPU_MSRS, index);
        if (!s)
                return kerr_msg(err, KERR_CONFIG, -ENOENT, "state: vCPU %u has no MSR section", index);
        uint32_t n = s->len >= 4 ? le32_read(s->data) : UINT32_MAX;
        if (s->version != 1 || n > KVM_STATE_MAX_MSRS || s->len != 4 + (size_t) n * MSR_ENTRY_WIRE)
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "state: vCPU %u MSR section malformed (%u bytes)", index,
                                s->len);
        _cleanup_free_ MsrBuf *m = calloc(1, sizeof(*m));
        if (!m)
                return kerr(err, -ENOMEM, "vCPU %u: MSRs", index);
        m->hdr.nmsrs = n;
        for (uint32_t i = 0; i < n; i++)
                m->e[i] = (struct kvm_msr_entry) { .index = le32_read(s->data + 4 + MSR_ENTRY_WIRE * i),
                                                   .data = le64_read(s->data + 12 + MSR_ENTRY_WIRE * i) };
        /* KVM_SET_MSRS stops at the first MSR it refuses: leave that one at its reset value and go
         * on; more than a few refusals mean another CPU model */
        _cleanup_free_ MsrBuf *part = calloc(1, sizeof(*part));
        if (!part)
                return kerr(err, -ENOMEM, "vCPU %u: MSRs", index);
        uint32_t done = 0, refused = 0;
        while (done < n) {
                part->hdr.nmsrs = n - done;
                memcpy(part->e, m->e + done, (n - done) * sizeof(struct kvm_msr_entry));
                int k = ioctl(fd, KVM_SET_MSRS, part);
                if (k < 0)
                        return kerr_kind(err, KERR_HOST, -errno, "vCPU %u: KVM_SET_MSRS", index);
                done += (uint32_t) k;
                if (done < n && ++refused > 8)
                        return kerr_msg(err, KERR_HOST, -EINVAL, "vCPU %u: this host refuses MSR 0x%x = 0x%llx and "
                                        "others: restore on a host with the same CPU features", index,
                                        m->e[done].index, (unsigned long long) m->e[done].data);
                if (done < n)
                        done++;
        }
        return 0;
}

/* ---- vCPU ---- */

int kvm_vcpu_save(int vcpu_fd, unsigned index, const MsrList *msrs, bool has_xsave, StateWriter *w, KError **err) {
        static const uint32_t order[] = {
                STATE_SEC_VCPU_REGS, STATE_SEC_VCPU_SREGS, STATE_SEC_VCPU_XSAVE, STATE_SEC_VCPU_XCRS,
                STATE_SEC_VCPU_LAPIC, STATE_SEC_VCPU_EVENTS, STATE_SEC_VCPU_DEBUGREGS, STATE_SEC_VCPU_MP_STATE,
        };
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                uint32_t id = order[i];
                if (!has_xsave && id == STATE_SEC_VCPU_XCRS)
                        continue;
                if (!has_xsave && id == STATE_SEC_VCPU_XSAVE)
                        id = STATE_SEC_VCPU_FPU;
                int r = blob_save(vcpu_fd, blob(id), index, w, err);
                if (r < 0)
                        return r;
        }
        return msrs_save(vcpu_fd, index, msrs, w, err);
}

int kvm_vcpu_load(int vcpu_fd, unsigned index, bool has_xsave, StateReader *r, KError **err) {
        static const uint32_t order[] = {
                STATE_SEC_VCPU_SREGS, STATE_SEC_VCPU_REGS, STATE_SEC_VCPU_XSAVE, STATE_SEC_VCPU_XCRS,
                STATE_SEC_VCPU_LAPIC, 0 /* MSRs */, STATE_SEC_VCPU_MP_STATE, STATE_SEC_VCPU_EVENTS,
                STATE_SEC_VCPU_DEBUGREGS,
        };
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                uint32_t id = order[i];
                int k;
                if (!has_xsave && id == STATE_SEC_VCPU_XCRS)
                        continue;
                if (!has_xsave && id == STATE_SEC_VCPU_XSAVE)
                        id = STATE_SEC_VCPU_FPU;
                k = id == 0 ? msrs_load(vcpu_fd, index, r, err) : blob_load(vcpu_fd, blob(id), index, r, err);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* ---- VM ---- */

static int irqchips_save(int vm_fd, StateWriter *w, KError **err) {
        for (uint32_t chip = KVM_IRQCHIP_PIC_MASTER; chip <= KVM_IRQCHIP_IOAPIC; chip++) {
                struct kvm_irqchip c = { .chip_id = chip };
                if (ioctl(vm_fd, KVM_GET_IRQCHIP, &c) < 0)
                        return kerr_kind(err, KERR_HOST, -errno, "KVM_GET_IRQCHIP %u", chip);
                state_writer_section(w, STATE_SEC_IRQCHIP, chip, 1, &c, sizeof(c));
        }
        return 0;
}

int kvm_vm_save(int vm_fd, StateWriter *w, KError **err) {
        int r = irqchips_save(vm_fd, w, err);
        if (r < 0)
                return r;
        struct kvm_pit_state2 pit = {};
        if (ioctl(vm_fd, KVM_GET_PIT2, &pit) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "KVM_GET_PIT2");
        state_writer_section(w, STATE_SEC_PIT, 0, 1, &pit, sizeof(pit));
        struct kvm_clock_data clock = {};
        if (ioctl(vm_fd, KVM_GET_CLOCK, &clock) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "KVM_GET_CLOCK");
        state_writer_section(w, STATE_SEC_CLOCK, 0, 1, &clock, sizeof(clock));
        return 0;
}

static const StateSection *vm_section(StateReader *r, uint32_t id, uint32_t instance, size_t size, const char *what,
                                      KError **err) {
        const StateSection *s = state_reader_find(r, id, instance);
        if (!s || s->version != 1 || s->len != size) {
                kerr_msg(err, KERR_CONFIG, -EBADMSG, "state: %s section %s", what, s ? "malformed" : "missing");
                return NULL;
        }
        return s;
}

int kvm_vm_load(int vm_fd, StateReader *r, KError **err) {
        for (uint32_t chip = KVM_IRQCHIP_PIC_MASTER; chip <= KVM_IRQCHIP_IOAPIC; chip++) {
                const StateSection *s = vm_section(r, STATE_SEC_IRQCHIP, chip, sizeof(struct kvm_irqchip), "irqchip",
                                                   err);
                if (!s)
                        return -EBADMSG;
                struct kvm_irqchip c;
                memcpy(&c, s->data, sizeof(c));
                if (c.chip_id != chip)
                        return kerr_msg(err, KERR_CONFIG, -EBADMSG, "state: irqchip section %u holds chip %u", chip,
                                        c.chip_id);
                if (ioctl(vm_fd, KVM_SET_IRQCHIP, &c) < 0)
                        return kerr_kind(err, KERR_HOST, -errno, "KVM_SET_IRQCHIP %u", chip);
        }
        const StateSection *s = vm_section(r, STATE_SEC_PIT, 0, sizeof(struct kvm_pit_state2), "PIT", err);
        if (!s)
                return -EBADMSG;
        struct kvm_pit_state2 pit;
        memcpy(&pit, s->data, sizeof(pit));
        if (ioctl(vm_fd, KVM_SET_PIT2, &pit) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "KVM_SET_PIT2");
        s = vm_section(r, STATE_SEC_CLOCK, 0, sizeof(struct kvm_clock_data), "clock", err);
        if (!s)
                return -EBADMSG;
        struct kvm_clock_data clock;
        memcpy(&clock, s->data, sizeof(clock));
        /* only the clock value is ours to set: the flags describe the host that read it */
        clock = (struct kvm_clock_data) { .clock = clock.clock };
        if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "KVM_SET_CLOCK");
        return 0;
}
