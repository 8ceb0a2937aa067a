/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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
}

/* A tap on the VM's network, unless --net none. */
static int attach_tap(Engine *e, const CtrRecord *rec, const char *network, NetAttachment **ret, KError **err) {
        *ret = NULL;
        if (streq(network, "none"))
                return 0;
        NetCtx *ctx;
        int r = engine_net(e, &ctx, err);
        if (r < 0)
                return r;
        NetAttachOpts o = { .network = network, .instance_id = rec->id, .instance_name = rec->name };
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
        if (r < 0)
                return kerr_prefix(err, r, "VM %s", rec->name);
        _cleanup_free_ char *vmm = vm_vmm_binary();
        if (!vmm)
                return kerr(err, -ENOMEM, "kapsel-vmm");
        _cleanup_(net_attachment_freep) NetAttachment *a = NULL;
        if ((r = attach_tap(e, rec, p->cfg.network ?: NET_DEFAULT_NETWORK, &a, err)) < 0)
                return r;
        const char *kvm = getenv("KAPSEL_KVM_DEVICE");
        VmLaunch l = { .vmm = vmm, .control = VM_CONTROL_SOCKET, .tap = a ? a->ifname : NULL, .mac = a ? a->mac : NULL,
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
        return 0;
}
