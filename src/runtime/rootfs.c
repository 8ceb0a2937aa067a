/* SPDX-License-Identifier: Apache-2.0 */
#include "rootfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fd-util.h"
#include "path-util.h"
#include "string-util.h"

int rootfs_open_devnull(KError **err) {
        _cleanup_close_ int fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return kerr_kind(err, KERR_HOST, -errno, "open host /dev/null");
        struct stat st;
        if (fstat(fd, &st) < 0)
                return kerr(err, -errno, "stat host /dev/null");
        if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
                return kerr_msg(err, KERR_HOST, -EPERM, "host /dev/null is not the null device (1:3)");
        return TAKE_FD(fd);
}

/* Mount flags the kernel locks on a mount we do not own (user namespaces): a remount that
 * drops them fails with EPERM, so they are carried over from the current mount. */
static unsigned long locked_flags(int fd) {
        static const struct { unsigned long st, ms; } map[] = {
                { ST_RDONLY, MS_RDONLY }, { ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV },
                { ST_NOEXEC, MS_NOEXEC }, { ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
                { ST_RELATIME, MS_RELATIME },
        };
        struct statvfs sv;
        unsigned long ms = 0;
        if (fstatvfs(fd, &sv) < 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (sv.f_flag & map[i].st)
                        ms |= map[i].ms;
        return ms;
}

int rootfs_prepare(RootfsContext *ctx, KError **err) {
        const Plan *p = ctx->plan;
        if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                return kerr(err, -errno, "make / a slave mount");
        /* Bind sources must be mounts of this namespace: the parent's /dev/null fd names
         * the host namespace's mount (mount(2) says EINVAL). Reopen and re-verify it here. */
        int devnull = rootfs_open_devnull(err);
        if (devnull < 0)
                return devnull;
        ctx->devnull_fd = devnull;
        _cleanup_close_ int fd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return kerr_kind(err, KERR_ROOTFS, -errno, "rootfs '%s'", p->rootfs);
        char path[FD_PATH_MAX];
        if (mount(fd_path(fd, path), p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                return kerr_kind(err, KERR_ROOTFS, -errno, "bind rootfs '%s' onto itself", p->rootfs);
        ctx->rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (ctx->rootfd < 0)
                return kerr_kind(err, KERR_ROOTFS, -errno, "reopen rootfs '%s'", p->rootfs);
        return 0;
}

/* Reopen `dest` inside the rootfs: after a mount, the new fd names the mount's root. */
static int reopen_target(RootfsContext *ctx, const char *dest, KError **err) {
        int fd = open_in_root(ctx->rootfd, dest, O_PATH, 0);
        if (fd < 0)
                return kerr(err, fd, "reopen mount target %s", dest);
        return fd;
}

static int remount_flags(RootfsContext *ctx, const char *dest, unsigned long flags, KError **err) {
        _cleanup_close_ int fd = reopen_target(ctx, dest, err);
        if (fd < 0)
                return fd;
        char path[FD_PATH_MAX];
        unsigned long keep = ctx->plan->userns ? locked_flags(fd) & ~MS_RDONLY : 0;
        if (mount(NULL, fd_path(fd, path), NULL, MS_REMOUNT | MS_BIND | flags | keep, NULL) < 0)
                return kerr(err, -errno, "remount %s with its flags", dest);
        return 0;
}

static int set_propagation(RootfsContext *ctx, const PlanMount *m, KError **err) {
        if (!m->propagation)
                return 0;
        _cleanup_close_ int fd = reopen_target(ctx, m->dest, err);
        if (fd < 0)
                return fd;
        char path[FD_PATH_MAX];
        if (mount(NULL, fd_path(fd, path), NULL, m->propagation, NULL) < 0)
                return kerr(err, -errno, "set propagation of %s", m->dest);
        return 0;
}

/* "rro": MOUNT_ATTR_RDONLY on the mount and every mount below it. */
static int set_recursive_ro(RootfsContext *ctx, const PlanMount *m, KError **err) {
        if (!m->recursive_ro)
                return 0;
        _cleanup_close_ int fd = reopen_target(ctx, m->dest, err);
        if (fd < 0)
                return fd;
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
        if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
                return kerr_kind(err, errno == ENOSYS ? KERR_HOST : KERR_GENERIC, -errno,
                                 "mount %s: make it recursively read-only (\"rro\" needs Linux 5.12)", m->dest);
        return 0;
}

static int mount_bind(RootfsContext *ctx, const PlanMount *m, KError **err) {
        /* a detached copy made by the parent, for the spec's own mounts (not the cgroup binds) */
        int tree = -1;
        for (size_t i = 0; ctx->bind_fds && i < ctx->plan->n_mounts; i++)
                if (m == &ctx->plan->mounts[i])
                        tree = ctx->bind_fds[i];
        _cleanup_close_ int src = tree >= 0 ? fcntl(tree, F_DUPFD_CLOEXEC, 3) : open(m->source, O_PATH | O_CLOEXEC);
        if (src < 0)
                return kerr_kind(err, KERR_CONFIG, -errno, "bind mount source '%s' for %s", m->source, m->dest);
        struct stat st;
        if (fstat(src, &st) < 0)
                return kerr(err, -errno, "stat '%s'", m->source);
        _cleanup_close_ int target = ensure_in_root(ctx->rootfd, m->dest, S_ISDIR(st.st_mode), 0755);
        if (target < 0)
                return kerr(err, target, "create mount target %s in the rootfs", m->dest);
        char sp[FD_PATH_MAX], tp[FD_PATH_MAX];
        if (tree >= 0) {
                if (syscall(SYS_move_mount, src, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                        return kerr(err, -errno, "attach '%s' onto %s", m->source, m->dest);
        } else if (mount(fd_path(src, sp), fd_path(target, tp), NULL, MS_BIND | (m->recursive ? MS_REC : 0), NULL) < 0)
                return kerr(err, -errno, "bind '%s' onto %s", m->source, m->dest);
        if (m->flags) {
                int r = remount_flags(ctx, m->dest, m->flags, err);
                if (r < 0)
                        return r;
        }
        int r = set_recursive_ro(ctx, m, err);
        return r < 0 ? r : set_propagation(ctx, m, err);
}

/* A read-only /dev is mounted writable, so the device nodes, /dev/pts and /dev/console can be
 * made in it, and turned read-only in rootfs_mask_and_protect (as runc does). */
static bool is_ro_dev(const PlanMount *m) {
        return m->kind == PLAN_MOUNT_FS && streq(m->dest, "/dev") && (m->flags & MS_RDONLY);
}

static int mount_fs(RootfsContext *ctx, const PlanMount *m, KError **err) {
        /* procfs and sysfs go on a real directory: a symlink in the image (/proc -> elsewhere)
         * would put them where the image wants, so it is refused, as runc does. */
        if (streq(m->fstype, "proc") || streq(m->fstype, "sysfs")) {
                _cleanup_close_ int at = open_in_root(ctx->rootfd, m->dest, O_PATH | O_NOFOLLOW, 0);
                struct stat st;
                if (at >= 0 && fstat(at, &st) >= 0 && !S_ISDIR(st.st_mode))
                        return kerr_msg(err, KERR_GENERIC, -ENOTDIR, "mount %s: %s must be mounted on ordinary "
                                        "directory, not a symlink or file in the image", m->fstype, m->dest);
        }
        _cleanup_close_ int target = ensure_in_root(ctx->rootfd, m->dest, true, 0755);
        if (target < 0)
                return kerr(err, target, "create mount target %s in the rootfs", m->dest);
        char tp[FD_PATH_MAX];
        unsigned long flags = is_ro_dev(m) ? m->flags & ~MS_RDONLY : m->flags;
        if (mount(m->source, fd_path(target, tp), m->fstype, flags, m->data) < 0) {
                int r = -errno;
                /* A user namespace without its own network namespace cannot mount sysfs, and
                 * one that does not own the ipc namespace cannot mount mqueue: bind the host's
                 * instead, read-only, as runc does. */
                bool fallback = (r == -EPERM || r == -EBUSY) &&
                                (streq(m->fstype, "sysfs") || streq(m->fstype, "mqueue"));
                if (!fallback)
                        return kerr(err, r, "mount %s (%s) on %s", m->fstype, m->source, m->dest);
                const char *host = streq(m->fstype, "sysfs") ? "/sys" : "/dev/mqueue";
                if (mount(host, tp, NULL, MS_BIND | MS_REC, NULL) < 0)
                        return kerr(err, -errno, "bind host %s on %s", host, m->dest);
                int q = remount_flags(ctx, m->dest, m->flags | MS_RDONLY, err);
                if (q < 0)
                        return q;
        }
        return set_propagation(ctx, m, err);
}

/* "cgroup" mounts: without a cgroup namespace, a tmpfs with each host hierarchy's own
 * container directory bound into it, all read-only; with one on a v2 host, a fresh cgroup2. */
static int mount_cgroup_hierarchy(RootfsContext *ctx, const char *dest, const char *name, bool ro,
                                  KError **err) {
        _cleanup_free_ char *host = NULL, *sub = NULL;
        if (asprintf(&host, "/sys/fs/cgroup/%s%s", name, ctx->cgroup_path ? ctx->cgroup_path : "") < 0 ||
            asprintf(&sub, "%s/%s", dest, name) < 0)
                return kerr(err, -ENOMEM, "cgroup mount");
        _cleanup_close_ int src = open(host, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (src < 0)
                return 0;       /* this hierarchy has no directory for us: nothing to show */
        _cleanup_close_ int target = ensure_in_root(ctx->rootfd, sub, true, 0755);
        if (target < 0)
                return kerr(err, target, "create %s", sub);
        char sp[FD_PATH_MAX], tp[FD_PATH_MAX];
        if (mount(fd_path(src, sp), fd_path(target, tp), NULL, MS_BIND, NULL) < 0)
                return kerr(err, -errno, "bind %s on %s", host, sub);
        return remount_flags(ctx, sub, MS_NOSUID | MS_NODEV | MS_NOEXEC | (ro ? MS_RDONLY : 0), err);
}

static int mount_cgroup(RootfsContext *ctx, const PlanMount *m, KError **err) {
        /* The container's own cgroup directories are writable only when the mount asks for it
         * (as runc); without a cgroup namespace the tmpfs around them stays read-only. */
        bool ro = (m->flags & MS_RDONLY) != 0;
        struct statfs sfs;
        if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC) {
                if (ctx->cgroup_ns) {
                        _cleanup_close_ int target = ensure_in_root(ctx->rootfd, m->dest, true, 0755);
                        if (target < 0)
                                return kerr(err, target, "create %s", m->dest);
                        char tp[FD_PATH_MAX];
                        if (mount("cgroup2", fd_path(target, tp), "cgroup2",
                                  (m->flags & ~MS_RDONLY) | (ro ? MS_RDONLY : 0), NULL) < 0)
                                return kerr(err, -errno, "mount cgroup2 on %s", m->dest);
                        return 0;
                }
                /* no namespace: bind our own directory only, read-only */
                PlanMount bind = { .kind = PLAN_MOUNT_BIND, .dest = m->dest, .flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC };
                _cleanup_free_ char *src = NULL;
                if (asprintf(&src, "/sys/fs/cgroup%s", ctx->cgroup_path ? ctx->cgroup_path : "") < 0)
                        return -ENOMEM;
                bind.source = src;
                return mount_bind(ctx, &bind, err);
        }

        /* v1 / hybrid: tmpfs, one directory per hierarchy, symlinks for co-mounted names */
        _cleanup_close_ int target = ensure_in_root(ctx->rootfd, m->dest, true, 0755);
        if (target < 0)
                return kerr(err, target, "create %s", m->dest);
        char tp[FD_PATH_MAX];
        if (mount("tmpfs", fd_path(target, tp), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
                return kerr(err, -errno, "mount tmpfs on %s", m->dest);
        _cleanup_close_ int destfd = reopen_target(ctx, m->dest, err);
        if (destfd < 0)
                return destfd;
        DIR *d = opendir("/sys/fs/cgroup");
        if (!d)
                return kerr(err, -errno, "list /sys/fs/cgroup");
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (de->d_type == DT_LNK) {
                        char link[256];
                        ssize_t n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
                        if (n > 0) {
                                link[n] = '\0';
                                if (symlinkat(link, destfd, de->d_name) < 0 && errno != EEXIST)
                                        r = kerr(err, -errno, "symlink %s/%s", m->dest, de->d_name);
                        }
                        continue;
                }
                if (de->d_type == DT_DIR)
                        r = mount_cgroup_hierarchy(ctx, m->dest, de->d_name, ro, err);
        }
        closedir(d);
        if (r < 0)
                return r;
        return ro || !ctx->cgroup_ns ? remount_flags(ctx, m->dest, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, err) : 0;
}

static int create_device(RootfsContext *ctx, const PlanDevice *d, KError **err) {
        _cleanup_free_ char *dir = strdup(d->path);
        if (!dir)
                return kerr(err, -ENOMEM, "device");
        char *slash = strrchr(dir, '/');
        *slash = '\0';
        const char *name = slash + 1;
        _cleanup_close_ int dirfd = mkdir_p_in_root(ctx->rootfd, *dir ? dir : "/", 0755);
        if (dirfd < 0)
                return kerr(err, dirfd, "create directory for device %s", d->path);
        (void) unlinkat(dirfd, name, 0);
        if (!ctx->plan->userns) {
                if (mknodat(dirfd, name, d->mode, d->rdev) < 0)
                        return kerr(err, -errno, "mknod %s", d->path);
                /* mknod applies the umask (0666 would become 0644): set the asked mode. */
                if (fchmodat(dirfd, name, d->mode & 07777, 0) < 0)
                        return kerr(err, -errno, "chmod %s", d->path);
                if (fchownat(dirfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return kerr(err, -errno, "chown %s", d->path);
                return 0;
        }
        /* In a user namespace mknod is not allowed: bind the host's node onto an empty file. */
        _cleanup_close_ int target = ensure_in_root(ctx->rootfd, d->path, false, 0644);
        if (target < 0)
                return kerr(err, target, "create %s", d->path);
        _cleanup_close_ int src = open(d->path, O_PATH | O_CLOEXEC);
        if (src < 0)
                return kerr(err, -errno, "open host device %s to bind it", d->path);
        char sp[FD_PATH_MAX], tp[FD_PATH_MAX];
        if (mount(fd_path(src, sp), fd_path(target, tp), NULL, MS_BIND, NULL) < 0)
                return kerr(err, -errno, "bind host %s", d->path);
        return 0;
}

static int create_dev_links(RootfsContext *ctx, KError **err) {
        static const struct { const char *target, *name; } links[] = {
                { "/proc/self/fd", "fd" },     { "/proc/self/fd/0", "stdin" },
                { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
        };
        _cleanup_close_ int dev = mkdir_p_in_root(ctx->rootfd, "/dev", 0755);
        if (dev < 0)
                return kerr(err, dev, "open /dev in the rootfs");
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i].target, dev, links[i].name) < 0 && errno != EEXIST)
                        return kerr(err, -errno, "symlink /dev/%s", links[i].name);
        /* /dev/ptmx -> pts/ptmx when the container has its own devpts */
        _cleanup_close_ int pts = open_in_root(ctx->rootfd, "/dev/pts/ptmx", O_PATH, 0);
        if (pts >= 0) {
                (void) unlinkat(dev, "ptmx", 0);
                if (symlinkat("pts/ptmx", dev, "ptmx") < 0)
                        return kerr(err, -errno, "symlink /dev/ptmx");
        }
        return 0;
}

int rootfs_mount_all(RootfsContext *ctx, KError **err) {
        const Plan *p = ctx->plan;
        for (size_t i = 0; i < p->n_mounts; i++) {
                const PlanMount *m = &p->mounts[i];
                int r = m->kind == PLAN_MOUNT_BIND ? mount_bind(ctx, m, err)
                        : m->kind == PLAN_MOUNT_CGROUP ? mount_cgroup(ctx, m, err)
                        : mount_fs(ctx, m, err);
                if (r < 0)
                        return r;
        }
        if (!p->dev_is_bind) {
                for (size_t i = 0; i < p->n_devices; i++) {
                        int r = create_device(ctx, &p->devices[i], err);
                        if (r < 0)
                                return r;
                }
                return create_dev_links(ctx, err);
        }
        return 0;
}

static int mask_path(RootfsContext *ctx, const char *path, KError **err) {
        _cleanup_close_ int fd = open_in_root(ctx->rootfd, path, O_PATH | O_NOFOLLOW, 0);
        if (fd == -ENOENT || fd == -ELOOP)
                return 0;       /* nothing there (or a symlink: masking its target is not asked) */
        if (fd < 0)
                return kerr(err, fd, "maskedPaths: open %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return kerr(err, -errno, "maskedPaths: stat %s", path);
        char tp[FD_PATH_MAX], sp[FD_PATH_MAX];
        if (S_ISDIR(st.st_mode)) {
                /* an empty read-only tmpfs: the directory reads as empty (not EACCES), as in runc */
                if (mount("tmpfs", fd_path(fd, tp), "tmpfs", MS_RDONLY, NULL) < 0)
                        return kerr(err, -errno, "maskedPaths: mount tmpfs on %s", path);
                return 0;
        }
        if (mount(fd_path(ctx->devnull_fd, sp), fd_path(fd, tp), NULL, MS_BIND, NULL) < 0)
                return kerr(err, -errno, "maskedPaths: bind /dev/null on %s", path);
        return 0;
}

static int protect_path(RootfsContext *ctx, const char *path, KError **err) {
        _cleanup_close_ int fd = open_in_root(ctx->rootfd, path, O_PATH | O_NOFOLLOW, 0);
        if (fd == -ENOENT || fd == -ELOOP)
                return 0;
        if (fd < 0)
                return kerr(err, fd, "readonlyPaths: open %s", path);
        char tp[FD_PATH_MAX];
        if (mount(fd_path(fd, tp), tp, NULL, MS_BIND | MS_REC, NULL) < 0)
                return kerr(err, -errno, "readonlyPaths: bind %s", path);
        _cleanup_close_ int again = reopen_target(ctx, path, err);
        if (again < 0)
                return again;
        unsigned long keep = locked_flags(again);
        if (mount(NULL, fd_path(again, tp), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL) < 0)
                return kerr(err, -errno, "readonlyPaths: remount %s read-only", path);
        return 0;
}

int rootfs_mask_and_protect(RootfsContext *ctx, KError **err) {
        const Plan *p = ctx->plan;
        for (size_t i = 0; i < p->n_mounts; i++)
                if (is_ro_dev(&p->mounts[i])) {
                        int r = remount_flags(ctx, "/dev", p->mounts[i].flags, err);
                        if (r < 0)
                                return r;
                }
        for (size_t i = 0; p->masked_paths && p->masked_paths[i]; i++) {
                int r = mask_path(ctx, p->masked_paths[i], err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; p->readonly_paths && p->readonly_paths[i]; i++) {
                int r = protect_path(ctx, p->readonly_paths[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int rootfs_bind_console(RootfsContext *ctx, int slave_fd, KError **err) {
        _cleanup_close_ int target = ensure_in_root(ctx->rootfd, "/dev/console", false, 0600);
        if (target < 0)
                return kerr(err, target, "create /dev/console");
        char sp[FD_PATH_MAX], tp[FD_PATH_MAX];
        if (mount(fd_path(slave_fd, sp), fd_path(target, tp), NULL, MS_BIND, NULL) < 0)
                return kerr(err, -errno, "bind the terminal on /dev/console");
        return 0;
}

/* --no-pivot leaves the host's mounts under the chroot. A fully visible procfs or sysfs among
 * them would let a user namespace in the container mount a fresh proc (the kernel allows that
 * only while one is fully visible): detach them, or cover them with an empty tmpfs. */
static int hide_host_proc_sys(RootfsContext *ctx, KError **err) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file_at(AT_FDCWD, "/proc/self/mountinfo", 4 << 20, &text, NULL);
        if (r < 0)
                return kerr(err, r, "read /proc/self/mountinfo");
        /* the rootfs as mountinfo names it (symlinks in the bundle path resolved) */
        char rootfs[4096], fp[FD_PATH_MAX];
        ssize_t n = readlink(fd_path(ctx->rootfd, fp), rootfs, sizeof(rootfs) - 1);
        if (n <= 0)
                return kerr(err, n < 0 ? -errno : -EINVAL, "resolve the rootfs path");
        rootfs[n] = 0;
        size_t rl = (size_t) n;
        _cleanup_strv_free_ char **targets = NULL;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sep = strstr(line, " - ");
                char mp[4096], fstype[64];
                if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 || sscanf(sep + 3, "%63s", fstype) != 1)
                        continue;
                if (!streq(fstype, "proc") && !streq(fstype, "sysfs"))
                        continue;
                if (strncmp(mp, rootfs, rl) == 0 && (mp[rl] == '/' || mp[rl] == 0))
                        continue;       /* the container's own */
                if (strv_extend(&targets, mp) < 0)
                        return kerr(err, -ENOMEM, "mounts");
        }
        for (size_t i = 0; targets && targets[i]; i++)
                if (umount2(targets[i], MNT_DETACH) < 0 &&
                    mount("tmpfs", targets[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0k") < 0 &&
                    errno != ENOENT)
                        return kerr(err, -errno, "hide the host's %s from the --no-pivot container", targets[i]);
        return 0;
}

int rootfs_pivot(RootfsContext *ctx, bool no_pivot, KError **err) {
        if (no_pivot) {
                int r = hide_host_proc_sys(ctx, err);
                if (r < 0)
                        return r;
        }
        if (fchdir(ctx->rootfd) < 0)
                return kerr(err, -errno, "chdir to the rootfs");
        if (no_pivot) {
                if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                        return kerr(err, -errno, "move the rootfs to /");
                if (chroot(".") < 0)
                        return kerr(err, -errno, "chroot");
        } else {
                /* pivot_root(".", "."): the old root ends up stacked under the new one and is
                 * detached right away, so no directory for it is needed in the image. */
                if (syscall(SYS_pivot_root, ".", ".") < 0) {
                        int r = -errno;
                        struct statfs sfs;
                        if (r == -EINVAL && statfs("/", &sfs) >= 0 && sfs.f_type == RAMFS_MAGIC)
                                return kerr(err, r, "pivot_root into '%s': the host root is an initramfs, which "
                                            "cannot be pivoted; use --no-pivot", ctx->plan->rootfs);
                        return kerr(err, r, "pivot_root into '%s'", ctx->plan->rootfs);
                }
                if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                        return kerr(err, -errno, "make the old root a slave");
                if (umount2(".", MNT_DETACH) < 0)
                        return kerr(err, -errno, "detach the old root");
        }
        if (chdir("/") < 0)
                return kerr(err, -errno, "chdir /");
        if (ctx->plan->readonly_root) {
                _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                unsigned long keep = root >= 0 ? locked_flags(root) : 0;
                if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL) < 0)
                        return kerr(err, -errno, "remount the rootfs read-only");
        }
        /* rootfsPropagation goes on the new "/" only now: a shared rootfs mount cannot be
         * pivoted into (pivot_root says EINVAL), and on the old root it would reach the host. */
        unsigned long prop = ctx->plan->rootfs_propagation;
        if (prop != (MS_SLAVE | MS_REC) && mount(NULL, "/", NULL, prop, NULL) < 0)
                return kerr(err, -errno, "set linux.rootfsPropagation on the container's /");
        ctx->rootfd = safe_close(ctx->rootfd);
        return 0;
}

int rootfs_open(RootfsContext *ctx, KError **err) {
        ctx->rootfd = open(ctx->plan->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (ctx->rootfd < 0)
                return kerr_kind(err, KERR_ROOTFS, -errno, "rootfs '%s'", ctx->plan->rootfs);
        return 0;
}

int rootfs_chroot(RootfsContext *ctx, KError **err) {
        if (fchdir(ctx->rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
                return kerr(err, -errno, "chroot into '%s'", ctx->plan->rootfs);
        ctx->rootfd = safe_close(ctx->rootfd);
        return 0;
}
