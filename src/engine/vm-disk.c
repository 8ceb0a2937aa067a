/* SPDX-License-Identifier: Apache-2.0 */
/* The disks of a VM guest (the applying half; the pure half is vm-guest-plan.c): the image's
 * rootfs as a cached read-only ext4, the per-instance writable disk, volume disks and the config
 * disk. ext4 images are made by mkfs.ext4 -d (e2fsprogs); a guest-written image is read back with
 * debugfs, in user space, never mounted by the host kernel (a hostile guest controls its bytes). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "copy-tree.h"
#include "fd-util.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"
#include "vm-guest.h"

#define TOOL_OUTPUT_MAX 4096

/* e2fsprogs lives in /usr/sbin, which a non-login PATH may lack. */
static void exec_tool(char **argv) {
        static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
        execvp(argv[0], argv);
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char path[256];
                snprintf(path, sizeof(path), "%s/%s", dirs[i], argv[0]);
                execv(path, argv);
        }
}

/* Run argv with stdout+stderr captured; a failure's message carries the tool's output. */
static int run_tool(char **argv, char **ret_output, KError **err) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return kerr(err, -errno, "pipe");
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                safe_close(p[0]);
                safe_close(p[1]);
                return kerr(err, r, "fork %s", argv[0]);
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
                        _exit(127);
                exec_tool(argv);
                dprintf(2, "cannot run %s: %m (install e2fsprogs)", argv[0]);
                _exit(127);
        }
        safe_close(p[1]);
        _cleanup_free_ char *out = NULL;
        _cleanup_close_ int rd = p[0];
        int r = read_full_fd(rd, TOOL_OUTPUT_MAX, &out, NULL);
        if (r == -EFBIG)        /* drain the rest so the tool does not block on a full pipe */
                while (read(rd, (char[256]) {}, 256) > 0)
                        ;
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return kerr(err, -errno, "wait for %s", argv[0]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return kerr_msg(err, KERR_HOST, -EIO, "%s failed: %s", argv[0], out && *out ? out : "(no output)");
        if (ret_output)
                *ret_output = TAKE_PTR(out);
        return 0;
}

int vm_disk_mkfs(const char *image, const char *src_dir, uint64_t size, uint64_t inodes, bool journal,
                 KError **err) {
        _cleanup_strv_free_ char **argv = NULL;
        int r = vm_disk_mkfs_argv(image, src_dir, size, inodes, journal, &argv);
        if (r < 0)
                return kerr(err, r, "mkfs");
        /* sparse: mkfs writes only metadata, the rest stays holes */
        _cleanup_close_ int fd = open(image, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return kerr(err, -errno, "create disk image %s", image);
        if (ftruncate(fd, (off_t) size) < 0)
                return kerr(err, -errno, "size disk image %s", image);
        r = run_tool(argv, NULL, err);
        return r < 0 ? kerr_prefix(err, r, "make ext4 image %s", image) : 0;
}

static uint64_t tree_bytes, tree_inodes;

static int tree_size_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        tree_inodes++;
        /* directories and long symlinks take a block; short symlinks live in the inode */
        if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || (S_ISLNK(st->st_mode) && st->st_size >= 60))
                tree_bytes += ((uint64_t) st->st_size + 4095) / 4096 * 4096 + (S_ISDIR(st->st_mode) ? 4096 : 0);
        return 0;
}

int vm_disk_tree_size(const char *dir, uint64_t *ret_bytes, uint64_t *ret_inodes, KError **err) {
        tree_bytes = tree_inodes = 0;
        if (nftw(dir, tree_size_one, 32, FTW_PHYS | FTW_MOUNT) < 0)
                return kerr(err, -errno, "walk %s", dir);
        *ret_bytes = tree_bytes;
        *ret_inodes = tree_inodes;
        return 0;
}

/* An image of `src` sized for its content plus `extra` free bytes, with room for new files. */
static int mkfs_from_tree(const char *image, const char *src, uint64_t extra, bool journal, KError **err) {
        uint64_t bytes, inodes;
        int r = vm_disk_tree_size(src, &bytes, &inodes, err);
        if (r < 0)
                return r;
        uint64_t size = vm_disk_image_size(bytes, inodes) + extra;
        return vm_disk_mkfs(image, src, size, inodes + inodes / 4 + 1024 + extra / 16384, journal, err);
}

