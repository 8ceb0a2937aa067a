/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctr-net.h"
#include "fd-util.h"
#include "path-util.h"
#include "spec-gen.h"
#include "string-util.h"
#include "user.h"
#include "vm-agent.h"
#include "vm-isolation.h"
#include "vm-ops.h"
#include "vm-snapshot.h"

#ifndef KAPSEL_GUEST_INIT_PATH
#define KAPSEL_GUEST_INIT_PATH "/usr/libexec/kapsel/kapsel-guest-init"
#endif

#define SERIAL_FIFO "serial.fifo"

bool vm_isolation_enabled(const json_t *config) {
        const char *iso = json_string_value(json_object_get(json_object_get(config, "HostConfig"), "Isolation"));
        return iso && streq(iso, "vm");
}

static const char *guest_init_binary(void) {
        const char *env = getenv("KAPSEL_GUEST_INIT");
        return env && *env ? env : KAPSEL_GUEST_INIT_PATH;
}

static const json_t *host_cfg(const CtrRecord *rec, const char *key) {
        return json_object_get(json_object_get(rec->config, "HostConfig"), key);
}

/* Config.User against the image's /etc/passwd: the topmost layer that has one. */
static int resolve_user(const CtrRecord *rec, const ImagePlan *img, UserIds *ret, KError **err) {
        const char *spec = json_string_value(json_object_get(json_object_get(rec->config, "Config"), "User"));
        if (!spec || !*spec)
                spec = img->config.user;
        for (size_t i = img->n_layers; i-- > 0;) {
                _cleanup_close_ int fd = open(img->layer_dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0 && (faccessat(fd, "etc/passwd", F_OK, 0) == 0 || i == 0))
                        return user_resolve(fd, spec, ret, err);
        }
        *ret = (UserIds) { 0 };
        return 0;
}

int vm_isolation_exec_request(const Engine *e, const CtrRecord *rec, const VmExecInput *in, char **ret, KError **err) {
        VmAgentExec x = { .args = (char **) in->args, .env = (char **) in->env, .cwd = (char *) in->cwd,
                          .tty = in->tty, .detach = in->detach };
        if (in->user) {
                ImagePlan img = { 0 };
                UserIds u = { 0 };
                CtrRecord as = *rec;
                _cleanup_(json_decrefp) json_t *cfg = json_pack("{s:{s:s}}", "Config", "User", in->user);
                as.config = cfg;
                int r = cfg ? image_plan_read(e, rec->id, &img, err) : kerr(err, -ENOMEM, "exec");
                if (r >= 0)
                        r = resolve_user(&as, &img, &u, err);
                image_plan_done(&img);
                if (r < 0)
                        return r;
                if (u.n_groups > VM_AGENT_MAX_GIDS) {
                        user_ids_done(&u);
                        return kerr_msg(err, KERR_USAGE, -E2BIG, "exec -u %s: more than %d groups", in->user,
                                        VM_AGENT_MAX_GIDS);
                }
                x.has_user = true;
                x.uid = u.uid;
                x.gid = u.gid;
                x.n_gids = u.n_groups;
                if (u.n_groups)
                        memcpy(x.gids, u.groups, u.n_groups * sizeof(gid_t));
                user_ids_done(&u);
        }
        return vm_agent_exec_format(&x, ret, err);
}

static int guest_spec(Engine *e, const CtrRecord *rec, const ImagePlan *img, json_t **ret, KError **err) {
        _cleanup_free_ char *volumes = path_join(e->root, "volumes");
        if (!volumes)
                return kerr(err, -ENOMEM, "guest spec");
        UserIds u;
        int r = resolve_user(rec, img, &u, err);
        if (r < 0)
                return r;
        SpecGenInput in = { .image = &img->config, .config = rec->config, .rootfs = "/", .volumes_dir = volumes,
                            .uid = u.uid, .gid = u.gid, .additional_gids = u.groups, .n_additional_gids = u.n_groups,
                            .instance_id = rec->id };
        r = spec_gen(&in, ret, err);
        user_ids_done(&u);
        return r;
}

