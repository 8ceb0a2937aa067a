/* SPDX-License-Identifier: Apache-2.0 */
/* The pure half of the VM guest (plan, then apply): OCI spec -> guest config, the config disk's
 * bytes, disk sizes, the mkfs command line, and the parser of the guest's console markers (input
 * from the guest, so untrusted: fuzzed by tests/fuzz/fuzz-vm-guest.c). Schema in vm-guest.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "json-util.h"
#include "path-util.h"
#include "string-util.h"
#include "vm-guest.h"

/* Mounts guest init makes itself (proc, sysfs, devtmpfs, devpts, /dev/shm) or that make no sense
 * in a VM of its own (the cgroup tree): dropped from the spec. */
static const char *const guest_owned_mounts[] = {
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", NULL,
};

/* Bind-mounted files whose contents travel in the config instead of as disks. */
static const char *const guest_files[] = { "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", NULL };

static bool is_bind(const json_t *m) {
        const char *type = json_string_value(json_object_get(m, "type"));
        if (type && streq(type, "bind"))
                return true;
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(m, "options"), i, o) {
                const char *s = json_string_value(o);
                if (s && (streq(s, "bind") || streq(s, "rbind")))
                        return true;
        }
        return false;
}

static bool has_option(const json_t *m, const char *opt) {
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(m, "options"), i, o)
                if (json_is_string(o) && streq(json_string_value(o), opt))
                        return true;
        return false;
}

static int add_volume(VmGuestPlan *p, const json_t *m, const char *dst, json_t *volumes, KError **err) {
        const char *src = json_string_value(json_object_get(m, "source"));
        if (!src || !path_is_absolute(src))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "volume %s: source must be an absolute path", dst);
        if (p->n_volumes >= VM_GUEST_MAX_VOLUMES)
                return kerr_msg(err, KERR_USAGE, -E2BIG, "too many volumes for a VM (at most %d)",
                                VM_GUEST_MAX_VOLUMES);
        VmVolumeDisk *n = reallocarray(p->volumes, p->n_volumes + 1, sizeof(*n));
        if (!n)
                return kerr(err, -ENOMEM, "guest plan");
        p->volumes = n;
        VmVolumeDisk *v = &p->volumes[p->n_volumes];
        *v = (VmVolumeDisk) { .readonly = has_option(m, "ro") };
        if (asprintf(&v->device, "vd%c", (char) ('d' + p->n_volumes)) < 0)
                return kerr(err, -ENOMEM, "guest plan");
        p->n_volumes++;
        if (!(v->source = strdup(src)) || !(v->destination = strdup(dst)))
                return kerr(err, -ENOMEM, "guest plan");
        json_t *j = json_pack("{s:s, s:s, s:b}", "device", v->device, "destination", dst, "readonly", v->readonly);
        return j && json_array_append_new(volumes, j) == 0 ? 0 : kerr(err, -ENOMEM, "guest plan");
}

static int plan_mounts(VmGuestPlan *p, const json_t *oci, json_t *mounts, json_t *volumes, KError **err) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(oci, "mounts"), i, m) {
                const char *dst = json_string_value(json_object_get(m, "destination"));
                const char *type = json_string_value(json_object_get(m, "type"));
                if (!dst || !path_is_absolute(dst))
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "mount %zu: destination must be absolute", i);
                if (strv_contains((char **) guest_owned_mounts, dst) || strv_contains((char **) guest_files, dst))
                        continue;
                int r = 0;
                if (is_bind(m))
                        r = add_volume(p, m, dst, volumes, err);
                else if (type && streq(type, "tmpfs")) {
                        json_t *opts = json_object_get(m, "options");
                        json_t *j = json_pack("{s:s, s:s, s:O}", "destination", dst, "type", "tmpfs", "options",
                                              opts ? opts : json_array());
                        r = j && json_array_append_new(mounts, j) == 0 ? 0 : kerr(err, -ENOMEM, "guest plan");
                } else
                        r = kerr_msg(err, KERR_USAGE, -EOPNOTSUPP,
                                     "mount of type %s at %s is not supported with --isolation=vm", type ? type : "?",
                                     dst);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The OCI process object, reduced to what guest init applies (OCI runtime-spec config.md
 * "process"). Capabilities, seccomp and the like have no meaning here: the VM is the boundary. */
