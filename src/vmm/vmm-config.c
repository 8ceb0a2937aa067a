/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "string-util.h"
#include "vmm-config.h"

const char vmm_config_usage[] =
        "Usage: kapsel-vmm --kernel BZIMAGE [options]\n"
        "  --kernel PATH          Linux bzImage (e.g. /boot/vmlinuz-*)\n"
        "  --initrd PATH          initial ramdisk\n"
        "  --cmdline TEXT         kernel command line (default: \"" VMM_DEFAULT_CMDLINE "\")\n"
        "  --cpus N               vCPUs (1..64, default 1)\n"
        "  --memory SIZE          guest RAM, e.g. 512M, 2G (default 512M)\n"
        "  --disk PATH[,ro]       virtio-blk disk from a raw image (repeatable)\n"
        "  --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]  virtio-net on an existing tap device\n"
        "  --rng                  virtio-rng fed from the host's getrandom()\n"
        "  --balloon              virtio-balloon (target set through the control socket)\n"
        "  --virtio-console       virtio-console (hvc0) on stdin/stdout besides the serial port\n"
        "  --virtio-console-out FILE  virtio-console (hvc0) output appended to FILE (or /dev/fd/N),\n"
        "                         no input; the serial port keeps stdin\n"
        "  --agent-fd N           a second virtio-console (hvc1, after hvc0) on the inherited fd N (>= 3,\n"
        "                         a connected stream socket, FIFO or character device open for reading\n"
        "                         and writing): bytes read from N go to the guest, guest output to N,\n"
        "                         never dropped while N is open. Needs --virtio-console or\n"
        "                         --virtio-console-out; kapsel-vmm owns N from then on (closes it at exit)\n"
        "  --console-log FILE     serial output appended to FILE instead of stdout\n"
        "  --serial-in PATH|-|none  serial input from PATH (a FIFO, opened read-write so writers may\n"
        "                         come and go; or a terminal) instead of stdin (-); none: no input\n"
        "  --control PATH         unix socket for pause/resume/stop/stats/balloon/snapshot (JSON lines)\n"
        "  --restore DIR          resume the snapshot in DIR (written by the control socket's snapshot)\n"
        "                         instead of booting; devices, --memory and --cpus as when it was taken\n"
        "  --incoming ADDR        wait on unix:PATH or tcp:ADDR:PORT for a live migration from another\n"
        "                         kapsel-vmm (same devices, --memory, --cpus) and resume it\n"
        "  --migration-token T    the secret the source must present (or $KAPSEL_MIGRATION_TOKEN)\n"
        "  --hugepages            back guest RAM with hugetlb pages\n"
        "  --ksm                  let KSM merge guest pages (MADV_MERGEABLE)\n"
        "  --no-seccomp           do not confine the run loop (debugging)\n"
        "  --kvm-device PATH      default /dev/kvm\n"
        "kapsel-vmm check-kvm [DEVICE]: can this host boot micro-VMs (exit 0), or why not (exit 1).\n"
        "Exit status: 0 when the guest powers off or reboots, 1 on a guest crash or VMM error, 2 on bad usage.\n";

enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_DISK, OPT_NET, OPT_RNG, OPT_BALLOON,
       OPT_VCONSOLE, OPT_VCONSOLE_OUT, OPT_AGENT_FD, OPT_CONSOLE_LOG, OPT_SERIAL_IN, OPT_CONTROL, OPT_HUGEPAGES, OPT_KSM,
       OPT_NO_SECCOMP, OPT_KVM_DEV, OPT_HELP, OPT_VERSION, OPT_RESTORE, OPT_INCOMING, OPT_MIG_TOKEN };

