/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "string-util.h"
#include "vm-config.h"

void vm_config_init(VmConfig *c) {
        *c = (VmConfig) { .cpus = 1, .memory = VM_DEFAULT_MEMORY, .boot_timeout = -1 };
}

void vm_config_done(VmConfig *c) {
        free(c->kernel);
        free(c->initrd);
        free(c->cmdline);
        for (size_t i = 0; i < c->n_disks; i++)
                free(c->disks[i].path);
        free(c->disks);
        free(c->network);
        free(c->boot_ready);
        *c = (VmConfig) { 0 };
}

int vm_config_add_disk(VmConfig *c, const char *arg, KError **err) {
        _cleanup_free_ char *path = strdup(arg);
        if (!path)
                return kerr(err, -ENOMEM, "--disk");
        bool ro = false;
        char *comma = strchr(path, ',');
        if (comma) {
                *comma++ = 0;
                if (!streq(comma, "ro") && !streq(comma, "rw"))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--disk \"%s\": expected PATH or PATH,ro", arg);
                ro = streq(comma, "ro");
        }
        if (!*path)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--disk \"%s\": missing the image path", arg);
        VmDisk *d = realloc(c->disks, (c->n_disks + 1) * sizeof(*d));
        if (!d)
                return kerr(err, -ENOMEM, "--disk");
        c->disks = d;
        c->disks[c->n_disks++] = (VmDisk) { .path = TAKE_PTR(path), .read_only = ro };
        return 0;
}

int vm_config_parse_memory(const char *arg, uint64_t *ret, KError **err) {
        uint64_t v;
        /* a bare number is MiB, as QEMU's -m and kapsel-vmm's --memory take it */
        bool mib = *arg && strspn(arg, "0123456789") == strlen(arg);
        if (parse_size(arg, &v) < 0 || (mib && v > (UINT64_MAX >> 20)))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--memory \"%s\": expected a size like 512M or 2G", arg);
        if (mib)
                v <<= 20;
        if (v < VM_MIN_MEMORY)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--memory %s: a micro-VM needs at least %llu MiB", arg,
                                VM_MIN_MEMORY >> 20);
        *ret = v & ~((1ULL << 20) - 1);
        return 0;
}

int vm_config_parse_cpus(const char *arg, unsigned *ret, KError **err) {
        int64_t n;
        if (parse_int64(arg, &n) < 0 || n < 1 || n > VM_MAX_CPUS)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--cpus \"%s\": expected a whole number from 1 to %d", arg,
                                VM_MAX_CPUS);
        *ret = (unsigned) n;
        return 0;
}

int vm_config_set_network(VmConfig *c, const char *arg, KError **err) {
        if (streq(arg, "host") || startswith(arg, "container:"))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--net %s is for containers; a micro-VM takes bridge, none or a network's name", arg);
        if (!*arg)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--net: expected bridge, none or a network's name");
        char *n = strdup(streq(arg, "default") ? "bridge" : arg);
        if (!n)
                return kerr(err, -ENOMEM, "--net");
        free(c->network);
        c->network = n;
        return 0;
}

int vm_config_parse_boot_timeout(const char *arg, int *ret, KError **err) {
        static const struct { const char *suffix; int64_t mult; } units[] = { { "", 1 }, { "s", 1 }, { "m", 60 } };
        char *end;
        errno = 0;
        long long v = strtoll(arg, &end, 10);
        for (size_t i = 0; end != arg && !errno && v >= 0 && i < ELEMENTSOF(units); i++)
                if (streq(end, units[i].suffix) && v <= VM_BOOT_TIMEOUT_MAX / units[i].mult) {
                        *ret = (int) (v * units[i].mult);
                        return 0;
                }
        return kerr_msg(err, KERR_USAGE, -EINVAL, "--boot-timeout \"%s\": expected seconds (90, 90s, 2m; 0 for no "
                        "limit, at most %d s)", arg, VM_BOOT_TIMEOUT_MAX);
}

