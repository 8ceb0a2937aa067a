/* SPDX-License-Identifier: Apache-2.0 */
#include "ctr-fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ctr-ops.h"
#include "path-util.h"
#include "spool.h"
#include "string-util.h"
#include "vm-isolation.h"

CtrChangeKind ctr_change_kind(bool whiteout, bool in_image) {
        if (whiteout)
                return CTR_CHANGE_DELETED;
        return in_image ? CTR_CHANGE_MODIFIED : CTR_CHANGE_ADDED;
}

static bool is_whiteout(int dfd, const char *name, const struct stat *st) {
        if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0))
                return true;
        /* rootless stores mark whiteouts with an xattr on an empty file */
        char v[4];
        _cleanup_free_ char *p = NULL;
        if (!S_ISREG(st->st_mode) || st->st_size != 0 || asprintf(&p, "/proc/self/fd/%d/%s", dfd, name) < 0)
                return false;
        return lgetxattr(p, "user.overlay.whiteout", v, sizeof(v)) >= 0;
}

/* The empty files kapsel creates as mount points for the files it bind-mounts (docker's diff does
 * not show them either). */
static bool is_placeholder(const char *rel, const struct stat *st) {
        static const char *const mounted[] = { "/etc/hosts", "/etc/hostname", "/etc/resolv.conf" };
        if (!S_ISREG(st->st_mode) || st->st_size != 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(mounted); i++)
                if (streq(rel, mounted[i]))
                        return true;
        return false;
}

typedef struct DiffWalk {
        char **layers;          /* the image's layer dirs */
        size_t n_layers;
        json_t *out;
} DiffWalk;

static bool in_image(const DiffWalk *w, const char *rel) {
        for (size_t i = 0; i < w->n_layers; i++) {
                _cleanup_free_ char *p = path_join(w->layers[i], rel);
                struct stat st;
                if (p && lstat(p, &st) == 0)
                        return true;
        }
        return false;
}

/* Walk one directory of the upper dir (`dfd`, at image path `rel`, "" for /). */
static int diff_dir(DiffWalk *w, int dfd, const char *rel, KError **err) {
        _cleanup_close_ int own = dup(dfd);
        DIR *d = own >= 0 ? fdopendir(own) : NULL;
        if (!d)
                return kerr(err, -errno, "read the container's changes at /%s", rel);
        TAKE_FD(own);
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                _cleanup_free_ char *child = NULL;
                if (asprintf(&child, "%s/%s", rel, de->d_name) < 0) {
                        r = kerr(err, -ENOMEM, "diff");
                        break;
                }
                if (is_placeholder(child, &st))
                        continue;
                bool wh = is_whiteout(dirfd(d), de->d_name, &st);
                CtrChangeKind k = ctr_change_kind(wh, !wh && in_image(w, child));
                size_t at = json_array_size(w->out);
                json_array_append_new(w->out, json_pack("{s:s, s:i}", "Path", child, "Kind", (int) k));
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0)
                                r = diff_dir(w, sub, child, err);
                        /* an image directory counts as changed only for what changed inside it */
                        if (r >= 0 && k == CTR_CHANGE_MODIFIED && json_array_size(w->out) == at + 1)
                                json_array_remove(w->out, at);
                }
        }
        closedir(d);
        return r;
}

static int by_path(const void *a, const void *b) {
        return strcmp(json_string_value(json_object_get(*(json_t *const *) a, "Path")),
                      json_string_value(json_object_get(*(json_t *const *) b, "Path")));
}

/* The record and its image plan, refused for an --isolation=vm container (its changes live in a
 * disk image) and for a micro-VM. */
static int load(Engine *e, const char *ref, CtrRecord **ret, ImagePlan *plan, KError **err) {
        int r = db_ctr_get(e->db, ref, ret, err);
        if (r < 0 || (r = ctr_repair(e, *ret, err)) < 0)
                return r;
        if ((*ret)->kind != CTR_KIND_CONTAINER || vm_isolation_enabled((*ret)->config))
                return kerr_msg(err, KERR_STATE, -EOPNOTSUPP, "%s runs in a micro-VM: its filesystem is a disk image",
                                (*ret)->name);
        return image_plan_read(e, (*ret)->id, plan, err);
}

int ctr_diff(Engine *e, const char *ref, json_t **ret, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        ImagePlan plan = {};
        int r = load(e, ref, &rec, &plan, err);
        if (r < 0) {
                image_plan_done(&plan);
                return r;
        }
        _cleanup_free_ char *upper = engine_ctr_path(e, rec->id, "diff");
        _cleanup_close_ int dfd = upper ? open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -EBADF;
        DiffWalk w = { .layers = plan.layer_dirs, .n_layers = plan.n_layers, .out = json_array() };
        if (dfd < 0)
                r = kerr(err, upper ? -errno : -ENOMEM, "open %s", upper ?: "the container's changes");
        else
                r = diff_dir(&w, dfd, "", err);
        image_plan_done(&plan);
        if (r < 0) {
                json_decref(w.out);
                return r;
        }
        size_t n = json_array_size(w.out);
        json_t **items = calloc(n + 1, sizeof(json_t *));
        for (size_t i = 0; items && i < n; i++)
                items[i] = json_incref(json_array_get(w.out, i));
        if (items) {
                qsort(items, n, sizeof(json_t *), by_path);
                json_array_clear(w.out);
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(w.out, items[i]);
                free(items);
        }
        *ret = w.out;
        return 0;
}

