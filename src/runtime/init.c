/* SPDX-License-Identifier: Apache-2.0 */
/* The container's init during setup (see init.h for the protocol). Runs in the child created
 * by clone() with the new namespaces; every failure is sent to the parent, then _exit(). */
#include "init.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "hooks.h"
#include "log.h"
#include "path-util.h"
#include "rootfs.h"
#include "security.h"
#include "terminal.h"

/* setns() order: the user namespace first (it grants the capabilities for the others). */
/* A joined mount namespace comes last: setns() moves us to its root, and the rootfs is then
 * set up in it (as runc does), so root.path must name a directory seen from there. */
static const SpecNsType join_order[] = { NS_USER, NS_IPC, NS_UTS, NS_NETWORK, NS_CGROUP, NS_MOUNT };

static int join_namespaces(const Plan *p, KError **err) {
        for (size_t i = 0; i < ELEMENTSOF(join_order); i++) {
                SpecNsType t = join_order[i];
                if (!p->ns_join[t])
                        continue;
                int r = ns_join_path(t, p->ns_join[t], err);
                if (r < 0)
                        return r;
                /* Joining a user namespace: the namespaces created for us must be owned by
                 * it, so they are unshared now instead of by clone(). */
                if (t == NS_USER && p->clone_flags && unshare(p->clone_flags & ~CLONE_NEWPID) < 0)
                        return kerr(err, -errno, "unshare namespaces in the joined user namespace");
        }
        return 0;
}

static int setup_identity(const InitArgs *a, KError **err) {
        const Spec *s = a->spec;
        if (a->plan->userns) {
                /* become root of the user namespace (uid 0 must be mapped, as in every
                 * runtime); the process user is switched to later */
                if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                        return kerr_kind(err, KERR_CONFIG, -errno,
                                         "become root in the user namespace (map container uid/gid 0)");
        }
        if (a->plan->ns_new[NS_CGROUP] && unshare(CLONE_NEWCGROUP) < 0)
                return kerr(err, -errno, "unshare the cgroup namespace");
        if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
                return kerr(err, -errno, "set hostname \"%s\"", s->hostname);
        if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0)
                return kerr(err, -errno, "set domainname \"%s\"", s->domainname);
        if (!a->no_new_keyring) {
                /* A fresh anonymous session keyring: keys of the host session stay out. */
                if (syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL) < 0 &&
                    errno != ENOSYS && errno != EPERM && errno != EACCES)
                        return kerr(err, -errno, "join a new session keyring");
        }
        return 0;
}