/* A tap on the container's network (bridge or a user network) with its port maps, which DNAT to the
 * guest's address as they do to a veth's; none: no eth0. */
static int guest_net(Engine *e, const CtrRecord *rec, const ImagePlan *img, NetAttachment **ret, KError **err) {
        NetMode mode;
        *ret = NULL;
        int r = net_mode_parse(json_string_value(host_cfg(rec, "NetworkMode")) ?: "", &mode, err);
        if (r < 0)
                return r;
        NetCtx *ctx;
        /* host and container:NAME were refused at create (vm_isolation_check) */
        if (mode.kind == NET_MODE_BRIDGE && (r = engine_net(e, &ctx, err)) >= 0) {
                _cleanup_free_ NetPortMap *maps = NULL;
                size_t n = 0;
                /* a guest resumed from a checkpoint still has the address it had then: the tap gets
                 * it, or translates to it when another instance took it meanwhile */
                const char *restore = vm_snapshot_restore_dir(rec->config);
                _cleanup_free_ char *ip = restore ? vm_snapshot_address(restore) : NULL;
                if ((r = ctr_net_port_maps(rec->config, &img->config, &maps, &n, err)) >= 0) {
                        NetAttachOpts o = { .network = mode.network, .instance_id = rec->id, .instance_name = rec->name,
                                            .ports = maps, .n_ports = n, .guest_ip = ip };
                        r = net_attach_tap(ctx, &o, ret, err);
                }
        }
        net_mode_done(&mode);
        return r;
}

/* A build step's changes disk (VM_ISOLATION_CHANGES_KEY): a fresh sparse file after the volumes. */
static int changes_disk(const CtrRecord *rec, const char *dir, VmIsolation *v, char **ret, KError **err) {
        *ret = NULL;
        if (!json_is_true(host_cfg(rec, VM_ISOLATION_CHANGES_KEY)))
                return 0;
        if (v->plan.n_volumes >= VM_GUEST_MAX_VOLUMES)
                return kerr_msg(err, KERR_USAGE, -E2BIG, "a build step with %zu volumes has no disk left for its changes",
                                v->plan.n_volumes);
        _cleanup_free_ char *path = path_join(dir, VM_ISOLATION_CHANGES_DISK);
        if (!path)
                return kerr(err, -ENOMEM, "guest disks");
        (void) unlink(path);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t) VM_ISOLATION_CHANGES_SIZE) < 0)
                return kerr(err, -errno, "create %s", path);
        char dev[] = "vdd";
        dev[2] = (char) ('d' + v->plan.n_volumes);
        json_object_set_new(v->plan.config, "changes", json_string(dev));
        *ret = TAKE_PTR(path);
        return 0;
}

/* Steps 1-7 of vm-guest.h: the disks in their fixed order vda (rootfs), vdb (upper), vdc (config),
 * then the volumes, then a build step's changes disk. */