static const struct option options[] = {
        { "kernel", required_argument, NULL, OPT_KERNEL },
        { "initrd", required_argument, NULL, OPT_INITRD },
        { "cmdline", required_argument, NULL, OPT_CMDLINE },
        { "cpus", required_argument, NULL, OPT_CPUS },
        { "memory", required_argument, NULL, OPT_MEMORY },
        { "disk", required_argument, NULL, OPT_DISK },
        { "net", required_argument, NULL, OPT_NET },
        { "rng", no_argument, NULL, OPT_RNG },
        { "balloon", no_argument, NULL, OPT_BALLOON },
        { "virtio-console", no_argument, NULL, OPT_VCONSOLE },
        { "virtio-console-out", required_argument, NULL, OPT_VCONSOLE_OUT },
        { "agent-fd", required_argument, NULL, OPT_AGENT_FD },
        { "console-log", required_argument, NULL, OPT_CONSOLE_LOG },
        { "serial-in", required_argument, NULL, OPT_SERIAL_IN },
        { "control", required_argument, NULL, OPT_CONTROL },
        { "hugepages", no_argument, NULL, OPT_HUGEPAGES },
        { "ksm", no_argument, NULL, OPT_KSM },
        { "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
        { "kvm-device", required_argument, NULL, OPT_KVM_DEV },
        { "restore", required_argument, NULL, OPT_RESTORE },
        { "incoming", required_argument, NULL, OPT_INCOMING },
        { "migration-token", required_argument, NULL, OPT_MIG_TOKEN },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        {}
};

static char *own(VmmConfig *c, const char *s, size_t len) {
        if (c->n_owned >= ELEMENTSOF(c->owned))
                return NULL;
        char *d = strndup(s, len);
        if (d)
                c->owned[c->n_owned++] = d;
        return d;
}

static int parse_disk(VmmConfig *c, const char *arg, KError **err) {
        if (c->n_disks >= VMM_MAX_DISKS)
                return kerr_msg(err, KERR_USAGE, -E2BIG, "--disk: at most %d disks", VMM_MAX_DISKS);
        const char *comma = strchr(arg, ',');
        VmmDiskConfig *d = &c->disks[c->n_disks];
        if (comma && !streq(comma + 1, "ro"))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--disk %s: unknown option '%s' (only 'ro')", arg, comma + 1);
        size_t len = comma ? (size_t) (comma - arg) : strlen(arg);
        if (len == 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--disk: empty path");
        d->path = own(c, arg, len);
        if (!d->path)
                return kerr(err, -ENOMEM, "--disk");
        d->readonly = comma != NULL;
        c->n_disks++;
        return 0;
}

static int parse_mac(const char *s, uint8_t mac[6]) {
        unsigned b[6];
        char tail;
        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6 ||
            strlen(s) != 17)
                return -EINVAL;
        for (int i = 0; i < 6; i++)
                mac[i] = (uint8_t) b[i];
        return (mac[0] & 1) ? -EINVAL : 0;     /* a multicast address cannot be a NIC's */
}

static int parse_net(VmmConfig *c, const char *arg, KError **err) {
        const char *p = startswith(arg, "tap=");
        if (!p)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--net %s: expected tap=NAME[,mac=..]", arg);
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);
        if (len == 0 || len >= 16)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--net %s: tap name must be 1..15 characters", arg);
        c->tap = own(c, p, len);
        if (!c->tap)
                return kerr(err, -ENOMEM, "--net");
        if (comma) {
                const char *m = startswith(comma + 1, "mac=");
                if (!m || parse_mac(m, c->mac) < 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--net %s: expected mac=XX:XX:XX:XX:XX:XX (unicast)",
                                        arg);
                c->has_mac = true;
        }
        return 0;
}

static int parse_path(const char **dst, const char *opt, const char *arg, KError **err) {
        if (!arg || !*arg)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s: empty path", opt);
        *dst = arg;
        return 0;
}

static int parse_agent_fd(VmmConfig *c, const char *arg, KError **err) {
        uint64_t v;
        if (parse_uint64(arg, &v) < 0 || v < 3 || v > INT_MAX)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--agent-fd %s: expected a file descriptor number >= 3 (0-2 are stdio) that "
                                "kapsel-vmm inherits", arg);
        c->agent_fd = (int) v;
        return 0;
}

