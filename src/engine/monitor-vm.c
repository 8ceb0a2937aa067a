/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "monitor-vm.h"
#include "string-util.h"
#include "vm-ops.h"
#include "vm-migrate.h"
#include "vm-snapshot.h"

void vm_payload_done(VmPayload *p) {
        vm_config_done(&p->cfg);
        strv_free(p->argv);
        p->argv = NULL;
        for (size_t i = 0; i < ELEMENTSOF(p->child_fds); i++)
                p->child_fds[i] = safe_close(p->child_fds[i]);
        p->boot_timer_fd = safe_close(p->boot_timer_fd);
        free(p->boot_ready);
        p->boot_ready = NULL;
}

/* A tap on the VM's network, unless --net none. A guest resumed from a snapshot (a restore or a
 * clone) still uses the address it had then: the tap gets it, or translates to it when another
 * VM holds it (net.h guest_ip). */
static int attach_tap(Engine *e, const CtrRecord *rec, const char *network, NetAttachment **ret, KError **err) {
        *ret = NULL;
        if (streq(network, "none"))
                return 0;
        NetCtx *ctx;
        int r = engine_net(e, &ctx, err);
        if (r < 0)
                return r;
        const char *restore = vm_snapshot_restore_dir(rec->config);
        _cleanup_free_ char *guest_ip = restore ? vm_snapshot_address(restore) : NULL;
        NetAttachOpts o = { .network = network, .instance_id = rec->id, .instance_name = rec->name,
                            .guest_ip = guest_ip };
        return net_attach_tap(ctx, &o, ret, err);
}

int vm_payload_pipes(VmPayload *p, int *ret_in, int *ret_out, int *ret_err, KError **err) {
        int fds[3][2];
        for (size_t i = 0; i < 3; i++)
                if (pipe2(fds[i], O_CLOEXEC) < 0) {
                        int e = -errno;
                        for (size_t j = 0; j < i; j++) {
                                close(fds[j][0]);
                                close(fds[j][1]);
                        }
                        return kerr(err, e, "console pipes");
                }
        p->child_fds[0] = fds[0][0];
        *ret_in = fds[0][1];
        p->child_fds[1] = fds[1][1];
        *ret_out = fds[1][0];
        p->child_fds[2] = fds[2][1];
        *ret_err = fds[2][0];
        return 0;
}

int vm_payload_prepare(Engine *e, const CtrRecord *rec, VmPayload *p, int *ret_in, int *ret_out, int *ret_err,
                       KError **err) {
        vm_payload_done(p);
        int r = vm_config_from_json(rec->config, &p->cfg, err);
        if (r < 0 || (r = vm_payload_boot_limits(p, rec->config, err)) < 0)
                return kerr_prefix(err, r, "VM %s", rec->name);
        _cleanup_free_ char *vmm = vm_vmm_binary();
        if (!vmm)
                return kerr(err, -ENOMEM, "kapsel-vmm");
        _cleanup_(net_attachment_freep) NetAttachment *a = NULL;
        if ((r = attach_tap(e, rec, p->cfg.network ?: NET_DEFAULT_NETWORK, &a, err)) < 0)
                return r;
        const char *kvm = getenv("KAPSEL_KVM_DEVICE");
        /* the MAC in virtio-net's config space is the guest's own: a resumed driver that reads it
         * again must find the one it had (the tap translates the outside one) */
        VmLaunch l = { .vmm = vmm, .control = VM_CONTROL_SOCKET, .tap = a ? a->ifname : NULL, .mac = a ? a->guest_mac : NULL,
                       .kernel_ip_arg = a ? a->kernel_ip_arg : NULL, .kvm_device = kvm && *kvm ? kvm : NULL,
                       .restore = vm_snapshot_restore_dir(rec->config), .incoming = vm_incoming_listen(rec->config),
                       .migration_token = vm_incoming_token(rec->config) };
        if ((r = vm_config_vmm_argv(&p->cfg, &l, &p->argv, err)) < 0)
                return r;
        return vm_payload_pipes(p, ret_in, ret_out, ret_err, err);
}

