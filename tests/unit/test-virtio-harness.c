/* SPDX-License-Identifier: Apache-2.0 */
/* Fake machine and fake virtio driver for the PCI/virtio unit tests (see the header). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#define VIRTIO_PCI_NO_LEGACY
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <sys/epoll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test-virtio-harness.h"

/* ---- fake host ---- */

static int fake_signal_msi(void *host, const MsiMessage *msg) {
        FakeHost *f = host;
        if (f->n_msis < FAKE_MAX_MSIS)
                f->msis[f->n_msis++] = *msg;
        return 0;
}

static int fake_set_irq_line(void *host, unsigned gsi, int level) {
        return 0;
}

static int fake_add_ioeventfd(void *host, uint64_t addr, uint32_t len, bool pio, int64_t datamatch, int fd,
                              KError **err) {
        FakeHost *f = host;
        if (f->ioeventfd_fails || f->n_ioevents == FAKE_MAX_FDS)
                return -ENOSYS;
        f->ioevents[f->n_ioevents].addr = addr;
        f->ioevents[f->n_ioevents++].fd = fd;
        return 0;
}

static int fake_del_ioeventfd(void *host, uint64_t addr, uint32_t len, bool pio, int64_t datamatch, int fd) {
        FakeHost *f = host;
        for (unsigned i = 0; i < f->n_ioevents; i++)
                if (f->ioevents[i].fd == fd && f->ioevents[i].addr == addr) {
                        f->ioevents[i] = f->ioevents[--f->n_ioevents];
                        return 0;
                }
        return -ENOENT;
}

static int fake_add_fd(void *host, int fd, uint32_t events, VmmFdHandler handler, void *opaque, KError **err) {
        FakeHost *f = host;
        for (unsigned i = 0; i < f->n_fds; i++)
                if (f->fds[i].fd == fd)
                        return -EEXIST;
        if (f->n_fds == FAKE_MAX_FDS)
                return -ENOSPC;
        f->fds[f->n_fds].fd = fd;
        f->fds[f->n_fds].events = events;
        f->fds[f->n_fds].handler = handler;
        f->fds[f->n_fds++].opaque = opaque;
        return 0;
}

static int fake_del_fd(void *host, int fd) {
        FakeHost *f = host;
        for (unsigned i = 0; i < f->n_fds; i++)
                if (f->fds[i].fd == fd) {
                        f->fds[i] = f->fds[--f->n_fds];
                        return 0;
                }
        return -ENOENT;
}

static void fake_request_exit(void *host, int status) {
        ((FakeHost *) host)->exit_status = status;
}

static const VmmHostOps fake_ops = {
        .signal_msi = fake_signal_msi,
        .set_irq_line = fake_set_irq_line,
        .add_ioeventfd = fake_add_ioeventfd,
        .del_ioeventfd = fake_del_ioeventfd,
        .add_fd = fake_add_fd,
        .del_fd = fake_del_fd,
        .request_exit = fake_request_exit,
};

unsigned machine_run_loop(Machine *m) {
        unsigned ran = 0;
        for (unsigned round = 0; round < 1000; round++) {
                bool any = false;
                for (unsigned i = 0; i < m->fake.n_fds; i++) {
                        /* POLLIN/POLLOUT/POLLHUP/POLLERR have the EPOLL* values */
                        struct pollfd p = { .fd = m->fake.fds[i].fd,
                                            .events = (short) (m->fake.fds[i].events & (EPOLLIN | EPOLLOUT)) };
                        if (poll(&p, 1, 0) != 1)
                                continue;
                        m->fake.fds[i].handler(m->fake.fds[i].opaque, (uint32_t) p.revents);
                        ran++;
                        any = true;
                        break;  /* the handler may have changed the table */
                }
                if (!any)
                        break;
        }
        return ran;
}

unsigned msis_with_data(const Machine *m, uint32_t data) {
        unsigned n = 0;
        for (unsigned i = 0; i < m->fake.n_msis; i++)
                n += m->fake.msis[i].data == data;
        return n;
}

