/* SPDX-License-Identifier: Apache-2.0 */
#include "ctr-cp.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy-tree.h"
#include "fd-util.h"
#include "overlay.h"
#include "path-util.h"
#include "string-util.h"

int ctr_root_open(Engine *e, const CtrRecord *rec, CtrRoot *ret, KError **err) {
        *ret = (CtrRoot) { .fd = -1 };
        _cleanup_free_ char *dir = engine_ctr_path(e, rec->id, NULL), *rootfs = engine_ctr_path(e, rec->id, "rootfs");
        if (!dir || !rootfs)
                return kerr(err, -ENOMEM, "cp");
        ret->running = (rec->state == CTR_RUNNING || rec->state == CTR_PAUSED) && rec->pid > 0 &&
                       engine_pid_alive(rec->pid);
        int r;
        if (ret->running) {
                char proc[64];
                snprintf(proc, sizeof(proc), "/proc/%d/root", (int) rec->pid);
                ret->fd = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
        } else {
                _cleanup_(image_freep) Image *img = NULL;
                if ((r = engine_image_lookup(e, rec->image_id, &img, err)) < 0 ||
                    (r = overlay_mount(dir, img->layer_dirs, img->n_layers, err)) < 0)
                        return r;
                ret->mounted = true;
        }
        ret->dir = TAKE_PTR(dir);
        if (ret->fd < 0 && (ret->fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
                r = kerr(err, -errno, "open %s", rootfs);
                ctr_root_close(ret);
                return r;
        }
        return 0;
}

void ctr_root_close(CtrRoot *root) {
        root->fd = safe_close(root->fd);
        if (root->mounted)
                (void) overlay_umount(root->dir, NULL);
        root->mounted = false;
        root->dir = mfree(root->dir);
}

/* The files kapsel writes for the container (containers/<id>/...) and bind-mounts over these: a
 * stopped container's rootfs holds only the empty mount points. */
static const char *const ctr_files[][2] = {
        { "/etc/hosts", "hosts" }, { "/etc/hostname", "hostname" }, { "/etc/resolv.conf", "resolv.conf" },
};

/* A stopped container's source that is one of those mount points: read the container's own file
 * (1), or say that it exists only while the container runs. */
static int stopped_source(int rootfd, int sdir, const char *sname, const char *ctr_dir, int *ret_dir, KError **err) {
        struct stat want, got;
        if (fstatat(sdir, sname, &got, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(ctr_files); i++) {
                _cleanup_close_ int fd = open_in_container(rootfd, ctr_files[i][0], O_PATH | O_NOFOLLOW);
                if (fd < 0 || fstat(fd, &want) < 0 || want.st_dev != got.st_dev || want.st_ino != got.st_ino)
                        continue;
                _cleanup_free_ char *p = path_join(ctr_dir, ctr_files[i][1]);
                _cleanup_close_ int dir = open(ctr_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (!p || dir < 0)
                        return kerr(err, -ENOMEM, "cp");
                if (access(p, F_OK) < 0)
                        return kerr_msg(err, KERR_STATE, -ENOENT, "%s of a stopped container: kapsel writes it when "
                                        "the container starts; start it, then copy", ctr_files[i][0]);
                *ret_dir = TAKE_FD(dir);
                return 1;
        }
        return 0;
}

int ctr_root_source(const CtrRoot *root, const char *path, const char *label, int *ret_dirfd, char **ret_name,
                    KError **err) {
        _cleanup_free_ char *s1 = strdup(path), *s2 = strdup(path);
        if (!s1 || !s2)
                return -ENOMEM;
        const char *sparent = dirname(s1), *sname = basename(s2);
        _cleanup_close_ int sdir = open_in_container(root->fd, sparent, O_PATH | O_DIRECTORY);
        if (sdir < 0)
                return kerr_kind(err, KERR_NOT_FOUND, sdir, "source %s", label);
        if (streq(sname, "/"))
                sname = ".";
        _cleanup_close_ int own = -1;
        int r = root->running ? 0 : stopped_source(root->fd, sdir, sname, root->dir, &own, err);
        if (r < 0)
                return r;
        if (r > 0) {
                safe_close(sdir);
                sdir = TAKE_FD(own);
        }
        if (!(*ret_name = strdup(sname)))
                return -ENOMEM;
        *ret_dirfd = TAKE_FD(sdir);
        return 0;
}
