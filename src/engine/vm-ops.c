/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctr-ops.h"
#include "events.h"
#include "../vmm/kvm-probe.h"
#include "fd-util.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"
#include "vm-isolation.h"
#include "vm-ops.h"

#ifndef KAPSEL_VMM_PATH
#define KAPSEL_VMM_PATH "/usr/local/bin/kapsel-vmm"
#endif

const char *vm_kvm_device(void) {
        const char *env = getenv("KAPSEL_KVM_DEVICE");
        return env && *env ? env : "/dev/kvm";
}

char *vm_vmm_binary(void) {
        const char *env = getenv("KAPSEL_VMM");
        if (env && *env)
                return strdup(env);
        _cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
        if (self) {
                /* the build tree keeps it in src/vmm/, an install next to kapsel-monitor */
                static const char *const rel[] = { "kapsel-vmm", "../vmm/kapsel-vmm" };
                char *dir = dirname(self);
                for (size_t i = 0; i < ELEMENTSOF(rel); i++) {
                        _cleanup_free_ char *p = path_join(dir, rel[i]);
                        if (p && access(p, X_OK) == 0)
                                return realpath(p, NULL);
                }
        }
        return strdup(KAPSEL_VMM_PATH);
}

bool ctr_runs_vmm(const CtrRecord *r) {
        return r->kind == CTR_KIND_VM || vm_isolation_enabled(r->config);
}

uint64_t vm_host_ram(void) {
        struct sysinfo si;
        return sysinfo(&si) == 0 ? (uint64_t) si.totalram * si.mem_unit : 0;
}

int vm_check_kvm(KError **err) {
        return kvm_probe(vm_kvm_device(), err);
}

static int check_network(Engine *e, const char *network, KError **err) {
        if (streq(network, "none") || streq(network, NET_DEFAULT_NETWORK))
                return 0;
        NetCtx *ctx;
        json_t *info = NULL;
        int r = engine_net(e, &ctx, err);
        if (r >= 0 && (r = net_network_inspect(ctx, network, &info, err)) < 0)
                r = kerr_prefix(err, r, "--net %s", network);
        json_decref(info);
        return r;
}

static int check_vmm(KError **err) {
        _cleanup_free_ char *vmm = vm_vmm_binary();
        if (!vmm)
                return kerr(err, -ENOMEM, "kapsel-vmm");
        if (access(vmm, X_OK) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "the micro-VM monitor %s (set KAPSEL_VMM)", vmm);
        return 0;
}

int vm_create(Engine *e, VmConfig *c, const char *name, char ret_id[static 65], KError **err) {
        int r = vm_config_check(c, vm_host_ram(), err);
        if (r >= 0)
                r = check_network(e, c->network ?: NET_DEFAULT_NETWORK, err);
        if (r >= 0)
                r = check_vmm(err);
        if (r >= 0)
                r = vm_check_kvm(err);
        if (r < 0)
                return r;
        if ((r = engine_new_id(ret_id)) < 0)
                return kerr(err, r, "new VM id");
        _cleanup_free_ char *gen = name ? NULL : engine_random_name();
        _cleanup_(json_decrefp) json_t *config = vm_config_to_json(c);
        CtrRecord rec = { .id = ret_id, .name = (char *) (name ?: gen), .image = c->kernel, .image_id = (char *) "",
                          .config = config, .state = CTR_CREATED, .created = engine_now(), .kind = CTR_KIND_VM };
        _cleanup_free_ char *dir = engine_ctr_path(e, ret_id, NULL);
        if (!rec.name || !config || !dir)
                return kerr(err, -ENOMEM, "create VM");
        /* the directory first, the row last (as for containers) */
        if (mkdir(dir, 0700) < 0)
                return kerr(err, -errno, "create %s", dir);
        if ((r = db_ctr_insert(e->db, &rec, err)) < 0) {
                (void) rm_rf(dir);
                return r;
        }
        events_emit(e->root, "container", "create", rec.id, events_ctr_attrs(rec.image, rec.name, rec.config));
        return 0;
}

