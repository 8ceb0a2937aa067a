/* SPDX-License-Identifier: Apache-2.0 */
/* The guest side of `kapsel run --isolation=vm` (issue 7): what the host prepares so that a stock
 * kernel + kapsel's own static init (src/helpers/guest-init.c) runs an OCI image's process inside
 * a micro-VM. Independent of the VMM that boots it (kapsel-vmm; QEMU: tests/harness/vmguest.py).
 *
 * Host-side steps, in order (see docs in each function):
 *   1. vm_guest_find_kernel()          stock kernel, newest /boot/vmlinuz-* unless told (--kernel)
 *   2. vm_initramfs_ensure()           cached initramfs: guest init + the kernel modules it loads
 *   3. vm_disk_rootfs_ensure()         cached read-only ext4 of the image's merged layers   -> vda
 *   4. vm_disk_upper_ensure()          per-instance writable ext4 (sparse), kept across starts -> vdb
 *   5. vm_guest_plan()                 OCI spec (spec_gen) + network -> guest config + volumes
 *   6. vm_disk_volume_prepare() each   a -v directory copied into a fresh ext4 image      -> vdd...
 *   7. vm_disk_config_write()          the guest config as JSON, NUL-padded (4 KiB, >= 64 KiB) -> vdc
 *   8. boot: kernel, initrd, cmdline VM_GUEST_CMDLINE; disks in the order vda, vdb, vdc, volumes;
 *      a virtio console port (hvc0) for the process's stdio; ttyS0 for the kernel + control lines;
 *      with "agent": true a second virtio console (hvc1, kapsel-vmm --agent-fd) for `kapsel exec`
 *      (protocol: vm-agent.h).
 *      kapsel-vmm: --disk in that order, --virtio-console-out FILE (hvc0), serial output on stdout
 *      or --console-log FILE, serial input from stdin or --serial-in FIFO (KAPSEL-SIGNAL lines);
 *      tests/integration/test_vm_guest.py boots exactly this in the nested harness
 *   9. read ttyS0 lines with vm_guest_parse_console_line(): KAPSEL-EXIT <code> is the exit status
 *  10. after the VM ended: vm_disk_volume_finish() each (copies rw directory volumes back)
 *
 * Disk order matters: virtio-blk disks are named vda, vdb, ... in PCI order, so the VMM must put
 * them on the bus in exactly that order (QEMU: -device order; kapsel-vmm: its device table).
 *
 * The guest protocol (the host's side of it is the VMM's serial port, ttyS0 in the guest):
 *   guest -> host, one line each, on ttyS0 (mixed with kernel messages: match the marker anywhere):
 *     KAPSEL-INIT                  guest init started (kernel boot done)
 *     KAPSEL-STARTED <pid>         the process was forked and is about to exec
 *     KAPSEL-ERROR <message>       setup failed (or exec failed); an EXIT line follows
 *     KAPSEL-EXIT <code>           the process ended: exit code, or 128+signal; 125 setup error,
 *                                  126 not executable, 127 command not found (docker's codes)
 *   host -> guest, on ttyS0 input:
 *     KAPSEL-SIGNAL <n>\n          forward signal n to the process (stop, kill)
 *   After KAPSEL-EXIT the guest kills what is left, unmounts its disks cleanly and reboots
 *   (reboot(RB_AUTOBOOT)): QEMU -no-reboot and kapsel-vmm (i8042 reset) both end on it.
 *   hvc0 carries the process's stdin/stdout/stderr only (raw bytes, no kernel output).
 *
 * Guest config (vdc), JSON, version 1:
 *   {"kapselGuest": 1, "args": [..], "env": ["K=V"..], "cwd": "/", "terminal": false,
 *    "user": {"uid": 0, "gid": 0, "additionalGids": [..], "umask": 18},
 *    "hostname": "h", "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}],
 *    "mounts": [{"destination": "/tmp", "type": "tmpfs", "options": ["nosuid", "mode=1777"]}],
 *    "volumes": [{"device": "vdd", "destination": "/data", "readonly": true}],
 *    "network": {"interface": "eth0", "address": "10.88.0.2/16", "gateway": "10.88.0.1", "mtu": 1500},
 *    "files": {"/etc/hosts": "...", "/etc/resolv.conf": "...", "/etc/hostname": "..."},
 *    "agent": true,                               serve exec requests on /dev/hvc1 (vm-agent.h)
 *    "changes": "vdd"}                            a build step: write its changes to that disk
 *
 * A build step's changes ("changes", set only for `kapsel build --isolation=vm`): after the process
 * exited with 0, guest init writes the overlay's upper dir as an OCI layer tar (its own writer,
 * src/helpers/guest-tar.h) to that raw disk at VM_GUEST_CHANGES_OFFSET, flushes it, and only then
 * writes the header at offset 0: VM_GUEST_CHANGES_MAGIC "<tar length>\n", NUL-padded to 512 bytes.
 * The host reads the tar with its layer code (layer_unpack) and never mounts the guest's disks; a
 * disk without a header (zeros: the guest stopped before it finished) holds no complete tar.
 *
 * Volumes: there is no shared filesystem (no virtio-fs/9p in kapsel-vmm), so a `-v DIR:/dst` is a
 * per-instance ext4 disk made from DIR at start (mkfs.ext4 -d). Read-only volumes are attached
 * read-only. Read-write ones are copied back into DIR after the VM ended (the guest's final
 * content replaces DIR's: files deleted in the guest are deleted in DIR). Changes on the host
 * during the run are not seen by the guest and are overwritten by the copy-back. A volume whose
 * source is a disk image (VmVolumeDisk.is_image: named volumes of VMs) is attached directly. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Kernel command line for the guest; the VMM appends nothing else that matters. panic=-1 turns a
 * guest panic (init died) into a reset, so the VMM ends instead of hanging. The i8042 options skip
 * probing a PS/2 mouse, multiplexer and PnP that no kapsel VM has (as VMM_DEFAULT_CMDLINE does). */
