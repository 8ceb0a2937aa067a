/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the snapshot/migration state loader: the input is a whole state stream (untrusted: a
 * snapshot file anyone may hand to `kapsel vm restore`, or a migration peer). It is parsed by the
 * strict reader and, when the framing holds, loaded into a machine on a fake host with the legacy
 * devices and three virtio models (rng, balloon, console): every device-section loader runs on
 * hostile values. Nothing may crash, hang or leak, whatever the outcome. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bus.h"
#include "guest-mem.h"
#include "hw/i8042.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "le-bytes.h"
#include "pci/pci.h"
#include "state/devices-state.h"
#include "state/state.h"
#include "virtio/virtio.h"
#include "vmm-host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_GPA 0x100000ULL
#define RAM_SIZE (4ULL << 20)
#define PCI_BASE 0xc0000000ULL
#define PCI_SIZE 0x10000000ULL

static int nop_msi(void *h, const MsiMessage *m) {
        return 0;
}
static int nop_irq(void *h, unsigned gsi, int level) {
        return 0;
}
static int nop_ioevent_add(void *h, uint64_t addr, uint32_t len, bool pio, int64_t match, int fd, KError **err) {
        return -ENOSYS;         /* the mmio doorbell is used */
}
static int nop_ioevent_del(void *h, uint64_t addr, uint32_t len, bool pio, int64_t match, int fd) {
        return 0;
}
static int nop_add_fd(void *h, int fd, uint32_t ev, VmmFdHandler f, void *o, KError **err) {
        return 0;
}
static int nop_del_fd(void *h, int fd) {
        return 0;
}
static void nop_exit(void *h, int status) {
}
static const VmmHostOps fuzz_host_ops = {
        .signal_msi = nop_msi, .set_irq_line = nop_irq, .add_ioeventfd = nop_ioevent_add,
        .del_ioeventfd = nop_ioevent_del, .add_fd = nop_add_fd, .del_fd = nop_del_fd, .request_exit = nop_exit,
};

static time_t fixed_now(void) {
        return 1700000000;
}

typedef struct FuzzVm {
        VmmHost host;
        Bus pio, mmio;
        GuestMem mem;
        uint8_t *ram;
        PciBus *pci;
        Serial serial;
        I8042 i8042;
        Rtc rtc;
        VirtioDev *virtio[3];
        unsigned n_virtio;
} FuzzVm;

static int fuzz_vm_init(FuzzVm *v) {
        *v = (FuzzVm) { .host = { .ops = &fuzz_host_ops, .host = NULL } };
        bus_init(&v->pio, "pio");
        bus_init(&v->mmio, "mmio");
        v->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (v->ram == MAP_FAILED)
                abort();
        v->mem = (GuestMem) { .regions = { { .gpa = RAM_GPA, .size = RAM_SIZE, .hva = v->ram } }, .n_regions = 1 };
        if (pci_bus_new(&v->pio, &v->mmio, PCI_BASE, PCI_SIZE, &v->pci, NULL) < 0 ||
            serial_init(&v->serial, &v->pio, SERIAL_COM1_BASE, 4, -1, -1, &v->host, NULL) < 0 ||
            i8042_init(&v->i8042, &v->pio, &v->host, NULL) < 0 || rtc_init(&v->rtc, &v->pio, fixed_now, NULL) < 0)
                abort();
        VirtioEnv env = { .mem = &v->mem, .pci = v->pci, .host = &v->host };
        VirtioConsoleConfig cc = { .in_fd = -1, .out_fd = -1 };
        if (virtio_rng_create(&env, &v->virtio[0], NULL) < 0 || virtio_balloon_create(&env, &v->virtio[1], NULL) < 0 ||
            virtio_console_create(&env, &cc, &v->virtio[2], NULL) < 0)
                abort();
        v->n_virtio = 3;
        return 0;
}

static void fuzz_vm_done(FuzzVm *v) {
        while (v->n_virtio > 0)
                virtio_dev_free(v->virtio[--v->n_virtio]);
        serial_done(&v->serial);
        i8042_done(&v->i8042);
        rtc_done(&v->rtc);
        pci_bus_free(v->pci);
        bus_done(&v->pio);
        bus_done(&v->mmio);
        munmap(v->ram, RAM_SIZE);
}

static void fuzz_vmm_state_devices(FuzzVm *v, StateDevices *ret) {
        *ret = (StateDevices) { .serial = &v->serial, .i8042 = &v->i8042, .rtc = &v->rtc, .pci = v->pci,
                                .virtio = v->virtio, .n_virtio = v->n_virtio };
}

static void load_stream(const uint8_t *data, size_t size) {
        StateReader r;
        if (state_reader_parse(&r, data, size, NULL) < 0)
                return;
        /* every section header is also decoded on its own, whatever its id claims */
        for (size_t i = 0; i < r.n; i++) {
                VirtioModelState scratch;
                (void) state_decode(&virtio_model_state_layout, r.sections[i].data, r.sections[i].len, &scratch);
        }
        FuzzVm v;
        fuzz_vm_init(&v);
        StateDevices d;
        fuzz_vmm_state_devices(&v, &d);
        KError *e = NULL;
        if (state_devices_load(&d, &r, &e) < 0 && (!e || !e->msg || !*e->msg))
                abort();        /* a refusal always says why */
        kerr_free(e);
        /* a loaded machine keeps working: the guest kicks every queue */
        for (unsigned i = 0; i < v.n_virtio; i++)
                for (unsigned q = 0; q < 2; q++) {
                        uint16_t one = 0;
                        uint64_t bar0 = v.virtio[i]->pci.bars[0].addr;
                        bus_dispatch(&v.mmio, bar0 + 0x3000 + 4 * q, (uint8_t *) &one, 2, true);
                }
        fuzz_vm_done(&v);
        state_reader_done(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        load_stream(data, size);
        /* and once more with the trailer's checksum made right, or mutations would rarely get past
         * it to the device loaders */
        if (size < 4 || size > STATE_MAX_STREAM)
                return 0;
        uint8_t *copy = malloc(size);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        le32_write(copy + size - 4, state_crc32c(0, copy, size - 4));
        load_stream(copy, size);
        free(copy);
        return 0;
}
