/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

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
        "  --virtio-console       virtio-console on stdin/stdout besides the serial port\n"
        "  --console-log FILE     serial output to FILE instead of stdout\n"
        "  --control PATH         unix socket for pause/resume/stop/stats/balloon (JSON lines)\n"
        "  --hugepages            back guest RAM with hugetlb pages\n"
        "  --ksm                  let KSM merge guest pages (MADV_MERGEABLE)\n"
        "  --no-seccomp           do not confine the run loop (debugging)\n"
        "  --kvm-device PATH      default /dev/kvm\n"
        "Exit status: 0 when the guest powers off or reboots, 1 on a guest crash or VMM error, 2 on bad usage.\n";

enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_DISK, OPT_NET, OPT_RNG, OPT_BALLOON,
       OPT_VCONSOLE, OPT_CONSOLE_LOG, OPT_CONTROL, OPT_HUGEPAGES, OPT_KSM, OPT_NO_SECCOMP, OPT_KVM_DEV,
       OPT_HELP, OPT_VERSION };

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
        { "console-log", required_argument, NULL, OPT_CONSOLE_LOG },
        { "control", required_argument, NULL, OPT_CONTROL },
        { "hugepages", no_argument, NULL, OPT_HUGEPAGES },
        { "ksm", no_argument, NULL, OPT_KSM },
        { "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
        { "kvm-device", required_argument, NULL, OPT_KVM_DEV },
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
        case OPT_CONSOLE_LOG: c->console_log = arg; return 0;
        case OPT_CONTROL: c->control = arg; return 0;
        case OPT_HUGEPAGES: c->hugepages = true; return 0;
        case OPT_KSM: c->ksm = true; return 0;
        case OPT_NO_SECCOMP: c->seccomp = false; return 0;
        case OPT_KVM_DEV: c->kvm_dev = arg; return 0;
        case OPT_HELP: c->help = true; return 0;
        case OPT_VERSION: c->version = true; return 0;
        default:
                return kerr_msg(err, KERR_USAGE, -EINVAL, "unknown or incomplete option (see --help)");
        }
}

int vmm_config_parse(int argc, char **argv, VmmConfig *ret, KError **err) {
        VmmConfig *c = ret;
        *c = (VmmConfig) { .cpus = 1, .memory = VMM_DEFAULT_MEMORY, .cmdline = VMM_DEFAULT_CMDLINE, .seccomp = true,
                           .kvm_dev = "/dev/kvm" };
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
        if (!c->kernel)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--kernel is required (a bzImage such as /boot/vmlinuz-*)");
        if (c->memory % (2ULL << 20))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--memory must be a multiple of 2 MiB");
        return 0;
}

void vmm_config_done(VmmConfig *c) {
        for (unsigned i = 0; i < c->n_owned; i++)
                free(c->owned[i]);
        c->n_owned = 0;
}