#define VM_GUEST_CMDLINE "console=ttyS0 quiet panic=-1 rdinit=/init i8042.noaux i8042.nomux i8042.nopnp"
#define VM_GUEST_CONFIG_MAX (1024 * 1024)       /* the guest refuses bigger configs */
#define VM_GUEST_CONFIG_ALIGN 4096
/* the kernel's partition probes read past a smaller disk and log about it */
#define VM_GUEST_CONFIG_MIN (64 * 1024)
#define VM_GUEST_MAX_VOLUMES 23                 /* vdd .. vdz */
#define VM_GUEST_UPPER_DEFAULT_SIZE (1ULL << 30)

/* ---- 1. kernel ---- */

/* `override` (a --kernel path) when given, else the newest /boot/vmlinuz-* (version order).
 * Returns its path and the version (the part after "vmlinuz-": the /lib/modules directory). */
int vm_guest_find_kernel(const char *override, char **ret_path, char **ret_version, KError **err);
/* Same, searching `boot_dir` (tests). */
int vm_guest_find_kernel_in(const char *boot_dir, const char *override, char **ret_path, char **ret_version,
                            KError **err);

/* ---- 2. initramfs (vm-initramfs.c) ---- */

/* The modules guest init needs; their dependencies come from modules.dep. */
extern const char *const vm_initramfs_modules[];

/* Pure: from the text of modules.dep, the modules (paths relative to /lib/modules/<ver>) to load
 * for `wanted` (module names, '-' and '_' equal), dependencies first, each once. A wanted module
 * missing from modules.dep is skipped (built into the kernel). */
int vm_initramfs_plan_modules(const char *modules_dep, const char *const *wanted, char ***ret, KError **err);

/* newc cpio writer (the initramfs format, Linux Documentation/driver-api/early-userspace/
 * buffer-format.rst). Entries are appended to `fd`; finish writes the trailer. */
typedef struct CpioWriter CpioWriter;
int cpio_writer_new(int fd, CpioWriter **ret);
int cpio_add_dir(CpioWriter *w, const char *name, mode_t mode);
int cpio_add_file(CpioWriter *w, const char *name, mode_t mode, const void *data, size_t len);
int cpio_add_symlink(CpioWriter *w, const char *name, const char *target);
int cpio_finish(CpioWriter *w);
void cpio_writer_free(CpioWriter *w);

/* Build an initramfs at `out_path`: /init (the guest init binary), /modules/<name>.ko for each
 * planned module and /modules/order (one file name a line, load order). Modules are read from
 * `modules_dir` (/lib/modules/<ver>); .ko.xz/.ko.zst are not supported yet (Debian 12 ships
 * uncompressed modules) and give a clear error. */
int vm_initramfs_build(const char *modules_dir, const char *init_path, const char *out_path, KError **err);
/* Cached build: cache_dir/initramfs-<kver>-<inode>-<size>-<mtime ns of init, hex>.cpio, built atomically
 * on first use. Returns its path. */
int vm_initramfs_ensure(const char *cache_dir, const char *kernel_version, const char *init_path, char **ret_path,
                        KError **err);

/* ---- 3.-7. disks and the guest config (vm-disk.c) ---- */

typedef struct VmGuestNet {
        const char *address;    /* "10.88.0.2/16" */
        const char *gateway;    /* "10.88.0.1" or NULL */
        unsigned mtu;           /* 0: leave the driver's */
} VmGuestNet;

typedef struct VmGuestPlanInput {
        const json_t *oci;              /* the OCI runtime spec (spec_gen's output) */
        const VmGuestNet *net;          /* NULL: no eth0 (only lo) */
        const char *hosts, *resolv_conf;        /* file contents for the guest, or NULL */
} VmGuestPlanInput;

typedef struct VmVolumeDisk {
        char *source;           /* host directory (or disk image when is_image) */
        char *destination;      /* path in the guest */
        char *device;           /* "vdd", ... */
        bool readonly;
        bool is_image;          /* source is an ext4 image to attach as is (set by the caller) */
        char *image;            /* the disk attached (set by vm_disk_volume_prepare) */
} VmVolumeDisk;

