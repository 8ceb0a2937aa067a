/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-guest-init's exec agent: serves the protocol of src/engine/vm-agent.h on /dev/hvc1,
 * inside init's single-threaded event loop (guest-init-run.c wait_child() polls what
 * guest_agent_pollfds() returns and hands the results to guest_agent_dispatch(); SIGCHLD's reaping
 * calls guest_agent_reaped()).
 *
 * An exec'd process enters the container as the main process sees it: the main process's mount
 * namespace (setns) and root (chroot to /proc/<pid>/root), then a new session and the same
 * process setup as the main process (guest_child_exec()). Its stdio is three pipes, a pty from the
 * container's devpts instance, or /dev/null (detached: STARTED, then the stream is forgotten).
 *
 * Flow control (vm-agent.h): a process's output is read only while less than VM_AGENT_WINDOW of
 * it is unacknowledged by the host, so a client that stops reading blocks that process's writes and
 * nothing else. Its stdin is acknowledged as the process takes it: our end is non-blocking, and
 * bytes it does not take yet wait in a per-stream queue, which the host's window bounds
 * (STDIN_QUEUE_MAX; a host that overruns it loses the excess, with a KAPSEL-WARNING). When the
 * process has exited, what is still in its pipes is sent (at most DRAIN_MAX_READS reads: a leftover
 * child that keeps writing is cut), window permitting, and then EXIT.
 *
 * Bounds: at most AGENT_MAX_STREAMS streams at once (more are refused: STDERR + EXIT 125). A
 * protocol error or a failed read/write on hvc1 makes the channel unusable: the agent stops using
 * it, closes its streams' fds (the processes see EOF/EPIPE/SIGHUP and are reaped as orphans) and
 * logs a KAPSEL-WARNING; the main process is not affected. Frames go out with blocking writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "fd-util.h"
#include "guest-init.h"
#include "proc-util.h"
#include "string-util.h"

#define AGENT_MAX_STREAMS 64
#define STDIN_QUEUE_MAX (VM_AGENT_WINDOW + VM_AGENT_MAX_PAYLOAD)
#define READ_CHUNK (16 * 1024)
#define DRAIN_MAX_READS 128     /* after the exit: output still coming from a leftover child is cut */

_Static_assert(READ_CHUNK <= VM_AGENT_MAX_PAYLOAD, "one read is one frame");

typedef enum FdKind { FD_CHANNEL, FD_IN, FD_OUT, FD_ERR } FdKind;

typedef struct Stream {
        uint32_t id;            /* the host's stream id; 0: a free slot */
        unsigned gen;           /* bumped when the slot is freed: stale pollfd entries are ignored */
        pid_t pid;
        bool tty;               /* in == out == the pty master (closed once, on free) */
        int in, out, err;       /* our ends: the process's stdin (writes), stdout, stderr; -1 closed */
        bool close_pending;     /* CLOSE_STDIN arrived while the queue was not empty */
        bool warned;            /* the queue overflowed once already */
        uint8_t *q;             /* stdin bytes the process has not taken yet */
        size_t qlen;
        uint32_t unacked;       /* output payload bytes sent, not acknowledged by the host yet */
        bool gone;              /* the client went away: output is read and discarded, no EXIT */
        bool exited;            /* reaped: draining its pipes, then EXIT (exit_code) */
        int exit_code;
        int drain_left;
} Stream;

struct GuestAgent {
        int fd;                 /* /dev/hvc1, non-blocking; -1 after shutdown */
        bool dead;              /* the channel is unusable: shut down at the next opportunity */
        const ProcSpec *def;    /* the main process's spec: defaults of an EXEC */
        pid_t main_pid;
        Stream s[AGENT_MAX_STREAMS];
        struct { unsigned slot, gen; FdKind kind; } map[1 + 3 * AGENT_MAX_STREAMS]; /* last pollfds */
        size_t n_map;
        VmAgentReader reader;
};

/* ---- the channel ---- */

static void agent_fail(GuestAgent *a, const char *what, int e) {
        if (a->dead)
                return;
        guest_marker("KAPSEL-WARNING exec agent: %s%s%s; kapsel exec is unavailable", what, e ? ": " : "",
                     e ? strerror(e) : "");
        a->dead = true;
}

