/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel cp CONTAINER:SRC DST | SRC CONTAINER:DST, with docker's rules: into an existing
 * directory the source keeps its name, otherwise it becomes the destination. Container paths are
 * resolved inside the container's root (copy-tree.h), a stopped container's rootfs is mounted for
 * the copy and unmounted after. A running container is seen as its processes see it (through
 * /proc/PID/root: bind mounts, volumes, /etc/hosts), a stopped one as its rootfs, with the files
 * kapsel writes for it (/etc/hosts, hostname, resolv.conf) read from its directory. "-" is a tar
 * stream: `cp CTR:PATH -` writes one to stdout, `cp - CTR:DIR` unpacks stdin into DIR. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy-tree.h"
#include "ctr-cp.h"
#include "ctr-ops.h"
#include "kapsel-cli.h"
#include "path-util.h"
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

/* Copy with the container's root at `rootfd` (its mount namespace's view, or its mounted rootfs);
 * "-" is a tar stream on stdout (source in the container) or stdin (destination in it). */
static int copy_between(const CtrRoot *root, bool src_in, const char *src_path, const char *src_arg, bool dst_in,
                        const char *dst_path, KError **err) {
        int rootfd = root->fd;
        if (dst_in && streq(src_path, "-")) {
                _cleanup_close_ int ddir = open_in_container(rootfd, dst_path, O_RDONLY | O_DIRECTORY);
                if (ddir < 0)
                        return kerr_kind(err, KERR_USAGE, ddir, "destination directory (in the container) %s: "
                                         "a tar from stdin goes into an existing directory", dst_path);
                return copy_tar_into(STDIN_FILENO, ddir, "the tar on stdin", err);
        }
        /* source: an O_PATH handle of its parent + its name */
        _cleanup_close_ int sdir = -1;
        _cleanup_free_ char *sname = NULL;
        int r;
        if (src_in) {
                if ((r = ctr_root_source(root, src_path, src_arg, &sdir, &sname, err)) < 0)
                        return r;
        } else {
                _cleanup_free_ char *s1 = strdup(src_path);
                sname = strdup(src_path);
                if (!s1 || !sname)
                        return -ENOMEM;
                if ((sdir = open(dirname(s1), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                        return kerr_kind(err, KERR_NOT_FOUND, -errno, "source %s", src_arg);
                char *b = strdup(basename(sname));
                free(sname);
                if (!(sname = b))
                        return -ENOMEM;
                if (streq(sname, "/")) {
                        free(sname);
                        if (!(sname = strdup(".")))
                                return -ENOMEM;
                }
        }
        const char *base = streq(sname, ".") ? "rootfs" : sname;
        if (src_in && streq(dst_path, "-"))
                return copy_tree_to_tar(sdir, sname, base, STDOUT_FILENO, err);
        _cleanup_close_ int ddir = -1;
        _cleanup_free_ char *dname = NULL;
        r = dest_of(rootfd, dst_in, dst_path, base, &ddir, &dname, err);
        if (r < 0)
                return r;
        return copy_tree_at(sdir, sname, ddir, dname, err);
}

K_VERB(cp) {
        if (argc != 3)
                return k_usage(err, "cp", "expected SRC DST");
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
        CtrRoot root;
        if ((r = ctr_root_open(e, rec, &root, err)) < 0)
                return r;
        r = copy_between(&root, src_ctr != NULL, src_path, argv[1], dst_ctr != NULL, dst_path, err);
        ctr_root_close(&root);
        return r < 0 ? r : 0;
}
