/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-vmm's command line as a plain config (pure parsing, unit-tested). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define VMM_MAX_DISKS           8
#define VMM_MAX_CPUS            64
#define VMM_DEFAULT_MEMORY      (512ULL << 20)
/* Serial console, keyboard-controller reboot, no PS/2 mouse or PnP probing (saves seconds of timeouts). */
#define VMM_DEFAULT_CMDLINE     "console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.nopnp"

typedef struct VmmDiskConfig {
        const char *path;
        bool readonly;
} VmmDiskConfig;

typedef struct VmmConfig {
        const char *kernel;
        const char *initrd;             /* NULL: none */
        const char *cmdline;
        unsigned cpus;
        uint64_t memory;
        VmmDiskConfig disks[VMM_MAX_DISKS];
        unsigned n_disks;
        const char *tap;                /* --net tap=NAME; NULL: no network device */
        uint8_t mac[6];
        bool has_mac;
        bool rng, balloon;
        bool virtio_console;            /* --virtio-console or --virtio-console-out */
        const char *virtio_console_out; /* hvc0 output file; NULL: stdout, and hvc0 takes stdin */
        int agent_fd;                   /* --agent-fd N: second virtio console (hvc1) on inherited fd N,
                                         * both directions; -1: none. Requires virtio_console. */
        const char *serial_in;          /* serial input: a FIFO or terminal path, "-" stdin, "none";
                                         * NULL: stdin unless plain --virtio-console has it */
        bool hugepages, ksm;
        bool seccomp;                   /* default on; --no-seccomp for debugging */
        const char *console_log;        /* serial output file; NULL: stdout */
        const char *control;            /* control socket path; NULL: none */
        const char *restore;            /* --restore DIR: resume a snapshot instead of booting --kernel */
        const char *incoming;           /* --incoming ADDR: receive a live migration instead of booting */
        const char *migration_token;    /* --migration-token (else $KAPSEL_MIGRATION_TOKEN) */
        const char *kvm_dev;
        bool help, version;
        char *owned[VMM_MAX_DISKS + 2]; /* strings split out of arguments, freed by vmm_config_done */
        unsigned n_owned;
} VmmConfig;

/* Parse argv (argv[0] is the program). Errors are KERR_USAGE with the offending option named. */
int vmm_config_parse(int argc, char **argv, VmmConfig *ret, KError **err);
void vmm_config_done(VmmConfig *c);
/* The --agent-fd check parsing cannot do (it looks at the process's fds, so it runs when the
 * console fds are opened): fd must be open for reading and writing and pollable (a socket, FIFO or
 * character device; not a regular file, directory or block device). KERR_USAGE naming the option
 * otherwise. */
int vmm_config_check_agent_fd(int fd, KError **err);
/* Text for --help. */
extern const char vmm_config_usage[];
