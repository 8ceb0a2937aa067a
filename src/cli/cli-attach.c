/* SPDX-License-Identifier: Apache-2.0 */
/* The client side of the attach protocol (src/engine/attach.h): our stdio <-> the monitor. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "attach.h"
#include "container.h"
#include "ctr-ops.h"
#include "fd-util.h"
#include "kapsel-cli.h"
#include "monitor.h"
#include "vm-agent.h"

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void) {
        if (tio_saved)
                tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

static void raw_tty(void) {
        if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0)
                return;
        struct termios raw = saved_tio;
        cfmakeraw(&raw);
        raw.c_oflag |= OPOST;   /* keep \n -> \r\n on our side of the line */
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
                tio_saved = true;
                atexit(restore_tty);
        }
}

/* Our side of the socket. Frames to the monitor wait in `out` and go as the socket takes them, and
 * stdin is read only while nothing waits: the monitor may stop reading us (an exec's stdin window
 * is full) while it still sends output, which we must keep reading, or neither side moves again. */
typedef struct StreamIo {
        int sock;
        AttachQueue out;
} StreamIo;

static void stream_io_done(StreamIo *io) {
        attach_queue_done(&io->out);
}

/* Queue a frame and send what the socket takes now. */
static int io_send(StreamIo *io, uint8_t type, const void *data, uint32_t len) {
        int r = attach_queue_frame(&io->out, type, data, len);
        if (r >= 0)
                r = attach_queue_send(&io->out, io->sock, false);
        if (r >= 0)
                attach_queue_consume(&io->out, io->out.sent);
        return r;
}

static void send_size(StreamIo *io) {
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
                return;
        uint8_t b[4] = { ws.ws_row >> 8, ws.ws_row, ws.ws_col >> 8, ws.ws_col };
        (void) io_send(io, ATTACH_RESIZE, b, 4);
}

/* What one stream session does besides copying bytes. */
typedef struct StreamMode {
        bool tty;               /* our terminal goes raw; window sizes are sent */
        bool with_stdin;
        bool vm_console;        /* a VM's serial console: Ctrl-] and signals detach (as virsh console) */
        bool exec;              /* an exec stream: signals go to the exec'd process as SIGNAL frames */
        bool detach_on_start;   /* exec -d: done once the process started */
        bool send_start;        /* release a foreground run once the window size is there */
} StreamMode;

/* A frame from the monitor; returns 1 when the session is over (*ret_code set). */
static int monitor_frame(int sock, const StreamMode *mode, const char *name, int *ret_code, KError **err) {
        static uint8_t buf[ATTACH_MAX_PAYLOAD];
        uint8_t type;
        uint32_t len;
        int r = attach_recv(sock, &type, buf, &len);
        if (r <= 0)
                return kerr(err, r < 0 ? r : -EPIPE, "the monitor of %s went away", name);
        if (type == ATTACH_STDOUT || type == ATTACH_STDERR) {
                (void) write_all(type == ATTACH_STDERR ? STDERR_FILENO : STDOUT_FILENO, buf, len);
                return 0;
        }
        if (type == ATTACH_EXIT && len == 4)
                *ret_code = (int) vm_agent_get_u32(buf);
        else if (type == ATTACH_STARTED && mode->detach_on_start)
                *ret_code = 0;
        else
                return 0;
        return 1;
}

/* A signal to us: resize, detach, or forwarded (docker's sig-proxy). Returns 1 to end the session. */
static int our_signal(Engine *e, const CtrRecord *rec, StreamIo *io, int sfd, const StreamMode *mode) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) != sizeof(si))
                return 0;
        if (si.ssi_signo == SIGWINCH)
                send_size(io);
        else if (mode->vm_console)
                return 1;       /* a signal detaches from a VM, it never reaches it */
        else if (mode->exec) {
                uint8_t b[4];
                vm_agent_put_u32(b, si.ssi_signo);
                (void) io_send(io, ATTACH_SIGNAL, b, 4);
        } else
                (void) ctr_kill(e, rec, (int) si.ssi_signo, NULL);
        return 0;
}

/* docker's detach keys (cli-keys.h), for every session but a VM's serial console */
static KDetachKeys detach_keys = { .seq = { 0x10, 0x11 }, .len = 2 };

KDetachKeys *k_detach_keys(void) {
        return &detach_keys;
}

int k_set_detach_keys(const char *spec, KError **err) {
        if (k_detach_keys_parse(spec, &detach_keys) < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--detach-keys \"%s\": expected comma-separated keys, each one character or "
                                "ctrl-<a-z, @, [, \\, ], ^, _> (default " K_DETACH_KEYS_DEFAULT ")", spec);
        return 0;
}

/* Our stdin -> the monitor. Returns 1 when Ctrl-] detached from a VM console, 2 when the detach
 * keys left any other session. */
static int our_input(StreamIo *io, bool *stdin_open, const StreamMode *mode) {
        static uint8_t buf[ATTACH_MAX_PAYLOAD], out[ATTACH_MAX_PAYLOAD + 16];
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n <= 0) {
                (void) io_send(io, ATTACH_CLOSE_STDIN, NULL, 0);
                *stdin_open = false;
                return 0;
        }
        const uint8_t *esc = mode->vm_console && isatty(STDIN_FILENO) ? memchr(buf, 0x1d, (size_t) n) : NULL;
        if (esc) {
                if (esc > buf)
                        (void) io_send(io, ATTACH_STDIN, buf, (uint32_t) (esc - buf));
                return 1;
        }
        /* as docker: the keys are looked for only on a terminal; piped stdin (a tar stream) is data */
        if (mode->vm_console || !mode->tty) {
                (void) io_send(io, ATTACH_STDIN, buf, (uint32_t) n);
                return 0;
        }
        size_t len;
        int detached = k_detach_keys_filter(&detach_keys, buf, (size_t) n, out, &len);
        if (len > 0)
                (void) io_send(io, ATTACH_STDIN, out, (uint32_t) len);
        return detached ? 2 : 0;
}

