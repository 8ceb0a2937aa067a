/* SPDX-License-Identifier: Apache-2.0 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "rm-rf.h"
#include "string-util.h"

/* Entries are named "<kind>-<pid>-XXXXXX": one whose process is gone was left by a kill, and goes. */
static void sweep(int dfd) {
        _cleanup_close_ int own = dup(dfd);
        DIR *d = own >= 0 ? fdopendir(own) : NULL;
        if (!d)
                return;
        TAKE_FD(own);
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *rest = startswith(de->d_name, "spool-") ?: startswith(de->d_name, "export-");
                char *end = NULL;
                long pid = rest ? strtol(rest, &end, 10) : 0;
                if (pid > 0 && end && *end == '-' && kill((pid_t) pid, 0) < 0 && errno == ESRCH)
                        (void) rm_rf_at(dirfd(d), de->d_name);
        }
        closedir(d);
}

int spool_dir(Engine *e, char **ret, KError **err) {
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s/tmp", e->root) < 0)
                return kerr(err, -ENOMEM, "spool");
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s", tmp);
        _cleanup_close_ int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                sweep(dfd);
        *ret = TAKE_PTR(tmp);
        return 0;
}

static int copy_fd(int in, int out, const char *what, KError **err) {
        char buf[65536];
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return kerr(err, -errno, "read %s", what);
                if (n == 0)
                        return 0;
                int r = write_all(out, buf, (size_t) n);
                if (r < 0)
                        return kerr(err, r, "write %s", what);
        }
}

int spool_from_fd(Engine *e, int fd, char **ret_path, KError **err) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        int r = spool_dir(e, &dir, err);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/spool-%d-XXXXXX", dir, (int) getpid()) < 0)
                return kerr(err, -ENOMEM, "spool");
        _cleanup_close_ int out = mkostemp(path, O_CLOEXEC);
        if (out < 0)
                return kerr(err, -errno, "create %s", path);
        if ((r = copy_fd(fd, out, "standard input", err)) < 0) {
                (void) unlink(path);
                return r;
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}

int spool_path(Engine *e, const char *name, char **ret_path, KError **err) {
        _cleanup_free_ char *dir = NULL, *sub = NULL;
        int r = spool_dir(e, &dir, err);
        if (r < 0)
                return r;
        if (asprintf(&sub, "%s/spool-%d-XXXXXX", dir, (int) getpid()) < 0)
                return kerr(err, -ENOMEM, "spool");
        if (!mkdtemp(sub))
                return kerr(err, -errno, "create %s", sub);
        if (asprintf(ret_path, "%s/%s", sub, name) < 0) {
                (void) rmdir(sub);
                return kerr(err, -ENOMEM, "spool");
        }
        return 0;
}

int spool_to_fd(const char *path, int fd, KError **err) {
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return kerr(err, -errno, "open %s", path);
        return copy_fd(in, fd, "the archive", err);
}

void spool_remove(const char *path) {
        if (!path)
                return;
        (void) unlink(path);
        _cleanup_free_ char *dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash && startswith(slash + 1, "spool-"))
                return;         /* a spool_from_fd file: its directory is the shared tmp */
        if (slash) {
                *slash = 0;
                (void) rmdir(dir);
        }
}
