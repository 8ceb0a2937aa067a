/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "copy-tree.h"
#include "fd-util.h"

int open_in_container(int rootfd, const char *path, int flags) {
        struct open_how how = { .flags = (uint64_t) flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        int fd = (int) syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        return fd < 0 ? -errno : fd;
}

static int copy_file(int sfd, const struct stat *st, int dst_dirfd, const char *name, KError **err) {
        _cleanup_close_ int dfd = openat(dst_dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                                         st->st_mode & 07777);
        if (dfd < 0)
                return kerr(err, -errno, "create %s", name);
        for (off_t left = st->st_size; left > 0;) {
                ssize_t n = sendfile(dfd, sfd, NULL, left > (1 << 30) ? (1 << 30) : (size_t) left);
                if (n < 0)
                        return kerr(err, -errno, "copy %s", name);
                if (n == 0)
                        break;  /* the file shrank while we copied */
                left -= n;
        }
        return 0;
}

static void copy_meta(int dst_dirfd, const char *name, const struct stat *st, bool is_link) {
        if (geteuid() == 0)
                (void) fchownat(dst_dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
        if (!is_link)
                (void) fchmodat(dst_dirfd, name, st->st_mode & 07777, 0);
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        (void) utimensat(dst_dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int copy_fd(int sfd, const struct stat *st, int dst_dirfd, const char *name, KError **err);

static int copy_dir(int sfd, int dst_dirfd, const char *name, mode_t mode, KError **err) {
        if (mkdirat(dst_dirfd, name, mode & 07777) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create directory %s", name);
        _cleanup_close_ int dfd = openat(dst_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return kerr(err, -errno, "open directory %s", name);
        _cleanup_(closedirp) DIR *d = opendir_fd(sfd);
        if (!d)
                return kerr(err, -errno, "read directory %s", name);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                _cleanup_close_ int cfd = openat(dirfd(d), de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                struct stat cst;
                if (cfd < 0 || fstat(cfd, &cst) < 0)
                        return kerr(err, -errno, "stat %s/%s", name, de->d_name);
                int r = copy_fd(cfd, &cst, dfd, de->d_name, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* sfd: an O_PATH fd of the source object (not followed if a symlink). */
static int copy_fd(int sfd, const struct stat *st, int dst_dirfd, const char *name, KError **err) {
        int r;
        if (S_ISDIR(st->st_mode)) {
                _cleanup_close_ int dfd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return kerr(err, -errno, "open directory %s", name);
                r = copy_dir(dfd, dst_dirfd, name, st->st_mode, err);
        } else if (S_ISREG(st->st_mode)) {
                char proc[64];
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", sfd);
                _cleanup_close_ int rfd = open(proc, O_RDONLY | O_CLOEXEC);    /* reopen the O_PATH fd itself */
                if (rfd < 0)
                        return kerr(err, -errno, "open %s", name);
                r = copy_file(rfd, st, dst_dirfd, name, err);
        } else if (S_ISLNK(st->st_mode)) {
                char target[4096];
                ssize_t n = readlinkat(sfd, "", target, sizeof(target) - 1);
                if (n < 0)
                        return kerr(err, -errno, "read link %s", name);
                target[n] = 0;
                (void) unlinkat(dst_dirfd, name, 0);
                r = symlinkat(target, dst_dirfd, name) < 0 ? kerr(err, -errno, "create link %s", name) : 0;
        } else
                return 0;       /* devices, fifos, sockets: docker cp skips them too */
        if (r >= 0)
                copy_meta(dst_dirfd, name, st, S_ISLNK(st->st_mode));
        return r;
}

int copy_tree_at(int src_dirfd, const char *src, int dst_dirfd, const char *dst_name, KError **err) {
        _cleanup_close_ int sfd = openat(src_dirfd, src, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (sfd < 0 || fstat(sfd, &st) < 0)
                return kerr(err, -errno, "%s", src);
        return copy_fd(sfd, &st, dst_dirfd, dst_name, err);
}
