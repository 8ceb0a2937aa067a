/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-probe: a static multi-call binary the integration tests put into throw-away rootfs
 * to report what a process sees inside a container, one "key=value" per line.
 *
 *   probe ids | caps | fds | cwd | dumpable | tty | exe-write | write PATH | read PATH |
 *         rlimit NAME | syscall NAME | sleep SECONDS | exit CODE | env NAME | tiocsti TEXT
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int cmd_ids(int argc, char **argv) {
        gid_t groups[64];
        int n = getgroups(64, groups);
        printf("uid=%u\ngid=%u\neuid=%u\negid=%u\ngroups=", getuid(), getgid(), geteuid(), getegid());
        for (int i = 0; i < n; i++)
                printf("%s%u", i ? "," : "", groups[i]);
        printf("\n");
        return 0;
}

static int cmd_caps(int argc, char **argv) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        if (!f)
                return 2;
        while (fgets(line, sizeof(line), f)) {
                static const char *const keys[] = { "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
                                                    "NoNewPrivs:", "Seccomp:" };
                for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                        if (strncmp(line, keys[i], strlen(keys[i])) == 0) {
                                char *v = line + strlen(keys[i]);
                                v += strspn(v, " \t");
                                printf("%.*s=%s", (int) strlen(keys[i]) - 1, keys[i], v);
                        }
        }
        fclose(f);
        return 0;
}

/* Every open fd except stdio and the directory fd used to list them. */
static int cmd_fds(int argc, char **argv) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return 2;
        struct dirent *de;
        while ((de = readdir(d))) {
                int fd = atoi(de->d_name);
                if (de->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
                        continue;
                char path[64], target[512];
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                ssize_t n = readlink(path, target, sizeof(target) - 1);
                target[n < 0 ? 0 : n] = '\0';
                printf("fd%d=%s\n", fd, target);
        }
        closedir(d);
        printf("fds=done\n");
        return 0;
}

static int cmd_cwd(int argc, char **argv) {
        char buf[4096];
        printf("cwd=%s\n", getcwd(buf, sizeof(buf)) ? buf : strerror(errno));
        return 0;
}

static int cmd_dumpable(int argc, char **argv) {
        printf("dumpable=%d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
        return 0;
}

static int cmd_tty(int argc, char **argv) {
        for (int fd = 0; fd <= 2; fd++) {
                const char *n = isatty(fd) ? ttyname(fd) : NULL;
                printf("tty%d=%s\n", fd, n ? n : "none");
        }
        return 0;
}

static void try_open(const char *key, const char *path, int flags) {
        int fd = open(path, flags | O_CLOEXEC);
        if (fd >= 0) {
                printf("%s=ok\n", key);
                close(fd);
        } else
                printf("%s=%s\n", key, strerrorname_np(errno));
}

/* CVE-2019-5736: the runtime binary must never be writable from inside. */
static int cmd_exe_write(int argc, char **argv) {
        try_open("self", "/proc/self/exe", O_WRONLY);
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/exe", getppid());
        try_open("parent", path, O_WRONLY);
        try_open("init", "/proc/1/exe", O_WRONLY);
        return 0;
}

static int cmd_write(int argc, char **argv) {
        if (argc < 3)
                return 2;
        try_open("write", argv[2], O_WRONLY);
        return 0;
}

static int cmd_read(int argc, char **argv) {
        if (argc < 3)
                return 2;
        try_open("read", argv[2], O_RDONLY);
        return 0;
}

static int cmd_rlimit(int argc, char **argv) {
        static const struct { const char *name; int res; } map[] = {
                { "nofile", RLIMIT_NOFILE }, { "nproc", RLIMIT_NPROC }, { "core", RLIMIT_CORE }, { "stack", RLIMIT_STACK },
        };
        for (size_t i = 0; argc >= 3 && i < sizeof(map) / sizeof(map[0]); i++)
                if (strcmp(argv[2], map[i].name) == 0) {
                        struct rlimit rl;
                        getrlimit(map[i].res, &rl);
                        printf("soft=%llu\nhard=%llu\n", (unsigned long long) rl.rlim_cur, (unsigned long long) rl.rlim_max);
                        return 0;
                }
        return 2;
}

static int cmd_syscall(int argc, char **argv) {
        long r = -1;
        if (argc < 3)
                return 2;
        errno = 0;
        if (strcmp(argv[2], "getppid") == 0)
                r = syscall(SYS_getppid);
        else if (strcmp(argv[2], "mkdir") == 0)
                r = mkdir(argc > 3 ? argv[3] : "/tmp/probe-dir", 0700);
        else if (strcmp(argv[2], "unshare-user") == 0)
                r = syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */);
        else if (strcmp(argv[2], "future") == 0)
                r = syscall(1000, 0, 0, 0);     /* a number no kernel has yet */
        else
                return 2;
        printf("result=%ld\nerrno=%s\n", r, errno ? strerrorname_np(errno) : "0");
        return 0;
}

static int cmd_sleep(int argc, char **argv) {
        printf("ready\n");
        fflush(stdout);
        sleep(argc > 2 ? (unsigned) atoi(argv[2]) : 3600);
        return 0;
}

/* Push TEXT into the input of every terminal we can reach (stdio, /dev/tty): "stiN=ok" means the
 * text went into that terminal's input queue. */
static int cmd_tiocsti(int argc, char **argv) {
        if (argc < 3)
                return 2;
        int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        int fds[4] = { 0, 1, 2, tty };
        for (int i = 0; i < 4; i++) {
                int ok = fds[i] >= 0;
                for (const char *c = argv[2]; ok && *c; c++)
                        ok = ioctl(fds[i], TIOCSTI, c) == 0;
                printf("sti%d=%s\n", i, ok ? "ok" : fds[i] < 0 ? "no-tty" : strerrorname_np(errno));
        }
        return 0;
}

static int cmd_exit(int argc, char **argv) {
        return argc > 2 ? atoi(argv[2]) : 0;
}

static int cmd_env(int argc, char **argv) {
        const char *v = argc > 2 ? getenv(argv[2]) : NULL;
        printf("%s=%s\n", argc > 2 ? argv[2] : "?", v ? v : "(unset)");
        return 0;
}

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
} cmds[] = {
        { "ids", cmd_ids },       { "caps", cmd_caps },     { "fds", cmd_fds },           { "cwd", cmd_cwd },
        { "dumpable", cmd_dumpable }, { "tty", cmd_tty },   { "exe-write", cmd_exe_write }, { "write", cmd_write },
        { "read", cmd_read },     { "rlimit", cmd_rlimit }, { "syscall", cmd_syscall },   { "sleep", cmd_sleep },
        { "exit", cmd_exit },     { "env", cmd_env },       { "tiocsti", cmd_tiocsti },
};

int main(int argc, char **argv) {
        for (size_t i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
                if (strcmp(argv[1], cmds[i].name) == 0)
                        return cmds[i].fn(argc, argv);
        fprintf(stderr, "usage: probe ids|caps|fds|cwd|dumpable|tty|exe-write|write P|read P|rlimit N|syscall N|"
                        "sleep S|exit C|env N|tiocsti T\n");
        return 2;
}