json_t *vm_config_to_json(const VmConfig *c) {
        json_t *disks = json_array();
        for (size_t i = 0; i < c->n_disks; i++)
                json_array_append_new(disks, json_pack("{s:s, s:b}", "Path", c->disks[i].path, "ReadOnly",
                                                       c->disks[i].read_only));
        json_t *cmd = json_pack("[s]", c->kernel ?: "");
        json_array_append_new(cmd, json_string(c->cmdline ?: VM_DEFAULT_CMDLINE));
        json_t *cfg = json_pack("{s:s, s:I, s:I, s:o, s:o, s:{}}", "Kernel", c->kernel ?: "", "Cpus", (json_int_t) c->cpus,
                                "Memory", (json_int_t) c->memory, "Disks", disks, "Cmd", cmd, "Labels");
        if (cfg && c->initrd)
                json_object_set_new(cfg, "Initrd", json_string(c->initrd));
        if (cfg && c->cmdline)
                json_object_set_new(cfg, "Cmdline", json_string(c->cmdline));
        json_t *doc = json_pack("{s:o, s:{s:s}}", "Config", cfg, "HostConfig", "NetworkMode", c->network ?: "bridge");
        json_t *host = json_object_get(doc, "HostConfig");
        if (host && c->boot_timeout >= 0)
                json_object_set_new(host, "VmBootTimeout", json_integer(c->boot_timeout));
        if (host && c->boot_ready)
                json_object_set_new(host, "VmBootReady", json_string(c->boot_ready));
        return doc;
}

static int dup_opt(const json_t *o, const char *key, char **ret) {
        const char *s = json_string_value(json_object_get(o, key));
        *ret = s ? strdup(s) : NULL;
        return !s || *ret ? 0 : -ENOMEM;
}

int vm_config_from_json(const json_t *doc, VmConfig *ret, KError **err) {
        const json_t *cfg = json_object_get(doc, "Config");
        VmConfig c;
        vm_config_init(&c);
        json_int_t cpus = json_integer_value(json_object_get(cfg, "Cpus")),
                   mem = json_integer_value(json_object_get(cfg, "Memory"));
        const char *net = json_string_value(json_object_get(json_object_get(doc, "HostConfig"), "NetworkMode"));
        int r = 0;
        if (!json_string_value(json_object_get(cfg, "Kernel")) || cpus < 1 || cpus > VM_MAX_CPUS ||
            mem < (json_int_t) VM_MIN_MEMORY)
                r = kerr_msg(err, KERR_CONFIG, -EINVAL, "stored micro-VM configuration is incomplete");
        c.cpus = (unsigned) cpus;
        c.memory = (uint64_t) mem;
        if (r >= 0 && (dup_opt(cfg, "Kernel", &c.kernel) < 0 || dup_opt(cfg, "Initrd", &c.initrd) < 0 ||
                       dup_opt(cfg, "Cmdline", &c.cmdline) < 0 || !(c.network = strdup(net ?: "bridge")) ||
                       dup_opt(json_object_get(doc, "HostConfig"), "VmBootReady", &c.boot_ready) < 0))
                r = kerr(err, -ENOMEM, "micro-VM configuration");
        const json_t *bt = json_object_get(json_object_get(doc, "HostConfig"), "VmBootTimeout");
        c.boot_timeout = json_is_integer(bt) ? (int) json_integer_value(bt) : -1;
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(cfg, "Disks"), i, d) {
                if (r < 0)
                        break;
                const char *p = json_string_value(json_object_get(d, "Path"));
                VmDisk *nd = p ? realloc(c.disks, (c.n_disks + 1) * sizeof(*nd)) : NULL;
                if (!nd) {
                        r = kerr_msg(err, KERR_CONFIG, -EINVAL, "stored micro-VM disk %zu is unreadable", i);
                        break;
                }
                c.disks = nd;
                c.disks[c.n_disks++] = (VmDisk) { .path = strdup(p),
                                                  .read_only = json_is_true(json_object_get(d, "ReadOnly")) };
                if (!c.disks[c.n_disks - 1].path)
                        r = kerr(err, -ENOMEM, "micro-VM configuration");
        }
        if (r < 0) {
                vm_config_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}

int vm_config_is_bzimage(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* Linux boot protocol (Documentation/arch/x86/boot.rst): boot_flag 0xAA55 at 0x1fe, "HdrS" at 0x202 */
        unsigned char h[8];
        ssize_t n = pread(fd, h, sizeof(h), 0x1fe);
        if (n < 0)
                return -errno;
        return n == (ssize_t) sizeof(h) && h[0] == 0x55 && h[1] == 0xaa && memcmp(h + 4, "HdrS", 4) == 0;
}

/* Replace *path by its absolute, resolved form; `what` names the flag in the message. */
static int resolve(char **path, const char *what, int mode, KError **err) {
        char *abs = realpath(*path, NULL);
        if (!abs)
                return kerr_kind(err, KERR_USAGE, -errno, "%s %s", what, *path);
        if (access(abs, mode) < 0) {
                int e = -errno;
                free(abs);
                return kerr_kind(err, KERR_USAGE, e, "%s %s", what, *path);
        }
        free(*path);
        *path = abs;
        return 0;
}

