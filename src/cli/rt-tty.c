/* SPDX-License-Identifier: Apache-2.0 */
/* Foreground `run` of a terminal container without --console-socket (as runc does): the
 * runtime receives the pty master itself and copies between it and its own stdio, with our
 * terminal in raw mode, window size changes forwarded, signals forwarded to the init. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "fd-util.h"
#include "rt-tty.h"

static void copy_winsize(int from, int to) {
        struct winsize ws;
        if (ioctl(from, TIOCGWINSZ, &ws) == 0)
                (void) ioctl(to, TIOCSWINSZ, &ws);
}

/* Copy what is readable on `from` to `to`; false on EOF/error. */
static bool pump(int from, int to) {
        char buf[16384];
        ssize_t n = read(from, buf, sizeof(buf));
        if (n <= 0)
                return n < 0 && (errno == EINTR || errno == EAGAIN);
        return write_all(to, buf, (size_t) n) >= 0;
}

int rt_tty_proxy(int master, pid_t pid, int *ret_status) {
        static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 };
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigaddset(&set, SIGWINCH);
        for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
                sigaddset(&set, forwarded[i]);
        sigprocmask(SIG_BLOCK, &set, &old);
        _cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
        if (sfd < 0)
                return -errno;

        struct termios saved;
        bool raw = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
        if (raw) {
                struct termios t = saved;
                cfmakeraw(&t);
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &t);
                copy_winsize(STDIN_FILENO, master);
        }
        bool stdin_open = true;
        int status = 0, r = 0;
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        break;
                struct pollfd p[3] = {
                        { .fd = master, .events = POLLIN },
                        { .fd = sfd, .events = POLLIN },
                        { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
                };
                if (poll(p, 3, -1) < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                if (p[0].revents & POLLIN)
                        (void) pump(master, STDOUT_FILENO);
                if (p[2].revents & (POLLIN | POLLHUP))
                        stdin_open = pump(STDIN_FILENO, master);
                if (p[1].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                                if (si.ssi_signo == SIGWINCH)
                                        copy_winsize(STDIN_FILENO, master);
                                else if (si.ssi_signo != SIGCHLD)
                                        (void) kill(pid, (int) si.ssi_signo);
                        }
                }
        }
        /* drain what the container wrote last */
        struct pollfd last = { .fd = master, .events = POLLIN };
        while (poll(&last, 1, 0) > 0 && (last.revents & POLLIN) && pump(master, STDOUT_FILENO))
                ;
        if (raw)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        sigprocmask(SIG_SETMASK, &old, NULL);
        *ret_status = status;
        return r;
}