static void agent_send(GuestAgent *a, uint8_t type, uint32_t id, const void *data, uint32_t len) {
        if (a->dead)
                return;
        int r = vm_agent_send(a->fd, type, id, data, len);
        if (r < 0)
                agent_fail(a, "write " VM_AGENT_DEVICE, -r);
}

static void agent_send_u32(GuestAgent *a, uint8_t type, uint32_t id, uint32_t v) {
        uint8_t b[4];
        vm_agent_put_u32(b, v);
        agent_send(a, type, id, b, sizeof(b));
}

/* An exec that did not start: the message on its stderr, then its exit code. */
static void send_failure(GuestAgent *a, uint32_t id, int code, const char *msg) {
        char line[512];
        int n = snprintf(line, sizeof(line), "kapsel: %s\n", msg);
        agent_send(a, ATTACH_STDERR, id, line, (uint32_t) (n < (int) sizeof(line) ? n : (int) sizeof(line) - 1));
        agent_send_u32(a, ATTACH_EXIT, id, (uint32_t) code);
}

/* ---- the stream table ---- */

static Stream *stream_by_id(GuestAgent *a, uint32_t id) {
        for (size_t i = 0; i < AGENT_MAX_STREAMS; i++)
                if (a->s[i].id == id)
                        return &a->s[i];
        return NULL;
}

static Stream *stream_by_pid(GuestAgent *a, pid_t pid) {
        for (size_t i = 0; i < AGENT_MAX_STREAMS; i++)
                if (a->s[i].id && !a->s[i].exited && a->s[i].pid == pid)    /* reaped: the pid is free */
                        return &a->s[i];
        return NULL;
}

static void stream_close_in(Stream *s) {
        if (!s->tty)
                safe_close(s->in);
        s->in = -1;
        s->q = mfree(s->q);
        s->qlen = 0;
        s->close_pending = false;
}

static void stream_free(Stream *s) {
        stream_close_in(s);
        safe_close(s->out);
        safe_close(s->err);
        *s = (Stream) { .gen = s->gen + 1, .in = -1, .out = -1, .err = -1 };
}

static void agent_shutdown(GuestAgent *a) {
        for (size_t i = 0; i < AGENT_MAX_STREAMS; i++)
                if (a->s[i].id)
                        stream_free(&a->s[i]);
        a->fd = safe_close(a->fd);
}

/* ---- a process's stdin ---- */

/* Write what the process takes now; returns how much, or -1 when its stdin is gone. */
static ssize_t stdin_write(Stream *s, const uint8_t *data, size_t len) {
        size_t done = 0;
        while (done < len) {
                ssize_t n = write(s->in, data + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0)
                        return -1;
                done += (size_t) n;
        }
        return (ssize_t) done;
}

/* `n` stdin bytes left the host's window: taken by the process, or dropped. */
static void stdin_ack(GuestAgent *a, Stream *s, size_t n) {
        if (n > 0)
                agent_send_u32(a, ATTACH_ACK, s->id, (uint32_t) n);
}

/* The process's stdin ends: what still waits for it is dropped (and acknowledged). */
static void stdin_end(GuestAgent *a, Stream *s) {
        stdin_ack(a, s, s->qlen);
        stream_close_in(s);
}

static void stdin_push(GuestAgent *a, Stream *s, const uint8_t *data, size_t len) {
        if (s->in < 0) {
                stdin_ack(a, s, len);
                return;
        }
        ssize_t n = s->qlen ? 0 : stdin_write(s, data, len);
        if (n < 0) {
                stdin_ack(a, s, len);
                stdin_end(a, s);
                return;
        }
        stdin_ack(a, s, (size_t) n);
        size_t rest = len - (size_t) n;
        if (rest == 0)
                return;
        uint8_t *q = s->qlen + rest <= STDIN_QUEUE_MAX ? realloc(s->q, s->qlen + rest) : NULL;
        if (!q) {
                if (!s->warned)
                        guest_marker("KAPSEL-WARNING exec %u: the host overran the stdin window; input dropped",
                                     s->id);
                s->warned = true;
                stdin_ack(a, s, rest);
                return;
        }
        memcpy(q + s->qlen, data + n, rest);
        s->q = q;
        s->qlen += rest;
}

