/* SPDX-License-Identifier: Apache-2.0 */
/* exec: a new process inside a running container, and the signal-forwarding wait that `run`
 * and `exec` share.
 *
 * The runtime forks a helper that joins the container's namespaces (user first); the helper
 * clones the final process with CLONE_PARENT, so it is our child (we can wait for it) and, the
 * pid namespace being joined, it is inside the container's pid namespace. It is in the
 * container's cgroup before it does anything: on v1 it moves itself there first thing after GO
 * (through `tasks` files we opened: cgroup_join_prepare), on v2 (and for --cgroup) we move it
 * before GO. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "container.h"
#include "fd-util.h"
#include "init.h"
#include "log.h"
#include "path-util.h"
#include "security.h"
#include "state.h"
#include "string-util.h"
#include "terminal.h"

static int load_config(const char *root, const char *id, int *ret_dirfd, ContainerState **ret_state,
                       Spec **ret_spec, KError **err) {
        _cleanup_close_ int dirfd = state_dir_open(root, id, err);
        if (dirfd < 0)
                return dirfd;
        _cleanup_(container_state_freep) ContainerState *s = NULL;
        int r = state_load(dirfd, id, &s, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        r = read_full_file_at(dirfd, "config.json", 16 << 20, &text, NULL);
        if (r < 0)
                return kerr(err, r, "read the stored config of \"%s\"", id);
        r = spec_parse(text, strlen(text), "config.json (stored)", ret_spec, err);
        if (r < 0)
                return r;
        *ret_state = TAKE_PTR(s);
        if (ret_dirfd)
                *ret_dirfd = TAKE_FD(dirfd);
        return 0;
}

int container_exec_base_process(const char *root, const char *id, SpecProcess **ret, KError **err) {
        _cleanup_(container_state_freep) ContainerState *s = NULL;
        _cleanup_(spec_freep) Spec *spec = NULL;
        int r = load_config(root, id, NULL, &s, &spec, err);
        if (r < 0)
                return r;
        if (!spec->process)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "the stored config of \"%s\" has no process", id);
        *ret = TAKE_PTR(spec->process);
        return 0;
}

/* setns order for exec: user first; mount last but before pid (pid only affects children). */
static const SpecNsType exec_ns_order[] = { NS_USER, NS_IPC, NS_UTS, NS_NETWORK, NS_CGROUP, NS_TIME, NS_MOUNT, NS_PID };

static int open_ns_fds(pid_t pid, const Spec *spec, int fds[_NS_TYPE_MAX], KError **err) {
        static const char *const proc_names[_NS_TYPE_MAX] = {
                [NS_PID] = "pid", [NS_NETWORK] = "net", [NS_MOUNT] = "mnt", [NS_IPC] = "ipc",
                [NS_UTS] = "uts", [NS_USER] = "user", [NS_CGROUP] = "cgroup", [NS_TIME] = "time",
        };
        for (int i = 0; i < _NS_TYPE_MAX; i++)
                fds[i] = -1;
        for (size_t i = 0; spec->has_linux && i < spec->linux_.n_namespaces; i++) {
                SpecNsType t = spec->linux_.namespaces[i].type;
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int) pid, proc_names[t]);
                fds[t] = open(path, O_RDONLY | O_CLOEXEC);
                if (fds[t] < 0)
                        return kerr(err, -errno, "open %s", path);
        }
        return 0;
}

typedef struct ExecChildArgs {
        const ExecOptions *o;
        const Spec *spec;
        int ns_fds[_NS_TYPE_MAX];
        int root_fd;            /* the container's root, when it has no mount namespace to join */
        int sync_fd;            /* child end: receives GO, reports errors */
        int agent_fd;           /* seccomp agent connection (SCMP_ACT_NOTIFY), or -1 */
        CgroupJoin *cgroup_join;        /* v1: the cgroup's tasks files, to join first; or NULL */
        const char *cwd;
} ExecChildArgs;

static int exec_child_setup(ExecChildArgs *a, KError **err) {
        const SpecProcess *p = a->o->process;
        uint32_t type;
        int r = sync_recv(a->sync_fd, &type, NULL);
        if (r < 0 || type != SYNC_GO)
                _exit(1);
        if (a->cgroup_join && (r = cgroup_join_self(a->cgroup_join, err)) < 0)
                return r;
        /* A session of its own (see container_init): the caller's terminal is not its ctty. */
        if (setsid() < 0)
                return kerr(err, -errno, "setsid");
        if (p->terminal) {
                _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                int slave = -1;
                _cleanup_close_ int master = terminal_open_pty(root, p->user.uid, &slave, err);
                if (master < 0)
                        return master;
                if (p->has_console_size && (r = terminal_set_size(master, p->console_height, p->console_width, err)) < 0)
                        return r;
                if ((r = terminal_send_master(a->o->console_fd, master, err)) < 0)
                        return r;
                if ((r = terminal_become_stdio(slave, err)) < 0)
                        return r;
                safe_close(slave);
        }
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int cwd = root < 0 ? -errno : open_in_root(root, p->cwd, O_PATH | O_DIRECTORY, 0);
        if (cwd < 0)
                return kerr_kind(err, KERR_CONFIG, cwd, "process.cwd \"%s\" in the container", p->cwd);
        if (fchdir(cwd) < 0)
                return kerr(err, -errno, "chdir to \"%s\"", p->cwd);
        if ((r = rlimits_apply(p->rlimits, p->n_rlimits, err)) < 0)
                return r;
        log_debug("setns_init: about to exec the process");
        SeccompAgent agent = { .fd = a->agent_fd, .pid = getpid() };
        return process_exec(p, a->spec->has_linux ? a->spec->linux_.seccomp : NULL, &agent, a->o->preserve_fds, err);
}

