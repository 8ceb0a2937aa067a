/* SPDX-License-Identifier: Apache-2.0 */
/* The device models of one VM in and out of a state stream, in the order of the device table:
 * legacy devices, the PCI bus, each PCI function's config space, then the virtio transport and
 * model behind it (config space first: MSI-X enable and BAR placement come from it). */
#include <errno.h>

#include "devices-state.h"
#include "pci/pci.h"
#ifdef VMM_HAVE_VIRTIO
#include "virtio/virtio.h"
#endif

void state_devices_save(const StateDevices *d, StateWriter *w) {
        SerialState ss;
        I8042State ks;
        RtcState rs;
        serial_save(d->serial, &ss);
        state_put(w, &serial_state_layout, 0, &ss);
        i8042_save(d->i8042, &ks);
        state_put(w, &i8042_state_layout, 0, &ks);
        rtc_save(d->rtc, &rs);
        state_put(w, &rtc_state_layout, 0, &rs);
        if (!d->pci)
                return;
        PciBusState bs;
        pci_bus_save(d->pci, &bs);
        state_put(w, &pci_bus_state_layout, 0, &bs);
#ifdef VMM_HAVE_VIRTIO
        for (unsigned i = 0; i < d->n_virtio; i++) {
                PciDeviceState ps;
                VirtioDev *v = d->virtio[i];
                pci_device_save(d->pci, &v->pci, &ps);
                state_put(w, &pci_device_state_layout, v->pci.slot, &ps);
                virtio_dev_save(v, w);
        }
#endif
}

static int legacy_load(const StateDevices *d, StateReader *r, KError **err) {
        SerialState ss;
        I8042State ks;
        RtcState rs;
        int k = state_get(r, &serial_state_layout, 0, &ss, NULL, err);
        if (k >= 0)
                k = serial_load(d->serial, &ss, err);
        if (k >= 0)
                k = state_get(r, &i8042_state_layout, 0, &ks, NULL, err);
        if (k >= 0)
                k = i8042_load(d->i8042, &ks, err);
        if (k >= 0)
                k = state_get(r, &rtc_state_layout, 0, &rs, NULL, err);
        if (k >= 0)
                k = rtc_load(d->rtc, &rs, err);
        return k;
}

int state_devices_load(const StateDevices *d, StateReader *r, KError **err) {
        int k = legacy_load(d, r, err);
        if (k < 0 || !d->pci)
                return k;
        PciBusState bs;
        k = state_get(r, &pci_bus_state_layout, 0, &bs, NULL, err);
        if (k < 0)
                return k;
        pci_bus_load(d->pci, &bs);
#ifdef VMM_HAVE_VIRTIO
        for (unsigned i = 0; i < d->n_virtio; i++) {
                PciDeviceState ps;
                VirtioDev *v = d->virtio[i];
                k = state_get(r, &pci_device_state_layout, v->pci.slot, &ps, NULL, err);
                if (k >= 0)
                        k = pci_device_load(d->pci, &v->pci, &ps, err);
                if (k >= 0)
                        k = virtio_dev_load(v, r, err);
                if (k < 0)
                        return k;
        }
#endif
        return 0;
}
