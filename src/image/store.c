/* SPDX-License-Identifier: Apache-2.0 */
/* Store root, locks, blobs and unpacked layers. Staging is in tmp/: blobs are O_TMPFILE files
 * linked into blobs/sha256 once verified (a crash leaves nothing), layers are unpacked into
 * tmp/layer-XXXXXX and renamed to layers/<diffid-hex> (a crash leaves a tmp dir, removed on the
 * next open that finds the store idle). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "layer.h"
#include "path-util.h"
#include "store.h"
#include "string-util.h"

static int open_store_subdir(int dirfd, const char *name, int *ret, KError **err, const char *root) {
        const char *step = NULL;
        int fd = open_subdir(dirfd, name, true, 0700, &step);
        if (fd < 0)
                return kerr(err, fd, "%s %s/%s", step, root, name);
        *ret = fd;
        return 0;
}

static void store_narrow(int fd) {
        struct stat st;
        if (fstat(fd, &st) == 0 && (st.st_mode & 077))
                (void) fchmod(fd, st.st_mode & 0700);
}

/* Staging garbage belongs to a dead process only when nobody holds the lock. */
static void collect_tmp(ImageStore *s) {
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
                return;
        DIR *d = opendir_fd(s->tmp_fd);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        (void) rm_rf_at(s->tmp_fd, de->d_name);
        if (d)
                closedir(d);
        (void) flock(s->lock_fd, LOCK_UN);
}

static int open_lockfile(ImageStore *s, const char *name, int *ret, KError **err) {
        *ret = openat(s->root_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        return *ret < 0 ? kerr(err, -errno, "open %s/%s", s->root, name) : 0;
}

int image_store_open(const char *root, ImageStore **ret, KError **err) {
        _cleanup_(image_store_freep) ImageStore *s = calloc(1, sizeof(*s));
        if (!s || !(s->root = strdup(root)))
                return kerr(err, -ENOMEM, "open image store");
        s->root_fd = s->lock_fd = s->refs_lock_fd = s->blobs_fd = s->layers_fd = s->images_fd = s->tmp_fd = -1;
        s->rootless = geteuid() != 0;
        int r = mkdir_p(root, 0700);
        if (r < 0)
                return kerr(err, r, "create image store %s", root);
        s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd < 0)
                return kerr(err, -errno, "open image store %s", root);
        _cleanup_close_ int blobs = -1;
        if ((r = open_store_subdir(s->root_fd, "blobs", &blobs, err, root)) < 0 ||
            (r = open_store_subdir(blobs, "sha256", &s->blobs_fd, err, root)) < 0 ||
            (r = open_store_subdir(s->root_fd, "layers", &s->layers_fd, err, root)) < 0 ||
            (r = open_store_subdir(s->root_fd, "images", &s->images_fd, err, root)) < 0 ||
            (r = open_store_subdir(s->root_fd, "tmp", &s->tmp_fd, err, root)) < 0 ||
            (r = open_lockfile(s, "lock", &s->lock_fd, err)) < 0 ||
            (r = open_lockfile(s, "refs.lock", &s->refs_lock_fd, err)) < 0)
                return r;
        /* Layers hold images' setuid files and device nodes: no other host user may reach them
         * (overlayfs reads them with the mounter's credentials). A store made wider earlier is
         * narrowed. */
        store_narrow(s->layers_fd);
        store_narrow(s->root_fd);
        collect_tmp(s);
        *ret = TAKE_PTR(s);
        return 0;
}

void image_store_free(ImageStore *s) {
        if (!s)
                return;
        safe_close(s->root_fd);
        safe_close(s->lock_fd);
        safe_close(s->refs_lock_fd);
        safe_close(s->blobs_fd);
        safe_close(s->layers_fd);
        safe_close(s->images_fd);
        safe_close(s->tmp_fd);
        free(s->root);
        free(s);
}

const char *image_store_root(const ImageStore *s) {
        return s->root;
}

void image_store_set_rootless(ImageStore *s, bool rootless) {
        s->rootless = rootless;
}

