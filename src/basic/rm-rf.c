/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "rm-rf.h"

static int rm_children(int dfd, dev_t dev) {
        _cleanup_(closedirp) DIR *d = fdopendir(dfd);
        if (!d) {
                int r = -errno;
                close(dfd);
                return r;
        }
        int ret = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT && ret == 0)
                                ret = -errno;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (st.st_dev != dev) {
                                if (ret == 0)
                                        ret = -EBUSY;   /* a mount point: leave it, report it */
                                continue;
                        }
                        /* an unprivileged owner of a 0500 directory gives itself r+w+x to empty it;
                         * the mode from fstatat says when that is needed (not a chmod per directory) */
                        if ((st.st_mode & 0700) != 0700)
                                (void) fchmodat(dirfd(d), de->d_name, 0700, 0);
                        int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0) {
                                if (errno != ENOENT && ret == 0)
                                        ret = -errno;
                                continue;
                        }
                        int r = rm_children(cfd, dev);
                        if (r < 0 && ret == 0)
                                ret = r;
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT && ret == 0)
                                ret = -errno;
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && ret == 0)
                        ret = -errno;
        }
        return ret;
}

int rm_rf_at(int dirfd_, const char *name) {
        struct stat st;
        if (fstatat(dirfd_, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dirfd_, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        if ((st.st_mode & 0700) != 0700)
                (void) fchmodat(dirfd_, name, 0700, 0);         /* as in rm_children */
        int fd = openat(dirfd_, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        int r = rm_children(fd, st.st_dev);
        if (r < 0)
                return r;
        return unlinkat(dirfd_, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int rm_rf(const char *path) {
        return rm_rf_at(AT_FDCWD, path);
}