static int guest_disks(Engine *e, const CtrRecord *rec, const ImagePlan *img, const char *dir, const char *cache,
                       const NetAttachment *a, VmIsolation *v, VmConfig *c, KError **err) {
        _cleanup_free_ char *rootfs = NULL, *upper = path_join(dir, VM_ISOLATION_UPPER_DISK), *config = path_join(dir, "config.disk"),
                            *address = NULL;
        if (!upper || !config)
                return kerr(err, -ENOMEM, "guest disks");
        int r = vm_disk_rootfs_ensure(cache, rec->image_id, img->layer_dirs, &rootfs, err);
        if (r < 0 || (r = vm_disk_upper_ensure(upper, VM_GUEST_UPPER_DEFAULT_SIZE, err)) < 0)
                return r;
        _cleanup_(json_decrefp) json_t *spec = NULL;
        if ((r = guest_spec(e, rec, img, &spec, err)) < 0)
                return r;
        _cleanup_free_ char *hosts = NULL;
        VmGuestNet net = { 0 };
        if (a) {
                if (asprintf(&address, "%s/%u", a->ip, a->prefixlen) < 0 ||
                    asprintf(&hosts, "127.0.0.1\tlocalhost\n%s\t%s\n", a->ip, rec->name) < 0)
                        return kerr(err, -ENOMEM, "guest network");
                net = (VmGuestNet) { .address = address, .gateway = a->gateway };
        }
        VmGuestPlanInput in = { .oci = spec, .net = a ? &net : NULL, .hosts = hosts ?: "127.0.0.1\tlocalhost\n" };
        if ((r = vm_guest_plan(&in, &v->plan, err)) < 0)
                return r;
        for (size_t i = 0; i < v->plan.n_volumes; i++)
                if ((r = vm_disk_volume_prepare(&v->plan.volumes[i], dir, err)) < 0)
                        return r;
        /* guest init serves `kapsel exec` on hvc1 (vm-agent.h) */
        json_object_set_new(v->plan.config, "agent", json_true());
        _cleanup_free_ char *changes = NULL;
        if ((r = changes_disk(rec, dir, v, &changes, err)) < 0 || (r = vm_disk_config_write(config, v->plan.config, err)) < 0)
                return r;
        const char *disks[] = { rootfs, upper, config };
        const bool ro[] = { true, false, true };
        for (size_t i = 0; i < ELEMENTSOF(disks) + v->plan.n_volumes; i++) {
                VmVolumeDisk *vol = i >= ELEMENTSOF(disks) ? &v->plan.volumes[i - ELEMENTSOF(disks)] : NULL;
                _cleanup_free_ char *arg = NULL;
                if (asprintf(&arg, "%s%s", vol ? vol->image : disks[i], (vol ? vol->readonly : ro[i]) ? ",ro" : "") < 0 ||
                    (r = vm_config_add_disk(c, arg, err)) < 0)
                        return r < 0 ? r : kerr(err, -ENOMEM, "guest disks");
        }
        return changes ? vm_config_add_disk(c, changes, err) : 0;
}

/* --memory sizes the guest (vm_isolation_check refused one below the minimum); unset: 512 MiB. */
static void guest_resources(const json_t *config, VmConfig *c) {
        const json_t *host = json_object_get(config, "HostConfig");
        json_int_t mem = json_integer_value(json_object_get(host, "Memory"));
        json_int_t nano = json_integer_value(json_object_get(host, "NanoCpus"));
        if (mem > 0)
                c->memory = (uint64_t) mem & ~((1ULL << 20) - 1);
        if (nano > 0)
                c->cpus = (unsigned) ((nano + 999999999) / 1000000000);
        if (c->cpus > VM_MAX_CPUS)
                c->cpus = VM_MAX_CPUS;
}

void vm_isolation_guest_size(const json_t *config, uint64_t *ret_memory, unsigned *ret_cpus) {
        VmConfig c;
        vm_config_init(&c);
        guest_resources(config, &c);
        *ret_memory = c.memory;
        *ret_cpus = c.cpus;
        vm_config_done(&c);
}

static int label_value(const json_t *labels, const char *what, const char **ret, KError **err) {
        const json_t *v = json_object_get(labels, VM_ISOLATION_LABEL);
        const char *s = json_string_value(v);
        *ret = NULL;
        if (!v)
                return 0;
        if (!s || (!streq(s, "vm") && !streq(s, "container")))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s: label %s=%s: expected vm or container (or remove the label)",
                                what, VM_ISOLATION_LABEL, s ?: "(not a string)");
        *ret = streq(s, "vm") ? "vm" : "container";
        return 0;
}

