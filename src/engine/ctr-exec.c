/* SPDX-License-Identifier: Apache-2.0 */
/* exec through the runtime core, behind a proxy of our own (ctr-exec.h for why). */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "container.h"
#include "ctr-exec.h"
#include "fd-util.h"
#include "string-util.h"
#include "user.h"
#include "vm-isolation.h"
#include "vm-ops.h"

static int env_set(char ***env, const char *kv) {
        size_t klen = strcspn(kv, "=");
        for (char **p = *env; p && *p; p++)
                if (strncmp(*p, kv, klen) == 0 && (*p)[klen] == '=') {
                        char *n = strdup(kv);
                        if (!n)
                                return -ENOMEM;
                        free(*p);
                        *p = n;
                        return 0;
                }
        return strv_extend(env, kv);
}

/* The container's stored process with the request's command, environment, cwd and user. */
static int build_process(Engine *e, const CtrRecord *rec, const CtrExecRequest *req, SpecProcess **ret, KError **err) {
        SpecProcess *p = NULL;
        int r = container_exec_base_process(e->runtime_root, rec->id, &p, err);
        if (r < 0)
                return r;
        strv_free(p->args);
        p->args = NULL;
        for (char **a = req->args; a && *a; a++)
                if (strv_extend(&p->args, *a) < 0)
                        goto oom;
        for (char **kv = req->env; kv && *kv; kv++)
                if (env_set(&p->env, *kv) < 0)
                        goto oom;
        if (req->cwd) {
                free(p->cwd);
                if (!(p->cwd = strdup(req->cwd)))
                        goto oom;
        }
        p->terminal = req->tty;
        struct winsize ws;
        if (req->tty && req->in_fd >= 0 && ioctl(req->in_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
                p->has_console_size = true;
                p->console_height = ws.ws_row;
                p->console_width = ws.ws_col;
        }
        if (req->user) {
                _cleanup_free_ char *rootfs = engine_ctr_path(e, rec->id, "rootfs");
                _cleanup_close_ int rootfd = rootfs ? open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
                if (rootfd < 0) {
                        spec_process_free(p);
                        return kerr(err, rootfs ? -errno : -ENOMEM, "open the root file system of %s", rec->name);
                }
                UserIds u;
                if ((r = user_resolve(rootfd, req->user, &u, err)) < 0) {
                        spec_process_free(p);
                        return r;
                }
                p->user.uid = u.uid;
                p->user.gid = u.gid;
                user_ids_done(&u);
        }
        *ret = p;
        return 0;
oom:
        spec_process_free(p);
        return kerr(err, -ENOMEM, "exec in %s", rec->name);
}

/* The process's ends of its stdio, and ours. */
typedef struct ExecPipes {
        int child[3];           /* the process's stdin, stdout, stderr */
        int in, out, err;       /* ours: write to its stdin, read its stdout/stderr (-1: none) */
        int console[2];         /* with a terminal: [0] ours (receives the pty master), [1] the runtime's */
        int report[2];          /* the proxy's error report: [0] ours */
} ExecPipes;

static void exec_pipes_done(ExecPipes *x) {
        for (int i = 0; i < 3; i++)
                safe_close(x->child[i]);
        safe_close(x->in);
        safe_close(x->out);
        safe_close(x->err);
        for (int i = 0; i < 2; i++) {
                safe_close(x->console[i]);
                safe_close(x->report[i]);
        }
}

static int exec_pipes_open(const CtrExecRequest *req, ExecPipes *x) {
        *x = (ExecPipes) { { -1, -1, -1 }, -1, -1, -1, { -1, -1 }, { -1, -1 } };
        bool stream = !req->detach;
        int p[2];
        if (pipe2(x->report, O_CLOEXEC) < 0)
                return -errno;
        if (req->tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x->console) < 0)
                return -errno;
        /* stdin: a pipe only when the caller's stdin is asked for; else empty, as docker's /dev/null */
        if (stream && req->interactive && !req->tty) {
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                x->child[0] = p[0];
                x->in = p[1];
        } else if ((x->child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
                return -errno;
        for (int i = 1; i < 3; i++) {
                if (stream && !req->tty) {
                        if (pipe2(p, O_CLOEXEC) < 0)
                                return -errno;
                        x->child[i] = p[1];
                        *(i == 1 ? &x->out : &x->err) = p[0];
                } else if ((x->child[i] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
                        return -errno;
        }
        return 0;
}

/* The proxy (a forked child): a new session without a controlling terminal, our pipes as its only
 * descriptors, the runtime's exec; exits with the process's code, or reports the error. */
_noreturn_ static void exec_proxy(const ExecPipes *x, ExecOptions *o, const sigset_t *mask) {
        _cleanup_kerr_ KError *err = NULL;
        (void) sigprocmask(SIG_SETMASK, mask, NULL);
        (void) setsid();
        /* move what we keep above the stdio numbers, then place it */
        int keep[5] = { x->child[0], x->child[1], x->child[2], x->report[1], x->console[1] };
        for (int i = 0; i < 5; i++)
                if (keep[i] >= 0 && (keep[i] = fcntl(keep[i], F_DUPFD_CLOEXEC, 10)) < 0)
                        _exit(125);
        for (int i = 0; i < 3; i++)
                if (dup2(keep[i], i) < 0)
                        _exit(125);
        if (dup3(keep[3], 3, O_CLOEXEC) < 0 || (keep[4] >= 0 && dup3(keep[4], 4, O_CLOEXEC) < 0))
                _exit(125);
        (void) syscall(SYS_close_range, keep[4] >= 0 ? 5U : 4U, ~0U, 0U);
        if (keep[4] >= 0)
                o->console_fd = 4;
        int status = 0;
        int r = container_exec(o, &status, &err);
        if (r < 0) {
                if (!err)
                        kerr(&err, r, "exec");
                (void) kerr_send(3, err);
                _exit(125);
        }
        if (o->detach)
                _exit(0);
        _exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}

/* Copying between the caller and the process, until the proxy exited and the output is drained. */
typedef struct Relay {
        int user_in, user_out, user_err;
        int to_proc;            /* the process's stdin pipe or pty master, -1 once closed */
        int from_out, from_err; /* its stdout (or the pty master) and stderr, -1 once at EOF */
        bool tty;
        char buf[16384];
        size_t len, off;        /* caller's stdin read, not yet taken by the process */
        bool in_eof;
        const CtrExecRequest *req;      /* its input filter */
        bool detached;          /* the filter saw the detach keys */
} Relay;

/* Copy one read of `*from` to `to`; at EOF or error `*from` is closed (a pty master that shares
 * `to_proc` only stops being read). */
static void relay_output(Relay *rl, int *from, int to) {
        char buf[16384];
        ssize_t n = read(*from, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n > 0 && (to < 0 || write_all(to, buf, (size_t) n) >= 0))
                return;
        /* EOF, or the caller's end is gone: closing ours gives the process EPIPE, as a pipe would */
        if (*from != rl->to_proc)
                safe_close(*from);
        *from = -1;
}

static void relay_input(Relay *rl, short revents_in, short revents_proc) {
        if (rl->len == 0 && (revents_in & (POLLIN | POLLHUP | POLLERR))) {
                uint8_t in[sizeof(rl->buf) - 16];
                ssize_t n = read(rl->user_in, in, sizeof(in));
                if (n > 0 && rl->tty && rl->req->input_filter) {
                        size_t len = 0;
                        rl->detached = rl->req->input_filter(rl->req->input_filter_data, in, (size_t) n,
                                                             (uint8_t *) rl->buf, &len) > 0;
                        rl->len = len, rl->off = 0;
                } else if (n > 0) {
                        memcpy(rl->buf, in, (size_t) n);
                        rl->len = (size_t) n, rl->off = 0;
                } else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                        rl->in_eof = true;
        }
        if (rl->len && (revents_proc & (POLLOUT | POLLERR | POLLHUP))) {
                ssize_t n = write(rl->to_proc, rl->buf + rl->off, rl->len - rl->off);
                if (n > 0) {
                        rl->off += (size_t) n;
                        if (rl->off == rl->len)
                                rl->len = rl->off = 0;
                } else if (n < 0 && errno != EINTR && errno != EAGAIN)
                        rl->in_eof = true, rl->len = 0;
        }
        if (rl->in_eof && rl->len == 0 && !rl->tty && rl->to_proc >= 0)
                rl->to_proc = safe_close(rl->to_proc);      /* the process sees EOF */
}

static void copy_winsize(int from, int to) {
        struct winsize ws;
        if (from >= 0 && to >= 0 && ioctl(from, TIOCGWINSZ, &ws) == 0)
                (void) ioctl(to, TIOCSWINSZ, &ws);
}

static int relay_run(Relay *rl, pid_t proxy, int sfd, int *ret_status) {
        bool exited = false;
        int status = 0;
        while ((rl->from_out >= 0 || rl->from_err >= 0) && !rl->detached) {
                bool want_in = rl->user_in >= 0 && !rl->in_eof && rl->len == 0 && rl->to_proc >= 0;
                struct pollfd p[5] = {
                        { .fd = rl->from_out, .events = POLLIN },
                        { .fd = rl->from_err, .events = POLLIN },
                        { .fd = want_in ? rl->user_in : -1, .events = POLLIN },
                        { .fd = rl->len ? rl->to_proc : -1, .events = POLLOUT },
                        { .fd = sfd, .events = POLLIN },
                };
                /* once the proxy is gone, what is left is read without waiting (a background child
                 * of the process may hold the pipes open: its output is not ours to wait for) */
                int n = poll(p, 5, exited ? 0 : -1);
                if (n < 0 && errno != EINTR)
                        return -errno;
                if (n <= 0) {
                        if (exited)
                                break;
                        continue;
                }
                if (p[0].revents)
                        relay_output(rl, &rl->from_out, rl->user_out);
                if (p[1].revents)
                        relay_output(rl, &rl->from_err, rl->user_err);
                if (p[2].revents || p[3].revents)
                        relay_input(rl, p[2].revents, p[3].revents);
                if (p[4].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof(si)) != sizeof(si))
                                continue;
                        if (si.ssi_signo == SIGWINCH) {
                                if (rl->tty)
                                        copy_winsize(rl->user_in, rl->to_proc);
                        } else if (si.ssi_signo != SIGCHLD)
                                (void) kill(proxy, (int) si.ssi_signo);
                        if (!exited && waitpid(proxy, &status, WNOHANG) == proxy)
                                exited = true;
                }
        }
        if (rl->detached) {
                if (rl->len) {          /* what was typed before the keys: the pty takes it whole */
                        (void) fcntl(rl->to_proc, F_SETFL, fcntl(rl->to_proc, F_GETFL) & ~O_NONBLOCK);
                        (void) write_all(rl->to_proc, rl->buf + rl->off, rl->len - rl->off);
                }
                return 0;
        }
        if (!exited && waitpid(proxy, &status, 0) < 0)
                return -errno;
        *ret_status = status;
        return 0;
}

/* After a detach: a session of its own that drains the pty master until the process closes its
 * terminal, so the process neither blocks on a full pty nor gets a hangup. It keeps nothing of the
 * caller's: /dev/null as stdio, no other descriptor but the master, the caller's signal mask
 * (`old`: ctr_exec blocks the signals it forwards). */
static int hold_master(int master, const sigset_t *old) {
        /* The caller returns only once the holder has its own session and ignores SIGHUP: when the
         * caller (the leader of the user's terminal session) exits, the kernel hangs up that
         * terminal's foreground group, which a holder that had not run yet still belonged to; it
         * died, the master closed, and the detached process got a hangup too. */
        int ready[2];
        if (pipe2(ready, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                safe_close(ready[0]);
                safe_close(ready[1]);
                return r;
        }
        if (pid > 0) {
                char c;
                safe_close(ready[1]);
                while (read(ready[0], &c, 1) < 0 && errno == EINTR)
                        ;
                safe_close(ready[0]);
                return 0;
        }
        (void) setsid();
        (void) signal(SIGHUP, SIG_IGN);
        (void) sigprocmask(SIG_SETMASK, old, NULL);     /* a hangup queued while blocked is ignored */
        safe_close(ready[0]);
        safe_close(ready[1]);                           /* the caller may go now */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
            (master != 3 && dup3(master, 3, O_CLOEXEC) < 0))  /* dup3 refuses the same fd twice */
                _exit(1);
        (void) syscall(SYS_close_range, 4U, ~0U, 0U);
        (void) fcntl(3, F_SETFL, fcntl(3, F_GETFL) & ~O_NONBLOCK);
        char buf[4096];
        while (read(3, buf, sizeof(buf)) > 0 || errno == EINTR)
                ;
        _exit(0);
}

static int exec_stream(const CtrExecRequest *req, ExecPipes *x, pid_t proxy, int sfd, const sigset_t *old,
                       int *ret_status, KError **err) {
        _cleanup_close_ int master = -1;
        if (req->tty) {
                char name[16];
                if (recv_fd(x->console[0], &master, name, sizeof(name)) < 0 || master < 0)
                        master = -1;    /* the exec failed: the proxy reports why */
        }
        Relay rl = { .user_in = req->interactive ? req->in_fd : -1, .user_out = req->out_fd,
                     .user_err = req->err_fd, .tty = req->tty, .req = req };
        if (req->tty) {
                rl.to_proc = rl.from_out = master;
                rl.from_err = -1;
        } else {
                rl.to_proc = TAKE_FD(x->in);
                rl.from_out = TAKE_FD(x->out);
                rl.from_err = TAKE_FD(x->err);
        }
        if (rl.to_proc >= 0)
                (void) fcntl(rl.to_proc, F_SETFL, fcntl(rl.to_proc, F_GETFL) | O_NONBLOCK);
        struct termios saved;
        bool raw = req->tty && req->interactive && req->in_fd >= 0 && isatty(req->in_fd) &&
                   tcgetattr(req->in_fd, &saved) == 0;
        if (raw) {
                struct termios t = saved;
                cfmakeraw(&t);
                (void) tcsetattr(req->in_fd, TCSANOW, &t);
        }
        int r = relay_run(&rl, proxy, sfd, ret_status);
        if (raw)
                (void) tcsetattr(req->in_fd, TCSANOW, &saved);
        if (r >= 0 && rl.detached) {
                if ((r = hold_master(master, old)) < 0)
                        return kerr(err, r, "keep the exec'd process's terminal open after detaching");
                return CTR_EXEC_DETACHED;
        }
        if (!req->tty) {
                safe_close(rl.to_proc);
                safe_close(rl.from_out);
                safe_close(rl.from_err);
        }
        return r < 0 ? kerr(err, r, "copy the exec'd process's stdio") : 0;
}

int ctr_exec(Engine *e, const CtrRecord *rec, const CtrExecRequest *req, int *ret_code, KError **err) {
        if (rec->state != CTR_RUNNING)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container %s is not running (it is %s)", rec->name,
                                ctr_state_to_string(rec->state));
        if (ctr_runs_vmm(rec))
                return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP,
                                "%s is a micro-VM with no kapsel agent inside: exec is not supported (use its serial "
                                "console: kapsel vm console %s)", rec->name, rec->name);
        if (vm_isolation_enabled(rec->config))
                return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP, "%s runs in a micro-VM: exec goes through its "
                                "monitor (vm_isolation_exec_request)", rec->name);
        if (!req->args || !req->args[0])
                return kerr_msg(err, KERR_USAGE, -EINVAL, "exec in %s: no command given", rec->name);
        SpecProcess *p = NULL;
        int r = build_process(e, rec, req, &p, err);
        if (r < 0)
                return r;
        _cleanup_(exec_pipes_done) ExecPipes x;
        if ((r = exec_pipes_open(req, &x)) < 0) {
                spec_process_free(p);
                return kerr(err, r, "exec in %s: create its pipes", rec->name);
        }
        ExecOptions o = { .root = e->runtime_root, .id = rec->id, .process = p, .console_fd = -1,
                          .detach = req->detach };
        static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
        sigset_t set, old;
        sigemptyset(&set);
        for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
                sigaddset(&set, forwarded[i]);
        sigprocmask(SIG_BLOCK, &set, &old);
        pid_t proxy = fork();
        if (proxy == 0)
                exec_proxy(&x, &o, &old);
        spec_process_free(p);
        if (proxy < 0) {
                r = kerr(err, -errno, "exec in %s: fork", rec->name);
                sigprocmask(SIG_SETMASK, &old, NULL);
                return r;
        }
        for (int i = 0; i < 3; i++)
                x.child[i] = safe_close(x.child[i]);
        x.console[1] = safe_close(x.console[1]);
        x.report[1] = safe_close(x.report[1]);
        int status = 0;
        if (req->detach) {
                if (req->tty) {         /* nobody reads it: the process gets a hangup, as before */
                        _cleanup_close_ int master = -1;
                        char name[16];
                        (void) recv_fd(x.console[0], &master, name, sizeof(name));
                }
                r = waitpid(proxy, &status, 0) < 0 ? kerr(err, -errno, "exec in %s", rec->name) : 0;
        } else {
                _cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
                if (sfd < 0)
                        r = kerr(err, -errno, "signalfd");
                else
                        r = exec_stream(req, &x, proxy, sfd, &old, &status, err);
                if (r == CTR_EXEC_DETACHED) {   /* the proxy waits for the process on its own */
                        sigprocmask(SIG_SETMASK, &old, NULL);
                        return r;
                }
                if (r < 0) {
                        (void) kill(proxy, SIGKILL);
                        (void) waitpid(proxy, NULL, 0);
                }
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                return r;
        KError *child = NULL;
        if (kerr_recv(x.report[0], &child) >= 0 && child) {
                r = child->code < 0 ? child->code : -EIO;
                if (err && !*err)
                        *err = child;
                else
                        kerr_free(child);
                return r;
        }
        *ret_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        return 0;
}
