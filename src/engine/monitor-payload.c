/* SPDX-License-Identifier: Apache-2.0 */
/* The monitor's three payloads (monitor-internal.h): a container through the runtime core
 * in-process, a micro-VM (kapsel-vmm as our child, monitor-vm.h), and a container in a micro-VM
 * (--isolation=vm: kapsel-vmm with our guest init and its agent, vm-isolation.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "container.h"
#include "fd-util.h"
#include "json-util.h"
#include "monitor-internal.h"
#include "overlay.h"
#include "path-util.h"
#include "spec-gen.h"
#include "string-util.h"
#include "user.h"

const MonitorPayload *monitor_payload_for(const CtrRecord *rec) {
        if (rec->kind == CTR_KIND_VM)
                return &monitor_payload_vm;
        if (rec->kind == CTR_KIND_CONTAINER && vm_isolation_enabled(rec->config))
                return &monitor_payload_guest;
        return &monitor_payload_container;
}

static const json_t *cfg_get(const Monitor *m, const char *section, const char *key) {
        return json_object_get(json_object_get(m->rec->config, section), key);
}

/* A container's stdio mode and image (namespaced or in a guest). */
static int read_stdio_and_image(Monitor *m, KError **err) {
        m->tty = json_is_true(cfg_get(m, "Config", "Tty"));
        m->open_stdin = json_is_true(cfg_get(m, "Config", "OpenStdin"));
        image_plan_done(&m->plan);
        int r = image_plan_read(m->e, m->id, &m->plan, err);
        if (r < 0)
                return kerr_prefix(err, r, "image of container %s", m->rec->name);
        return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* A container: the runtime core in-process                                                         */

static const char *init_binary(void) {
        const char *env = getenv("KAPSEL_INIT");
        return env && *env ? env : KAPSEL_INIT_PATH;
}

static int write_bundle(Monitor *m, KError **err) {
        _cleanup_free_ char *rootfs = path_join(m->dir, "rootfs"), *bundle = path_join(m->dir, "bundle"),
                            *volumes = path_join(m->e->root, "volumes"), *cgpath = NULL;
        if (!rootfs || !bundle || !volumes ||
            asprintf(&cgpath, "/kapsel/%s", m->id) < 0)
                return kerr(err, -ENOMEM, "bundle");
        _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return kerr(err, -errno, "open rootfs %s", rootfs);
        UserIds u;
        /* -u wins; else the image's USER, as docker does */
        const char *user = json_string_value(cfg_get(m, "Config", "User"));
        int r = user_resolve(rootfd, user && *user ? user : m->plan.config.user, &u, err);
        if (r < 0)
                return r;
        SpecGenInput in = {
                .image = &m->plan.config, .config = m->rec->config, .rootfs = rootfs, .volumes_dir = volumes,
                .hosts_path = m->net.files.hosts, .hostname_path = m->net.files.hostname,
                .resolv_path = m->net.files.resolv_conf, .host_network = m->net.host, .netns_path = m->net.netns_path,
                .uid = u.uid, .gid = u.gid,
                .additional_gids = u.groups, .n_additional_gids = u.n_groups, .cgroups_path = cgpath,
                .instance_id = m->rec->id,
                .init_path = json_is_true(cfg_get(m, "HostConfig", "Init")) ? init_binary() : NULL,
        };
        if (in.init_path && access(in.init_path, X_OK) < 0) {
                user_ids_done(&u);
                return kerr_msg(err, KERR_HOST, -ENOENT, "--init: %s is missing; build kapsel-init or set KAPSEL_INIT",
                                in.init_path);
        }
        json_t *spec = NULL;
        r = spec_gen(&in, &spec, err);
        user_ids_done(&u);
        if (r < 0)
                return r;
        return spec_write_bundle(bundle, spec, err);
}

static int container_prepare(Monitor *m, KError **err) {
        int r = read_stdio_and_image(m, err);
        if (r < 0)
                return r;
        bool disposable = json_is_true(json_object_get(json_object_get(m->rec->config, "HostConfig"), "AutoRemove"));
        if ((r = overlay_prepare(m->dir, err)) < 0 ||
            (r = overlay_mount_disposable(m->dir, m->plan.layer_dirs, m->plan.n_layers, disposable, err)) < 0)
                return r;
        ctr_net_done(&m->net);
        if ((r = ctr_net_setup(m->e, m->rec, &m->plan.config, &m->net, err)) < 0)
                return r;
        return write_bundle(m, err);
}

/* The container inherits fds 0-2 from us at create time: point them at the pipes for the
 * duration of the call, then back at /dev/null. */
static int container_create_payload(Monitor *m, KError **err) {
        int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, in[2] = { -1, -1 }, cons[2] = { -1, -1 };
        _cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        _cleanup_free_ char *bundle = path_join(m->dir, "bundle");
        CreateOptions o = { .root = m->e->runtime_root, .id = m->id, .bundle = bundle, .console_fd = -1 };
        int r;
        if (m->tty) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0)
                        return kerr(err, -errno, "console socket");
                o.console_fd = cons[1];
        } else if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
                   (m->open_stdin && pipe2(in, O_CLOEXEC) < 0)) {
                r = kerr(err, -errno, "stdio pipes");
                goto out;
        }
        if (!m->tty) {
                dup2(in[0] >= 0 ? in[0] : devnull, 0);
                dup2(out[1], 1);
                dup2(errp[1], 2);
        }
        r = container_create(&o, &m->pid, err);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (r < 0)
                goto out;
        if (m->tty) {
                safe_close(TAKE_FD(cons[1]));
                if (recv_fd(cons[0], &m->master, NULL, 0) < 0 || m->master < 0) {
                        r = kerr(err, -EIO, "receive the container's pty");
                        goto out;
                }
                fcntl(m->master, F_SETFL, O_NONBLOCK);
        } else {
                m->out_fd = TAKE_FD(out[0]);
                m->err_fd = TAKE_FD(errp[0]);
                m->in_fd = TAKE_FD(in[1]);
        }
        r = 0;