static int image_id_hex(const char *image_id, char **ret) {
        const char *hex = startswith(image_id, "sha256:");
        hex = hex ? hex : image_id;
        if (!*hex || strspn(hex, "0123456789abcdef") != strlen(hex))
                return -EINVAL;
        *ret = strdup(hex);
        return *ret ? 0 : -ENOMEM;
}

/* Several layers: their read-only overlay (no upper dir: overlayfs mounts it read-only) in a
 * fresh directory; the result is the directory to copy from. One layer is used as is. */
static int merge_layers(char *const *layers, const char *tmpl, char **ret_dir, bool *ret_mounted, KError **err) {
        size_t n = strv_length(layers);
        *ret_mounted = false;
        if (n == 0)
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "image has no layers");
        if (n == 1) {
                *ret_dir = strdup(layers[0]);
                return *ret_dir ? 0 : kerr(err, -ENOMEM, "rootfs disk");
        }
        _cleanup_free_ char *dir = strdup(tmpl), *opt = NULL;
        size_t optlen = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&opt, &optlen);
        if (!dir || !f)
                return kerr(err, -ENOMEM, "rootfs disk");
        fputs("lowerdir=", f);
        for (size_t i = n; i-- > 0;)    /* overlayfs lists the top layer first */
                fprintf(f, "%s%s", layers[i], i ? ":" : "");
        if (fflush(f) != 0)
                return kerr(err, -ENOMEM, "rootfs disk");
        if (optlen >= 4096)
                return kerr_msg(err, KERR_GENERIC, -E2BIG, "too many layers to merge for a VM rootfs");
        if (!mkdtemp(dir))
                return kerr(err, -errno, "create %s", tmpl);
        if (mount("overlay", dir, "overlay", MS_RDONLY | MS_NODEV | MS_NOSUID, opt) < 0) {
                int r = -errno;
                rmdir(dir);
                return kerr_kind(err, KERR_HOST, r, "mount the image's layers read-only on %s", dir);
        }
        *ret_mounted = true;
        *ret_dir = TAKE_PTR(dir);
        return 0;
}

int vm_disk_rootfs_ensure(const char *cache_dir, const char *image_id, char *const *layer_dirs, char **ret_path,
                          KError **err) {
        _cleanup_free_ char *hex = NULL, *path = NULL, *tmp = NULL, *tmpl = NULL, *src = NULL;
        int r = image_id_hex(image_id, &hex);
        if (r < 0)
                return kerr_msg(err, KERR_USAGE, r, "bad image id '%s'", image_id);
        if (asprintf(&path, "%s/rootfs-%s.ext4", cache_dir, hex) < 0 ||
            asprintf(&tmp, "%s.tmp.%d", path, (int) getpid()) < 0 || asprintf(&tmpl, "%s/merge.XXXXXX", cache_dir) < 0)
                return kerr(err, -ENOMEM, "rootfs disk");
        if (access(path, R_OK) == 0) {
                *ret_path = TAKE_PTR(path);
                return 0;
        }
        if (mkdir(cache_dir, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s", cache_dir);
        bool mounted;
        if ((r = merge_layers(layer_dirs, tmpl, &src, &mounted, err)) < 0)
                return r;
        r = mkfs_from_tree(tmp, src, 0, false, err);
        if (mounted) {
                umount2(src, MNT_DETACH);
                rmdir(src);
        }
        if (r >= 0 && rename(tmp, path) < 0)
                r = kerr(err, -errno, "install rootfs disk %s", path);
        if (r < 0) {
                unlink(tmp);
                return kerr_prefix(err, r, "rootfs disk of image %s", image_id);
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}

int vm_disk_upper_ensure(const char *path, uint64_t size, KError **err) {
        if (access(path, F_OK) == 0)
                return 0;
        if (size < 16 * 1024 * 1024)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "VM disk size must be at least 16M");
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return kerr(err, -ENOMEM, "writable disk");
        int r = vm_disk_mkfs(tmp, NULL, size, 0, true, err);
        if (r >= 0 && rename(tmp, path) < 0)
                r = kerr(err, -errno, "install writable disk %s", path);
        if (r < 0)
                unlink(tmp);
        return r;
}

int vm_disk_config_write(const char *path, const json_t *config, KError **err) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = vm_disk_config_bytes(config, &buf, &len, err);
        if (r < 0)
                return r;
        r = write_file_atomic_at(AT_FDCWD, path, buf, len, 0600);
        return r < 0 ? kerr(err, r, "write guest config disk %s", path) : 0;
}

/* A rw volume gets this much free room on top of its content (sparse: costs nothing unused). */
#define VOLUME_ROOM (1ULL << 30)

int vm_disk_volume_prepare(VmVolumeDisk *v, const char *instance_dir, KError **err) {
        struct stat st;
        if (stat(v->source, &st) < 0)
                return kerr_kind(err, KERR_USAGE, -errno, "volume source %s", v->source);
        if (v->is_image) {
                if (!S_ISREG(st.st_mode))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "volume image %s is not a file", v->source);
                free(v->image);
                v->image = strdup(v->source);
                return v->image ? 0 : kerr(err, -ENOMEM, "volume");
        }
        if (!S_ISDIR(st.st_mode))
                return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP,
                                "volume %s: with --isolation=vm a host path must be a directory", v->source);
        _cleanup_free_ char *image = NULL;
        if (asprintf(&image, "%s/vol-%s.ext4", instance_dir, v->device) < 0)
                return kerr(err, -ENOMEM, "volume");
        int r = mkfs_from_tree(image, v->source, v->readonly ? 0 : VOLUME_ROOM, !v->readonly, err);
        if (r < 0)
                return kerr_prefix(err, r, "volume %s", v->source);
        free(v->image);
        v->image = TAKE_PTR(image);
        return 0;
}