static int plan_process(const json_t *proc, json_t *cfg, KError **err) {
        json_t *args = json_object_get(proc, "args");
        if (!json_is_array(args) || json_array_size(args) == 0)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "process.args must be a non-empty array");
        json_t *user = json_object_get(proc, "user");
        json_t *gids = json_object_get(user, "additionalGids");
        json_t *umask = json_object_get(user, "umask");
        json_t *env = json_object_get(proc, "env");
        json_t *rlimits = json_object_get(proc, "rlimits");
        const char *cwd = json_string_value(json_object_get(proc, "cwd"));
        json_t *u = json_pack("{s:I, s:I, s:o}", "uid", json_integer_value(json_object_get(user, "uid")), "gid",
                              json_integer_value(json_object_get(user, "gid")), "additionalGids",
                              json_is_array(gids) ? json_incref(gids) : json_array());
        if (!u || (json_is_integer(umask) && json_object_set(u, "umask", umask) < 0))
                return kerr(err, -ENOMEM, "guest plan");
        if (json_object_set(cfg, "args", args) < 0 || json_object_set_new(cfg, "user", u) < 0 ||
            json_object_set_new(cfg, "env", json_is_array(env) ? json_incref(env) : json_array()) < 0 ||
            json_object_set_new(cfg, "cwd", json_string(cwd ? cwd : "/")) < 0 ||
            json_object_set_new(cfg, "terminal", json_boolean(json_is_true(json_object_get(proc, "terminal")))) < 0 ||
            json_object_set_new(cfg, "rlimits", json_is_array(rlimits) ? json_incref(rlimits) : json_array()) < 0)
                return kerr(err, -ENOMEM, "guest plan");
        return 0;
}

static int plan_network(const VmGuestNet *net, json_t *cfg, KError **err) {
        if (!net)
                return 0;
        if (!net->address || !strchr(net->address, '/'))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "guest network address must be in CIDR form");
        json_t *n = json_pack("{s:s, s:s}", "interface", "eth0", "address", net->address);
        if (!n || (net->gateway && json_object_set_new(n, "gateway", json_string(net->gateway)) < 0) ||
            (net->mtu && json_object_set_new(n, "mtu", json_integer(net->mtu)) < 0) ||
            json_object_set_new(cfg, "network", n) < 0)
                return kerr(err, -ENOMEM, "guest plan");
        return 0;
}

static int plan_files(const VmGuestPlanInput *in, const char *hostname, json_t *cfg, KError **err) {
        json_t *files = json_object();
        _cleanup_free_ char *hn = NULL;
        if (!files || json_object_set_new(cfg, "files", files) < 0)
                return kerr(err, -ENOMEM, "guest plan");
        if (hostname && asprintf(&hn, "%s\n", hostname) < 0)
                return kerr(err, -ENOMEM, "guest plan");
        const char *contents[] = { in->hosts, in->resolv_conf, hn };
        for (size_t i = 0; i < ELEMENTSOF(contents); i++)
                if (contents[i] && json_object_set_new(files, guest_files[i], json_string(contents[i])) < 0)
                        return kerr(err, -ENOMEM, "guest plan");
        return 0;
}

