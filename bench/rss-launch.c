/* SPDX-License-Identifier: Apache-2.0 */
/* rss-launch OUT CMD...: run CMD and write its peak RSS (KiB, wait4's ru_maxrss: CMD and the
 * descendants it reaped) to OUT. Linked statically and tiny on purpose: the kernel counts
 * the pre-exec image of a forked child, so launching from Python would report Python's RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
        if (argc < 3)
                return 125;
        pid_t pid = fork();
        if (pid < 0)
                return 125;
        if (pid == 0) {
                execvp(argv[2], argv + 2);
                _exit(127);
        }
        int status;
        struct rusage ru;
        if (wait4(pid, &status, 0, &ru) < 0)
                return 125;
        FILE *f = fopen(argv[1], "we");
        if (f) {
                fprintf(f, "%ld\n", ru.ru_maxrss);
                fclose(f);
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