/* The helper: join the namespaces, clone the final process as our parent's child, report its
 * pid, exit. Runs in a forked child; never returns. */
_noreturn_ static void exec_helper(ExecChildArgs *a, int pid_pipe) {
        _cleanup_kerr_ KError *err = NULL;
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        log_debug("child process in init(): join the namespaces of the container");
        for (size_t i = 0; i < ELEMENTSOF(exec_ns_order); i++) {
                int fd = a->ns_fds[exec_ns_order[i]];
                if (fd >= 0 && setns(fd, 0) < 0) {
                        kerr(&err, -errno, "join the container's %s namespace",
                             spec_ns_type_to_string(exec_ns_order[i]));
                        sync_fail(a->sync_fd, err, 1);
                }
        }
        if (a->root_fd >= 0 && (fchdir(a->root_fd) < 0 || chroot(".") < 0)) {
                kerr(&err, -errno, "chroot into the container's root");
                sync_fail(a->sync_fd, err, 1);
        }
        pid_t pid = (pid_t) syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid < 0) {
                kerr(&err, -errno, "clone the exec'd process");
                sync_fail(a->sync_fd, err, 1);
        }
        if (pid == 0) {
                (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
                int r = exec_child_setup(a, &err);
                sync_fail(a->sync_fd, err, r == -ENOENT ? 127 : 126);
        }
        _exit(write(pid_pipe, &pid, sizeof(pid)) == sizeof(pid) ? 0 : 1);
}

static int exec_check_state(const char *id, int dirfd, const ContainerState *s, bool ignore_paused, KError **err) {
        ContainerStatus st = state_status(dirfd, s);
        if (st == STATUS_PAUSED && !ignore_paused)
                return kerr_msg(err, KERR_STATE, -EINVAL, "cannot exec in a paused container (\"%s\"): resume it, "
                                "or pass --ignore-paused to start the process once it is resumed", id);
        if (st != STATUS_RUNNING && st != STATUS_CREATED && st != STATUS_PAUSED)
                return kerr_msg(err, KERR_STATE, -EINVAL, "cannot exec in container \"%s\": it is %s", id,
                                container_status_to_string(st));
        return 0;
}