int vm_config_check(VmConfig *c, uint64_t host_ram, KError **err) {
        if (!c->kernel)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--kernel is required: a Linux bzImage such as /boot/vmlinuz-*");
        int r = resolve(&c->kernel, "--kernel", R_OK, err);
        if (r < 0)
                return r;
        if ((r = vm_config_is_bzimage(c->kernel)) <= 0)
                return r < 0 ? kerr_kind(err, KERR_USAGE, r, "--kernel %s", c->kernel)
                             : kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "--kernel %s is not a Linux bzImage (no boot protocol header); use a kernel "
                                        "such as /boot/vmlinuz-*, not vmlinux or a compressed file", c->kernel);
        if (c->initrd && (r = resolve(&c->initrd, "--initrd", R_OK, err)) < 0)
                return r;
        for (size_t i = 0; i < c->n_disks; i++)
                if ((r = resolve(&c->disks[i].path, "--disk", c->disks[i].read_only ? R_OK : R_OK | W_OK, err)) < 0)
                        return r;
        if (host_ram && c->memory > host_ram)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--memory %llu MiB is more than this host's RAM (%llu MiB)",
                                (unsigned long long) (c->memory >> 20), (unsigned long long) (host_ram >> 20));
        return 0;
}

int vm_config_vmm_argv(const VmConfig *c, const VmLaunch *l, char ***ret, KError **err) {
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_free_ char *cpus = NULL, *mem = NULL, *cmdline = NULL, *net = NULL;
        const char *base = c->cmdline ?: VM_DEFAULT_CMDLINE;
        /* the guest's address comes from the kernel's own ip= (unless the user set one) */
        bool add_ip = l->kernel_ip_arg && !strstr(base, "ip=");
        if (asprintf(&cpus, "%u", c->cpus) < 0 || asprintf(&mem, "%lluM", (unsigned long long) (c->memory >> 20)) < 0 ||
            asprintf(&cmdline, "%s%s%s", base, add_ip ? " " : "", add_ip ? l->kernel_ip_arg : "") < 0)
                return kerr(err, -ENOMEM, "kapsel-vmm command line");
        if (l->tap && asprintf(&net, "tap=%s%s%s", l->tap, l->mac ? ",mac=" : "", l->mac ?: "") < 0)
                return kerr(err, -ENOMEM, "kapsel-vmm command line");
        const char *fixed[] = { l->vmm, "--kernel", c->kernel, "--cpus", cpus, "--memory", mem, "--cmdline", cmdline };
        int r = 0;
        for (size_t i = 0; i < ELEMENTSOF(fixed) && r >= 0; i++)
                r = strv_extend(&v, fixed[i]);
        if (r >= 0 && c->initrd && (r = strv_extend(&v, "--initrd")) >= 0)
                r = strv_extend(&v, c->initrd);
        for (size_t i = 0; i < c->n_disks && r >= 0; i++) {
                _cleanup_free_ char *d = NULL;
                if (asprintf(&d, "%s%s", c->disks[i].path, c->disks[i].read_only ? ",ro" : "") < 0 ||
                    (r = strv_extend(&v, "--disk")) < 0 || (r = strv_extend(&v, d)) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0 && net && (r = strv_extend(&v, "--net")) >= 0)
                r = strv_extend(&v, net);
        if (r >= 0 && l->control && (r = strv_extend(&v, "--control")) >= 0)
                r = strv_extend(&v, l->control);
        if (r >= 0 && l->kvm_device && (r = strv_extend(&v, "--kvm-device")) >= 0)
                r = strv_extend(&v, l->kvm_device);
        if (r >= 0 && l->console_log && (r = strv_extend(&v, "--console-log")) >= 0)
                r = strv_extend(&v, l->console_log);
        if (r >= 0 && l->serial_in && (r = strv_extend(&v, "--serial-in")) >= 0)
                r = strv_extend(&v, l->serial_in);
        if (r >= 0 && l->virtio_console)
                r = strv_extend(&v, "--virtio-console");
        if (r >= 0 && l->agent_fd > 0) {
                char fd[16];
                snprintf(fd, sizeof(fd), "%d", l->agent_fd);
                if ((r = strv_extend(&v, "--agent-fd")) >= 0)
                        r = strv_extend(&v, fd);
        }
        if (r >= 0)
                r = strv_extend(&v, "--rng");
        if (r >= 0 && l->restore && (r = strv_extend(&v, "--restore")) >= 0)
                r = strv_extend(&v, l->restore);
        if (r >= 0 && l->incoming && (r = strv_extend(&v, "--incoming")) >= 0 && (r = strv_extend(&v, l->incoming)) >= 0 &&
            (r = strv_extend(&v, "--migration-token")) >= 0)
                r = strv_extend(&v, l->migration_token ?: "");
        if (r < 0)
                return kerr(err, r, "kapsel-vmm command line");
        *ret = TAKE_PTR(v);
        return 0;
}
