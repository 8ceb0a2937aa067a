/* SPDX-License-Identifier: Apache-2.0 */
/* One tar entry -> the layer tree, always relative to the layer's directory fd. The rules (and the
 * escapes they close) are in layer.h; whiteouts follow image-spec layer.md "Whiteouts". */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer-internal.h"
#include "string-util.h"

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

/* openat2 confined below `dirfd`, refusing every symlink on the way (and the last component). */
static int open_beneath(int dirfd, const char *path, int flags) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC | O_NOFOLLOW),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        for (;;) {
                long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
                if (fd >= 0)
                        return (int) fd;
                if (errno != EAGAIN && errno != EINTR)
                        return -errno;
        }
}

static int parent_error(Unpack *u, int r, const char *parent) {
        struct stat st;
        /* O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR: tell the user what it really is. */
        if (r == -ENOTDIR && fstatat(u->root_fd, parent, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                r = -ELOOP;
        if (r == -ENOTDIR)
                return unpack_fail(u, -ENOTDIR, "parent '%s' is not a directory (or passes through a symlink)", parent);
        if (r == -ELOOP)
                return unpack_fail(u, -ELOOP, "parent '%s' is a symlink: refusing to follow it", parent);
        if (r == -EXDEV)
                return unpack_fail(u, -EXDEV, "parent '%s' leaves the layer", parent);
        return unpack_fail(u, r, "cannot open parent '%s': %s", parent, strerror(-r));
}

/* Open (creating missing directories 0755, as tar does for implicit parents) `parent`. */
static int open_parent_create(Unpack *u, const char *parent) {
        int fd = open_beneath(u->root_fd, parent, O_RDONLY | O_DIRECTORY);
        if (fd != -ENOENT)
                return fd < 0 ? parent_error(u, fd, parent) : fd;
        _cleanup_close_ int cur = open_beneath(u->root_fd, ".", O_RDONLY | O_DIRECTORY);
        if (cur < 0)
                return parent_error(u, cur, ".");
        _cleanup_free_ char *copy = strdup(parent);
        if (!copy)
                return unpack_fail(u, -ENOMEM, "out of memory");
        for (char *s = copy, *e; s && *s; s = e) {
                e = strchr(s, '/');
                if (e)
                        *e++ = '\0';
                int next = open_beneath(cur, s, O_RDONLY | O_DIRECTORY);
                if (next == -ENOENT) {
                        if (mkdirat(cur, s, 0755) < 0 && errno != EEXIST)
                                return unpack_fail(u, -errno, "cannot create directory '%s': %m", s);
                        next = open_beneath(cur, s, O_RDONLY | O_DIRECTORY);
                }
                if (next < 0)
                        return parent_error(u, next, parent);
                safe_close(cur);
                cur = next;
        }
        return TAKE_FD(cur);
}

/* The parent fd of most entries is the previous entry's parent: keep one cached. The returned fd
 * belongs to the cache. */
static int get_parent(Unpack *u, const char *parent) {
        if (!*parent)
                return u->root_fd;
        if (u->cached_parent && streq(u->cached_parent, parent))
                return u->cached_fd;
        int fd = open_parent_create(u, parent);
        if (fd < 0)
                return fd;
        char *copy = strdup(parent);
        if (!copy) {
                close(fd);
                return unpack_fail(u, -ENOMEM, "out of memory");
        }
        free(u->cached_parent);
        safe_close(u->cached_fd);
        u->cached_parent = copy;
        u->cached_fd = fd;
        return fd;
}

static void drop_cache(Unpack *u) {
        u->cached_parent = mfree(u->cached_parent);
        u->cached_fd = safe_close(u->cached_fd);
}

/* Make room for a new `name`: an existing directory stays when a directory is wanted; anything
 * else is removed first (a later tar entry replaces an earlier one). Returns 1 if kept. */
static int prepare_target(Unpack *u, int parent_fd, const char *name, bool want_dir) {
        struct stat st;
        if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : unpack_fail(u, -errno, "stat: %m");
        if (want_dir && S_ISDIR(st.st_mode))
                return 1;
        /* The cached parent may be below a directory that goes away now; when it is `parent_fd`
         * itself it stays (the caller creates the entry in it). */
        if (S_ISDIR(st.st_mode) && u->cached_fd != parent_fd)
                drop_cache(u);
        int r = S_ISDIR(st.st_mode) ? rm_rf_at(parent_fd, name) : (unlinkat(parent_fd, name, 0) < 0 ? -errno : 0);
        return r < 0 ? unpack_fail(u, r, "cannot replace the existing entry: %s", strerror(-r)) : 0;
}

static bool forbidden_xattr(const char *name) {
        /* Forged overlay metadata (redirect, opaque, metacopy, origin) must come only from us. */
        return startswith(name, "trusted.overlay.") || startswith(name, "user.overlay.");
}

static void apply_xattrs(Unpack *u, int fd, struct archive_entry *e) {
        const char *name;
        const void *value;
        size_t size;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                if (forbidden_xattr(name) || fsetxattr(fd, name, value, size, 0) < 0)
                        u->res->skipped_xattrs++;
        }
}

static void entry_times(struct archive_entry *e, struct timespec ts[2]) {
        ts[1] = (struct timespec) { archive_entry_mtime(e), archive_entry_mtime_nsec(e) };
        ts[0] = archive_entry_atime_is_set(e) ? (struct timespec) { archive_entry_atime(e), archive_entry_atime_nsec(e) }
                                              : ts[1];
}

static mode_t entry_mode(Unpack *u, struct archive_entry *e) {
        mode_t m = archive_entry_perm(e) & 07777;
        return u->keep_setid ? m : (m & ~(mode_t) (S_ISUID | S_ISGID));
}

static int chown_fd(Unpack *u, int fd, struct archive_entry *e) {
        if (!u->can_chown) {
                u->res->skipped_owners++;
                return 0;
        }
        if (fchown(fd, (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e)) == 0)
                return 0;
        if (errno == EINVAL) {  /* id not mapped in this user namespace */
                u->res->skipped_owners++;
                return 0;
        }
        return unpack_fail(u, -errno, "chown: %m");
}

/* Ownership first (chown clears setuid and file capabilities), then mode, xattrs, times. */
static int finish_fd(Unpack *u, int fd, struct archive_entry *e, bool is_dir) {
        int r = chown_fd(u, fd, e);
        if (r < 0)
                return r;
        if (!is_dir && fchmod(fd, entry_mode(u, e)) < 0)
                return unpack_fail(u, -errno, "chmod: %m");
        apply_xattrs(u, fd, e);
        struct timespec ts[2];
        entry_times(e, ts);
        if (!is_dir && futimens(fd, ts) < 0)
                return unpack_fail(u, -errno, "set times: %m");
        return 0;
}

static int write_data(Unpack *u, int fd, struct archive_entry *e) {
        int64_t end = 0;
        for (;;) {
                const void *buf;
                size_t size;
                la_int64_t off;
                int r = archive_read_data_block(u->tar, &buf, &size, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return unpack_fail(u, -EBADMSG, "invalid tar: %s", archive_error_string(u->tar));
                for (size_t done = 0; done < size;) {
                        ssize_t n = pwrite(fd, (const char *) buf + done, size - done, (off_t) (off + (int64_t) done));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return unpack_fail(u, -errno, "write: %m");
                        done += (size_t) n;
                }
                if (off + (int64_t) size > end)
                        end = off + (int64_t) size;
        }
        int64_t want = archive_entry_size(e);
        if (want > end && ftruncate(fd, (off_t) want) < 0)     /* sparse tail */
                return unpack_fail(u, -errno, "truncate: %m");
        u->res->unpacked_size += (uint64_t) (want > end ? want : end);
        return 0;
}

static int make_file(Unpack *u, int pfd, const char *name, struct archive_entry *e) {
        _cleanup_close_ int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return unpack_fail(u, -errno, "create: %m");
        int r = write_data(u, fd, e);
        return r < 0 ? r : finish_fd(u, fd, e, false);
}

static int defer_dir(Unpack *u, const char *path, struct archive_entry *e) {
        if (u->n_dirs == u->cap_dirs) {
                size_t cap = u->cap_dirs ? u->cap_dirs * 2 : 64;
                DeferredDir *d = realloc(u->dirs, cap * sizeof(*d));
                if (!d)
                        return unpack_fail(u, -ENOMEM, "out of memory");
                u->dirs = d;
                u->cap_dirs = cap;
        }
        DeferredDir *d = &u->dirs[u->n_dirs];
        if (!(d->path = strdup(path)))
                return unpack_fail(u, -ENOMEM, "out of memory");
        d->mode = entry_mode(u, e) | (u->keep_setid ? 0 : (archive_entry_perm(e) & S_ISGID));
        entry_times(e, d->times);
        u->n_dirs++;
        return 0;
}

static int make_dir(Unpack *u, int pfd, const char *name, const char *path, struct archive_entry *e) {
        if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
                return unpack_fail(u, -errno, "mkdir: %m");
        _cleanup_close_ int fd = open_beneath(pfd, name, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
                return unpack_fail(u, fd, "open directory: %s", strerror(-fd));
        int r = finish_fd(u, fd, e, true);
        return r < 0 ? r : defer_dir(u, path, e);
}

static int make_symlink(Unpack *u, int pfd, const char *name, struct archive_entry *e) {
        const char *target = archive_entry_symlink(e);
        if (!target || !*target)
                return unpack_fail(u, -EBADMSG, "symlink without a target");
        /* The target is stored as data: nothing here ever resolves it. */
        if (symlinkat(target, pfd, name) < 0)
                return unpack_fail(u, -errno, "symlink: %m");
        if (u->can_chown && fchownat(pfd, name, (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e),
                                     AT_SYMLINK_NOFOLLOW) < 0 && errno != EINVAL)
                return unpack_fail(u, -errno, "chown: %m");
        struct timespec ts[2];
        entry_times(e, ts);
        (void) utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
        return 0;
}

static int make_node(Unpack *u, int pfd, const char *name, struct archive_entry *e, mode_t type) {
        if (type != S_IFIFO && !u->can_mknod) {
                u->res->skipped_devices++;
                return 0;
        }
        if (mknodat(pfd, name, type | 0600, archive_entry_rdev(e)) < 0)
                return unpack_fail(u, -errno, "mknod: %m");
        _cleanup_close_ int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return unpack_fail(u, -errno, "open node: %m");
        if (u->can_chown && fchownat(fd, "", (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e), AT_EMPTY_PATH) < 0 &&
            errno != EINVAL)
                return unpack_fail(u, -errno, "chown: %m");
        if (fchmodat(pfd, name, entry_mode(u, e), 0) < 0)
                return unpack_fail(u, -errno, "chmod: %m");
        struct timespec ts[2];
        entry_times(e, ts);
        (void) utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
        return 0;
}

static void split_path(char *path, const char **ret_parent, const char **ret_name) {
        char *slash = strrchr(path, '/');
        if (slash) {
                *slash = '\0';
                *ret_parent = path;
                *ret_name = slash + 1;
        } else {
                *ret_parent = "";
                *ret_name = path;
        }
}

/* Hardlink targets are earlier entries of this layer: same cleaning, no symlink on the way, no
 * directory created for them. */
static int make_hardlink(Unpack *u, int pfd, const char *name, const char *link) {
        _cleanup_free_ char *target = NULL;
        int r = layer_clean_path(link, &target);
        if (r == -EXDEV)
                return unpack_fail(u, -EXDEV, "hardlink target '%s' is outside the layer", link);
        if (r < 0 || !*target)
                return unpack_fail(u, r < 0 ? r : -EINVAL, "invalid hardlink target '%s'", link);
        const char *tparent, *tname;
        split_path(target, &tparent, &tname);
        _cleanup_close_ int tfd = open_beneath(u->root_fd, *tparent ? tparent : ".", O_RDONLY | O_DIRECTORY);
        if (tfd < 0)
                return unpack_fail(u, tfd, "hardlink target '%s': %s", link,
                                   tfd == -ELOOP ? "a parent is a symlink" : strerror(-tfd));
        if (linkat(tfd, tname, pfd, name, 0) < 0)
                return unpack_fail(u, -errno, "hardlink to '%s': %m", link);
        return 0;
}

static int make_whiteout(Unpack *u, int pfd, const char *name) {
        if (streq(name, WH_OPAQUE)) {
                if (fsetxattr(pfd, u->opaque_xattr, "y", 1, 0) < 0)
                        return unpack_fail(u, -errno, "set %s: %m", u->opaque_xattr);
                return 0;
        }
        if (startswith(name, WH_META_PREFIX))   /* AUFS bookkeeping (.wh..wh.plnk ...): not content */
                return 0;
        const char *victim = name + STRLEN(WH_PREFIX);
        if (!*victim || streq(victim, ".") || streq(victim, ".."))
                return unpack_fail(u, -EINVAL, "invalid whiteout");
        int r = prepare_target(u, pfd, victim, false);
        if (r < 0)
                return r;
        if (mknodat(pfd, victim, S_IFCHR | 0000, makedev(0, 0)) < 0)
                return unpack_fail(u, -errno, "cannot create the overlay whiteout '%s': %m", victim);
        return 0;
}

static int make_entry(Unpack *u, int pfd, const char *name, const char *path, struct archive_entry *e) {
        const char *link = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        int r = prepare_target(u, pfd, name, !link && type == AE_IFDIR);
        if (r < 0)
                return r;
        if (link)
                return make_hardlink(u, pfd, name, link);
        switch (type) {
        case AE_IFREG:
                return make_file(u, pfd, name, e);
        case AE_IFDIR:
                return make_dir(u, pfd, name, path, e);
        case AE_IFLNK:
                return make_symlink(u, pfd, name, e);
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
                return make_node(u, pfd, name, e, type);
        default:
                return unpack_fail(u, -EBADMSG, "unsupported entry type 0%o", (unsigned) type);
        }
}

int unpack_entry(Unpack *u, struct archive_entry *e) {
        const char *raw = archive_entry_pathname(e);
        if (!raw || !*raw)
                return unpack_fail(u, -EBADMSG, "entry without a name");
        _cleanup_free_ char *path = NULL;
        int r = layer_clean_path(raw, &path);
        if (r == -EXDEV)
                return unpack_fail(u, -EXDEV, "path escapes the layer ('..' above its root)");
        if (r < 0)
                return unpack_fail(u, r, "%s", strerror(-r));
        if (!*path)
                return 0;       /* "./": the layer root itself; overlay takes the root's mode from the top */
        _cleanup_free_ char *full = strdup(path);
        if (!full)
                return unpack_fail(u, -ENOMEM, "out of memory");
        const char *parent, *name;
        split_path(path, &parent, &name);
        int pfd = get_parent(u, parent);
        if (pfd < 0)
                return pfd;
        if (!u->o->no_whiteouts && startswith(name, WH_PREFIX))
                return make_whiteout(u, pfd, name);
        return make_entry(u, pfd, name, full, e);
}

int unpack_finish_dirs(Unpack *u) {
        for (size_t i = 0; i < u->n_dirs; i++) {     /* in entry order: a repeated entry wins */
                DeferredDir *d = &u->dirs[i];
                _cleanup_close_ int fd = open_beneath(u->root_fd, d->path, O_RDONLY | O_DIRECTORY);
                if (fd < 0)
                        continue;       /* replaced or removed by a later entry */
                if (fchmod(fd, d->mode) < 0 || futimens(fd, d->times) < 0)
                        return unpack_fail(u, -errno, "directory '%s': %m", d->path);
        }
        return 0;
}