static void stdin_flush(GuestAgent *a, Stream *s) {
        ssize_t n = stdin_write(s, s->q, s->qlen);
        if (n < 0) {
                stdin_end(a, s);
                return;
        }
        stdin_ack(a, s, (size_t) n);
        memmove(s->q, s->q + n, s->qlen - (size_t) n);
        s->qlen -= (size_t) n;
        if (s->qlen == 0 && s->close_pending)
                stream_close_in(s);
}

/* ---- a process's output ---- */

/* May the stream's output be read now? Not while the host holds a window's worth unacknowledged. */
static bool output_open(const Stream *s) {
        return s->gone || s->unacked < VM_AGENT_WINDOW;
}

/* One read from `*fd` sent as a `type` frame (or discarded: the client is gone); false when there
 * is nothing more now (EOF closes). */
static bool output_read(GuestAgent *a, Stream *s, int *fd, uint8_t type) {
        static uint8_t buf[READ_CHUNK];
        if (*fd < 0)
                return false;
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return false;
        if (n <= 0) {   /* EOF; a pty master says EIO once the last slave fd is closed */
                if (s->tty)
                        s->in = -1;
                *fd = safe_close(*fd);
                return false;
        }
        if (!s->gone) {
                agent_send(a, type, s->id, buf, (uint32_t) n);
                s->unacked += (uint32_t) n;
        }
        return true;
}

/* After the exit: send what is left in the pipes as the window allows (an ACK calls this again),
 * then EXIT, and free the slot. */
static void stream_finish(GuestAgent *a, Stream *s) {
        while (s->drain_left > 0) {
                if (!output_open(s))
                        return;
                if (!output_read(a, s, &s->out, ATTACH_STDOUT) && !output_read(a, s, &s->err, ATTACH_STDERR))
                        break;
                s->drain_left--;
        }
        if (!s->gone)
                agent_send_u32(a, ATTACH_EXIT, s->id, (uint32_t) s->exit_code);
        stream_free(s);
}

/* ---- frames from the host ---- */

static void on_stdin(GuestAgent *a, Stream *s, const uint8_t *data, uint32_t len) {
        stdin_push(a, s, data, len);
}

static void on_close_stdin(GuestAgent *a, Stream *s, const uint8_t *data, uint32_t len) {
        (void) data, (void) len;
        if (s->tty)
                stdin_push(a, s, (const uint8_t *) "\x04", 1);  /* ^D: EOF for a canonical-mode reader */
        else if (s->qlen)
                s->close_pending = true;
        else
                stream_close_in(s);
}

static void on_ack(GuestAgent *a, Stream *s, const uint8_t *data, uint32_t len) {
        uint32_t n = len == 4 ? vm_agent_get_u32(data) : 0;
        s->unacked -= n < s->unacked ? n : s->unacked;
        if (s->exited)
                stream_finish(a, s);
}

static void on_gone(GuestAgent *a, Stream *s, const uint8_t *data, uint32_t len) {
        (void) data, (void) len;
        s->gone = true;
        stdin_end(a, s);
        if (s->exited)
                stream_finish(a, s);
}

static void on_resize(GuestAgent *a, Stream *s, const uint8_t *data, uint32_t len) {
        (void) a;
        if (!s->tty || len != 4 || s->out < 0)
                return;
        struct winsize ws = { .ws_row = (unsigned short) (data[0] << 8 | data[1]),
                              .ws_col = (unsigned short) (data[2] << 8 | data[3]) };
        (void) ioctl(s->out, TIOCSWINSZ, &ws);
}

static void on_signal(GuestAgent *a, Stream *s, const uint8_t *data, uint32_t len) {
        (void) a;
        uint32_t sig = len == 4 ? vm_agent_get_u32(data) : 0;
        if (sig >= 1 && sig < NSIG && !s->exited)
                (void) kill(s->pid, (int) sig);
}

typedef void (*StreamFrameFn)(GuestAgent *a, Stream *s, const uint8_t *data, uint32_t len);

static const struct {
        uint8_t type;
        StreamFrameFn fn;
} stream_frames[] = {
        { ATTACH_STDIN, on_stdin },
        { ATTACH_CLOSE_STDIN, on_close_stdin },
        { ATTACH_RESIZE, on_resize },
        { ATTACH_SIGNAL, on_signal },
        { ATTACH_ACK, on_ack },
        { ATTACH_GONE, on_gone },
};

/* ---- EXEC ---- */

