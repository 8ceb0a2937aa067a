/* SPDX-License-Identifier: Apache-2.0 */
/* What a device model may ask of the VMM, and nothing more: interrupts, doorbell eventfds and a
 * place in the event loop. Devices see only this struct (plus GuestMem and the buses), so each one
 * is testable with a fake VmmHost that records interrupts and runs callbacks by hand (TinyEMU's
 * shape). The real implementation (KVM_IRQ_LINE / KVM_SIGNAL_MSI, ioeventfd doorbells, one epoll
 * thread) lives in the VMM core. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* An MSI message as the guest programmed it into an MSI-X table entry. */
typedef struct MsiMessage {
        uint64_t address;
        uint32_t data;
} MsiMessage;

/* Callback for a ready fd; `events` are the EPOLL* bits that fired. Runs on the event-loop thread. */
typedef void (*VmmFdHandler)(void *opaque, uint32_t events);

typedef struct VmmHostOps {
        /* Deliver one MSI now (KVM_SIGNAL_MSI). Any thread. */
        int (*signal_msi)(void *host, const MsiMessage *msg);
        /* Raise (level 1) or lower (0) a legacy GSI line (serial, i8042, RTC use IRQs 4, 1/12, 8). */
        int (*set_irq_line)(void *host, unsigned gsi, int level);
        /* Have the kernel signal `fd` on a guest write to [addr, addr + len) on the mmio (or pio) bus,
         * without a vCPU exit to userspace (KVM_IOEVENTFD). datamatch < 0: any value. */
        int (*add_ioeventfd)(void *host, uint64_t addr, uint32_t len, bool pio, int64_t datamatch, int fd,
                             KError **err);
        int (*del_ioeventfd)(void *host, uint64_t addr, uint32_t len, bool pio, int64_t datamatch, int fd);
        /* Watch fd in the event loop; `events` as for epoll (EPOLLIN, ...). Returns 0 or -errno. */
        int (*add_fd)(void *host, int fd, uint32_t events, VmmFdHandler handler, void *opaque, KError **err);
        int (*del_fd)(void *host, int fd);
        /* The guest asked to stop the machine: reset through i8042 (status 0) or a device fault. */
        void (*request_exit)(void *host, int status);
} VmmHostOps;

typedef struct VmmHost {
        const VmmHostOps *ops;
        void *host;             /* first argument of every op */
} VmmHost;