static int stream_loop(Engine *e, const CtrRecord *rec, int sock, const StreamMode *mode, int *ret_code,
                       KError **err) {
        /* signals: forwarded to the container (docker's sig-proxy); SIGWINCH resizes its pty */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGQUIT);
        sigaddset(&mask, SIGWINCH);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        _cleanup_(stream_io_done) StreamIo io = { .sock = sock };
        if (mode->tty && mode->with_stdin)
                raw_tty();
        if (mode->tty)
                send_size(&io);
        int r = mode->send_start ? io_send(&io, ATTACH_START, NULL, 0) : 0;
        if (r < 0) {
                restore_tty();
                return kerr(err, r, "start %s", rec->name);
        }
        bool stdin_open = mode->with_stdin;
        while (r == 0) {
                bool waiting = attach_queue_pending(&io.out) > 0;
                struct pollfd p[3] = { { .fd = sock, .events = POLLIN | (waiting ? POLLOUT : 0) },
                                       { .fd = sfd, .events = POLLIN },
                                       { .fd = stdin_open && !waiting ? STDIN_FILENO : -1, .events = POLLIN } };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = kerr(err, -errno, "attach");
                        break;
                }
                if (p[0].revents & POLLOUT && attach_queue_send(&io.out, sock, false) >= 0)
                        attach_queue_consume(&io.out, io.out.sent);
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
                        r = monitor_frame(sock, mode, rec->name, ret_code, err);
                if (r == 0 && p[1].revents)
                        r = our_signal(e, rec, &io, sfd, mode);
                if (r == 0 && p[2].revents && (r = our_input(&io, &stdin_open, mode)) == 2) {
                        /* as docker: the container runs on; `attach` itself says so and exits 1 */
                        (void) attach_queue_send(&io.out, sock, true);
                        restore_tty();
                        fprintf(stderr, "read escape sequence\n");
                        *ret_code = mode->send_start || mode->exec ? 0 : 1;
                        r = 1;
                }
        }
        restore_tty();
        return r < 0 ? r : 0;
}

static int connect_monitor(Engine *e, const CtrRecord *rec, KError **err) {
        _cleanup_free_ char *dir = engine_ctr_path(e, rec->id, NULL);
        int sock = dir ? attach_connect(dir) : -ENOMEM;
        return sock < 0 ? kerr(err, sock, "attach to %s: is it running?", rec->name) : sock;
}

int k_attach_stream(Engine *e, const CtrRecord *rec, bool send_start, bool with_stdin, int *ret_code, KError **err) {
        _cleanup_close_ int sock = connect_monitor(e, rec, err);
        if (sock < 0)
                return sock;
        bool vm = rec->kind == CTR_KIND_VM;
        StreamMode mode = { .tty = json_is_true(json_object_get(json_object_get(rec->config, "Config"), "Tty")) || vm,
                            .with_stdin = with_stdin, .vm_console = vm, .send_start = send_start };
        int r = attach_send(sock, ATTACH_HELLO, NULL, 0);
        if (r < 0)
                return kerr(err, r, "attach to %s", rec->name);
        return stream_loop(e, rec, sock, &mode, ret_code, err);
}

int k_start_new(Engine *e, const char *id, bool detach, bool remove_on_failure, bool with_stdin, int *ret_code,
                KError **err) {
        *ret_code = 0;
        int r = monitor_spawn(e, id, !detach, err);
        if (r < 0) {
                if (remove_on_failure)
                        (void) ctr_remove(e, id, NULL);
                return r;
        }
        if (detach) {
                printf("%s\n", id);
                return 0;
        }
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        if ((r = db_ctr_get(e->db, id, &rec, err)) < 0)
                return r;
        return k_attach_stream(e, rec, true, with_stdin, ret_code, err);
}

/* A stream to the guest agent of an --isolation=vm container, opened by `type` (vm-agent.h). */
static int agent_stream(Engine *e, const CtrRecord *rec, uint8_t type, const char *request, const StreamMode *mode,
                        int *ret_code, KError **err) {
        _cleanup_close_ int sock = connect_monitor(e, rec, err);
        if (sock < 0)
                return sock;
        int r = attach_send(sock, type, request, (uint32_t) strlen(request));
        /* without -i the process's stdin is empty, as docker's /dev/null */
        if (r >= 0 && type == ATTACH_EXEC && !mode->with_stdin)
                r = attach_send(sock, ATTACH_CLOSE_STDIN, NULL, 0);
        if (r < 0)
                return kerr(err, r, "%s in %s", type == ATTACH_EXEC ? "exec" : "top", rec->name);
        return stream_loop(e, rec, sock, mode, ret_code, err);
}

int k_exec_stream(Engine *e, const CtrRecord *rec, const char *request, bool tty, bool with_stdin, bool detach,
                  int *ret_code, KError **err) {
        StreamMode mode = { .tty = tty && !detach, .with_stdin = with_stdin && !detach, .exec = true,
                            .detach_on_start = detach };
        return agent_stream(e, rec, ATTACH_EXEC, request, &mode, ret_code, err);
}

int k_top_stream(Engine *e, const CtrRecord *rec, int *ret_code, KError **err) {
        StreamMode mode = { .exec = true };
        return agent_stream(e, rec, ATTACH_TOP, "", &mode, ret_code, err);
}