/* The fds a child gets, and ours. */
typedef struct ExecIo {
        int child[3];           /* pipes: the child's stdin, stdout, stderr; -1 otherwise */
        int ours[3];            /* pipes: our stdin (write), stdout, stderr (read) ends; tty: [1] master */
        int ptn;                /* tty: the pty number in the container's devpts; -1 otherwise */
} ExecIo;

static void exec_io_done(ExecIo *io) {
        for (int i = 0; i < 3; i++) {
                safe_close(io->child[i]);
                safe_close(io->ours[i]);
        }
}

static int open_pty(ExecIo *io) {
        int m = open(NEWROOT "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (m < 0)
                return -errno;
        io->ours[1] = m;
        if (unlockpt(m) < 0 || ioctl(m, TIOCGPTN, &io->ptn) < 0)
                return -errno;
        return 0;
}

static int open_pipes(ExecIo *io) {
        for (int i = 0; i < 3; i++) {
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                io->child[i] = p[i == 0 ? 0 : 1];
                io->ours[i] = p[i == 0 ? 1 : 0];
                if (fcntl(io->ours[i], F_SETFL, O_NONBLOCK) < 0)
                        return -errno;
        }
        return 0;
}

/* In the child, inside the container root: stdio on /dev/null or the pty (its controlling tty). */
static void child_late_stdio(const VmAgentExec *x, int ptn, int pipe_fd) {
        char path[64] = "/dev/null";
        if (x->tty)
                snprintf(path, sizeof(path), "/dev/pts/%d", ptn);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                guest_child_fail(pipe_fd, 125, path, errno);
        guest_child_stdio(fd, fd, fd, pipe_fd);
        if (x->tty && ioctl(0, TIOCSCTTY, 0) < 0)
                guest_child_fail(pipe_fd, 125, "make the pty the controlling terminal", errno);
}

static _noreturn_ void exec_child(pid_t main_pid, const ProcSpec *p, const VmAgentExec *x, const ExecIo *io,
                                  int pipe_fd) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char ns[64], root[64];
        snprintf(ns, sizeof(ns), "/proc/%d/ns/mnt", (int) main_pid);
        snprintf(root, sizeof(root), "/proc/%d/root", (int) main_pid);
        /* both before setns: afterwards /proc is the container's */
        int nsfd = open(ns, O_RDONLY | O_CLOEXEC), rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (nsfd < 0 || rootfd < 0)
                guest_child_fail(pipe_fd, 125, "open the container's namespace", errno);
        if (io->child[0] >= 0)
                guest_child_stdio(io->child[0], io->child[1], io->child[2], pipe_fd);
        if (setns(nsfd, CLONE_NEWNS) < 0 || fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
                guest_child_fail(pipe_fd, 125, "enter the container root", errno);
        if (setsid() < 0)
                guest_child_fail(pipe_fd, 125, "setsid", errno);
        if (io->child[0] < 0)
                child_late_stdio(x, io->ptn, pipe_fd);
        guest_child_exec(p, pipe_fd);
}

/* Fork the process; 0 and its pid, or -1 with `ce` filled (the child's report or ours). */
static int exec_spawn(GuestAgent *a, const ProcSpec *p, const VmAgentExec *x, ExecIo *io, pid_t *ret_pid,
                      ChildError *ce) {
        int r = x->detach ? 0 : x->tty ? open_pty(io) : open_pipes(io);
        int errpipe[2] = { -1, -1 };
        if (r >= 0 && pipe2(errpipe, O_CLOEXEC) < 0)
                r = -errno;
        pid_t pid = r >= 0 ? fork() : -1;
        if (r >= 0 && pid < 0)
                r = -errno;
        if (r < 0) {
                *ce = (ChildError) { .code = 125 };
                snprintf(ce->msg, sizeof(ce->msg), "set up the exec'd process: %s", strerror(-r));
                safe_close(errpipe[0]);
                safe_close(errpipe[1]);
                return -1;
        }
        if (pid == 0) {
                safe_close(errpipe[0]);
                exec_child(a->main_pid, p, x, io, errpipe[1]);
        }
        safe_close(errpipe[1]);
        for (int i = 0; i < 3; i++)
                io->child[i] = safe_close(io->child[i]);
        /* blocks until the exec (EOF) or the child's report: the child does nothing slow before it */
        r = read_exact(errpipe[0], ce, sizeof(*ce));
        safe_close(errpipe[0]);
        if (r >= 0) {
                ce->msg[sizeof(ce->msg) - 1] = 0;
                return -1;
        }
        *ret_pid = pid;
        return 0;
}

static void exec_start(GuestAgent *a, Stream *slot, uint32_t id, const VmAgentExec *x) {
        ProcSpec spec;
        if (guest_spec_for_exec(a->def, x, &spec) < 0) {
                send_failure(a, id, 125, "out of memory");
                return;
        }
        ExecIo io = { .child = { -1, -1, -1 }, .ours = { -1, -1, -1 }, .ptn = -1 };
        ChildError ce;
        pid_t pid;
        int r = exec_spawn(a, &spec, x, &io, &pid, &ce);
        guest_spec_done(&spec);
        if (r < 0) {
                exec_io_done(&io);
                send_failure(a, id, ce.code, ce.msg);
                return;
        }
        agent_send_u32(a, ATTACH_STARTED, id, (uint32_t) pid);
        if (x->detach)
                return; /* forgotten: reaped as an orphan */
        *slot = (Stream) { .id = id, .gen = slot->gen, .pid = pid, .tty = x->tty, .in = io.ours[0],
                           .out = io.ours[1], .err = io.ours[2] };
        if (x->tty)
                slot->in = slot->out;
}

static void on_exec(GuestAgent *a, uint32_t id, const uint8_t *data, uint32_t len) {
        if (stream_by_id(a, id)) {
                guest_marker("KAPSEL-WARNING exec agent: EXEC for stream %u, which is running; ignored", id);
                return;
        }
        Stream *slot = stream_by_id(a, 0);
        if (!slot) {
                send_failure(a, id, 125, "too many exec sessions in this container (at most 64)");
                return;
        }
        _cleanup_kerr_ KError *err = NULL;
        VmAgentExec x;
        if (vm_agent_exec_parse(data, len, &x, &err) < 0) {
                send_failure(a, id, 125, err && err->msg ? err->msg : "bad exec request");
                return;
        }
        exec_start(a, slot, id, &x);
        vm_agent_exec_done(&x);
}

/* ---- TOP ---- */

/* The container's processes: every one with a command line but us (pid 1) and kernel threads
 * (which have none), in rows as `kapsel top` prints them, a frame per READ_CHUNK; at most a window's
 * worth (the stream has no slot, so nothing could wait for ACKs), then EXIT 0. */
static void on_top(GuestAgent *a, uint32_t id) {
        _cleanup_(closedirp) DIR *d = opendir("/proc");
        if (!d) {
                send_failure(a, id, 125, "top: cannot read /proc in the guest");
                return;
        }
        static char buf[READ_CHUNK];
        size_t have = 0, total = 0;
        for (struct dirent *de; (de = readdir(d)) && total < VM_AGENT_WINDOW;) {
                char row[600];
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 1 || !proc_top_row((pid_t) pid, row, sizeof(row)))
                        continue;
                size_t n = strlen(row);
                if (have + n > sizeof(buf)) {
                        agent_send(a, ATTACH_STDOUT, id, buf, (uint32_t) have);
                        total += have;
                        have = 0;
                }
                memcpy(buf + have, row, n);
                have += n;
        }
        if (have > 0)
                agent_send(a, ATTACH_STDOUT, id, buf, (uint32_t) have);
        agent_send_u32(a, ATTACH_EXIT, id, 0);
}

