/* SPDX-License-Identifier: Apache-2.0 */
#include "hooks.h"

#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"

static int hook_run_one(const SpecHook *h, const char *state_json, int *ret_status) {
        int in[2];
        if (pipe2(in, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(in[0]);
                close(in[1]);
                return r;
        }
        if (pid == 0) {
                /* A hook gets the state on stdin and the caller's stdout/stderr, nothing more
                 * (not an fd the runtime or its caller left open without O_CLOEXEC). */
                if (dup2(in[0], STDIN_FILENO) < 0 || fds_cloexec_from(3) < 0)
                        _exit(127);
                static char *const empty[] = { NULL };
                char *const argv0[] = { h->path, NULL };
                execve(h->path, h->args ? h->args : argv0, h->env ? h->env : empty);
                _exit(127);
        }
        close(in[0]);
        /* The hook may exit without reading: ignore EPIPE (MSG_NOSIGNAL is for sockets). */
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        (void) write_all(in[1], state_json, strlen(state_json));
        signal(SIGPIPE, old);
        close(in[1]);

        int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (h->timeout > 0 && pidfd >= 0) {
                struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
                int n;
                do
                        n = poll(&pfd, 1, h->timeout * 1000);
                while (n < 0 && errno == EINTR);
                if (n == 0) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        close(pidfd);
                        return -ETIMEDOUT;
                }
        }
        safe_close(pidfd);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_status = status;
        return 0;
}

int hooks_run(SpecHookKind kind, const SpecHook *hooks, size_t n, const char *state_json, KError **err) {
        for (size_t i = 0; i < n; i++) {
                int status = 0;
                int r = hook_run_one(&hooks[i], state_json, &status);
                const char *name = spec_hook_kind_to_string(kind);
                if (r == -ETIMEDOUT)
                        return kerr_msg(err, KERR_GENERIC, r, "hooks.%s[%zu] '%s' timed out after %d s",
                                        name, i, hooks[i].path, hooks[i].timeout);
                if (r < 0)
                        return kerr(err, r, "hooks.%s[%zu] '%s'", name, i, hooks[i].path);
                if (WIFSIGNALED(status)) {
                        char sig[64];
                        snprintf(sig, sizeof(sig), "%s", strsignal(WTERMSIG(status)));
                        for (char *s = sig; *s; s++)
                                *s = (char) tolower((unsigned char) *s);
                        return kerr_msg(err, KERR_GENERIC, -ECANCELED, "error running hook hooks.%s[%zu] '%s': "
                                        "killed by signal %d (%s)", name, i, hooks[i].path, WTERMSIG(status), sig);
                }
                if (WEXITSTATUS(status) != 0)
                        return kerr_msg(err, KERR_GENERIC, -ECANCELED, "error running hook hooks.%s[%zu] '%s': "
                                        "failed with exit status %d", name, i, hooks[i].path, WEXITSTATUS(status));
        }
        return 0;
}