out:
        safe_close(out[0]);
        safe_close(out[1]);
        safe_close(errp[0]);
        safe_close(errp[1]);
        safe_close(in[0]);
        safe_close(in[1]);
        safe_close(cons[0]);
        safe_close(cons[1]);
        return r;
}

static int container_start_payload(Monitor *m, KError **err) {
        return container_start(m->e->runtime_root, m->id, err);
}

/* The kernel's count of OOM kills in the container's memory cgroup (made anew for each life, so
 * any kill is this life's): v2 memory.events, v1 memory.oom_control ("oom_kill N", Linux 4.13+). */
static bool container_oom_killed(Monitor *m) {
        CgroupMode mode;
        if (cgroup_detect("/sys/fs/cgroup", &mode, NULL) < 0)
                return false;
        _cleanup_free_ char *path = NULL, *text = NULL;
        if (asprintf(&path, mode == CGROUP_MODE_V2 ? "/sys/fs/cgroup/kapsel/%s/memory.events"
                                                   : "/sys/fs/cgroup/memory/kapsel/%s/memory.oom_control", m->id) < 0 ||
            read_full_file_at(AT_FDCWD, path, 64 * 1024, &text, NULL) < 0)
                return false;
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                const char *v = startswith(line, "oom_kill ");
                if (v && strtoull(v, NULL, 10) > 0)
                        return true;
        }
        return false;
}

static void container_kill_payload(Monitor *m) {
        (void) container_kill(m->e->runtime_root, m->id, SIGKILL, true, NULL);
}

static void container_cleanup(Monitor *m) {
        image_plan_done(&m->plan);
        ctr_net_done(&m->net);
}

const MonitorPayload monitor_payload_container = {
        .name = "container",
        .prepare = container_prepare,
        .create = container_create_payload,
        .start = container_start_payload,
        .oom_killed = container_oom_killed,
        .kill = container_kill_payload,
        .cleanup = container_cleanup,
        .health_probes = true,
};

/* ------------------------------------------------------------------------------------------------ */
/* What both kapsel-vmm payloads share                                                              */

/* kapsel-vmm's stderr: its last line is kept for State.Error. */
static void vmm_output(Monitor *m, uint8_t stream, const char *buf, size_t n) {
        if (stream == ATTACH_STDERR)
                vm_payload_stderr(&m->vm, buf, n);
}

static bool vmm_event(Monitor *m, int fd, uint32_t events) {
        (void) events;
        if (fd != m->vm.boot_timer_fd)
                return false;
        /* A VM that has not booted in time is stopped, and the user told why (vm-config.h). */
        char msg[4096];
        if (m->guest.serial_fd >= 0)
                vm_isolation_read_serial(&m->guest, monitor_stderr, m);   /* what the guest said last */
        if (!vm_payload_boot_expired(&m->vm, msg, sizeof(msg)))
                return true;
        monitor_stderr(m, msg, strlen(msg));
        if (m->pid > 0)
                (void) kill(m->pid, SIGKILL);
        return true;
}

static const char *vmm_error(const Monitor *m) {
        return m->vm.error[0] ? m->vm.error : NULL;
}

static void vmm_kill(Monitor *m) {
        (void) kill(m->pid, SIGKILL);
        (void) waitpid(m->pid, NULL, 0);
}

/* ------------------------------------------------------------------------------------------------ */
/* A micro-VM (kind vm)                                                                             */

