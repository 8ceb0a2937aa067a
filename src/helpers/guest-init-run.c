/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-guest-init: the process. It is forked into a mount namespace of its own whose root is
 * the overlay (switch_root's move + chroot: pivot_root cannot leave the initramfs), gets
 * /dev/hvc0 as stdin/stdout/stderr, the config's rlimits, groups, ids, umask, cwd and env (OCI
 * runtime-spec config.md "process"), and execs. Init forwards signals to it and reaps orphans. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "guest-init.h"
#include "string-util.h"

extern char **environ;

static const struct {
        const char *name;
        int resource;
} rlimit_names[] = {
        { "RLIMIT_AS", RLIMIT_AS },           { "RLIMIT_CORE", RLIMIT_CORE },
        { "RLIMIT_CPU", RLIMIT_CPU },         { "RLIMIT_DATA", RLIMIT_DATA },
        { "RLIMIT_FSIZE", RLIMIT_FSIZE },     { "RLIMIT_LOCKS", RLIMIT_LOCKS },
        { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
        { "RLIMIT_NICE", RLIMIT_NICE },       { "RLIMIT_NOFILE", RLIMIT_NOFILE },
        { "RLIMIT_NPROC", RLIMIT_NPROC },     { "RLIMIT_RSS", RLIMIT_RSS },
        { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },   { "RLIMIT_RTTIME", RLIMIT_RTTIME },
        { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_STACK", RLIMIT_STACK },
};

_Static_assert(ELEMENTSOF(rlimit_names) <= GUEST_MAX_RLIMITS, "ProcSpec.rl holds every rlimit");

_noreturn_ void guest_child_fail(int pipe_fd, int code, const char *what, int e) {
        ChildError ce = { .code = code };
        snprintf(ce.msg, sizeof(ce.msg), "%s: %s", what, strerror(e));
        dprintf(2, "kapsel: %s\n", ce.msg);
        (void) write_all(pipe_fd, &ce, sizeof(ce));
        _exit(code);
}

static char **strv_from_json(json_t *a, bool need_one) {
        size_t n = json_array_size(a), i;
        json_t *s;
        if (need_one && n == 0)
                guest_fail(125, "config: args must not be empty");
        char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                guest_fail(125, "out of memory");
        json_array_foreach(a, i, s)
                if (!json_is_string(s) || !(v[i] = strdup(json_string_value(s))))
                        guest_fail(125, "config: args and env must be strings");
        return v;
}

static int rlimit_resource(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(rlimit_names); i++)
                if (streq(rlimit_names[i].name, name))
                        return rlimit_names[i].resource;
        guest_fail(125, "config: unknown rlimit %s", name);
}

static void decode_spec(json_t *cfg, ProcSpec *p) {
        json_t *user = json_object_get(cfg, "user"), *o;
        size_t i;
        *p = (ProcSpec) { .umask = 022 };
        p->args = strv_from_json(json_object_get(cfg, "args"), true);
        p->env = strv_from_json(json_object_get(cfg, "env"), false);
        p->cwd = json_string_value(json_object_get(cfg, "cwd"));
        p->uid = (uid_t) json_integer_value(json_object_get(user, "uid"));
        p->gid = (gid_t) json_integer_value(json_object_get(user, "gid"));
        if (json_is_integer(json_object_get(user, "umask")))
                p->umask = (mode_t) json_integer_value(json_object_get(user, "umask")) & 0777;
        p->terminal = json_is_true(json_object_get(cfg, "terminal"));
        json_array_foreach(json_object_get(user, "additionalGids"), i, o) {
                if (p->n_gids >= ELEMENTSOF(p->gids))
                        guest_fail(125, "config: too many additionalGids");
                p->gids[p->n_gids++] = (gid_t) json_integer_value(o);
        }
        json_array_foreach(json_object_get(cfg, "rlimits"), i, o) {
                if (p->n_rl >= ELEMENTSOF(p->rl))
                        guest_fail(125, "config: too many rlimits");
                const char *type = json_string_value(json_object_get(o, "type"));
                p->rl[p->n_rl].res = rlimit_resource(type ? type : "?");
                p->rl[p->n_rl].lim.rlim_cur = (rlim_t) json_integer_value(json_object_get(o, "soft"));
                p->rl[p->n_rl].lim.rlim_max = (rlim_t) json_integer_value(json_object_get(o, "hard"));
                p->n_rl++;
        }
}

/* Move an fd to >= 3 (close-on-exec), so dup2() onto 0..2 cannot clobber another one. */
static int fd_above_stdio(int fd, int pipe_fd) {
        int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (n < 0)
                guest_child_fail(pipe_fd, 125, "set up stdio", errno);
        return n;
}

void guest_child_stdio(int in, int out, int err, int pipe_fd) {
        int fds[3] = { fd_above_stdio(in, pipe_fd), fd_above_stdio(out, pipe_fd), fd_above_stdio(err, pipe_fd) };
        for (int i = 0; i < 3; i++)
                if (dup2(fds[i], i) < 0)
                        guest_child_fail(pipe_fd, 125, "set up stdio", errno);
}

_noreturn_ void guest_child_exec(const ProcSpec *p, int pipe_fd) {
        for (size_t i = 0; i < p->n_rl; i++)
                if (setrlimit(p->rl[i].res, &p->rl[i].lim) < 0)
                        guest_child_fail(pipe_fd, 125, "setrlimit", errno);
        if (setgroups(p->n_gids, p->gids) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0)
                guest_child_fail(pipe_fd, 125, "set user", errno);
        umask(p->umask);
        if (p->cwd && chdir(p->cwd) < 0)
                guest_child_fail(pipe_fd, 125, p->cwd, errno);
        environ = p->env;
        execvp(p->args[0], p->args);
        int e = errno;
        char what[200];
        snprintf(what, sizeof(what), "exec %s", p->args[0]);
        guest_child_fail(pipe_fd, e == ENOENT ? 127 : 126, what, e);
}

/* The main process: a mount namespace of its own rooted at the overlay, stdio on hvc0. */
static _noreturn_ void main_child(const ProcSpec *p, int hvc, int pipe_fd) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        if (unshare(CLONE_NEWNS) < 0 || chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
            chroot(".") < 0 || chdir("/") < 0)
                guest_child_fail(pipe_fd, 125, "enter the container root", errno);
        guest_child_stdio(hvc, hvc, hvc, pipe_fd);
        if (p->terminal)
                (void) ioctl(0, TIOCSCTTY, 0);
        guest_child_exec(p, pipe_fd);
}

