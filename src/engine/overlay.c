/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fd-util.h"
#include "overlay.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

int overlay_prepare(const char *ctr_dir, KError **err) {
        static const char *const dirs[] = { "diff", "work", "rootfs" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *d = path_join(ctr_dir, dirs[i]);
                if (!d)
                        return kerr(err, -ENOMEM, "overlay");
                if (mkdir(d, 0755) < 0 && errno != EEXIST)
                        return kerr_kind(err, KERR_HOST, -errno, "create %s", d);
        }
        return 0;
}

static bool is_overlay_mounted(const char *path) {
        struct statfs sf;
        return statfs(path, &sf) == 0 && sf.f_type == OVERLAYFS_SUPER_MAGIC;
}

/* Layers live side by side in the store, so the option string names them relative to their common
 * parent (the mount runs with that as cwd): 65 bytes per layer instead of a full path each keeps
 * deep images under the one-page limit of mount(2)'s data. */
static int lowerdir_option(char *const *layer_dirs, size_t n_layers, char **ret_parent, char **ret_lower) {
        _cleanup_free_ char *parent = NULL, *lower = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&lower, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = n_layers; i-- > 0;) {
                _cleanup_free_ char *copy = strdup(layer_dirs[i]);
                if (!copy) {
                        fclose(f);
                        return -ENOMEM;
                }
                char *base = strrchr(copy, '/');
                if (!base) {
                        fclose(f);
                        return -EINVAL;
                }
                *base++ = 0;
                if (!parent)
                        parent = strdup(copy);
                else if (!streq(parent, copy)) {
                        fclose(f);
                        return -EXDEV;          /* layers not side by side: not our store */
                }
                fprintf(f, "%s%s", i + 1 == n_layers ? "" : ":", base);
        }
        if (fclose(f) != 0 || !parent)
                return -ENOMEM;
        *ret_parent = TAKE_PTR(parent);
        *ret_lower = TAKE_PTR(lower);
        return 0;
}

static int read_boot_id(char buf[static 40]) {
        _cleanup_close_ int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, 39);
        if (n < 36)
                return -EIO;
        buf[36] = 0;
        return 0;
}

/* A volatile mount leaves work/work/incompat/volatile behind, and overlayfs refuses every later
 * mount of that upper dir while it is there. The mark stays after a clean unmount and after a crash
 * alike: only the boot id recorded at the mount (volatile-boot) tells them apart. In the same boot
 * the kernel has the upper dir's data, so the mark goes (with work/work, overlayfs' scratch space,
 * emptied at every mount anyway) and *ret_was is true; after a reboot the unsynced files may be
 * torn, and the container is refused. */
static int clear_volatile_mark(const char *ctr_dir, const char *work, bool *ret_was, KError **err) {
        _cleanup_free_ char *scratch = path_join(work, "work"), *mark = path_join(work, "work/incompat/volatile"),
                            *boot = path_join(ctr_dir, "volatile-boot"), *saved = NULL;
        *ret_was = false;
        if (!scratch || !mark || !boot)
                return kerr(err, -ENOMEM, "overlay");
        if (access(mark, F_OK) < 0)
                return 0;
        char now[40];
        size_t len;
        _cleanup_close_ int dfd = open(ctr_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (read_boot_id(now) < 0 || dfd < 0 || read_full_file_at(dfd, "volatile-boot", 64, &saved, &len) < 0 ||
            len < 36 || strncmp(saved, now, 36) != 0)
                return kerr_msg(err, KERR_GENERIC, -ESTALE,
                                "%s: the files of this disposable (--rm) container were written without syncing and "
                                "the machine restarted since: they may be incomplete; remove the container (kapsel rm)", ctr_dir);
        (void) rm_rf(scratch);
        *ret_was = true;
        return 0;
}

/* Record the boot of a volatile mount for clear_volatile_mark(). */
static int note_volatile_boot(const char *ctr_dir) {
        char id[40];
        _cleanup_close_ int dfd = open(ctr_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || read_boot_id(id) < 0)
                return -EIO;
        return write_file_atomic_at(dfd, "volatile-boot", id, 36, 0600);
}

int overlay_mount_disposable(const char *ctr_dir, char *const *layer_dirs, size_t n_layers, bool disposable, KError **err) {
        _cleanup_free_ char *target = path_join(ctr_dir, "rootfs"), *upper = path_join(ctr_dir, "diff"),
                            *work = path_join(ctr_dir, "work");
        if (!target || !upper || !work)
                return kerr(err, -ENOMEM, "overlay");
        if (is_overlay_mounted(target))
                return 0;
        /* once volatile, always: the upper dir of a disposable container stays disposable */
        bool was = false;
        int r = clear_volatile_mark(ctr_dir, work, &was, err);
        if (r < 0)
                return r;
        disposable = disposable || was;
        if (n_layers == 0)
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "%s: the image has no layers", ctr_dir);
        _cleanup_free_ char *parent = NULL, *lower = NULL, *data = NULL;
        r = lowerdir_option(layer_dirs, n_layers, &parent, &lower);
        if (r < 0)
                return kerr(err, r, "overlay lower dirs for %s", ctr_dir);
        /* one layer: overlay needs two lowers without an upper, but with an upper one is fine */
        if (asprintf(&data, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work) < 0)
                return kerr(err, -ENOMEM, "overlay");
        if (strlen(data) >= 4096)
                return kerr_msg(err, KERR_GENERIC, -E2BIG, "%s: the image has too many layers (%zu) for one overlay mount",
                                ctr_dir, n_layers);
        _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cwd < 0 || chdir(parent) < 0)
                return kerr(err, -errno, "enter layer directory %s", parent);
        /* volatile (Linux 5.10): no sync of the upper dir's file system at unmount, which otherwise
         * writes back every dirty page of that whole file system, other programs' too, while the
         * container's exit waits; an older kernel refuses the option and gets the mount without it */
        r = -EINVAL;
        if (disposable && strlen(data) + strlen(",volatile") < 4096) {
                _cleanup_free_ char *vdata = NULL;
                if (asprintf(&vdata, "%s,volatile", data) < 0)
                        r = -ENOMEM;
                else if ((r = note_volatile_boot(ctr_dir)) >= 0)
                        r = mount("overlay", target, "overlay", MS_NODEV, vdata) < 0 ? -errno : 0;
                if (r < 0 && r != -EINVAL)
                        r = -EINVAL;    /* no boot id to record: mount it durable */
        }
        if (r == -EINVAL)
                r = mount("overlay", target, "overlay", MS_NODEV, data) < 0 ? -errno : 0;
        if (fchdir(cwd) < 0 && r == 0)
                r = -errno;
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "mount overlay on %s (lower %s in %s)", target, lower, parent);
        return 0;
}

int overlay_mount(const char *ctr_dir, char *const *layer_dirs, size_t n_layers, KError **err) {
        return overlay_mount_disposable(ctr_dir, layer_dirs, n_layers, false, err);
}

int overlay_umount(const char *ctr_dir, KError **err) {
        _cleanup_free_ char *target = path_join(ctr_dir, "rootfs");
        if (!target)
                return kerr(err, -ENOMEM, "overlay");
        if (umount2(target, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return kerr(err, -errno, "unmount %s", target);
        return 0;
}
