/* SPDX-License-Identifier: Apache-2.0 */
/* `exec -it` into a container: our terminal <-> the exec'd process's pty, as rt_tty_proxy, plus
 * docker's detach keys. Detaching leaves the process running: a small holder process keeps the pty
 * master open (and drains what the process writes) until the process closes its terminal, as
 * docker's daemon holds it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "fd-util.h"
#include "kapsel-cli.h"

static void copy_winsize(int from, int to) {
        struct winsize ws;
        if (ioctl(from, TIOCGWINSZ, &ws) == 0)
                (void) ioctl(to, TIOCSWINSZ, &ws);
}

/* After a detach: a session of its own that reads the master until the process is gone. */
static void hold_master(int master) {
        pid_t pid = fork();
        if (pid != 0)
                return;
        (void) setsid();
        signal(SIGHUP, SIG_IGN);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
        }
        char buf[4096];
        while (read(master, buf, sizeof(buf)) > 0 || errno == EINTR)
                ;
        _exit(0);
}

/* Our stdin -> master through the detach keys; 1 when they were typed, -1 at EOF. */
static int input(int master, KDetachKeys *keys) {
        uint8_t buf[4096], out[4096 + 16];
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n <= 0)
                return n < 0 && (errno == EINTR || errno == EAGAIN) ? 0 : -1;
        size_t len;
        int detached = k_detach_keys_filter(keys, buf, (size_t) n, out, &len);
        (void) write_all(master, out, len);
        return detached;
}

int k_exec_tty_proxy(int master, pid_t pid, KDetachKeys *keys, int *ret_status, bool *ret_detached) {
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
        *ret_detached = false;
        char buf[16384];
        while (waitpid(pid, &status, WNOHANG) != pid) {
                struct pollfd p[3] = { { .fd = master, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
                                       { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN } };
                if (poll(p, 3, -1) < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                ssize_t n;
                if (p[0].revents & POLLIN && (n = read(master, buf, sizeof(buf))) > 0)
                        (void) write_all(STDOUT_FILENO, buf, (size_t) n);
                if (p[2].revents & (POLLIN | POLLHUP)) {
                        int d = input(master, keys);
                        stdin_open = d >= 0;
                        if (d > 0) {
                                hold_master(master);
                                *ret_detached = true;
                                break;
                        }
                }
                struct signalfd_siginfo si;
                if (p[1].revents & POLLIN && read(sfd, &si, sizeof(si)) == sizeof(si)) {
                        if (si.ssi_signo == SIGWINCH)
                                copy_winsize(STDIN_FILENO, master);
                        else if (si.ssi_signo != SIGCHLD)
                                (void) kill(pid, (int) si.ssi_signo);
                }
        }
        struct pollfd last = { .fd = master, .events = POLLIN };   /* what the process wrote last */
        ssize_t n;
        while (!*ret_detached && poll(&last, 1, 0) > 0 && (last.revents & POLLIN) && (n = read(master, buf, sizeof(buf))) > 0)
                (void) write_all(STDOUT_FILENO, buf, (size_t) n);
        if (raw)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        sigprocmask(SIG_SETMASK, &old, NULL);
        *ret_status = status;
        return r;
}