int vm_guest_plan(const VmGuestPlanInput *in, VmGuestPlan *ret, KError **err) {
        _cleanup_(vm_guest_plan_done) VmGuestPlan p = { .config = json_pack("{s:i}", "kapselGuest", 1) };
        json_t *mounts = json_array(), *volumes = json_array();
        if (!p.config || !mounts || !volumes || json_object_set_new(p.config, "mounts", mounts) < 0 ||
            json_object_set_new(p.config, "volumes", volumes) < 0)
                return kerr(err, -ENOMEM, "guest plan");
        const char *hostname = json_string_value(json_object_get(in->oci, "hostname"));
        if (hostname && json_object_set_new(p.config, "hostname", json_string(hostname)) < 0)
                return kerr(err, -ENOMEM, "guest plan");
        int r = plan_process(json_object_get(in->oci, "process"), p.config, err);
        if (r >= 0)
                r = plan_mounts(&p, in->oci, mounts, volumes, err);
        if (r >= 0)
                r = plan_network(in->net, p.config, err);
        if (r >= 0)
                r = plan_files(in, hostname, p.config, err);
        if (r < 0)
                return r;
        *ret = p;
        p = (VmGuestPlan) {};
        return 0;
}

void vm_guest_plan_done(VmGuestPlan *p) {
        for (size_t i = 0; i < p->n_volumes; i++) {
                free(p->volumes[i].source);
                free(p->volumes[i].destination);
                free(p->volumes[i].device);
                free(p->volumes[i].image);
        }
        free(p->volumes);
        json_decref(p->config);
        *p = (VmGuestPlan) {};
}

int vm_disk_config_bytes(const json_t *config, char **ret, size_t *ret_len, KError **err) {
        _cleanup_free_ char *s = json_dumps(config, JSON_COMPACT);
        if (!s)
                return kerr(err, -ENOMEM, "guest config");
        size_t len = strlen(s);
        size_t padded = (len + 1 + VM_GUEST_CONFIG_ALIGN - 1) / VM_GUEST_CONFIG_ALIGN * VM_GUEST_CONFIG_ALIGN;
        if (padded < VM_GUEST_CONFIG_MIN)
                padded = VM_GUEST_CONFIG_MIN;
        if (padded > VM_GUEST_CONFIG_MAX)
                return kerr_msg(err, KERR_USAGE, -E2BIG, "guest config is %zu bytes; at most %d", len,
                                VM_GUEST_CONFIG_MAX - 1);
        char *buf = calloc(1, padded);
        if (!buf)
                return kerr(err, -ENOMEM, "guest config");
        memcpy(buf, s, len);
        *ret = buf;
        *ret_len = padded;
        return 0;
}

/* ---- sizes and mkfs ---- */

#define MIB (1024ULL * 1024)

uint64_t vm_disk_image_size(uint64_t bytes, uint64_t inodes) {
        /* 256-byte inodes, a directory entry each, bitmaps and group descriptors: ~512 B an entry */
        uint64_t meta = inodes * 512;
        uint64_t size = (bytes + meta) / 5 * 6 + 16 * MIB;
        return (size + MIB - 1) / MIB * MIB;
}