typedef struct VmGuestPlan {
        json_t *config;         /* the guest config (schema above) */
        VmVolumeDisk *volumes;
        size_t n_volumes;
} VmGuestPlan;

/* Pure: OCI spec + network -> guest config. The process (args, env, cwd, user, umask, rlimits,
 * terminal) and hostname carry over; tmpfs mounts carry over except those guest init makes itself
 * (/dev, /dev/pts, /dev/shm, /proc, /sys...); bind mounts of /etc/hosts, /etc/resolv.conf and
 * /etc/hostname become "files" (contents from `in`); every other bind becomes a volume disk
 * (devices vdd, vde, ... in spec order). Other mount types are refused (KERR_USAGE). */
int vm_guest_plan(const VmGuestPlanInput *in, VmGuestPlan *ret, KError **err);
void vm_guest_plan_done(VmGuestPlan *p);

/* Pure: the config disk's bytes: compact JSON, NUL-padded to a multiple of 4 KiB, at least 64 KiB. */
int vm_disk_config_bytes(const json_t *config, char **ret, size_t *ret_len, KError **err);
/* Write it to `path` (created or replaced). */
int vm_disk_config_write(const char *path, const json_t *config, KError **err);

/* Pure: mkfs.ext4 size for a tree of `bytes` (file data rounded to blocks) and `inodes` entries:
 * data + metadata + 20% + 16 MiB slack, rounded up to 1 MiB. */
uint64_t vm_disk_image_size(uint64_t bytes, uint64_t inodes);
/* Pure: the mkfs.ext4 argv (NULL-terminated, caller frees with strv_free). `src_dir` NULL: an empty
 * filesystem; `journal` false: no journal (read-only images). `inodes` 0: mkfs's default. */
int vm_disk_mkfs_argv(const char *image, const char *src_dir, uint64_t size, uint64_t inodes, bool journal,
                      char ***ret);
/* Run mkfs.ext4 (creates a sparse `image` of `size` first). Its output becomes the error message. */
int vm_disk_mkfs(const char *image, const char *src_dir, uint64_t size, uint64_t inodes, bool journal,
                 KError **err);
/* Sum of file sizes (rounded to 4 KiB) and number of entries under `dir` (not crossing mounts). */
int vm_disk_tree_size(const char *dir, uint64_t *ret_bytes, uint64_t *ret_inodes, KError **err);

/* cache_dir/rootfs-<hex of image_id>.ext4, built once from the merged layers (lowest first,
 * NULL-terminated; mounted as a read-only overlay for the copy when there are several). Root only. */
int vm_disk_rootfs_ensure(const char *cache_dir, const char *image_id, char *const *layer_dirs, char **ret_path,
                          KError **err);
/* The per-instance writable disk: created (sparse, ext4 with journal) when missing, kept as is
 * otherwise so a restarted instance keeps its writes. Guest init keeps upper/ and work/ on it. */
int vm_disk_upper_ensure(const char *path, uint64_t size, KError **err);
/* Make the disk for one volume under `instance_dir` (vol-<device>.ext4 from a directory), or
 * check an image volume. Sets v->image. */
int vm_disk_volume_prepare(VmVolumeDisk *v, const char *instance_dir, KError **err);
/* After the VM ended: copy a read-write directory volume's content back into its source (read
 * with debugfs, in user space: a guest-written filesystem is never mounted by the host kernel),
 * then remove the per-instance image. A no-op for read-only and image volumes. */
int vm_disk_volume_finish(VmVolumeDisk *v, KError **err);

/* ---- a build step's changes disk ---- */

#define VM_GUEST_CHANGES_MAGIC "KAPSEL-CHANGES 1 "
#define VM_GUEST_CHANGES_OFFSET 512

/* Pure: the header (the first VM_GUEST_CHANGES_OFFSET bytes of a changes disk of `disk_size`
 * bytes, written by the guest: untrusted) -> the tar's length. A zero header is a guest that did
 * not finish (-ENODATA); anything else malformed, or a length past the disk's end, -EBADMSG. */
int vm_guest_changes_header(const char *head, size_t len, uint64_t disk_size, uint64_t *ret_len);

/* ---- 9. the guest's console lines ---- */

typedef enum VmGuestEventType {
        VM_GUEST_EVENT_NONE,    /* a line without a marker (kernel message) */
        VM_GUEST_EVENT_INIT,
        VM_GUEST_EVENT_STARTED,
        VM_GUEST_EVENT_ERROR,
        VM_GUEST_EVENT_EXIT,
} VmGuestEventType;

typedef struct VmGuestEvent {
        VmGuestEventType type;
        int value;              /* EXIT: code 0..255; STARTED: pid */
        char message[256];      /* ERROR: the message (truncated, printable ASCII only) */
} VmGuestEvent;

/* Parse one ttyS0 line (untrusted: written by the guest). Never fails; a malformed marker is NONE. */
void vm_guest_parse_console_line(const char *line, size_t len, VmGuestEvent *ret);
/* The control line asking guest init to forward `sig`, e.g. "KAPSEL-SIGNAL 15\n". */
int vm_guest_signal_line(int sig, char *buf, size_t size);