static int setup_sysctls(const RootfsContext *ctx, const Spec *s, KError **err) {
        if (!s->has_linux || s->linux_.n_sysctl == 0)
                return 0;
        /* without a mount namespace of its own the container sees our /proc (its namespaced
         * sysctls are still its own: /proc/sys/net shows the reader's network namespace) */
        _cleanup_close_ int procfd = ctx->plan->no_mount_ns ? open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)
                                                             : open_in_root(ctx->rootfd, "/proc", O_PATH | O_DIRECTORY, 0);
        if (procfd < 0)
                return kerr(err, procfd, "linux.sysctl needs /proc mounted in the container");
        for (size_t i = 0; i < s->linux_.n_sysctl; i++) {
                int r = sysctl_apply(procfd, s->linux_.sysctl[i].key, s->linux_.sysctl[i].value, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int setup_terminal(const InitArgs *a, RootfsContext *ctx, int *ret_slave, KError **err) {
        const SpecProcess *p = a->spec->process;
        *ret_slave = -1;
        if (!p->terminal)
                return 0;
        int slave = -1;
        _cleanup_close_ int master = terminal_open_pty(ctx->rootfd, p->user.uid, &slave, err);
        if (master < 0)
                return master;
        *ret_slave = slave;
        int r = rootfs_bind_console(ctx, slave, err);
        if (r < 0)
                return r;
        if (p->has_console_size && (r = terminal_set_size(master, p->console_height, p->console_width, err)) < 0)
                return r;
        return terminal_send_master(a->console_fd, master, err);
}

static int run_hooks_in_parent(const InitArgs *a, KError **err) {
        const Spec *s = a->spec;
        if (s->n_hooks[HOOK_PRESTART] + s->n_hooks[HOOK_CREATE_RUNTIME] == 0)
                return 0;
        int r = sync_send(a->sync_fd, SYNC_HOOKS, NULL);
        if (r < 0)
                return kerr(err, r, "ask the runtime to run createRuntime hooks");
        uint32_t type;
        r = sync_recv(a->sync_fd, &type, NULL);
        if (r < 0 || type != SYNC_GO)
                return kerr(err, r < 0 ? r : -EPROTO, "wait for createRuntime hooks");
        return 0;
}

/* CVE-2024-21626: the cwd is resolved inside the new root with magic links refused, so a
 * "/proc/self/fd/N" pointing at some runtime fd cannot put the process outside its root. */
static int enter_cwd(const SpecProcess *p, KError **err) {
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return kerr(err, -errno, "open /");
        _cleanup_close_ int fd = mkdir_p_in_root(root, p->cwd, 0755);
        if (fd < 0)
                return kerr_kind(err, KERR_CONFIG, fd, "process.cwd \"%s\"", p->cwd);
        if (fchdir(fd) < 0)
                return kerr(err, -errno, "chdir to process.cwd \"%s\"", p->cwd);
        return 0;
}

static int setup_process_attrs(const SpecProcess *p, KError **err) {
        int r;
        if (p->has_oom_score_adj && (r = oom_score_adj_apply(p->oom_score_adj, err)) < 0)
                return r;
        return rlimits_apply(p->rlimits, p->n_rlimits, err);
}

static int init_setup(const InitArgs *a, const char *state_json, int *ret_slave, KError **err) {
        const Spec *s = a->spec;
        RootfsContext ctx = {
                .plan = a->plan, .cgroup_path = a->cgroup_path, .devnull_fd = -1, .rootfd = -1,
                .cgroup_ns = a->plan->ns_new[NS_CGROUP] || a->plan->ns_join[NS_CGROUP],
                .bind_fds = a->bind_fds,
        };
        int r;
        bool mounts = !a->plan->no_mount_ns;
        if ((r = join_namespaces(a->plan, err)) < 0 || (r = setup_identity(a, err)) < 0)
                return r;
        if ((r = mounts ? rootfs_prepare(&ctx, err) : rootfs_open(&ctx, err)) < 0)
                goto out;
        if (mounts && (r = rootfs_mount_all(&ctx, err)) < 0)
                goto out;
        if ((r = setup_terminal(a, &ctx, ret_slave, err)) < 0)
                goto out;
        if ((r = setup_sysctls(&ctx, s, err)) < 0)
                goto out;
        if ((r = run_hooks_in_parent(a, err)) < 0)
                goto out;
        /* createContainer hooks run in the rootfs (relative paths in them mean the image's), as
         * with runc */
        if (s->n_hooks[HOOK_CREATE_CONTAINER] > 0 && fchdir(ctx.rootfd) < 0) {
                r = kerr(err, -errno, "chdir to the rootfs for the createContainer hooks");
                goto out;
        }
        r = hooks_run(HOOK_CREATE_CONTAINER, s->hooks[HOOK_CREATE_CONTAINER], s->n_hooks[HOOK_CREATE_CONTAINER],
                      state_json, err);
        if (r < 0)
                goto out;
        if (mounts && (r = rootfs_mask_and_protect(&ctx, err)) < 0)
                goto out;
        if (s->has_linux && s->linux_.has_personality &&
            (r = personality_apply(s->linux_.personality, err)) < 0)
                goto out;
        if ((r = mounts ? rootfs_pivot(&ctx, a->no_pivot, err) : rootfs_chroot(&ctx, err)) < 0)
                goto out;
        if ((r = enter_cwd(s->process, err)) < 0 || (r = setup_process_attrs(s->process, err)) < 0)
                goto out;
        /* Fail now, before READY, when the program cannot be found: `create` reports it. */
        char *path = NULL;
        r = process_resolve_path(s->process, &path, err);
        free(path);
out:
        safe_close(ctx.rootfd);
        safe_close(ctx.devnull_fd);
        return r;
}

static int wait_for_start(const InitArgs *a, int *ret_conn, KError **err) {
        int conn;
        do
                conn = accept4(a->start_fd, NULL, NULL, SOCK_CLOEXEC);
        while (conn < 0 && errno == EINTR);
        if (conn < 0)
                return kerr(err, -errno, "wait for start");
        char go;
        if (read(conn, &go, 1) != 1) {
                close(conn);
                return kerr(err, -EPIPE, "start connection closed early");
        }
        *ret_conn = conn;
        return 0;
}

void container_init(const InitArgs *a) {
        _cleanup_kerr_ KError *err = NULL;
        _cleanup_free_ char *state_json = NULL;
        uint32_t type;
        int slave = -1, conn = -1;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        int r = sync_recv(a->sync_fd, &type, &state_json);
        if (r < 0 || type != SYNC_GO)
                _exit(1);       /* the parent is gone or failed: it cleans up */
        /* Until exec, nothing in the container may ptrace us or open our /proc files. Not before
         * GO: an unprivileged parent writes our uid_map/gid_map first, and the /proc files of a
         * non-dumpable process in a user namespace without mappings belong to the host's root.
         * Nothing of the container runs before GO, so the window exposes nothing. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        /* Into the container's cgroup before anything else (namespaces joined, mounts, hooks). */
        if (a->cgroup_join && cgroup_join_self(a->cgroup_join, &err) < 0)
                sync_fail(a->sync_fd, err, 1);
        /* A session of its own, terminal or not: with runc-style pass-through stdio the caller's
         * terminal is then not the container's controlling terminal, so TIOCSTI on it (typing
         * into the caller's shell) needs CAP_SYS_ADMIN. */
        if (setsid() < 0)
                _exit(1);
        log_debug("child process in init(): set up the container \"%s\"", a->id);

        r = init_setup(a, state_json, &slave, &err);
        if (r < 0)
                sync_fail(a->sync_fd, err, 1);
        if (slave >= 0 && terminal_become_stdio(slave, &err) < 0)
                sync_fail(a->sync_fd, err, 1);
        safe_close(slave);
        safe_close(a->console_fd);

        /* From here the parent may exit any moment: do not die with it. */
        (void) prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
        log_debug("init: closing the pipe to signal completion (the container waits for start)");
        if (sync_send(a->sync_fd, SYNC_READY, NULL) < 0)
                _exit(1);
        safe_close(a->sync_fd);

        if (wait_for_start(a, &conn, &err) < 0)
                _exit(1);
        safe_close(a->start_fd);

        const Spec *s = a->spec;
        SeccompAgent agent = { .fd = a->agent_fd, .state_json = state_json, .pid = getpid() };
        _cleanup_free_ char *path = NULL;
        r = process_prepare(s->process, s->has_linux ? s->linux_.seccomp : NULL, &agent, a->preserve_fds, &path, &err);
        /* startContainer hooks run as the process will: its user, capabilities and seccomp */
        if (r >= 0)
                r = hooks_run(HOOK_START_CONTAINER, s->hooks[HOOK_START_CONTAINER], s->n_hooks[HOOK_START_CONTAINER],
                              state_json, &err);
        if (r >= 0)
                r = process_execve(s->process, path, &err);
        /* exec failed: tell `start`, which is waiting on the connection */
        (void) kerr_send(conn, err);
        _exit(r == -ENOENT ? 127 : 126);
}
