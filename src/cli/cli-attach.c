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
#include "fd-util.h"
#include "kapsel-cli.h"

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

static void send_size(int sock) {
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
                return;
        uint8_t b[4] = { ws.ws_row >> 8, ws.ws_row, ws.ws_col >> 8, ws.ws_col };
        (void) attach_send(sock, ATTACH_RESIZE, b, 4);
}

int k_attach_stream(Engine *e, const CtrRecord *rec, bool send_start, bool with_stdin, int *ret_code, KError **err) {
        _cleanup_free_ char *dir = engine_ctr_path(e, rec->id, NULL);
        _cleanup_close_ int sock = dir ? attach_connect(dir) : -ENOMEM;
        if (sock < 0)
                return kerr(err, sock, "attach to %s: is it running?", rec->name);
        bool vm = rec->kind == CTR_KIND_VM;
        /* a VM's serial console is a terminal line: raw, and Ctrl-] detaches (as virsh console) */
        bool tty = json_is_true(json_object_get(json_object_get(rec->config, "Config"), "Tty")) || vm;
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
        if (tty && with_stdin)
                raw_tty();
        if (tty)
                send_size(sock);
        if (send_start && attach_send(sock, ATTACH_START, NULL, 0) < 0)
                return kerr(err, -errno, "start %s", rec->name);
        struct pollfd p[3] = { { .fd = sock, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
                               { .fd = with_stdin ? STDIN_FILENO : -1, .events = POLLIN } };
        static uint8_t buf[ATTACH_MAX_PAYLOAD];
        for (;;) {
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return kerr(err, -errno, "attach");
                }
                if (p[0].revents) {
                        uint8_t type;
                        uint32_t len;
                        int r = attach_recv(sock, &type, buf, &len);
                        if (r <= 0)
                                return kerr(err, r < 0 ? r : -EPIPE, "the monitor of %s went away", rec->name);
                        if (type == ATTACH_STDOUT || type == ATTACH_STDERR)
                                (void) write_all(type == ATTACH_STDERR ? STDERR_FILENO : STDOUT_FILENO, buf, len);
                        else if (type == ATTACH_EXIT && len == 4) {
                                *ret_code = (int) ((uint32_t) buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3]);
                                restore_tty();
                                return 0;
                        }
                }
                if (p[1].revents) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                                if (si.ssi_signo == SIGWINCH)
                                        send_size(sock);
                                else if (vm) {
                                        restore_tty();
                                        return 0;       /* a signal detaches from a VM, it never reaches it */
                                } else
                                        (void) container_kill(e->runtime_root, rec->id, (int) si.ssi_signo, false, NULL);
                        }
                }
                if (p[2].revents) {
                        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
                        if (n <= 0) {
                                (void) attach_send(sock, ATTACH_CLOSE_STDIN, NULL, 0);
                                p[2].fd = -1;
                        } else {
                                const uint8_t *esc = vm && isatty(STDIN_FILENO) ? memchr(buf, 0x1d, (size_t) n) : NULL;
                                if (esc) {
                                        if (esc > buf)
                                                (void) attach_send(sock, ATTACH_STDIN, buf, (uint32_t) (esc - buf));
                                        restore_tty();
                                        return 0;
                                }
                                (void) attach_send(sock, ATTACH_STDIN, buf, (uint32_t) n);
                        }
                }
        }
}