int vm_isolation_pick(const json_t *net_labels, const char *what_net, const json_t *image_labels,
                      const char *what_image, const char **ret, KError **err) {
        const char *n, *i;
        int r = label_value(net_labels, what_net, &n, err);
        if (r >= 0)
                r = label_value(image_labels, what_image, &i, err);
        if (r >= 0)
                *ret = n ?: i;
        return r;
}

int vm_isolation_apply_default(Engine *e, json_t *config, const json_t *image_config_json, const char *image,
                               KError **err) {
        json_t *host = json_object_get(config, "HostConfig");
        if (json_object_get(host, "Isolation"))
                return 0;       /* --isolation was given */
        NetMode mode;
        int r = net_mode_parse(json_string_value(json_object_get(host, "NetworkMode")) ?: "", &mode, err);
        if (r < 0)
                return r;
        _cleanup_(json_decrefp) json_t *info = NULL;
        NetCtx *ctx;
        /* the default network carries no labels (users cannot create or relabel it) */
        if (mode.kind == NET_MODE_BRIDGE && !streq(mode.network, NET_DEFAULT_NETWORK) && (r = engine_net(e, &ctx, err)) >= 0)
                r = net_network_inspect(ctx, mode.network, &info, err);
        _cleanup_free_ char *what_net = NULL, *what_image = NULL;
        if (r >= 0 && (asprintf(&what_net, "network %s", mode.network ?: "") < 0 ||
                       asprintf(&what_image, "image %s", image) < 0))
                r = kerr(err, -ENOMEM, "isolation default");
        net_mode_done(&mode);
        const char *pick = NULL;
        if (r >= 0)
                r = vm_isolation_pick(json_object_get(info, "Labels"), what_net,
                                      json_object_get(json_object_get(image_config_json, "config"), "Labels"),
                                      what_image, &pick, err);
        if (r >= 0 && pick)
                json_object_set_new(host, "Isolation", json_string(pick));
        return r;
}

int vm_isolation_check(const json_t *config, KError **err) {
        const json_t *host = json_object_get(config, "HostConfig");
        json_int_t mem = json_integer_value(json_object_get(host, "Memory"));
        uint64_t ram = vm_host_ram();
        if (mem > 0 && (uint64_t) mem < VM_ISOLATION_MIN_MEMORY)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--memory %lld MiB is too small for --isolation=vm: the guest's kernel needs at least "
                                "%llu MiB", (long long) (mem >> 20), VM_ISOLATION_MIN_MEMORY >> 20);
        if (mem > 0 && ram && (uint64_t) mem > ram)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--memory %lld MiB is more than this host's RAM (%llu MiB)",
                                (long long) (mem >> 20), (unsigned long long) (ram >> 20));
        const char *net = json_string_value(json_object_get(host, "NetworkMode")) ?: "";
        if (streq(net, "host") || startswith(net, "container:"))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--network %s cannot be combined with --isolation=vm", net);
        /* the kernel is looked for now, so a missing one is an error of run, not of the boot */
        _cleanup_free_ char *path = NULL, *version = NULL;
        int r = vm_guest_find_kernel(json_string_value(json_object_get(host, "VmKernel")), &path, &version, err);
        return r < 0 ? kerr_prefix(err, r, "--isolation=vm") : 0;
}

static int serial_fifo(const char *dir, const char *name, int *ret, KError **err) {
        _cleanup_free_ char *path = path_join(dir, name);
        if (!path)
                return kerr(err, -ENOMEM, "serial FIFO");
        (void) unlink(path);
        if (mkfifo(path, 0600) < 0)
                return kerr(err, -errno, "create %s", path);
        /* read-write: never EOF (or an endless POLLHUP) while kapsel-vmm has not opened it yet */
        int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return kerr(err, -errno, "open %s", path);
        *ret = fd;
        return 0;
}

