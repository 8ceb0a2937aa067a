/* SPDX-License-Identifier: Apache-2.0 */
/* Every device model of a VM as one unit for snapshots; the VM fills the pointers (tests fill them
 * with devices on fakes). */
#pragma once

#include "hw/i8042.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "state/state.h"

typedef struct PciBus PciBus;
typedef struct VirtioDev VirtioDev;

typedef struct StateDevices {
        Serial *serial;
        I8042 *i8042;
        Rtc *rtc;
        PciBus *pci;            /* NULL: no PCI and no virtio */
        VirtioDev *const *virtio;
        unsigned n_virtio;
} StateDevices;

/* Append every device's sections (the VM is paused: no vCPU touches a device meanwhile). */
void state_devices_save(const StateDevices *d, StateWriter *w);
/* Restore into devices built from the same configuration; the first bad section stops the load
 * with a message naming the device and field. Leaves unused sections for the caller to report. */
int state_devices_load(const StateDevices *d, StateReader *r, KError **err);
