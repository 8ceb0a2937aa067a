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

#include <archive.h>
#include <archive_entry.h>

#include "copy-tree.h"
#include "fd-util.h"
#include "layer.h"

int open_in_container(int rootfd, const char *path, int flags) {
        struct open_how how = { .flags = (uint64_t) flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        int fd = (int) syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        return fd < 0 ? -errno : fd;
}

/* [from, to) of sfd to the same offsets of dfd; 0, or -errno; stops early if the file shrank. */
static int copy_range(int sfd, int dfd, off_t from, off_t to) {
        if (lseek(dfd, from, SEEK_SET) < 0)
                return -errno;
        for (off_t in = from; in < to;) {
                ssize_t n = sendfile(dfd, sfd, &in, to - in > (1 << 30) ? (1 << 30) : (size_t) (to - in));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
        }
        return 0;
}

/* Metadata through the object's own fd: a name could be swapped for a symlink to a host file by a
 * running container between our create and a chmod by name. */
static void copy_meta_fd(int fd, const struct stat *st) {
        if (geteuid() == 0)
                (void) fchown(fd, st->st_uid, st->st_gid);
        (void) fchmod(fd, st->st_mode & 07777);
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        (void) futimens(fd, ts);
}

/* The destination file, opened for writing: never a FIFO or device the container put there (the
 * host would block on it or write to a device the container cannot open itself). An existing
 * regular file is truncated in place (it may be a bind mount, as /etc/hosts is); anything else but
 * a directory is replaced. */
static int open_dest_file(int dst_dirfd, const char *name, mode_t mode) {
        struct stat st;
        if (fstatat(dst_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
                if (S_ISDIR(st.st_mode))
                        return -EISDIR;
                if (unlinkat(dst_dirfd, name, 0) < 0)
                        return -errno;
        }
        int fd = openat(dst_dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        int r = fd_verify_regular(fd);
        if (r >= 0 && ftruncate(fd, 0) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r == -EINVAL ? -EAGAIN : r;      /* swapped under us */
        }
        return fd;
}

/* Only the data: holes stay holes (SEEK_DATA/SEEK_HOLE), so a sparse file of 1 TiB costs what it
 * holds. At most st_size bytes are read: a file growing meanwhile is cut there. */
static int copy_file(int sfd, const struct stat *st, int dst_dirfd, const char *name, KError **err) {
        _cleanup_close_ int dfd = open_dest_file(dst_dirfd, name, st->st_mode & 07777);
        if (dfd < 0)
                return kerr(err, dfd, "create %s", name);
        off_t size = st->st_size;
        for (off_t pos = 0; pos < size;) {
                off_t data = lseek(sfd, pos, SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        break;                  /* the rest is a hole */
                if (data < 0)
                        data = pos;             /* no SEEK_DATA here: copy densely */
                off_t hole = data >= size ? size : lseek(sfd, data, SEEK_HOLE);
                if (hole < 0 || hole > size)
                        hole = size;
                if (data >= size)
                        break;
                int r = copy_range(sfd, dfd, data, hole);
                if (r < 0)
                        return kerr(err, r, "copy %s", name);
                pos = hole;
        }
        if (ftruncate(dfd, size) < 0)
                return kerr(err, -errno, "copy %s", name);
        copy_meta_fd(dfd, st);
        return 0;
}

/* A symlink's own owner and times (never followed). */
static void copy_link_meta(int dst_dirfd, const char *name, const struct stat *st) {
        if (geteuid() == 0)
                (void) fchownat(dst_dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        (void) utimensat(dst_dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int copy_fd(int sfd, const struct stat *st, int dst_dirfd, const char *name, KError **err);

static int copy_dir(int sfd, int dst_dirfd, const char *name, const struct stat *st, KError **err) {
        if (mkdirat(dst_dirfd, name, st->st_mode & 07777) < 0 && errno != EEXIST)
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
        copy_meta_fd(dfd, st);
        return 0;
}

/* sfd: an O_PATH fd of the source object (not followed if a symlink). */
static int copy_fd(int sfd, const struct stat *st, int dst_dirfd, const char *name, KError **err) {
        int r;
        if (S_ISDIR(st->st_mode)) {
                _cleanup_close_ int dfd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return kerr(err, -errno, "open directory %s", name);
                r = copy_dir(dfd, dst_dirfd, name, st, err);
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
                if (r >= 0)
                        copy_link_meta(dst_dirfd, name, st);
        } else
                return 0;       /* devices, fifos, sockets: docker cp skips them too */
        return r;
}

int copy_tree_at(int src_dirfd, const char *src, int dst_dirfd, const char *dst_name, KError **err) {
        _cleanup_close_ int sfd = openat(src_dirfd, src, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (sfd < 0 || fstat(sfd, &st) < 0)
                return kerr(err, -errno, "%s", src);
        return copy_fd(sfd, &st, dst_dirfd, dst_name, err);
}

/* ---- a tree as a tar stream, and a tar stream into a tree ---- */

static int tar_fail(struct archive *a, const char *path, KError **err) {
        return kerr_msg(err, KERR_GENERIC, -EIO, "write the tar of %s: %s", path, archive_error_string(a) ?: "error");
}

static int tar_add(struct archive *a, int sfd, const struct stat *st, const char *path, KError **err);

static int tar_add_dir(struct archive *a, int sfd, const char *path, KError **err) {
        _cleanup_close_ int dfd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_(closedirp) DIR *d = dfd >= 0 ? opendir_fd(dfd) : NULL;
        if (!d)
                return kerr(err, -errno, "read directory %s", path);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                _cleanup_close_ int cfd = openat(dirfd(d), de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                struct stat cst;
                _cleanup_free_ char *child = NULL;
                if (cfd < 0 || fstat(cfd, &cst) < 0)
                        return kerr(err, -errno, "stat %s/%s", path, de->d_name);
                if (asprintf(&child, "%s/%s", path, de->d_name) < 0)
                        return kerr(err, -ENOMEM, "tar");
                int r = tar_add(a, cfd, &cst, child, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The data of a regular file: what st_size says and no more (a growing file is cut, a shrinking one
 * padded with zeros by libarchive). */
static int tar_add_data(struct archive *a, int sfd, const struct stat *st, const char *path, KError **err) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", sfd);
        _cleanup_close_ int rfd = open(proc, O_RDONLY | O_CLOEXEC);    /* the O_PATH fd's own inode */
        if (rfd < 0)
                return kerr(err, -errno, "open %s", path);
        /* on the heap: kapseld copies on a small thread stack */
        const size_t size = 65536;
        _cleanup_free_ char *buf = malloc(size);
        if (!buf)
                return kerr(err, -ENOMEM, "read %s", path);
        for (off_t left = st->st_size; left > 0;) {
                ssize_t n = read(rfd, buf, left < (off_t) size ? (size_t) left : size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return kerr(err, -errno, "read %s", path);
                if (n == 0)
                        break;
                if (archive_write_data(a, buf, (size_t) n) < 0)
                        return tar_fail(a, path, err);
                left -= n;
        }
        return 0;
}

static int tar_add(struct archive *a, int sfd, const struct stat *st, const char *path, KError **err) {
        if (S_ISSOCK(st->st_mode))
                return 0;       /* not in a tar */
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return kerr(err, -ENOMEM, "tar");
        archive_entry_copy_stat(e, st);
        archive_entry_set_pathname(e, path);
        if (!S_ISREG(st->st_mode))
                archive_entry_set_size(e, 0);
        if (S_ISLNK(st->st_mode)) {
                char target[4096];
                ssize_t n = readlinkat(sfd, "", target, sizeof(target) - 1);
                if (n < 0) {
                        archive_entry_free(e);
                        return kerr(err, -errno, "read link %s", path);
                }
                target[n] = 0;
                archive_entry_set_symlink(e, target);
        }
        int r = archive_write_header(a, e) < ARCHIVE_WARN ? tar_fail(a, path, err) : 0;
        archive_entry_free(e);
        if (r >= 0 && S_ISREG(st->st_mode))
                r = tar_add_data(a, sfd, st, path, err);
        if (r >= 0 && archive_write_finish_entry(a) < ARCHIVE_WARN)
                r = tar_fail(a, path, err);
        if (r >= 0 && S_ISDIR(st->st_mode))
                r = tar_add_dir(a, sfd, path, err);
        return r;
}

int copy_tree_to_tar(int src_dirfd, const char *src, const char *name, int out_fd, KError **err) {
        _cleanup_close_ int sfd = openat(src_dirfd, src, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (sfd < 0 || fstat(sfd, &st) < 0)
                return kerr(err, -errno, "%s", src);
        struct archive *a = archive_write_new();
        if (!a)
                return kerr(err, -ENOMEM, "tar");
        int r = 0;
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK || archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
            archive_write_open_fd(a, out_fd) != ARCHIVE_OK)
                r = tar_fail(a, name, err);
        if (r >= 0)
                r = tar_add(a, sfd, &st, name, err);
        if (archive_write_close(a) != ARCHIVE_OK && r >= 0)
                r = tar_fail(a, name, err);
        archive_write_free(a);
        return r;
}

int copy_tar_into(int in_fd, int dst_dirfd, const char *label, KError **err) {
        LayerUnpackOptions o = { .label = label, .tee_fd = -1, .no_whiteouts = true, .rootless = !layer_host_privileged() };
        LayerUnpackResult res;
        return layer_unpack(in_fd, dst_dirfd, &o, &res, err);
}
