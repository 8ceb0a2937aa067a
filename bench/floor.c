/* SPDX-License-Identifier: Apache-2.0 */
/* floor ROOTFS [CMD...]: the physical limit of a container start, the row no runtime can beat.
 *
 * It does only what every runtime in bench/runtime must do for the same bundle: clone into
 * new pid, mount, ipc, uts and network namespaces, make the mount tree private, bind the
 * rootfs onto itself, mount /proc and a /dev tmpfs in it (the bundle's two mounts),
 * pivot_root(2) into it, drop the old root, exec the command (default /bin/true) and reap it.
 * No spec parsing, no state, no cgroups, no capabilities or seccomp: those are what a runtime
 * adds on top of this floor. Built by bench/run with `cc -O2 -static`. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *const default_cmd[] = { "/bin/true", NULL };
static const char *rootfs;
static char *const *cmd;

static int fail(const char *what) {
        perror(what);
        return 126;
}

static int child(void *arg) {
        (void) arg;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return fail("make / private");
        if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                return fail("bind rootfs");
        if (chdir(rootfs) < 0)
                return fail("chdir rootfs");
        if (mount("proc", "proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) < 0)
                return fail("mount proc");
        if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
                return fail("mount dev");
        /* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves
         * the rootfs alone (pivot_root(2), NOTES), with no put_old directory needed. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return fail("pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
                return fail("umount old root");
        if (chdir("/") < 0)
                return fail("chdir /");
        execv(cmd[0], cmd);
        return fail(cmd[0]);
}

int main(int argc, char **argv) {
        static char stack[64 * 1024] __attribute__((aligned(16)));

        if (argc < 2) {
                fprintf(stderr, "usage: floor ROOTFS [CMD...]\n");
                return 125;
        }
        rootfs = argv[1];
        cmd = argc > 2 ? argv + 2 : default_cmd;
        pid_t pid = clone(child, stack + sizeof(stack),
                          CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | SIGCHLD, NULL);
        if (pid < 0)
                return fail("clone");
        int status;
        if (waitpid(pid, &status, 0) < 0)
                return fail("waitpid");
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