static void on_frame(void *userdata, uint8_t type, uint32_t id, const uint8_t *data, uint32_t len) {
        GuestAgent *a = userdata;
        if (a->dead)
                return;
        if (type == ATTACH_EXEC) {
                on_exec(a, id, data, len);
                return;
        }
        if (type == ATTACH_TOP) {
                on_top(a, id);
                return;
        }
        Stream *s = stream_by_id(a, id);
        for (size_t i = 0; s && i < ELEMENTSOF(stream_frames); i++)
                if (stream_frames[i].type == type)
                        stream_frames[i].fn(a, s, data, len);
        /* unknown streams (an exec that ended, or was detached) and types: dropped */
}

static void channel_read(GuestAgent *a) {
        static uint8_t buf[READ_CHUNK];
        ssize_t n = read(a->fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                agent_fail(a, "read " VM_AGENT_DEVICE, n < 0 ? errno : EPIPE);
                return;
        }
        if (vm_agent_feed(&a->reader, buf, (size_t) n, on_frame, a) < 0)
                agent_fail(a, "protocol error from the host", 0);
}

/* ---- the loop's API ---- */

GuestAgent *guest_agent_new(const ProcSpec *def, pid_t main_pid) {
        GuestAgent *a = calloc(1, sizeof(*a));
        if (!a) {
                guest_marker("KAPSEL-WARNING exec agent: out of memory; kapsel exec is unavailable");
                return NULL;
        }
        a->fd = open(VM_AGENT_DEVICE, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (a->fd < 0) {
                guest_marker("KAPSEL-WARNING exec agent: open %s: %s", VM_AGENT_DEVICE, strerror(errno));
                free(a);
                return NULL;
        }
        guest_set_raw(a->fd);
        a->def = def;
        a->main_pid = main_pid;
        for (size_t i = 0; i < AGENT_MAX_STREAMS; i++)
                a->s[i] = (Stream) { .in = -1, .out = -1, .err = -1 };
        return a;
}

void guest_agent_free(GuestAgent *a) {
        if (!a)
                return;
        agent_shutdown(a);
        free(a);
}

static void map_add(GuestAgent *a, struct pollfd *pfd, size_t max, unsigned slot, FdKind kind, int fd,
                    short events) {
        if (fd < 0 || a->n_map >= max || a->n_map >= ELEMENTSOF(a->map))
                return;
        pfd[a->n_map] = (struct pollfd) { .fd = fd, .events = events };
        a->map[a->n_map].slot = slot;
        a->map[a->n_map].gen = slot < AGENT_MAX_STREAMS ? a->s[slot].gen : 0;
        a->map[a->n_map].kind = kind;
        a->n_map++;
}

size_t guest_agent_pollfds(GuestAgent *a, struct pollfd *pfd, size_t max) {
        if (a->dead && a->fd >= 0)
                agent_shutdown(a);
        a->n_map = 0;
        if (a->fd < 0)
                return 0;
        map_add(a, pfd, max, AGENT_MAX_STREAMS, FD_CHANNEL, a->fd, POLLIN);
        for (unsigned i = 0; i < AGENT_MAX_STREAMS; i++) {
                Stream *s = &a->s[i];
                if (!s->id || s->exited)        /* an exited one waits for ACKs (stream_finish) */
                        continue;
                map_add(a, pfd, max, i, FD_IN, s->qlen ? s->in : -1, POLLOUT);
                map_add(a, pfd, max, i, FD_OUT, output_open(s) ? s->out : -1, POLLIN);
                map_add(a, pfd, max, i, FD_ERR, output_open(s) ? s->err : -1, POLLIN);
        }
        return a->n_map;
}

/* The stream a pollfd entry was for, if it still is (the same slot generation and fd). */
static Stream *entry_stream(GuestAgent *a, size_t i, int fd) {
        unsigned slot = a->map[i].slot;
        if (slot >= AGENT_MAX_STREAMS || a->s[slot].gen != a->map[i].gen || !a->s[slot].id)
                return NULL;
        Stream *s = &a->s[slot];
        int cur = a->map[i].kind == FD_IN ? s->in : a->map[i].kind == FD_OUT ? s->out : s->err;
        return cur == fd ? s : NULL;
}

void guest_agent_dispatch(GuestAgent *a, const struct pollfd *pfd, size_t n) {
        for (size_t i = 0; i < n && i < a->n_map && !a->dead; i++) {
                if (!pfd[i].revents)
                        continue;
                if (a->map[i].kind == FD_CHANNEL) {
                        if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                                channel_read(a);
                        continue;
                }
                Stream *s = entry_stream(a, i, pfd[i].fd);
                if (!s)
                        continue;
                if (a->map[i].kind == FD_IN)
                        stdin_flush(a, s);
                else if (a->map[i].kind == FD_OUT)
                        (void) output_read(a, s, &s->out, ATTACH_STDOUT);
                else
                        (void) output_read(a, s, &s->err, ATTACH_STDERR);
        }
}

bool guest_agent_reaped(GuestAgent *a, pid_t pid, int status) {
        Stream *s = stream_by_pid(a, pid);
        if (!s)
                return false;
        s->exited = true;
        s->exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        s->drain_left = DRAIN_MAX_READS;
        if (!s->tty)
                stdin_end(a, s);        /* nobody reads it any more */
        stream_finish(a, s);
        return true;
}
