/* SPDX-License-Identifier: Apache-2.0 */
/* The machine's devices as one explicit, ordered table: initialized top to bottom, torn down bottom
 * to top, and unwound from the point of failure. A device exists only when configured. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"
#ifdef VMM_HAVE_VIRTIO
#include "pci/pci.h"
#include "virtio/virtio-devices.h"
#endif

#define PORT_POST       0x80    /* POST code / I/O delay port: Linux writes it for short delays */
#define PORT_SYSCTL_A   0x92    /* PS/2 system control port A: bit 0 = fast reset, bit 1 = A20 */

typedef struct VmDevice {
        const char *name;
        int (*init)(Vm *vm, KError **err);
        void (*exit)(Vm *vm);
} VmDevice;

static int serial_up(Vm *vm, KError **err) {
        return serial_init(&vm->serial, &vm->pio, SERIAL_COM1_BASE, SERIAL_COM1_IRQ, vm->serial_in_fd, vm->console_fd,
                           &vm->host, err);
}
static void serial_down(Vm *vm) {
        serial_done(&vm->serial);
}

static int i8042_up(Vm *vm, KError **err) {
        return i8042_init(&vm->i8042, &vm->pio, &vm->host, err);
}
static void i8042_down(Vm *vm) {
        i8042_done(&vm->i8042);
}

static int rtc_up(Vm *vm, KError **err) {
        return rtc_init(&vm->rtc, &vm->pio, NULL, err);
}
static void rtc_down(Vm *vm) {
        rtc_done(&vm->rtc);
}

static void post_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        for (uint32_t i = 0; i < len && !is_write; i++)
                data[i] = 0;
}

static void sysctl_a_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {
        Vm *vm = opaque;
        if (!is_write)
                data[0] = 0x02;         /* A20 enabled, no reset in progress */
        else if (data[0] & 1)
                vm_request_exit(vm, 0, "guest reset through port 0x92");
}

static int legacy_up(Vm *vm, KError **err) {
        int r = bus_register(&vm->pio, PORT_POST, 1, post_io, vm, "post", err);
        if (r < 0)
                return r;
        return bus_register(&vm->pio, PORT_SYSCTL_A, 1, sysctl_a_io, vm, "system control A", err);
}

#ifdef VMM_HAVE_VIRTIO
static int pci_up(Vm *vm, KError **err) {
        return pci_bus_new(&vm->pio, &vm->mmio, MEM_PCI_MMIO_BASE, MEM_PCI_MMIO_SIZE, &vm->pci, err);
}
static void pci_down(Vm *vm) {
        pci_bus_free(vm->pci);
        vm->pci = NULL;
}

/* virtio_add(vm, virtio_X_create(..., &d, err), &d): records *d once the create has returned. (A
 * plain `d` argument would be read before the call, in whatever order the compiler evaluates
 * arguments: gcc read it first, so the table held NULL and missed the last device.) */
static int virtio_add(Vm *vm, int r, VirtioDev *const *dev) {
        if (r >= 0)
                vm->virtio[vm->n_virtio++] = *dev;
        return r;
}

static void virtio_down(Vm *vm);

static int virtio_up(Vm *vm, KError **err) {
        const VmmConfig *c = vm->cfg;
        VirtioEnv env = { .mem = &vm->mem, .pci = vm->pci, .host = &vm->host };
        VirtioDev *d = NULL;
        int r = 0;
        for (unsigned i = 0; i < c->n_disks && r >= 0; i++) {
                VirtioBlkConfig bc = { .path = c->disks[i].path, .readonly = c->disks[i].readonly };
                r = virtio_add(vm, virtio_blk_create(&env, &bc, &d, err), &d);
        }
        if (r >= 0 && c->tap) {
                /* default MAC: locally administered, stable per tap name would be nicer; fixed prefix */
                VirtioNetConfig nc = { .tap = c->tap, .mac = { 0x02, 0x6b, 0x70, 0x73, 0x00, 0x01 } };
                if (c->has_mac)
                        memcpy(nc.mac, c->mac, 6);
                r = virtio_add(vm, virtio_net_create(&env, &nc, &d, err), &d);
        }
        if (r >= 0 && c->rng)
                r = virtio_add(vm, virtio_rng_create(&env, &d, err), &d);
        if (r >= 0 && c->balloon) {
                r = virtio_add(vm, virtio_balloon_create(&env, &d, err), &d);
                if (r >= 0)
                        vm->balloon = d;
        }
        if (r >= 0 && c->virtio_console) {
                VirtioConsoleConfig cc = { .in_fd = vm->vcon_in_fd, .out_fd = vm->vcon_out_fd };
                r = virtio_add(vm, virtio_console_create(&env, &cc, &d, err), &d);
        }
        /* after hvc0 on the bus: the guest names consoles in probe (PCI) order, so this is hvc1 */
        if (r >= 0 && vm->agent_fd >= 0) {
                VirtioConsoleConfig cc = { .in_fd = vm->agent_fd, .out_fd = vm->agent_fd };
                r = virtio_add(vm, virtio_console_create(&env, &cc, &d, err), &d);
        }
        if (r < 0)
                virtio_down(vm);        /* the stage failed as a whole: vm_devices_exit skips it */
        return r;
}

static void virtio_down(Vm *vm) {
        while (vm->n_virtio > 0)
                virtio_dev_free(vm->virtio[--vm->n_virtio]);
        vm->balloon = NULL;
}
#else
static int virtio_up(Vm *vm, KError **err) {
        const VmmConfig *c = vm->cfg;
        if (c->n_disks || c->tap || c->rng || c->balloon || c->virtio_console || vm->agent_fd >= 0)
                return kerr_msg(err, KERR_USAGE, -ENOTSUP, "this kapsel-vmm was built without virtio devices");
        return 0;
}
#endif

static const VmDevice devices[] = {
        { "serial", serial_up, serial_down },
        { "i8042", i8042_up, i8042_down },
        { "rtc", rtc_up, rtc_down },
        { "legacy ports", legacy_up, NULL },
#ifdef VMM_HAVE_VIRTIO
        { "pci", pci_up, pci_down },
        { "virtio", virtio_up, virtio_down },
#else
        { "virtio", virtio_up, NULL },
#endif
};

int vm_devices_init(Vm *vm, KError **err) {
        for (size_t i = 0; i < ELEMENTSOF(devices); i++) {
                int r = devices[i].init(vm, err);
                if (r < 0) {
                        vm_devices_exit(vm);
                        return kerr_prefix(err, r, "device %s", devices[i].name);
                }
                vm->n_devices_up = (unsigned) i + 1;
        }
        return 0;
}

void vm_devices_exit(Vm *vm) {
        while (vm->n_devices_up > 0) {
                const VmDevice *d = &devices[--vm->n_devices_up];
                if (d->exit)
                        d->exit(vm);
        }
}