static int control_connect(const char *dir, int timeout_s, KError **err) {
        _cleanup_close_ int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return kerr(err, -errno, "open %s", dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" VM_CONTROL_SOCKET, dirfd);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return kerr(err, -errno, "control socket %s/" VM_CONTROL_SOCKET, dir);
        struct timeval tv = { .tv_sec = timeout_s };
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return TAKE_FD(fd);
}

int vm_control(Engine *e, const CtrRecord *rec, const char *cmd, char **ret_reply, KError **err) {
        _cleanup_free_ char *line = NULL;
        if (asprintf(&line, "{\"cmd\":\"%s\"}", cmd) < 0)
                return kerr(err, -ENOMEM, "VM control");
        return vm_control_line(e, rec, line, 10, ret_reply, err);
}

int vm_control_line(Engine *e, const CtrRecord *rec, const char *request, int timeout_s, char **ret_reply,
                    KError **err) {
        return vm_control_line_fd(e, rec, request, -1, timeout_s, ret_reply, err);
}

int vm_control_line_fd(Engine *e, const CtrRecord *rec, const char *request, int pass_fd, int timeout_s,
                       char **ret_reply, KError **err) {
        _cleanup_(json_decrefp) json_t *req = json_loads(request, 0, NULL);
        const char *cmd = json_string_value(json_object_get(req, "cmd")) ?: "request";
        _cleanup_free_ char *dir = engine_ctr_path(e, rec->id, NULL), *line = NULL;
        if (!dir || asprintf(&line, "%s\n", request) < 0)
                return kerr(err, -ENOMEM, "VM control");
        _cleanup_close_ int fd = control_connect(dir, timeout_s, err);
        if (fd < 0)
                return kerr_prefix(err, fd, "%s VM %s", cmd, rec->name);
        /* the request and the fd in one message; the newline that ends the request after it */
        int w = pass_fd >= 0 ? send_fd(fd, pass_fd, line, strlen(line) - 1) : 0;
        if (w < 0 || write_all(fd, pass_fd >= 0 ? "\n" : line, pass_fd >= 0 ? 1 : strlen(line)) < 0)
                return kerr(err, w < 0 ? w : -errno, "%s VM %s: control socket", cmd, rec->name);
        char reply[4096];
        size_t len = 0;
        while (len < sizeof(reply) - 1) {
                ssize_t n = read(fd, reply + len, sizeof(reply) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
                if (memchr(reply, '\n', len))
                        break;
        }
        reply[len] = 0;
        reply[strcspn(reply, "\n")] = 0;
        _cleanup_(json_decrefp) json_t *j = json_loads(reply, 0, NULL);
        if (!json_is_true(json_object_get(j, "ok")))
                return kerr_msg(err, KERR_STATE, -EIO, "%s VM %s: kapsel-vmm answered %s", cmd, rec->name,
                                len ? reply : "nothing");
        if (ret_reply && !(*ret_reply = strdup(reply)))
                return kerr(err, -ENOMEM, "VM control");
        return 0;
}

/* An --isolation=vm container: the stop signal to the guest's process, SIGKILL to it after
 * `timeout`, and only if the guest still does not end, SIGKILL to kapsel-vmm. */
static int guest_stop(Engine *e, const CtrRecord *rec, int timeout, KError **err) {
        _cleanup_free_ char *dir = engine_ctr_path(e, rec->id, NULL);
        if (!dir)
                return kerr(err, -ENOMEM, "stop %s", rec->name);
        if (rec->monitor_pid > 0)
                (void) kill(rec->monitor_pid, SIGUSR1);
        if (rec->state == CTR_PAUSED)
                (void) vm_control(e, rec, "resume", NULL, NULL);
        bool sent = vm_isolation_signal(dir, rec->name, ctr_stop_signal(rec), NULL) >= 0;
        if (!sent || !ctr_wait_monitor(rec->monitor_pid, timeout * 1000)) {
                /* the guest reports the kill and powers off: give it a moment before the VMM goes */
                if (vm_isolation_signal(dir, rec->name, SIGKILL, NULL) < 0 ||
                    !ctr_wait_monitor(rec->monitor_pid, 5000)) {
                        if (rec->pid > 0)
                                (void) kill(rec->pid, SIGKILL);
                        if (!ctr_wait_monitor(rec->monitor_pid, 10000))
                                return kerr(err, -ETIMEDOUT, "container %s did not stop after SIGKILL", rec->name);
                }
        }
        int code;
        return ctr_wait(e, rec->id, &code, err);
}

int vm_stop(Engine *e, const CtrRecord *rec, int timeout, KError **err) {
        if (rec->state == CTR_EXITED || rec->state == CTR_CREATED)
                return 0;
        if (vm_isolation_enabled(rec->config))
                return guest_stop(e, rec, timeout, err);
        /* tell the monitor first: what ends now was asked for */
        if (rec->monitor_pid > 0)
                (void) kill(rec->monitor_pid, SIGUSR1);
        /* a paused VM's vCPUs would not see the stop: let them run into it */
        if (rec->state == CTR_PAUSED)
                (void) vm_control(e, rec, "resume", NULL, NULL);
        if (vm_control(e, rec, "stop", NULL, NULL) < 0 && rec->pid > 0)
                (void) kill(rec->pid, SIGTERM);
        if (!ctr_wait_monitor(rec->monitor_pid, timeout * 1000)) {
                if (rec->pid > 0)
                        (void) kill(rec->pid, SIGKILL);
                if (!ctr_wait_monitor(rec->monitor_pid, 10000))
                        return kerr(err, -ETIMEDOUT, "VM %s did not stop after SIGKILL", rec->name);
        }
        int code;
        return ctr_wait(e, rec->id, &code, err);
}

int vm_halt_paused(Engine *e, const CtrRecord *rec, KError **err) {
        if (rec->monitor_pid > 0)
                (void) kill(rec->monitor_pid, SIGUSR1);
        if (rec->pid <= 0 || kill(rec->pid, SIGKILL) < 0)
                return kerr(err, rec->pid <= 0 ? -ESRCH : -errno, "stop %s %s", vm_isolation_enabled(rec->config) ?
                            "container" : "VM", rec->name);
        if (!ctr_wait_monitor(rec->monitor_pid, 10000))
                return kerr(err, -ETIMEDOUT, "%s did not stop after SIGKILL", rec->name);
        int code;
        return ctr_wait(e, rec->id, &code, err);
}

int vm_kill(Engine *e, const CtrRecord *rec, int sig, KError **err) {
        if (vm_isolation_enabled(rec->config)) {
                /* the signal is for the process in the guest, not for kapsel-vmm */
                _cleanup_free_ char *dir = engine_ctr_path(e, rec->id, NULL);
                return dir ? vm_isolation_signal(dir, rec->name, sig, err) : kerr(err, -ENOMEM, "kill %s", rec->name);
        }
        if (rec->pid <= 0 || kill(rec->pid, sig) < 0)
                return kerr(err, rec->pid <= 0 ? -ESRCH : -errno, "signal VM %s", rec->name);
        return 0;
}

static void set_state(CtrRecord *r, void *userdata) {
        r->state = *(CtrState *) userdata;
}

int vm_pause(Engine *e, const CtrRecord *rec, bool pause, KError **err) {
        int r = vm_control(e, rec, pause ? "pause" : "resume", NULL, err);
        CtrState s = pause ? CTR_PAUSED : CTR_RUNNING;
        return r < 0 ? r : ctr_modify(e, rec->id, set_state, &s, err);
}

/* utime + stime (fields 14, 15 of /proc/PID/stat, after the parenthesised comm). */
static uint64_t proc_cpu_ns(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (read_full_file_at(AT_FDCWD, path, 4096, &text, &len) < 0)
                return 0;
        const char *p = strrchr(text, ')');
        unsigned long long ut = 0, st = 0;
        if (!p || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2)
                return 0;
        long hz = sysconf(_SC_CLK_TCK);
        return (ut + st) * (1000000000ULL / (uint64_t) (hz > 0 ? hz : 100));
}

/* "Key: value" numbers from one read of a /proc/PID file (status in kB, io in bytes): ret[i] for
 * keys[i], 0 when missing. */
static void proc_values(pid_t pid, const char *file, const char *const *keys, uint64_t *ret, size_t n) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        memset(ret, 0, n * sizeof(*ret));
        if (read_full_file_at(AT_FDCWD, path, 64 * 1024, &text, &len) < 0)
                return;
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                for (size_t i = 0; i < n; i++) {
                        size_t klen = strlen(keys[i]);
                        if (strncmp(l, keys[i], klen) == 0 && l[klen] == ':')
                                ret[i] = strtoull(l + klen + 1, NULL, 10);
                }
}

int vm_stats(Engine *e, const CtrRecord *rec, VmStats *ret, KError **err) {
        _cleanup_free_ char *reply = NULL;
        int r = vm_control(e, rec, "stats", &reply, err);
        if (r < 0)
                return r;
        _cleanup_(json_decrefp) json_t *j = json_loads(reply, 0, NULL);
        *ret = (VmStats) {
                .guest_bytes = (uint64_t) json_integer_value(json_object_get(json_object_get(j, "memory"), "guest_bytes")),
                .vcpus = (unsigned) json_array_size(json_object_get(j, "vcpus")),
        };
        if (rec->pid > 0) {
                ret->cpu_ns = proc_cpu_ns(rec->pid);
                uint64_t rss, io[2];
                proc_values(rec->pid, "status", (const char *const[]) { "VmRSS" }, &rss, 1);
                proc_values(rec->pid, "io", (const char *const[]) { "read_bytes", "write_bytes" }, io, 2);
                ret->rss_bytes = rss * 1024;
                ret->read_bytes = io[0];
                ret->write_bytes = io[1];
        }
        return 0;
}
