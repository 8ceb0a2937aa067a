/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-init: the minimal pid 1 behind `kapsel run --init` (what tini is for docker). A program
 * that does not expect to be pid 1 neither reaps orphans nor gets default signal actions (the
 * kernel drops SIGTERM/SIGINT to pid 1 without a handler). We run it as our child, forward every
 * catchable signal to it, reap everything, and exit with its status.
 *
 * Usage: kapsel-init [--] COMMAND [ARG...] */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
        int first = argc > 1 && strcmp(argv[1], "--") == 0 ? 2 : 1;
        if (first >= argc) {
                fprintf(stderr, "kapsel-init: usage: kapsel-init [--] COMMAND [ARG...]\n");
                return 125;
        }
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        pid_t child = fork();
        if (child < 0) {
                perror("kapsel-init: fork");
                return 125;
        }
        if (child == 0) {
                sigprocmask(SIG_SETMASK, &old, NULL);
                /* its own process group, so a terminal's ^C reaches it like it would a shell's job */
                setpgid(0, 0);
                tcsetpgrp(STDIN_FILENO, getpid());
                execvp(argv[first], argv + first);
                fprintf(stderr, "kapsel-init: exec %s: %s\n", argv[first], strerror(errno));
                _exit(errno == ENOENT ? 127 : 126);
        }
        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(&all, &si);
                if (sig < 0)
                        continue;
                if (sig != SIGCHLD) {
                        kill(child, sig);
                        continue;
                }
                int status;
                pid_t p;
                while ((p = waitpid(-1, &status, WNOHANG)) > 0)
                        if (p == child)
                                return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        }
}
