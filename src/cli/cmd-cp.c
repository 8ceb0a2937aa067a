/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel cp CONTAINER:SRC DST | SRC CONTAINER:DST, with docker's rules: into an existing
 * directory the source keeps its name, otherwise it becomes the destination. Container paths are
 * resolved inside the container's root (copy-tree.h), a stopped container's rootfs is mounted for
 * the copy and unmounted after. Bind mounts and volumes of a running container are not seen. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy-tree.h"
#include "ctr-ops.h"
#include "kapsel-cli.h"
#include "overlay.h"
#include "string-util.h"

/* Split "name:/path"; NULL when `s` is a host path (absolute, ./relative, or no colon). */
static char *container_part(const char *s, const char **ret_path) {
        const char *colon = strchr(s, ':');
        if (!colon || s[0] == '/' || s[0] == '.' || colon == s)
                return NULL;
        *ret_path = colon + 1;
        return strndup(s, (size_t) (colon - s));
}

/* Where to put the copy: (dirfd, name). An existing directory takes the source's basename. */
static int dest_of(int base_dirfd, bool in_container, const char *path, const char *src_base, int *ret_dirfd,
                   char **ret_name, KError **err) {
        int fd = in_container ? open_in_container(base_dirfd, path, O_PATH | O_DIRECTORY)
                              : openat(AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                *ret_dirfd = fd;
                return (*ret_name = strdup(src_base)) ? 0 : -ENOMEM;
        }
        _cleanup_free_ char *c1 = strdup(path), *c2 = strdup(path);
        if (!c1 || !c2)
                return -ENOMEM;
        const char *parent = dirname(c1), *name = basename(c2);
        fd = in_container ? open_in_container(base_dirfd, parent, O_PATH | O_DIRECTORY)
                          : openat(AT_FDCWD, parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return kerr_kind(err, KERR_USAGE, fd < 0 && !in_container ? -errno : fd, "destination directory %s%s",
                                 in_container ? "(in the container) " : "", parent);
        *ret_dirfd = fd;
        return (*ret_name = strdup(name)) ? 0 : -ENOMEM;
}

/* Copy with the container's rootfs at `rootfs` already mounted. */
static int copy_between(const char *rootfs, bool src_in, const char *src_path, const char *src_arg, bool dst_in,
                        const char *dst_path, KError **err) {
        _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return kerr(err, -errno, "open %s", rootfs);
        /* source: an O_PATH handle of its parent + its name */
        _cleanup_free_ char *s1 = strdup(src_path), *s2 = strdup(src_path);
        if (!s1 || !s2)
                return -ENOMEM;
        const char *sparent = dirname(s1), *sname = basename(s2);
        _cleanup_close_ int sdir = src_in ? open_in_container(rootfd, sparent, O_PATH | O_DIRECTORY)
                                          : open(sparent, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (sdir < 0)
                return kerr_kind(err, KERR_NOT_FOUND, src_in ? sdir : -errno, "source %s", src_arg);
        if (streq(sname, "/"))
                sname = ".";
        _cleanup_close_ int ddir = -1;
        _cleanup_free_ char *dname = NULL;
        int r = dest_of(rootfd, dst_in, dst_path, streq(sname, ".") ? "rootfs" : sname, &ddir, &dname, err);
        if (r < 0)
                return r;
        return copy_tree_at(sdir, sname, ddir, dname, err);
}

K_VERB(cp) {
        if (argc != 3)
                return argc > 1 && streq(argv[1], "--help") ? k_help("cp") : k_usage(err, "cp", "expected SRC DST");
        const char *src_path = argv[1], *dst_path = argv[2];
        _cleanup_free_ char *src_ctr = container_part(argv[1], &src_path), *dst_ctr = container_part(argv[2], &dst_path);
        if (!!src_ctr == !!dst_ctr)
                return k_usage(err, "cp", "exactly one of SRC and DST must be CONTAINER:PATH");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open(g, &e, err);
        if (r >= 0)
                r = db_ctr_get(e->db, src_ctr ?: dst_ctr, &rec, err);
        if (r >= 0)
                r = ctr_repair(e, rec, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *dir = engine_ctr_path(e, rec->id, NULL), *rootfs = engine_ctr_path(e, rec->id, "rootfs");
        bool running = rec->state == CTR_RUNNING || rec->state == CTR_PAUSED;
        if (!running) {
                _cleanup_(image_freep) Image *img = NULL;
                if ((r = engine_image_lookup(e, rec->image_id, &img, err)) < 0 || (r = overlay_mount(dir, img->layer_dirs, img->n_layers, err)) < 0)
                        return r;
        }
        r = copy_between(rootfs, src_ctr != NULL, src_path, argv[1], dst_ctr != NULL, dst_path, err);
        if (!running)
                (void) overlay_umount(dir, NULL);
        return r < 0 ? r : 0;
}
