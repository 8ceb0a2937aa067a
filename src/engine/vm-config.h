/* SPDX-License-Identifier: Apache-2.0 */
/* A micro-VM's configuration as `kapsel vm run|create` takes it (--kernel, --initrd, --cmdline,
 * --cpus, --memory, --disk, --net), stored in the instance row as
 *
 *   {"Config": {"Kernel", "Initrd", "Cmdline", "Cpus", "Memory", "Disks": [{"Path", "ReadOnly"}],
 *               "Cmd": [kernel, cmdline], "Labels": {}},
 *    "HostConfig": {"NetworkMode": "bridge" | "none" | <network>, "VmBootTimeout", "VmBootReady"}}
 *
 * and turned into kapsel-vmm's command line by the monitor. Parsing and planning are pure (unit
 * tested); vm_config_check looks at the host (files, bzImage header, RAM). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define VM_DEFAULT_MEMORY (512ULL << 20)
#define VM_MIN_MEMORY (32ULL << 20)
#define VM_MAX_CPUS 64
#define VM_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.nopnp"

typedef struct VmDisk {
        char *path;             /* absolute after vm_config_check */
        bool read_only;
} VmDisk;

typedef struct VmConfig {
        char *kernel;           /* bzImage; absolute after vm_config_check */
        char *initrd;           /* or NULL */
        char *cmdline;          /* or NULL: VM_DEFAULT_CMDLINE */
        unsigned cpus;          /* 1..VM_MAX_CPUS */
        uint64_t memory;        /* bytes */
        VmDisk *disks;
        size_t n_disks;
        char *network;          /* "none", "bridge" (the default network) or a network's name */
        int boot_timeout;       /* --boot-timeout in seconds (0: no limit), -1: VM_BOOT_TIMEOUT_DEFAULT */
        char *boot_ready;       /* --boot-ready: the console text that means booted, or NULL (any output) */
} VmConfig;

/* How long a VM may take from kapsel-vmm's start to the first sign of its guest (the console's
 * first output or --boot-ready's text for `vm run`, guest init's KAPSEL-INIT for --isolation=vm)
 * before the monitor stops it. A stock kernel boots in well under a second on hardware KVM; nested
 * under QEMU's emulator it takes 15-25 s on an idle host, and 108-147 s were measured in the nested
 * suite on a loaded 2-core host: the default leaves twice that. Stored as HostConfig.VmBootTimeout
 * (seconds) and HostConfig.VmBootReady. */
#define VM_BOOT_TIMEOUT_DEFAULT 300
#define VM_BOOT_TIMEOUT_MAX (24 * 3600)

/* Defaults: 1 vCPU, 512 MiB, network "bridge". */
void vm_config_init(VmConfig *c);
void vm_config_done(VmConfig *c);

/* "--disk PATH[,ro]" appended to c->disks. */
int vm_config_add_disk(VmConfig *c, const char *arg, KError **err);
/* "--memory 512M" (at least VM_MIN_MEMORY, whole MiB). */
int vm_config_parse_memory(const char *arg, uint64_t *ret, KError **err);
/* "--cpus N", 1..VM_MAX_CPUS. */
int vm_config_parse_cpus(const char *arg, unsigned *ret, KError **err);
/* "--boot-timeout 90", "90s", "2m" or "0" (no limit) -> seconds. */
int vm_config_parse_boot_timeout(const char *arg, int *ret, KError **err);
/* "--net bridge|none|NETWORK": "host" and "container:..." are container-only modes. */
int vm_config_set_network(VmConfig *c, const char *arg, KError **err);

/* The row's config document (see above) and back. */
json_t *vm_config_to_json(const VmConfig *c);
int vm_config_from_json(const json_t *doc, VmConfig *ret, KError **err);

/* Is `path` a Linux bzImage (boot protocol header "HdrS" at 0x202, 0xAA55 at 0x1fe)? 1 yes, 0 no,
 * negative errno when it cannot be read. */
int vm_config_is_bzimage(const char *path);
/* Check against the host and make every path absolute: the kernel exists and is a bzImage, the
 * initrd and disks exist (read-write disks writable), memory fits in `host_ram` bytes. */
int vm_config_check(VmConfig *c, uint64_t host_ram, KError **err);

/* What the monitor adds to the plan at start. */
typedef struct VmLaunch {
        const char *vmm;                /* kapsel-vmm binary */
        const char *control;            /* control socket path (relative to the VM's directory) */
        const char *tap;                /* tap device or NULL (--net none) */
        const char *mac;                /* the tap attachment's MAC or NULL */
        const char *kernel_ip_arg;      /* "ip=..." for the guest's kernel, or NULL */
        const char *kvm_device;         /* NULL: /dev/kvm */
        const char *console_log;        /* the serial port to this file instead of stdout, or NULL */
        const char *serial_in;          /* the serial port's input from this FIFO instead of stdin, or NULL */
        bool virtio_console;            /* stdin/stdout on a virtio console (hvc0) instead of the serial port */
        int agent_fd;                   /* > 0: --agent-fd N, a second virtio console (hvc1) for the guest agent */
        const char *restore;            /* --restore DIR: resume a snapshot (vm-snapshot.h) instead of booting */
        const char *incoming;           /* --incoming ADDR: wait for a live migration (vm-migrate.h) */
        const char *migration_token;    /* its --migration-token */
} VmLaunch;

/* kapsel-vmm's argv (NULL-terminated, argv[0] = l->vmm). */
int vm_config_vmm_argv(const VmConfig *c, const VmLaunch *l, char ***ret, KError **err);