static int parse_one(VmmConfig *c, int opt, const char *arg, KError **err) {
        uint64_t v;
        switch (opt) {
        case OPT_KERNEL: c->kernel = arg; return 0;
        case OPT_INITRD: c->initrd = arg; return 0;
        case OPT_CMDLINE: c->cmdline = arg; return 0;
        case OPT_CPUS:
                if (parse_uint64(arg, &v) < 0 || v < 1 || v > VMM_MAX_CPUS)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--cpus %s: expected 1..%d", arg, VMM_MAX_CPUS);
                c->cpus = (unsigned) v;
                return 0;
        case OPT_MEMORY:
                if (parse_size(arg, &v) < 0 || v == 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--memory %s: expected a size like 512M or 2G", arg);
                /* a bare number means MiB, like QEMU's -m */
                c->memory = strspn(arg, "0123456789") == strlen(arg) ? v << 20 : v;
                return 0;
        case OPT_DISK: return parse_disk(c, arg, err);
        case OPT_NET: return parse_net(c, arg, err);
        case OPT_RNG: c->rng = true; return 0;
        case OPT_BALLOON: c->balloon = true; return 0;
        case OPT_VCONSOLE: c->virtio_console = true; return 0;
        case OPT_VCONSOLE_OUT: return parse_path(&c->virtio_console_out, "--virtio-console-out", arg, err);
        case OPT_AGENT_FD: return parse_agent_fd(c, arg, err);
        case OPT_CONSOLE_LOG: return parse_path(&c->console_log, "--console-log", arg, err);
        case OPT_SERIAL_IN: return parse_path(&c->serial_in, "--serial-in", arg, err);
        case OPT_CONTROL: c->control = arg; return 0;
        case OPT_HUGEPAGES: c->hugepages = true; return 0;
        case OPT_KSM: c->ksm = true; return 0;
        case OPT_NO_SECCOMP: c->seccomp = false; return 0;
        case OPT_KVM_DEV: c->kvm_dev = arg; return 0;
        case OPT_RESTORE: return parse_path(&c->restore, "--restore", arg, err);
        case OPT_INCOMING: return parse_path(&c->incoming, "--incoming", arg, err);
        case OPT_MIG_TOKEN: return parse_path(&c->migration_token, "--migration-token", arg, err);
        case OPT_HELP: c->help = true; return 0;
        case OPT_VERSION: c->version = true; return 0;
        default:
                return kerr_msg(err, KERR_USAGE, -EINVAL, "unknown or incomplete option (see --help)");
        }
}

int vmm_config_parse(int argc, char **argv, VmmConfig *ret, KError **err) {
        VmmConfig *c = ret;
        *c = (VmmConfig) { .cpus = 1, .memory = VMM_DEFAULT_MEMORY, .cmdline = VMM_DEFAULT_CMDLINE, .seccomp = true,
                           .kvm_dev = "/dev/kvm", .agent_fd = -1 };
        optind = 0;             /* GNU getopt: reinitialize (the parser may run more than once, in tests) */
        opterr = 0;
        int opt;
        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (opt == '?')
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "unknown option or missing value: %s (see --help)",
                                        argv[optind - 1]);
                int r = parse_one(c, opt, optarg, err);
                if (r < 0)
                        return r;
        }
        if (optind < argc)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "unexpected argument '%s'", argv[optind]);
        if (c->help || c->version)
                return 0;
        if (c->restore && c->incoming)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--restore and --incoming: one source of state at a time");
        if (!c->kernel && !c->restore && !c->incoming)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--kernel is required (a bzImage such as /boot/vmlinuz-*)");
        if (c->virtio_console_out)
                c->virtio_console = true;
        /* plain --virtio-console reads stdin: the serial port cannot have it too */
        if (c->virtio_console && !c->virtio_console_out && c->serial_in && streq(c->serial_in, "-"))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--serial-in -: stdin belongs to --virtio-console (use --virtio-console-out FILE)");
        /* the guest numbers consoles in PCI order: the agent is hvc1 only behind an hvc0 */
        if (c->agent_fd >= 0 && !c->virtio_console)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--agent-fd %d: needs a first virtio console (add --virtio-console or "
                                "--virtio-console-out FILE) so that the agent channel is hvc1", c->agent_fd);
        if (c->memory % (2ULL << 20))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--memory must be a multiple of 2 MiB");
        return 0;
}

static const char *agent_fd_kind(mode_t mode) {
        static const struct { mode_t type; const char *name; } kinds[] = {
                { S_IFREG, "a regular file" }, { S_IFDIR, "a directory" }, { S_IFBLK, "a block device" },
        };
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if ((mode & S_IFMT) == kinds[i].type)
                        return kinds[i].name;
        return NULL;    /* socket, FIFO, character device: pollable */
}

int vmm_config_check_agent_fd(int fd, KError **err) {
        struct stat st;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
                return kerr_msg(err, KERR_USAGE, -errno,
                                "--agent-fd %d: not an open file descriptor (the caller must let kapsel-vmm "
                                "inherit it: open, without FD_CLOEXEC)", fd);
        if (fstat(fd, &st) < 0)
                return kerr(err, -errno, "--agent-fd %d: fstat", fd);
        const char *kind = agent_fd_kind(st.st_mode);
        if (kind)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--agent-fd %d: %s cannot be polled for the guest agent; pass a connected "
                                "stream socket (socketpair), a FIFO or a character device", fd, kind);
        if ((fl & O_ACCMODE) != O_RDWR)
                return kerr_msg(err, KERR_USAGE, -EBADF,
                                "--agent-fd %d: not open for reading and writing (the channel goes both ways: "
                                "pass a socketpair end, or open the FIFO or device O_RDWR)", fd);
        return 0;
}

void vmm_config_done(VmmConfig *c) {
        for (unsigned i = 0; i < c->n_owned; i++)
                free(c->owned[i]);
        c->n_owned = 0;
}