int vm_payload_spawn(VmPayload *p, const char *dir, pid_t *ret_pid, KError **err) {
        _cleanup_close_ int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return kerr(err, -errno, "open %s", dir);
        (void) unlinkat(dirfd, VM_CONTROL_SOCKET, 0);   /* a stale one from a killed run */
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0)
                return kerr(err, -errno, "fork kapsel-vmm");
        if (pid == 0) {
                /* the monitor blocks the signals it reads through signalfd: kapsel-vmm gets a clean mask */
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                if (fchdir(dirfd) < 0 || dup2(p->child_fds[0], 0) < 0 || dup2(p->child_fds[1], 1) < 0 ||
                    dup2(p->child_fds[2], 2) < 0)
                        _exit(127);
                /* fd 3 may already be it (dup2 to itself keeps FD_CLOEXEC): clear the flag either way */
                if (p->child_fds[3] >= 0 && (dup2(p->child_fds[3], VM_AGENT_CHILD_FD) < 0 ||
                                             fcntl(VM_AGENT_CHILD_FD, F_SETFD, 0) < 0))
                        _exit(127);
                execv(p->argv[0], p->argv);
                dprintf(2, "kapsel-monitor: exec %s: %s\n", p->argv[0], strerror(errno));
                _exit(127);
        }
        for (size_t i = 0; i < ELEMENTSOF(p->child_fds); i++)
                p->child_fds[i] = safe_close(p->child_fds[i]);
        *ret_pid = pid;
        /* this life's watchdog (a restart boots again) */
        p->booted = p->boot_timed_out = p->err_line_done = false;
        p->tail_len = p->err_len = 0;
        p->error[0] = 0;
        p->boot_timer_fd = safe_close(p->boot_timer_fd);
        if (p->boot_timeout > 0) {
                p->boot_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
                struct itimerspec its = { .it_value = { .tv_sec = p->boot_timeout } };
                if (p->boot_timer_fd < 0 || timerfd_settime(p->boot_timer_fd, 0, &its, NULL) < 0)
                        return kerr(err, -errno, "the boot watchdog's timer");
        }
        return 0;
}

int vm_payload_boot_limits(VmPayload *p, const json_t *config, KError **err) {
        const json_t *host = json_object_get(config, "HostConfig"), *t = json_object_get(host, "VmBootTimeout");
        const char *ready = json_string_value(json_object_get(host, "VmBootReady"));
        p->boot_timeout = json_is_integer(t) && json_integer_value(t) >= 0 ? (int) json_integer_value(t)
                                                                           : VM_BOOT_TIMEOUT_DEFAULT;
        free(p->boot_ready);
        p->boot_ready = ready && *ready ? strdup(ready) : NULL;
        return ready && *ready && !p->boot_ready ? kerr(err, -ENOMEM, "boot watchdog") : 0;
}

void vm_payload_console(VmPayload *p, const char *buf, size_t n, bool marks_boot) {
        if (n >= sizeof(p->tail)) {
                buf += n - sizeof(p->tail);
                n = sizeof(p->tail);
        }
        if (p->tail_len + n > sizeof(p->tail)) {
                size_t drop = p->tail_len + n - sizeof(p->tail);
                memmove(p->tail, p->tail + drop, p->tail_len - drop);
                p->tail_len -= drop;
        }
        memcpy(p->tail + p->tail_len, buf, n);
        p->tail_len += n;
        if (marks_boot && n > 0 && !p->booted)
                p->booted = !p->boot_ready || memmem(p->tail, p->tail_len, p->boot_ready, strlen(p->boot_ready));
}