/* Replace everything in `dst` by the entries of `src` (rename when on one filesystem, else copy). */
static int replace_contents(const char *src, const char *dst, KError **err) {
        _cleanup_close_ int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0 || dfd < 0)
                return kerr(err, -errno, "open %s", sfd < 0 ? src : dst);
        _cleanup_(closedirp) DIR *old = opendir_fd(dfd);
        if (!old)
                return kerr(err, -errno, "list %s", dst);
        struct dirent *de;
        while ((de = readdir(old)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && rm_rf_at(dfd, de->d_name) < 0)
                        return kerr(err, -errno, "remove %s/%s", dst, de->d_name);
        _cleanup_(closedirp) DIR *neu = opendir_fd(sfd);
        if (!neu)
                return kerr(err, -errno, "list %s", src);
        while ((de = readdir(neu))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (renameat(sfd, de->d_name, dfd, de->d_name) == 0)
                        continue;
                if (errno != EXDEV)
                        return kerr(err, -errno, "move %s/%s", dst, de->d_name);
                int r = copy_tree_at(sfd, de->d_name, dfd, de->d_name, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vm_disk_volume_finish(VmVolumeDisk *v, KError **err) {
        if (v->readonly || v->is_image || !v->image)
                return 0;
        _cleanup_free_ char *out = NULL, *cmd = NULL, *lf = NULL;
        if (asprintf(&out, "%s.out", v->image) < 0)
                return kerr(err, -ENOMEM, "volume");
        (void) rm_rf(out);
        if (mkdir(out, 0700) < 0)
                return kerr(err, -errno, "create %s", out);
        if (strchr(out, '"'))
                return kerr_msg(err, KERR_HOST, -EINVAL, "volume path %s contains a quote", out);
        /* debugfs's command parser splits words; the quotes keep a path with spaces in one */
        if (asprintf(&cmd, "rdump / \"%s\"", out) < 0 || !(lf = path_join(out, "lost+found")))
                return kerr(err, -ENOMEM, "volume");
        char *argv[] = { "debugfs", "-R", cmd, v->image, NULL };
        int r = run_tool(argv, NULL, err);
        if (r < 0)
                return kerr_prefix(err, r, "read back volume %s", v->source);
        (void) rmdir(lf);       /* mkfs made it; keep it only when the guest put something in it */
        r = replace_contents(out, v->source, err);
        if (r < 0)
                return kerr_prefix(err, r, "copy back volume %s (its content is kept in %s)", v->source, out);
        (void) rm_rf(out);
        (void) unlink(v->image);
        return 0;
}