/* "KAPSEL-SIGNAL <n>" lines from the host; anything else on the console is ignored. */
static void console_input(int console_fd, char *buf, size_t *len, size_t size, pid_t child) {
        ssize_t n = read(console_fd, buf + *len, size - 1 - *len);
        if (n <= 0)
                return;
        *len += (size_t) n;
        buf[*len] = 0;
        char *nl;
        while ((nl = memchr(buf, '\n', *len)) || (nl = memchr(buf, '\r', *len))) {
                *nl = 0;
                const char *arg = strstr(buf, "KAPSEL-SIGNAL ");
                char *end = NULL;
                long sig = arg ? strtol(arg + STRLEN("KAPSEL-SIGNAL "), &end, 10) : 0;
                if (arg && end && (*end == 0 || *end == '\r') && sig > 0 && sig < NSIG)
                        kill(child, (int) sig);
                size_t used = (size_t) (nl - buf) + 1;
                memmove(buf, nl + 1, *len - used);
                *len -= used;
                buf[*len] = 0;
        }
        if (*len >= size - 1)   /* a line too long to be ours */
                *len = 0;
}

#define MAX_POLLFDS 256

/* A signal init got: SIGCHLD reaps (the main process's end is returned as its exit code, exec'd
 * processes go to the agent, orphans are dropped); anything else is forwarded to the main
 * process, except a SIGPIPE init raised itself (an exec'd process closed its stdin). */
static bool handle_signal(int sfd, pid_t child, GuestAgent *agent, int *ret_code) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) != sizeof(si))
                return false;
        if (si.ssi_signo == SIGPIPE && si.ssi_pid == (uint32_t) getpid())
                return false;
        if (si.ssi_signo != SIGCHLD) {
                kill(child, (int) si.ssi_signo);
                return false;
        }
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
                if (p == child) {
                        *ret_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
                        return true;
                }
                if (agent)
                        (void) guest_agent_reaped(agent, p, status);
        }
        return false;
}

/* Init's one event loop: signals, the console (KAPSEL-SIGNAL lines) and the exec agent. */
static int wait_child(int sfd, int console_fd, pid_t child, GuestAgent *agent) {
        char line[128];
        size_t len = 0;
        int code = 0;
        for (;;) {
                struct pollfd pfd[MAX_POLLFDS] = { { sfd, POLLIN, 0 }, { console_fd, POLLIN, 0 } };
                size_t n = agent ? guest_agent_pollfds(agent, pfd + 2, MAX_POLLFDS - 2) : 0;
                if (poll(pfd, 2 + n, -1) < 0)
                        continue;
                if (console_fd >= 0 && (pfd[1].revents & POLLIN))
                        console_input(console_fd, line, &len, sizeof(line), child);
                if (agent)
                        guest_agent_dispatch(agent, pfd + 2, n);
                if ((pfd[0].revents & POLLIN) && handle_signal(sfd, child, agent, &code))
                        return code;
        }
}

int guest_run(json_t *cfg, int console_fd) {
        ProcSpec spec;
        decode_spec(cfg, &spec);
        int hvc = open("/dev/hvc0", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (hvc < 0)
                guest_fail(125, "open /dev/hvc0: %s", strerror(errno));
        if (!spec.terminal)
                guest_set_raw(hvc);
        bool agent_on = json_is_true(json_object_get(cfg, "agent"));
        if (agent_on)
                guest_wait_for(VM_AGENT_DEVICE);        /* before the process starts: fail early */
        int errpipe[2];
        sigset_t fwd;
        sigfillset(&fwd);
        sigdelset(&fwd, SIGKILL);
        sigdelset(&fwd, SIGSTOP);
        sigprocmask(SIG_BLOCK, &fwd, NULL);
        int sfd = signalfd(-1, &fwd, SFD_CLOEXEC);
        if (sfd < 0 || pipe2(errpipe, O_CLOEXEC) < 0)
                guest_fail(125, "signalfd/pipe: %s", strerror(errno));
        pid_t child = fork();
        if (child < 0)
                guest_fail(125, "fork: %s", strerror(errno));
        if (child == 0) {
                close(errpipe[0]);
                main_child(&spec, hvc, errpipe[1]);
        }
        close(errpipe[1]);
        close(hvc);
        guest_marker("KAPSEL-STARTED %d", (int) child);
        ChildError ce;
        if (read_exact(errpipe[0], &ce, sizeof(ce)) >= 0) {
                ce.msg[sizeof(ce.msg) - 1] = 0;
                guest_marker("KAPSEL-ERROR %s", ce.msg);
        }
        close(errpipe[0]);
        GuestAgent *agent = agent_on ? guest_agent_new(&spec, child) : NULL;
        int code = wait_child(sfd, console_fd, child, agent);
        guest_agent_free(agent);
        close(sfd);
        guest_spec_done(&spec);
        return code;
}