int store_lock(ImageStore *s, bool exclusive, KError **err) {
        if (s->lock_depth++ > 0)
                return 0;       /* nested call from inside an operation that already holds it */
        while (flock(s->lock_fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
                if (errno != EINTR) {
                        s->lock_depth--;
                        return kerr(err, -errno, "lock image store %s", s->root);
                }
        return 0;
}

void store_unlock(ImageStore *s) {
        if (--s->lock_depth == 0)
                (void) flock(s->lock_fd, LOCK_UN);
}

int store_refs_lock(ImageStore *s, KError **err) {
        while (flock(s->refs_lock_fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return kerr(err, -errno, "lock %s/refs.json", s->root);
        return 0;
}

void store_refs_unlock(ImageStore *s) {
        (void) flock(s->refs_lock_fd, LOCK_UN);
}

bool store_blob_exists(ImageStore *s, const char *digest) {
        const char *hex = digest_hex(digest);
        return hex && faccessat(s->blobs_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int store_blob_open(ImageStore *s, const char *digest, KError **err) {
        const char *hex = digest_hex(digest);
        if (!hex)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "invalid digest '%s'", digest);
        int fd = openat(s->blobs_fd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return kerr_kind(err, errno == ENOENT ? KERR_NOT_FOUND : KERR_GENERIC, -errno, "blob %s", digest);
        return fd;
}

int store_blob_read(ImageStore *s, const char *digest, char **ret, size_t *ret_len, KError **err) {
        _cleanup_close_ int fd = store_blob_open(s, digest, err);
        if (fd < 0)
                return fd;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_full_fd(fd, OCI_JSON_MAX, &buf, &len);
        if (r < 0)
                return kerr(err, r, "read blob %s", digest);
        if ((r = digest_verify(buf, len, digest, "stored blob", NULL, err)) < 0)
                return r;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int store_tmpfile_open(ImageStore *s, KError **err) {
        int fd = openat(s->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
        return fd < 0 ? kerr(err, -errno, "create a staging file in %s/tmp", s->root) : fd;
}

/* linkat() of an O_TMPFILE through /proc/self/fd (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
 * An existing blob with this digest has the same content: keep it. */
int store_blob_publish(ImageStore *s, int fd, const char *digest, KError **err) {
        char p[FD_PATH_MAX];
        (void) fchmod(fd, 0644);
        if (linkat(AT_FDCWD, fd_path(fd, p), s->blobs_fd, digest_hex(digest), AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
                return kerr(err, -errno, "store blob %s", digest);
        return 0;
}

int store_blob_write(ImageStore *s, const void *data, size_t len, const char *expect, char ret_digest[static DIGEST_STR_MAX],
                     KError **err) {
        int r = digest_verify(data, len, expect, "blob", ret_digest, err);
        if (r < 0)
                return r;
        if (store_blob_exists(s, ret_digest))
                return 0;
        _cleanup_close_ int fd = store_tmpfile_open(s, err);
        if (fd < 0)
                return fd;
        if ((r = write_all(fd, data, len)) < 0)
                return kerr(err, r, "write blob %s", ret_digest);
        return store_blob_publish(s, fd, ret_digest, err);
}

/* Copy while hashing: the copy is what gets published, so what was verified is what is stored. */
int store_blob_copy(ImageStore *s, int src_fd, const char *expect, const char *what, char *ret_digest, KError **err) {
        _cleanup_close_ int fd = store_tmpfile_open(s, err);
        if (fd < 0)
                return fd;
        char got[DIGEST_STR_MAX];
        int r = digest_fd_copy(src_fd, fd, got, NULL);
        if (r < 0)
                return kerr(err, r, "copy %s", what);
        if ((r = digest_check(got, expect, what, err)) < 0)
                return r;
        if (ret_digest)
                memcpy(ret_digest, got, DIGEST_STR_MAX);
        return store_blob_publish(s, fd, got, err);
}

char *store_layer_path(ImageStore *s, const char *diff_id) {
        const char *hex = digest_hex(diff_id);
        char *p = NULL;
        if (!hex || asprintf(&p, "%s/layers/%s", s->root, hex) < 0)
                return NULL;
        return p;
}

bool store_layer_exists(ImageStore *s, const char *diff_id) {
        const char *hex = digest_hex(diff_id);
        return hex && faccessat(s->layers_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int store_layer_read_info(ImageStore *s, const char *diff_id, uint64_t *ret_unpacked) {
        char name[DIGEST_HEX_LEN + 8];
        snprintf(name, sizeof(name), "%s.json", digest_hex(diff_id));
        _cleanup_free_ char *text = NULL;
        *ret_unpacked = 0;
        int r = read_full_file_at(s->layers_fd, name, 4096, &text, NULL);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *j = json_loads(text, 0, NULL);
        json_int_t v = json_integer_value(json_object_get(j, "size"));
        *ret_unpacked = v > 0 ? (uint64_t) v : 0;
        return 0;
}