/* In the child: the tree at `dir` as a tar on `fd`, names relative to it. */
#define TAR_BUF_SIZE 65536

static int write_tar(const char *dir, int fd) {
        struct archive *disk = archive_read_disk_new(), *out = archive_write_new();
        int r = -EIO;
        if (!disk || !out || chdir(dir) < 0)
                goto done;
        archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
        archive_read_disk_set_standard_lookup(disk);
        archive_write_set_format_pax_restricted(out);
        if (archive_write_open_fd(out, fd) != ARCHIVE_OK || archive_read_disk_open(disk, ".") != ARCHIVE_OK)
                goto done;
        for (;;) {
                struct archive_entry *ent = archive_entry_new();
                int a = archive_read_next_header2(disk, ent);
                if (a == ARCHIVE_EOF) {
                        archive_entry_free(ent);
                        r = 0;
                        break;
                }
                if (a < ARCHIVE_WARN) {
                        archive_entry_free(ent);
                        break;
                }
                archive_read_disk_descend(disk);
                const char *name = archive_entry_pathname(ent);
                if (streq(name, ".")) {
                        archive_entry_free(ent);
                        continue;
                }
                archive_entry_set_pathname(ent, startswith(name, "./") ?: name);
                if (archive_write_header(out, ent) < ARCHIVE_WARN) {
                        archive_entry_free(ent);
                        break;
                }
                const char *src = archive_entry_sourcepath(ent);
                if (archive_entry_filetype(ent) == AE_IFREG && archive_entry_size(ent) > 0) {
                        _cleanup_close_ int in = open(src ?: name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                        /* on the heap: a caller may run us on a small thread stack (kapseld) */
                        _cleanup_free_ char *buf = malloc(TAR_BUF_SIZE);
                        ssize_t n;
                        while (in >= 0 && buf && (n = read(in, buf, TAR_BUF_SIZE)) > 0)
                                if (archive_write_data(out, buf, (size_t) n) < 0)
                                        break;
                }
                archive_entry_free(ent);
        }
        if (r == 0 && archive_write_close(out) != ARCHIVE_OK)
                r = -EIO;
        if (r < 0)
                fprintf(stderr, "kapsel: export: %s\n", archive_error_string(out) ?: archive_error_string(disk) ?: "write failed");
done:
        if (disk)
                archive_read_free(disk);
        if (out)
                archive_write_free(out);
        return r;
}

int ctr_export(Engine *e, const char *ref, int fd, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        ImagePlan plan = {};
        int r = load(e, ref, &rec, &plan, err);
        _cleanup_free_ char *upper = NULL, *lower = NULL, *data = NULL, *mnt = NULL;
        size_t len = 0;
        FILE *f = r >= 0 ? open_memstream(&lower, &len) : NULL;
        if (r >= 0 && (!(upper = engine_ctr_path(e, rec->id, "diff")) || !f))
                r = kerr(err, -ENOMEM, "export");
        if (f) {
                fprintf(f, "%s", upper ?: "");
                for (size_t i = plan.n_layers; i-- > 0;)
                        fprintf(f, ":%s", plan.layer_dirs[i]);
                fclose(f);
        }
        image_plan_done(&plan);
        if (r < 0)
                return r;
        _cleanup_free_ char *tmp = NULL;
        if ((r = spool_dir(e, &tmp, err)) < 0)
                return r;
        if (asprintf(&data, "lowerdir=%s", lower) < 0 || asprintf(&mnt, "%s/export-%d-XXXXXX", tmp, (int) getpid()) < 0)
                return kerr(err, -ENOMEM, "export");
        if (strlen(data) >= 4096)
                return kerr_msg(err, KERR_GENERIC, -E2BIG, "export %s: too many layers for one overlay mount", rec->name);
        if (!mkdtemp(mnt))
                return kerr(err, -errno, "create a mount point under %s", tmp);
        pid_t pid = fork();
        if (pid < 0) {
                r = kerr(err, -errno, "fork");
                (void) rmdir(mnt);
                return r;
        }
        if (pid == 0) {
                /* a private mount namespace: the overlay goes away with us, whatever happens */
                if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                        fprintf(stderr, "kapsel: export: private mount namespace: %m\n");
                        _exit(1);
                }
                if (mount("overlay", mnt, "overlay", MS_RDONLY | MS_NODEV | MS_NOSUID, data) < 0) {
                        fprintf(stderr, "kapsel: export: mount a read-only overlay on %s: %m\n", mnt);
                        _exit(1);
                }
                _exit(write_tar(mnt, fd) < 0 ? 1 : 0);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        (void) rmdir(mnt);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return kerr_msg(err, KERR_GENERIC, -EIO, "export %s failed (see the message above)", rec->name);
        return 0;
}