static int vm_prepare(Monitor *m, KError **err) {
        (void) err;
        /* the serial console is a byte stream both ways, never a pty of ours */
        m->tty = false;
        m->open_stdin = true;
        return 0;
}

static int vm_create(Monitor *m, KError **err) {
        /* kapsel-vmm is spawned at start; its console pipes exist from now */
        return vm_payload_prepare(m->e, m->rec, &m->vm, &m->in_fd, &m->out_fd, &m->err_fd, err);
}

static int vm_start(Monitor *m, KError **err) {
        int r = vm_payload_spawn(&m->vm, m->dir, &m->pid, err);
        if (r < 0)
                return r;
        if (monitor_watch(m, m->vm.boot_timer_fd) < 0)
                return kerr(err, -errno, "monitor event loop");
        return 0;
}

static void vm_output(Monitor *m, uint8_t stream, const char *buf, size_t n) {
        if (stream == ATTACH_STDERR)
                vmm_output(m, stream, buf, n);
        else
                vm_payload_console(&m->vm, buf, n, true);      /* a VM's serial console */
}

static void vm_ended(Monitor *m) {
        m->exit_code = vm_payload_exit_code(&m->vm, m->wait_status, false, -1, m->stop_requested);
}

static void vm_cleanup(Monitor *m) {
        vm_payload_done(&m->vm);
}

const MonitorPayload monitor_payload_vm = {
        .name = "vm",
        .prepare = vm_prepare,
        .create = vm_create,
        .start = vm_start,
        .output = vm_output,
        .event = vmm_event,
        .ended = vm_ended,
        .error = vmm_error,
        .kill = vmm_kill,
        .cleanup = vm_cleanup,
};

/* ------------------------------------------------------------------------------------------------ */
/* A container in a micro-VM (--isolation=vm)                                                       */

static int guest_prepare(Monitor *m, KError **err) {
        /* no overlay, netns or bundle: the guest gets disks (guest_create) */
        return read_stdio_and_image(m, err);
}

static int guest_create(Monitor *m, KError **err) {
        /* kapsel-vmm is spawned at start; its console pipes exist from now */
        m->tty = false;
        m->open_stdin = true;
        int r = vm_isolation_prepare(m->e, m->rec, &m->plan, m->dir, &m->vm, &m->guest, &m->in_fd, &m->out_fd,
                                     &m->err_fd, err);
        if (r >= 0 && (r = exec_relay_start(&m->exec, TAKE_FD(m->guest.agent_fd))) < 0)
                return kerr(err, r, "exec relay");
        if (r < 0 || monitor_watch(m, m->guest.serial_fd) < 0 || monitor_watch(m, m->exec.agent_fd) < 0)
                return r < 0 ? r : kerr(err, -errno, "monitor event loop");
        return 0;
}

static int guest_start(Monitor *m, KError **err) {
        int r = vm_payload_spawn(&m->vm, m->dir, &m->pid, err);
        if (r < 0)
                return r;
        vm_isolation_spawned(&m->guest);
        if (monitor_watch(m, m->vm.boot_timer_fd) < 0)
                return kerr(err, -errno, "monitor event loop");
        return 0;
}

static bool guest_event(Monitor *m, int fd, uint32_t events) {
        if (fd == m->guest.serial_fd)
                vm_isolation_read_serial(&m->guest, monitor_stderr, m);
        else if (fd == m->exec.agent_fd)
                exec_relay_agent_event(&m->exec, events);
        else
                return vmm_event(m, fd, events);
        return true;
}

static int guest_side_fd(const Monitor *m) {
        return m->guest.serial_fd;
}

static void guest_ended(Monitor *m) {
        /* the process's status is what the guest reported, not kapsel-vmm's */
        if (m->guest.serial_fd >= 0)
                vm_isolation_read_serial(&m->guest, monitor_stderr, m);
        m->exit_code = vm_payload_exit_code(&m->vm, m->wait_status, true, m->guest.exit_code, m->stop_requested);
        /* the guest is gone, and every process exec'd into it: what the agent still said goes
         * out, the rest are reported killed (as docker does) */
        exec_relay_agent_input(&m->exec);
        exec_relay_end(&m->exec, 137, NULL);
        vm_isolation_finish(&m->guest, monitor_stderr, m);
}

static void guest_cleanup(Monitor *m) {
        image_plan_done(&m->plan);
        vm_payload_done(&m->vm);
        vm_isolation_finish(&m->guest, NULL, NULL);
}

const MonitorPayload monitor_payload_guest = {
        .name = "vm-isolated container",
        .prepare = guest_prepare,
        .create = guest_create,
        .start = guest_start,
        .output = vmm_output,
        .event = guest_event,
        .side_fd = guest_side_fd,
        .ended = guest_ended,
        .error = vmm_error,
        .kill = vmm_kill,
        .cleanup = guest_cleanup,
};