int container_exec(const ExecOptions *o, int *ret_status, KError **err) {
        _cleanup_close_ int dirfd = -1, console = -1, pid_pipe_r = -1;
        _cleanup_(container_state_freep) ContainerState *s = NULL;
        _cleanup_(spec_freep) Spec *spec = NULL;
        ExecChildArgs a = { .o = o, .root_fd = -1, .sync_fd = -1, .agent_fd = -1 };
        _cleanup_close_ int agent = -1;
        _cleanup_(cgroup_join_freep) CgroupJoin *join = NULL;
        int sp[2] = { -1, -1 }, pp[2];
        pid_t helper = -1, pid = -1;
        int r = load_config(o->root, o->id, &dirfd, &s, &spec, err);
        if (r < 0)
                return r;
        if ((r = exec_check_state(o->id, dirfd, s, o->ignore_paused, err)) < 0)
                return r;
        a.spec = spec;
        if (o->process->terminal && !spec_namespace(spec, NS_MOUNT))
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "exec -t: container \"%s\" has no mount namespace of its own, "
                                "so no /dev/pts for a terminal; run the process without -t", o->id);
        if (o->process->terminal && o->console_fd < 0) {
                if (!o->console_socket)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "a terminal was asked: pass --console-socket");
                console = terminal_connect_socket(o->console_socket, err);
                if (console < 0)
                        return console;
        }
        ExecOptions local = *o;
        if (console >= 0)
                local.console_fd = console;
        a.o = &local;
        if ((r = open_ns_fds(s->pid, spec, a.ns_fds, err)) < 0)
                goto out;
        if (a.ns_fds[NS_MOUNT] < 0) {
                /* no mount namespace: the container is chrooted; so is what we exec */
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/root", (int) s->pid);
                if ((a.root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
                        r = kerr(err, -errno, "open %s", path);
                        goto out;
                }
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0 || pipe2(pp, O_CLOEXEC) < 0) {
                r = kerr(err, -errno, "socketpair");
                goto out;
        }
        pid_pipe_r = pp[0];
        if ((r = seccomp_listener_connect(spec->has_linux ? spec->linux_.seccomp : NULL, &agent, err)) < 0)
                goto out;
        a.agent_fd = agent;
        if (s->cgroup_path && s->cgroup_mode == CGROUP_MODE_V1 && !(o->cgroup_subs && o->cgroup_subs[0])) {
                _cleanup_(cgroup_freep) Cgroup *cg = NULL;
                if ((r = cgroup_open("/sys/fs/cgroup", s->cgroup_mode, s->cgroup_path, &cg, err)) < 0 ||
                    (r = cgroup_join_prepare(cg, &join, err)) < 0)
                        goto out;
                a.cgroup_join = join;
        }
        log_debug("nsexec container setup: enter container \"%s\"", o->id);
        helper = fork();
        if (helper < 0) {
                r = kerr(err, -errno, "fork");
                goto out;
        }
        if (helper == 0) {
                safe_close(sp[0]);
                a.sync_fd = sp[1];
                exec_helper(&a, pp[1]);
        }
        close(pp[1]);
        sp[1] = safe_close(sp[1]);
        bool self_join = join;
        cgroup_join_free(TAKE_PTR(join));       /* the process has its own copies */
        a.cgroup_join = NULL;
        /* The pid first: the helper is reaped once the process is released, not before (its
         * exit is on nobody's path). On failure it has exited or is exiting. */
        if (read(pid_pipe_r, &pid, sizeof(pid)) != sizeof(pid)) {
                pid = -1;
                (void) waitpid(helper, NULL, 0);
                helper = -1;
                uint32_t type;
                if (sync_recv(sp[0], &type, NULL) >= 0 && type == SYNC_ERROR) {
                        KError *child = NULL;
                        if (kerr_recv(sp[0], &child) >= 0 && err && !*err)
                                *err = child;
                        else
                                kerr_free(child);
                }
                r = kerr(err, -ECHILD, "exec in \"%s\": could not enter the container", o->id);
                goto out;
        }
        if (s->cgroup_path && !self_join) {
                _cleanup_(cgroup_freep) Cgroup *cg = NULL;
                r = cgroup_open("/sys/fs/cgroup", s->cgroup_mode, s->cgroup_path, &cg, err);
                if (r >= 0)
                        r = cgroup_enter_sub(cg, pid, o->cgroup_subs, err);
                if (r < 0)
                        goto out;
        }
        if (o->pid_file) {
                char buf[32];
                int n = snprintf(buf, sizeof(buf), "%d", (int) pid);
                r = write_file_atomic_at(AT_FDCWD, o->pid_file, buf, (size_t) n, 0644);
                if (r < 0) {
                        kerr(err, r, "write --pid-file '%s'", o->pid_file);
                        goto out;
                }
        }
        if ((r = sync_send(sp[0], SYNC_GO, NULL)) < 0) {
                kerr(err, r, "release the exec'd process");
                goto out;
        }
        (void) waitpid(helper, NULL, 0);
        helper = -1;
        uint32_t type;
        r = sync_recv(sp[0], &type, NULL);
        if (r == 0 && type == SYNC_ERROR) {
                KError *child = NULL;
                r = kerr_recv(sp[0], &child);
                if (r >= 0 && err && !*err)
                        *err = child;
                else
                        kerr_free(child);
                r = kerr_prefix(err, child ? child->code : -EIO, "exec in \"%s\"", o->id);
                (void) waitpid(pid, NULL, 0);
                pid = -1;
                goto out;
        }
        r = 0;  /* EOF: the exec succeeded */
        if (o->ret_pid)
                *o->ret_pid = pid;
        if (o->detach)
                *ret_status = 0;
        else
                r = container_wait_forwarding(pid, ret_status);
        pid = -1;
out:
        if (r < 0 && pid > 0) {
                kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
        }
        if (helper > 0)
                (void) waitpid(helper, NULL, 0);
        safe_close(sp[0]);
        safe_close(sp[1]);
        for (int i = 0; i < _NS_TYPE_MAX; i++)
                safe_close(a.ns_fds[i]);
        safe_close(a.root_fd);
        return r;
}

int container_wait_forwarding(pid_t pid, int *ret_status) {
        static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
                sigaddset(&set, forwarded[i]);
        sigprocmask(SIG_BLOCK, &set, &old);
        int status = 0, r = 0;
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                siginfo_t si;
                int sig = sigwaitinfo(&set, &si);
                if (sig > 0 && sig != SIGCHLD)
                        (void) kill(pid, sig);
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
        *ret_status = status;
        return r;
}