int vm_isolation_prepare(Engine *e, const CtrRecord *rec, const ImagePlan *img, const char *dir, VmPayload *p,
                         VmIsolation *v, int *ret_in, int *ret_out, int *ret_err, KError **err) {
        vm_payload_done(p);
        vm_isolation_finish(v, NULL, NULL);
        v->exit_code = -1;
        v->payload = p;
        vm_config_init(&p->cfg);
        int r = vm_payload_boot_limits(p, rec->config, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *version = NULL, *vmm = vm_vmm_binary();
        r = vm_guest_find_kernel(json_string_value(host_cfg(rec, "VmKernel")), &p->cfg.kernel, &version, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *cache = path_join(e->root, "vm-cache");
        if (!vmm || !cache || !(p->cfg.cmdline = strdup(VM_GUEST_CMDLINE)))
                return kerr(err, -ENOMEM, "--isolation=vm");
        if (mkdir(cache, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s", cache);
        if ((r = vm_initramfs_ensure(cache, version, guest_init_binary(), &p->cfg.initrd, err)) < 0)
                return kerr_prefix(err, r, "--isolation=vm (guest init %s)", guest_init_binary());
        _cleanup_(net_attachment_freep) NetAttachment *a = NULL;
        if ((r = guest_net(e, rec, img, &a, err)) < 0 || (r = guest_disks(e, rec, img, dir, cache, a, v, &p->cfg, err)) < 0)
                return r;
        guest_resources(rec->config, &p->cfg);
        if ((r = serial_fifo(dir, SERIAL_FIFO, &v->serial_fd, err)) < 0 ||
            (r = serial_fifo(dir, VM_ISOLATION_SIGNAL_FIFO, &v->signal_fd, err)) < 0)
                return r;
        v->dir = dir;
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return kerr(err, -errno, "guest agent channel");
        v->agent_fd = sp[0];
        p->child_fds[3] = sp[1];
        const char *kvm = getenv("KAPSEL_KVM_DEVICE");
        const char *restore = vm_snapshot_restore_dir(rec->config);
        if (restore)
                p->boot_timeout = 0;
        /* the guest's own MAC in virtio-net's config space (monitor-vm.c) */
        VmLaunch l = { .vmm = vmm, .control = VM_CONTROL_SOCKET, .tap = a ? a->ifname : NULL, .mac = a ? a->guest_mac : NULL,
                       .kvm_device = kvm && *kvm ? kvm : NULL, .console_log = SERIAL_FIFO, .serial_in = VM_ISOLATION_SIGNAL_FIFO,
                       .virtio_console = true, .agent_fd = VM_AGENT_CHILD_FD, .restore = restore };
        if ((r = vm_config_vmm_argv(&p->cfg, &l, &p->argv, err)) < 0)
                return r;
        return vm_payload_pipes(p, ret_in, ret_out, ret_err, err);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

void vm_isolation_spawned(VmIsolation *v) {
        v->spawned_ms = now_ms();
        v->init_ms = v->started_ms = 0;
}

/* Best effort: inspect shows what is there. */
static void write_times(const VmIsolation *v) {
        _cleanup_close_ int dfd = v->dir ? open(v->dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        _cleanup_(json_decrefp) json_t *j = json_object();
        if (dfd < 0 || !j || !v->spawned_ms)
                return;
        if (v->init_ms)
                json_object_set_new(j, "VmBootMs", json_integer((json_int_t) (v->init_ms - v->spawned_ms)));
        if (v->started_ms)
                json_object_set_new(j, "VmStartMs", json_integer((json_int_t) (v->started_ms - v->spawned_ms)));
        _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
        if (text)
                (void) write_file_atomic_at(dfd, VM_ISOLATION_TIMES, text, strlen(text), 0600);
}

json_t *vm_isolation_times(const char *dir) {
        _cleanup_free_ char *path = path_join(dir, VM_ISOLATION_TIMES);
        json_t *j = path ? json_load_file(path, 0, NULL) : NULL;
        if (j && !json_is_object(j)) {
                json_decref(j);
                return NULL;
        }
        return j;
}

int vm_isolation_signal(const char *dir, const char *name, int sig, KError **err) {
        char line[32];
        int n = vm_guest_signal_line(sig, line, sizeof(line));
        if (n < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "signal %d cannot be sent into a VM guest", sig);
        _cleanup_free_ char *path = path_join(dir, VM_ISOLATION_SIGNAL_FIFO);
        if (!path)
                return kerr(err, -ENOMEM, "signal %s", name);
        /* ENXIO: no reader, so no monitor (and no kapsel-vmm) holds it */
        _cleanup_close_ int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return errno == ENXIO || errno == ENOENT
                               ? kerr_msg(err, KERR_STATE, -ESRCH, "%s is not running (no guest to signal)", name)
                               : kerr(err, -errno, "signal %s: open %s", name, path);
        if (write_all(fd, line, (size_t) n) < 0)
                return kerr(err, -errno, "signal %s: write %s", name, path);
        return 0;
}

static void serial_line(VmIsolation *v, VmIsolationEmit emit, void *userdata) {
        VmGuestEvent ev;
        vm_guest_parse_console_line(v->line, v->len, &ev);
        if (ev.type == VM_GUEST_EVENT_INIT && v->payload)
                vm_payload_booted(v->payload);  /* the guest reached our init: the watchdog is done */
        if ((ev.type == VM_GUEST_EVENT_INIT || ev.type == VM_GUEST_EVENT_STARTED) && v->spawned_ms) {
                *(ev.type == VM_GUEST_EVENT_INIT ? &v->init_ms : &v->started_ms) = now_ms();
                write_times(v);
        } else if (ev.type == VM_GUEST_EVENT_EXIT)
                v->exit_code = ev.value;
        else if (ev.type == VM_GUEST_EVENT_ERROR && emit) {
                char msg[300];
                int n = snprintf(msg, sizeof(msg), "kapsel: %s\n", ev.message);
                emit(userdata, msg, (size_t) n < sizeof(msg) ? (size_t) n : sizeof(msg) - 1);
        }
}

void vm_isolation_read_serial(VmIsolation *v, VmIsolationEmit emit, void *userdata) {
        char buf[4096];
        ssize_t n;
        while ((n = read(v->serial_fd, buf, sizeof(buf))) > 0) {
                if (v->payload)
                        vm_payload_console(v->payload, buf, (size_t) n, false);
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] == '\n' || buf[i] == '\r') {
                                if (v->len)
                                        serial_line(v, emit, userdata);
                                v->len = 0;
                        } else if (v->len < sizeof(v->line))
                                v->line[v->len++] = buf[i];
                }
        }
}

void vm_isolation_finish(VmIsolation *v, VmIsolationEmit emit, void *userdata) {
        for (size_t i = 0; i < v->plan.n_volumes; i++) {
                VmVolumeDisk *vol = &v->plan.volumes[i];
                _cleanup_kerr_ KError *e = NULL;
                /* a guest that never ran wrote nothing: drop its disk, copy nothing back */
                if (vol->image && !v->spawned_ms && !vol->is_image) {
                        (void) unlink(vol->image);
                        continue;
                }
                if (!vol->image || vm_disk_volume_finish(vol, &e) >= 0 || !emit)
                        continue;
                /* the process's writes are not lost silently: say so where its output goes */
                char msg[600];
                int n = snprintf(msg, sizeof(msg), "kapsel: %s\n", e ? e->msg : "volume copy-back failed");
                emit(userdata, msg, (size_t) n < sizeof(msg) ? (size_t) n : sizeof(msg) - 1);
        }
        vm_guest_plan_done(&v->plan);
        v->plan = (VmGuestPlan) { 0 };
        v->serial_fd = safe_close(v->serial_fd);
        v->signal_fd = safe_close(v->signal_fd);
        v->agent_fd = safe_close(v->agent_fd);
        v->len = 0;
        v->spawned_ms = 0;
}