void machine_init(Machine *m) {
        memset(m, 0, sizeof(*m));
        m->host = (VmmHost) { .ops = &fake_ops, .host = &m->fake };
        bus_init(&m->pio, "pio");
        bus_init(&m->mmio, "mmio");
        m->ram = mmap(NULL, MACHINE_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(m->ram != MAP_FAILED);
        m->ram_gpa = MACHINE_RAM_GPA;
        m->ram_size = MACHINE_RAM_SIZE;
        m->mem.regions[0] = (GuestRegion) { .gpa = m->ram_gpa, .size = m->ram_size, .hva = m->ram };
        m->mem.n_regions = 1;
        assert_int_equal(pci_bus_new(&m->pio, &m->mmio, MACHINE_PCI_BASE, MACHINE_PCI_SIZE, &m->pci, NULL), 0);
        m->env = (VirtioEnv) { .mem = &m->mem, .pci = m->pci, .host = &m->host };
}

void machine_done(Machine *m) {
        pci_bus_free(m->pci);
        bus_done(&m->pio);
        bus_done(&m->mmio);
        munmap(m->ram, MACHINE_RAM_SIZE);
}

void *gpa(Machine *m, uint64_t addr, uint64_t len) {
        void *p = guest_mem_ptr(&m->mem, addr, len);
        assert_non_null(p);
        return p;
}

/* ---- port and mmio access ---- */

static void pio(Machine *m, uint16_t port, uint8_t *data, unsigned len, bool write) {
        if (!bus_dispatch(&m->pio, port, data, len, write) && !write)
                memset(data, 0xff, len);
}

static void cf8(Machine *m, unsigned slot, unsigned func, unsigned off) {
        uint32_t a = htole32(0x80000000u | slot << 11 | func << 8 | (off & 0xfc));
        pio(m, 0xcf8, (uint8_t *) &a, 4, true);
}

uint32_t pci_cfg_read(Machine *m, unsigned slot, unsigned func, unsigned off, unsigned len) {
        uint32_t v = 0;
        cf8(m, slot, func, off);
        pio(m, (uint16_t) (0xcfc + (off & 3)), (uint8_t *) &v, len, false);
        return le32toh(v);
}

void pci_cfg_write(Machine *m, unsigned slot, unsigned off, uint32_t v, unsigned len) {
        v = htole32(v);
        cf8(m, slot, 0, off);
        pio(m, (uint16_t) (0xcfc + (off & 3)), (uint8_t *) &v, len, true);
}

uint64_t mmio_read(Machine *m, uint64_t addr, unsigned len) {
        uint64_t v = 0;
        if (!bus_dispatch(&m->mmio, addr, (uint8_t *) &v, len, false))
                v = ~0ULL >> (64 - 8 * len);
        return le64toh(v);
}

void mmio_write(Machine *m, uint64_t addr, uint64_t v, unsigned len) {
        v = htole64(v);
        (void) bus_dispatch(&m->mmio, addr, (uint8_t *) &v, len, true);
}

/* ---- fake driver ---- */

uint32_t common_read(Drv *d, unsigned off, unsigned len) {
        return (uint32_t) mmio_read(d->m, d->common + off, len);
}

void common_write(Drv *d, unsigned off, uint64_t v, unsigned len) {
        mmio_write(d->m, d->common + off, v, len);
}

static uint64_t read_bar(Machine *m, unsigned slot, unsigned bar) {
        uint32_t lo = pci_cfg_read(m, slot, 0, PCI_BASE_ADDRESS_0 + 4 * bar, 4);
        uint64_t a = lo & ~0xfu;
        if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
                a |= (uint64_t) pci_cfg_read(m, slot, 0, PCI_BASE_ADDRESS_0 + 4 * (bar + 1), 4) << 32;
        return a;
}

static void drv_read_virtio_cap(Drv *d, unsigned off) {
        Machine *m = d->m;
        unsigned type = pci_cfg_read(m, d->slot, 0, off + 3, 1);
        unsigned bar = pci_cfg_read(m, d->slot, 0, off + 4, 1);
        uint64_t where = read_bar(m, d->slot, bar) + pci_cfg_read(m, d->slot, 0, off + 8, 4);
        switch (type) {
        case VIRTIO_PCI_CAP_COMMON_CFG: d->common = where; break;
        case VIRTIO_PCI_CAP_ISR_CFG: d->isr = where; break;
        case VIRTIO_PCI_CAP_DEVICE_CFG: d->device = where; break;
        case VIRTIO_PCI_CAP_NOTIFY_CFG:
                d->notify = where;
                d->notify_mult = pci_cfg_read(m, d->slot, 0, off + 16, 4);
                break;
        default: break;
        }
}

static void drv_enable_msix(Drv *d, unsigned off) {
        Machine *m = d->m;
        unsigned n = (pci_cfg_read(m, d->slot, 0, off + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1;
        uint32_t table = pci_cfg_read(m, d->slot, 0, off + PCI_MSIX_TABLE, 4);
        d->bar2 = read_bar(m, d->slot, table & PCI_MSIX_TABLE_BIR);
        uint64_t t = d->bar2 + (table & PCI_MSIX_TABLE_OFFSET);
        for (unsigned v = 0; v < n; v++) {
                mmio_write(m, t + 16 * v, 0xfee00000u, 4);
                mmio_write(m, t + 16 * v + 4, 0, 4);
                mmio_write(m, t + 16 * v + 8, MSI_DATA_BASE + v, 4);
                mmio_write(m, t + 16 * v + 12, 0, 4);
        }
        pci_cfg_write(m, d->slot, off + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | (n - 1), 2);
}

void drv_probe(Drv *d, Machine *m, unsigned slot) {
        *d = (Drv) { .m = m, .slot = slot, .next_ring_gpa = MACHINE_RAM_GPA + 0x1000 };
        assert_int_equal(pci_cfg_read(m, slot, 0, PCI_VENDOR_ID, 2), 0x1af4);
        assert_true(pci_cfg_read(m, slot, 0, PCI_DEVICE_ID, 2) >= 0x1040);
        d->bar0 = read_bar(m, slot, 0);
        unsigned off = pci_cfg_read(m, slot, 0, PCI_CAPABILITY_LIST, 1);
        for (unsigned guard = 0; off && guard < 48; guard++) {
                unsigned id = pci_cfg_read(m, slot, 0, off, 1);
                if (id == PCI_CAP_ID_VNDR)
                        drv_read_virtio_cap(d, off);
                else if (id == PCI_CAP_ID_MSIX)
                        drv_enable_msix(d, off);
                off = pci_cfg_read(m, slot, 0, off + 1, 1);
        }
        assert_true(d->common && d->notify && d->isr && d->bar2);
}

uint8_t drv_status(Drv *d) {
        return (uint8_t) common_read(d, VIRTIO_PCI_COMMON_STATUS, 1);
}

void drv_set_status(Drv *d, uint8_t s) {
        common_write(d, VIRTIO_PCI_COMMON_STATUS, s, 1);
}

uint64_t drv_device_features(Drv *d) {
        common_write(d, VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
        uint64_t f = common_read(d, VIRTIO_PCI_COMMON_DF, 4);
        common_write(d, VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
        return f | (uint64_t) common_read(d, VIRTIO_PCI_COMMON_DF, 4) << 32;
}

uint8_t drv_negotiate(Drv *d, uint64_t features) {
        drv_set_status(d, 0);
        drv_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        drv_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        for (unsigned sel = 0; sel < 2; sel++) {
                common_write(d, VIRTIO_PCI_COMMON_GFSELECT, sel, 4);
                common_write(d, VIRTIO_PCI_COMMON_GF, (uint32_t) (features >> (32 * sel)), 4);
        }
        drv_set_status(d, drv_status(d) | VIRTIO_CONFIG_S_FEATURES_OK);
        common_write(d, VIRTIO_PCI_COMMON_MSIX, 4, 2);  /* config changes on vector 4 */
        return drv_status(d);
}

uint64_t drv_alloc(Drv *d, uint64_t len, uint64_t align) {
        uint64_t a = (d->next_ring_gpa + align - 1) & ~(align - 1);
        d->next_ring_gpa = a + len;
        assert_true(d->next_ring_gpa <= MACHINE_RAM_GPA + MACHINE_RAM_SIZE);
        return a;
}

void drv_setup_queue(Drv *d, unsigned q, uint16_t size) {
        DrvQueue *dq = &d->q[q];
        *dq = (DrvQueue) { .size = size };
        dq->desc = drv_alloc(d, 16 * size, 4096);
        dq->avail = drv_alloc(d, 6 + 2 * size, 4096);
        dq->used = drv_alloc(d, 6 + 8 * size, 4096);
        common_write(d, VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
        common_write(d, VIRTIO_PCI_COMMON_Q_SIZE, size, 2);
        common_write(d, VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t) dq->desc, 4);
        common_write(d, VIRTIO_PCI_COMMON_Q_DESCHI, dq->desc >> 32, 4);
        common_write(d, VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t) dq->avail, 4);
        common_write(d, VIRTIO_PCI_COMMON_Q_AVAILHI, dq->avail >> 32, 4);
        common_write(d, VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t) dq->used, 4);
        common_write(d, VIRTIO_PCI_COMMON_Q_USEDHI, dq->used >> 32, 4);
        common_write(d, VIRTIO_PCI_COMMON_Q_MSIX, q, 2);
        common_write(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
}

void drv_driver_ok(Drv *d) {
        drv_set_status(d, drv_status(d) | VIRTIO_CONFIG_S_DRIVER_OK);
}

void drv_put_desc(Drv *d, unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
        uint8_t *p = gpa(d->m, d->q[q].desc + 16 * (uint64_t) i, 16);
        uint64_t a = htole64(addr);
        uint32_t l = htole32(len);
        uint16_t f = htole16(flags), n = htole16(next);
        memcpy(p, &a, 8);
        memcpy(p + 8, &l, 4);
        memcpy(p + 12, &f, 2);
        memcpy(p + 14, &n, 2);
}

void drv_publish(Drv *d, unsigned q, uint16_t head, uint16_t advance) {
        DrvQueue *dq = &d->q[q];
        uint16_t *ring = gpa(d->m, dq->avail + 4, 2 * dq->size);
        ring[dq->avail_idx % dq->size] = htole16(head);
        dq->avail_idx = (uint16_t) (dq->avail_idx + advance);
        uint16_t *idx = gpa(d->m, dq->avail + 2, 2);
        __atomic_store_n(idx, htole16(dq->avail_idx), __ATOMIC_RELEASE);
}

uint16_t drv_add_chain(Drv *d, unsigned q, const DrvBuf *bufs, unsigned n) {
        DrvQueue *dq = &d->q[q];
        uint16_t head = dq->next_desc;
        for (unsigned i = 0; i < n; i++) {
                uint16_t idx = (uint16_t) ((head + i) % dq->size), next = (uint16_t) ((head + i + 1) % dq->size);
                uint16_t flags = (bufs[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
                drv_put_desc(d, q, idx, bufs[i].addr, bufs[i].len, flags, next);
        }
        dq->next_desc = (uint16_t) ((head + n) % dq->size);
        drv_publish(d, q, head, 1);
        return head;
}

void drv_kick(Drv *d, unsigned q) {
        mmio_write(d->m, d->notify + (uint64_t) d->notify_mult * q, q, 2);
}

bool drv_get_used(Drv *d, unsigned q, uint32_t *ret_id, uint32_t *ret_len) {
        DrvQueue *dq = &d->q[q];
        uint16_t *idx = gpa(d->m, dq->used + 2, 2);
        if (le16toh(__atomic_load_n(idx, __ATOMIC_ACQUIRE)) == dq->used_seen)
                return false;
        uint32_t *e = gpa(d->m, dq->used + 4 + 8 * (uint64_t) (dq->used_seen % dq->size), 8);
        *ret_id = le32toh(e[0]);
        *ret_len = le32toh(e[1]);
        dq->used_seen++;
        return true;
}

void drv_bring_up(Drv *d, Machine *m, unsigned slot, uint64_t features, unsigned nq, uint16_t qsize) {
        drv_probe(d, m, slot);
        assert_true(drv_negotiate(d, features) & VIRTIO_CONFIG_S_FEATURES_OK);
        for (unsigned q = 0; q < nq; q++)
                drv_setup_queue(d, q, qsize);
        drv_driver_ok(d);
        assert_int_equal(drv_status(d), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                                VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

void gpa_put32(Machine *m, uint64_t addr, uint32_t v) {
        v = htole32(v);
        memcpy(gpa(m, addr, 4), &v, 4);
}