void vm_payload_stderr(VmPayload *p, const char *buf, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (buf[i] == '\n' || buf[i] == '\r') {
                        p->err_line_done = p->err_len > 0 || p->err_line_done;
                        continue;
                }
                if (p->err_line_done)
                        p->err_len = 0;
                p->err_line_done = false;
                if (p->err_len < sizeof(p->err_line) - 1)
                        p->err_line[p->err_len++] = buf[i];
        }
        p->err_line[p->err_len] = 0;
}

void vm_payload_booted(VmPayload *p) {
        p->booted = true;
}

/* The tail's last `lines` lines, each indented, into msg (after what is there). */
static void tail_lines(const VmPayload *p, unsigned lines, char *msg, size_t size) {
        size_t start = p->tail_len, used = strlen(msg);
        while (start > 0 && (p->tail[start - 1] == '\n' || p->tail[start - 1] == '\r'))
                start--;
        size_t end = start;
        for (unsigned seen = 0; start > 0; start--)
                if (p->tail[start - 1] == '\n' && ++seen == lines)
                        break;
        for (size_t i = start; i < end && used + 8 < size;) {
                size_t eol = i;
                while (eol < end && p->tail[eol] != '\n')
                        eol++;
                int len = (int) (eol - i);
                while (len > 0 && p->tail[i + (size_t) len - 1] == '\r')
                        len--;
                int w = snprintf(msg + used, size - used, "  | %.*s\n", len, p->tail + i);
                size_t next = w > 0 && (size_t) w < size - used ? used + (size_t) w : size - 1;
                /* the guest's bytes reach the user's terminal: no control sequences */
                for (size_t c = used + 4; c + 1 < next; c++)
                        if ((unsigned char) msg[c] < 0x20 ? msg[c] != '\t' : msg[c] == 0x7f)
                                msg[c] = '?';
                used = next;
                i = eol + 1;
        }
}

bool vm_payload_boot_expired(VmPayload *p, char *msg, size_t size) {
        uint64_t ticks;
        (void) !read(p->boot_timer_fd, &ticks, sizeof(ticks));
        p->boot_timer_fd = safe_close(p->boot_timer_fd);        /* one-shot: out of the epoll with it */
        if (p->booted || size == 0)
                return false;
        p->boot_timed_out = true;
        char why[200];
        if (!p->tail_len)
                snprintf(why, sizeof(why), "the guest printed nothing on its console");
        else if (p->boot_ready)
                snprintf(why, sizeof(why), "its console did not show \"%.120s\"", p->boot_ready);
        else
                snprintf(why, sizeof(why), "the guest's kernel did not reach kapsel's init");
        snprintf(p->error, sizeof(p->error), "the VM did not boot within %d s (--boot-timeout): kapsel-vmm was "
                 "stopped; %s", p->boot_timeout, why);
        snprintf(msg, size, "kapsel: %s%s\n", p->error, p->tail_len ? ". The console's last lines:" : "");
        tail_lines(p, 15, msg, size);
        return true;
}

int vm_payload_exit_code(VmPayload *p, int status, bool guest, int guest_code, bool stop_requested) {
        if (guest && guest_code >= 0)
                return guest_code;
        if (p->boot_timed_out)
                return 125;
        if (WIFSIGNALED(status)) {
                int sig = WTERMSIG(status);
                if (!stop_requested)
                        snprintf(p->error, sizeof(p->error), "kapsel-vmm killed by SIG%s", sigabbrev_np(sig) ?: "?");
                return 128 + sig;
        }
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        if (guest && stop_requested)
                return 137;     /* stopped before the process reported its exit */
        if (code == 0 && !guest)
                return 0;       /* the guest powered off */
        if (code == 0)
                snprintf(p->error, sizeof(p->error), "the guest ended before its process reported an exit status");
        else {
                const char *line = p->err_line;
                if (startswith(line, "kapsel-vmm: "))
                        line += strlen("kapsel-vmm: ");
                snprintf(p->error, sizeof(p->error), "kapsel-vmm failed (exit status %d)%s%s", code,
                         *line ? ": " : "", line);
        }
        return 125;
}