int vm_disk_mkfs_argv(const char *image, const char *src_dir, uint64_t size, uint64_t inodes, bool journal,
                      char ***ret) {
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        char num[32];
        /* 4 KiB blocks and no reserved blocks; no lazy init of the journal (the guest would zero it) */
        const char *fixed[] = { "mkfs.ext4", "-q", "-F", "-t", "ext4", "-b", "4096", "-m", "0", "-E",
                                "lazy_journal_init=1", "-L", "kapsel", NULL };
        int r = v ? 0 : -ENOMEM;
        for (const char **f = fixed; *f && r >= 0; f++)
                r = strv_extend(&v, *f);
        if (r >= 0 && !journal)
                r = strv_extend(&v, "-O") < 0 ? -ENOMEM : strv_extend(&v, "^has_journal");
        if (r >= 0 && inodes > 0) {
                snprintf(num, sizeof(num), "%llu", (unsigned long long) inodes);
                r = strv_extend(&v, "-N") < 0 ? -ENOMEM : strv_extend(&v, num);
        }
        if (r >= 0 && src_dir)
                r = strv_extend(&v, "-d") < 0 ? -ENOMEM : strv_extend(&v, src_dir);
        snprintf(num, sizeof(num), "%lluk", (unsigned long long) (size / 1024));
        if (r >= 0)
                r = strv_extend(&v, image);
        if (r >= 0)
                r = strv_extend(&v, num);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

/* ---- the guest's console ---- */

#define MARKER "KAPSEL-"

/* Whole-token decimal in [0, max]; `end` is where the token ends. */
static bool parse_bounded(const char *s, const char *end, long max, int *ret) {
        if (s >= end || end - s > 10)
                return false;
        long v = 0;
        for (const char *p = s; p < end; p++) {
                if (*p < '0' || *p > '9')
                        return false;
                v = v * 10 + (*p - '0');
        }
        if (v > max)
                return false;
        *ret = (int) v;
        return true;
}

void vm_guest_parse_console_line(const char *line, size_t len, VmGuestEvent *ret) {
        *ret = (VmGuestEvent) { .type = VM_GUEST_EVENT_NONE };
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
        const char *m = memmem(line, len, MARKER, STRLEN(MARKER));
        if (!m)
                return;
        const char *p = m + STRLEN(MARKER), *end = line + len;
        size_t rest = (size_t) (end - p);
        if (rest == 4 && memcmp(p, "INIT", 4) == 0)
                ret->type = VM_GUEST_EVENT_INIT;
        else if (rest > 5 && memcmp(p, "EXIT ", 5) == 0 && parse_bounded(p + 5, end, 255, &ret->value))
                ret->type = VM_GUEST_EVENT_EXIT;
        else if (rest > 8 && memcmp(p, "STARTED ", 8) == 0 && parse_bounded(p + 8, end, 4194304, &ret->value))
                ret->type = VM_GUEST_EVENT_STARTED;
        else if (rest >= 6 && memcmp(p, "ERROR ", 6) == 0) {
                size_t n = 0;
                for (const char *c = p + 6; c < end && n < sizeof(ret->message) - 1; c++)
                        ret->message[n++] = *c >= 0x20 && *c < 0x7f ? *c : '?';
                ret->message[n] = 0;
                ret->type = VM_GUEST_EVENT_ERROR;
        }
        if (ret->type != VM_GUEST_EVENT_EXIT && ret->type != VM_GUEST_EVENT_STARTED)
                ret->value = 0;
}

int vm_guest_signal_line(int sig, char *buf, size_t size) {
        if (sig <= 0 || sig >= 65)
                return -EINVAL;
        int n = snprintf(buf, size, "KAPSEL-SIGNAL %d\n", sig);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : n;
}

int vm_guest_changes_header(const char *raw, size_t len, uint64_t disk_size, uint64_t *ret_len) {
        char head[VM_GUEST_CHANGES_OFFSET + 1];
        if (len < VM_GUEST_CHANGES_OFFSET)
                return -EBADMSG;
        memcpy(head, raw, VM_GUEST_CHANGES_OFFSET);
        head[VM_GUEST_CHANGES_OFFSET] = 0;
        size_t i;
        for (i = 0; i < VM_GUEST_CHANGES_OFFSET && !head[i]; i++)
                ;
        if (i == VM_GUEST_CHANGES_OFFSET)
                return -ENODATA;
        const char *num = startswith(head, VM_GUEST_CHANGES_MAGIC);
        size_t digits = num ? strspn(num, "0123456789") : 0;
        if (!num || digits == 0 || digits > 19 || num[digits] != '\n' ||
            (size_t) (num + digits + 1 - head) > VM_GUEST_CHANGES_OFFSET)
                return -EBADMSG;
        for (const char *p = num + digits + 1; p < head + VM_GUEST_CHANGES_OFFSET; p++)
                if (*p)
                        return -EBADMSG;
        uint64_t n = strtoull(num, NULL, 10);
        if (disk_size < VM_GUEST_CHANGES_OFFSET || n > disk_size - VM_GUEST_CHANGES_OFFSET)
                return -EBADMSG;
        *ret_len = n;
        return 0;
}
