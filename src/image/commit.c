/* SPDX-License-Identifier: Apache-2.0 */
/* New images from a container's overlay upper dir (`kapsel commit`) or from a rootfs tarball
 * (`kapsel import`). The upper dir holds overlayfs whiteouts (filesystems/overlayfs.rst
 * "whiteouts and opaque directories"); image layers carry them as ".wh." files (image-spec
 * layer.md), so they are converted here and back by the unpacker. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "layer.h"
#include "store.h"
#include "string-util.h"

#define XATTR_LIST_MAX_BYTES 65536

static bool is_whiteout(const struct stat *st) {
        return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool is_opaque(int fd) {
        static const char *const names[] = { "trusted.overlay.opaque", "user.overlay.opaque" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char v[2];
                if (fgetxattr(fd, names[i], v, sizeof(v)) == 1 && v[0] == 'y')
                        return true;
        }
        return false;
}

static void copy_xattrs(int fd, struct archive_entry *e) {
        _cleanup_free_ char *list = malloc(XATTR_LIST_MAX_BYTES), *val = malloc(XATTR_LIST_MAX_BYTES);
        ssize_t n = list ? flistxattr(fd, list, XATTR_LIST_MAX_BYTES) : -1;
        for (ssize_t i = 0; val && i < n; i += (ssize_t) strlen(list + i) + 1) {
                const char *name = list + i;
                if (startswith(name, "trusted.overlay.") || startswith(name, "user.overlay."))
                        continue;       /* overlay's own bookkeeping, never image content */
                ssize_t l = fgetxattr(fd, name, val, XATTR_LIST_MAX_BYTES);
                if (l >= 0)
                        archive_entry_xattr_add_entry(e, name, val, (size_t) l);
        }
}

static int add_marker(struct archive *a, const char *path, const struct stat *st) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 0);
        archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
        int r = archive_write_header(a, e) == ARCHIVE_OK ? 0 : -EIO;
        archive_entry_free(e);
        return r;
}

/* The entry's data: `size` bytes at most (what the header says; a file a running container grows
 * meanwhile is cut there, one that shrank is padded by libarchive). */
static int copy_data(struct archive *a, int fd, off_t size) {
        _cleanup_free_ char *buf = malloc(1 << 17);
        if (!buf)
                return -ENOMEM;
        while (size > 0) {
                ssize_t n = read(fd, buf, size < (1 << 17) ? (size_t) size : (1 << 17));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : 0;
                if (archive_write_data(a, buf, (size_t) n) != n)
                        return -EIO;
                size -= n;
        }
        return 0;
}

typedef struct TarTree {
        struct archive *a;
        struct archive_entry_linkresolver *links;
} TarTree;

static int add_tree(TarTree *t, int dfd, const char *prefix);

static int add_one(TarTree *t, int dfd, const char *name, const char *path) {
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (is_whiteout(&st)) {
                _cleanup_free_ char *wh = NULL;
                const char *slash = strrchr(path, '/');
                if (asprintf(&wh, "%.*s.wh.%s", slash ? (int) (slash - path + 1) : 0, path, name) < 0)
                        return -ENOMEM;
                return add_marker(t->a, wh, &st);
        }
        /* a running container may swap the file for a FIFO after the stat: never block, and the
         * object opened must be the one stat'ed */
        _cleanup_close_ int fd = S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)
                                         ? openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC |
                                                                     (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0))
                                         : -1;
        if ((S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && fd < 0)
                return -errno;
        struct stat fst;
        if (fd >= 0 && (fstat(fd, &fst) < 0 || fst.st_ino != st.st_ino || fst.st_dev != st.st_dev ||
                        (S_ISREG(st.st_mode) && fd_verify_regular(fd) < 0)))
                return -EAGAIN;         /* changed under us */
        struct archive_entry *e = archive_entry_new(), *spare = NULL;
        archive_entry_set_pathname(e, path);
        archive_entry_copy_stat(e, &st);
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX + 1];
                ssize_t l = readlinkat(dfd, name, target, PATH_MAX);
                if (l < 0) {
                        archive_entry_free(e);
                        return -errno;
                }
                target[l] = '\0';
                archive_entry_set_symlink(e, target);
        }
        if (fd >= 0)
                copy_xattrs(fd, e);
        if (S_ISREG(st.st_mode))
                archive_entry_linkify(t->links, &e, &spare);
        int r = archive_write_header(t->a, e) == ARCHIVE_OK ? 0 : -EIO;
        if (r >= 0 && S_ISREG(st.st_mode) && !archive_entry_hardlink(e))
                r = copy_data(t->a, fd, st.st_size);
        archive_entry_free(e);
        archive_entry_free(spare);
        if (r >= 0 && S_ISDIR(st.st_mode)) {
                _cleanup_free_ char *opq = NULL;
                if (is_opaque(fd) && (asprintf(&opq, "%s/.wh..wh..opq", path) < 0 || (r = add_marker(t->a, opq, &st)) < 0))
                        return r < 0 ? r : -ENOMEM;
                r = add_tree(t, fd, path);
        }
        return r;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Entries in name order: the same upper dir always gives the same tar (and diff-id). */
static int add_tree(TarTree *t, int dfd, const char *prefix) {
        DIR *d = opendir_fd(dfd);
        if (!d)
                return -errno;
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = strv_extend(&names, de->d_name);
        closedir(d);
        if (r < 0)
                return r;
        qsort(names, strv_length(names), sizeof(char *), cmp_str);
        for (char **n = names; r >= 0 && n && *n; n++) {
                _cleanup_free_ char *path = prefix ? NULL : strdup(*n);
                if (prefix && asprintf(&path, "%s/%s", prefix, *n) < 0)
                        path = NULL;
                r = path ? add_one(t, dfd, *n, path) : -ENOMEM;
        }
        return r;
}

/* Write upper_dir as a gzip layer tar into fd. */
int commit_write_layer(const char *upper_dir, int fd, KError **err) {
        _cleanup_close_ int dfd = open(upper_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return kerr(err, -errno, "open upper dir %s", upper_dir);
        TarTree t = { .a = archive_write_new(), .links = archive_entry_linkresolver_new() };
        int r = t.a && t.links ? 0 : -ENOMEM;
        if (r >= 0) {
                archive_write_set_format_pax_restricted(t.a);
                archive_entry_linkresolver_set_strategy(t.links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
                layer_add_gzip(t.a);
                archive_write_set_bytes_in_last_block(t.a, 1);
                r = archive_write_open_fd(t.a, fd) == ARCHIVE_OK ? 0 : -EIO;
        }
        if (r >= 0)
                r = add_tree(&t, dfd, NULL);
        if (r >= 0 && archive_write_close(t.a) != ARCHIVE_OK)
                r = -EIO;
        if (r < 0)
                r = kerr(err, r, "write a layer from %s%s%s", upper_dir, t.a && archive_error_string(t.a) ? ": " : "",
                         t.a && archive_error_string(t.a) ? archive_error_string(t.a) : "");
        if (t.a)
                archive_write_free(t.a);
        if (t.links)
                archive_entry_linkresolver_free(t.links);
        return r;
}

static void now_rfc3339(char buf[static 32]) {
        time_t t = time(NULL);
        struct tm tm;
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

/* Config for parent + one layer (image-spec config.md): created, config, rootfs, history. */
static json_t *build_config(const json_t *parent, const ImageConfig *cfg, const char *diff_id, const char *created_by,
                            const char *comment) {
        char now[32];
        now_rfc3339(now);
        json_t *c = parent ? json_deep_copy(parent) : json_pack("{s:s, s:s}", "architecture", oci_host_arch(NULL), "os", "linux");
        if (!c)
                return NULL;
        json_object_set_new(c, "created", json_string(now));
        if (cfg)
                json_object_set_new(c, "config", image_config_to_json(cfg));
        else if (!json_object_get(c, "config"))
                json_object_set_new(c, "config", json_object());
        json_t *rootfs = json_object_get(c, "rootfs");
        if (!json_is_object(rootfs) || !json_is_array(json_object_get(rootfs, "diff_ids"))) {
                rootfs = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
                json_object_set_new(c, "rootfs", rootfs);
        }
        json_array_append_new(json_object_get(rootfs, "diff_ids"), json_string(diff_id));
        json_t *hist = json_object_get(c, "history");
        if (!json_is_array(hist)) {
                hist = json_array();
                json_object_set_new(c, "history", hist);
        }
        json_t *h = json_pack("{s:s, s:s}", "created", now, "created_by", created_by);
        if (h && comment)
                json_object_set_new(h, "comment", json_string(comment));
        json_array_append_new(hist, h);
        return c;
}

static int parent_layers(ImageStore *s, const Image *parent, LayerInfo **ret, size_t *ret_n, KError **err) {
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_t *j = NULL;
        size_t len;
        OciManifest m = {};
        *ret = calloc((parent ? parent->n_layers : 0) + 2, sizeof(LayerInfo));
        *ret_n = 0;
        if (!*ret)
                return kerr(err, -ENOMEM, "commit");
        if (!parent)
                return 0;
        int r = store_blob_read(s, parent->manifest_digest, &text, &len, err);
        if (r >= 0)
                r = oci_json_load(text, len, parent->manifest_digest, &j, err);
        if (r >= 0)
                r = oci_manifest_parse(j, parent->manifest_digest, &m, err);
        if (r >= 0 && m.n_layers > parent->n_layers)
                r = kerr_msg(err, KERR_CONFIG, -EBADMSG, "image %s: manifest and record disagree", parent->id);
        for (size_t i = 0; r >= 0 && i < m.n_layers; i++) {
                LayerInfo *li = &(*ret)[i];
                snprintf(li->digest, sizeof(li->digest), "%s", m.layers[i].digest);
                snprintf(li->media_type, sizeof(li->media_type), "%s", m.layers[i].media_type ? m.layers[i].media_type : MT_OCI_LAYER_GZIP);
                li->size = (uint64_t) m.layers[i].size;
                *ret_n = i + 1;
        }
        oci_manifest_done(&m);
        return r;
}

/* Config + manifest for `layers` (the last one new) and the record; name it. */
static int finish_image(ImageStore *s, json_t *config, const LayerInfo *layers, size_t n, const char *name, char **ret_id,
                        KError **err) {
        _cleanup_free_ char *text = config ? json_dumps(config, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        char config_digest[DIGEST_STR_MAX], manifest_digest[DIGEST_STR_MAX];
        OciConfig c = {};
        if (!text)
                return kerr(err, -ENOMEM, "image config");
        int r = oci_config_parse(config, "new image config", &c, err);
        if (r >= 0)
                r = store_blob_write(s, text, strlen(text), NULL, config_digest, err);
        if (r >= 0)
                r = store_write_manifest(s, config_digest, strlen(text), layers, n, manifest_digest, err);
        if (r >= 0)
                r = store_publish_image(s, manifest_digest, config_digest, c.diff_ids, name, err);
        if (r >= 0 && ret_id && !(*ret_id = strdup(config_digest)))
                r = kerr(err, -ENOMEM, "commit");
        oci_config_done(&c);
        return r;
}

static int commit_locked(ImageStore *s, const Image *parent, const char *upper_dir, const ImageConfig *cfg, const char *name,
                         const char *comment, char **ret_id, KError **err) {
        _cleanup_free_ LayerInfo *layers = NULL;
        size_t n = 0;
        int r = parent_layers(s, parent, &layers, &n, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = openat(s->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return kerr(err, -errno, "create a staging file in %s/tmp", s->root);
        if ((r = commit_write_layer(upper_dir, fd, err)) < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return kerr(err, -errno, "rewind the new layer");
        if ((r = store_layer_import(s, fd, NULL, NULL, MT_OCI_LAYER_GZIP, false, &layers[n], err)) < 0)
                return r;
        _cleanup_json_ json_t *config = build_config(parent ? parent->config_json : NULL, cfg, layers[n].diff_id,
                                                     "kapsel commit", comment);
        return finish_image(s, config, layers, n + 1, name, ret_id, err);
}

int image_commit(ImageStore *s, const Image *parent, const char *upper_dir, const ImageConfig *cfg, const char *name,
                 const char *comment, char **ret_id, KError **err) {
        int r = store_lock(s, false, err);
        if (r < 0)
                return r;
        r = commit_locked(s, parent, upper_dir, cfg, name, comment, ret_id, err);
        store_unlock(s);
        return r;
}

/* gzip, zstd and plain tar are valid layer blobs as they are; anything else (xz, bzip2) is stored
 * as the uncompressed tar. */
static bool storable_as_is(int fd) {
        unsigned char m[263] = {};
        ssize_t n = pread(fd, m, sizeof(m), 0);
        if (n > 0 && layer_compression_sniff(m, (size_t) n) != LAYER_COMPRESSION_NONE)
                return true;
        return n >= 262 && !memcmp(m + 257, "ustar", 5);
}

int image_import_rootfs(ImageStore *s, const char *tarball, const char *name, const ImageConfig *cfg, char **ret_id,
                        KError **err) {
        _cleanup_close_ int fd = open(tarball, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return kerr_kind(err, errno == ENOENT ? KERR_NOT_FOUND : KERR_GENERIC, -errno, "open %s", tarball);
        LayerInfo li = {};
        int r = store_lock(s, false, err);
        if (r < 0)
                return r;
        r = store_layer_import(s, fd, NULL, NULL, NULL, !storable_as_is(fd), &li, err);
        if (r < 0)
                r = kerr_prefix(err, r, "import %s", tarball);
        _cleanup_json_ json_t *config = r >= 0 ? build_config(NULL, cfg, li.diff_id, "kapsel import", tarball) : NULL;
        if (r >= 0)
                r = finish_image(s, config, &li, 1, name, ret_id, err);
        store_unlock(s);
        return r;
}

/* `kapsel build`'s steps: the whole config is the builder's; rootfs and history follow the parent. */
static int commit_build_locked(ImageStore *s, const Image *parent, const char *upper_dir, const json_t *config,
                               const char *created_by, char **ret_id, KError **err) {
        _cleanup_free_ LayerInfo *layers = NULL;
        size_t n = 0;
        int r = parent_layers(s, parent, &layers, &n, err);
        if (r < 0)
                return r;
        if (upper_dir) {
                _cleanup_close_ int fd = openat(s->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
                if (fd < 0)
                        return kerr(err, -errno, "create a staging file in %s/tmp", s->root);
                if ((r = commit_write_layer(upper_dir, fd, err)) < 0)
                        return r;
                if (lseek(fd, 0, SEEK_SET) < 0)
                        return kerr(err, -errno, "rewind the new layer");
                if ((r = store_layer_import(s, fd, NULL, NULL, MT_OCI_LAYER_GZIP, false, &layers[n], err)) < 0)
                        return r;
        }
        _cleanup_json_ json_t *c = json_deep_copy(config);
        json_t *pc = parent ? parent->config_json : NULL;
        json_t *diff_ids = json_deep_copy(json_object_get(json_object_get(pc, "rootfs"), "diff_ids"));
        json_t *hist = json_deep_copy(json_object_get(pc, "history"));
        char now[32];
        now_rfc3339(now);
        if (!c || (!diff_ids && !(diff_ids = json_array())) || (!hist && !(hist = json_array()))) {
                json_decref(diff_ids);
                json_decref(hist);
                return kerr(err, -ENOMEM, "image config");
        }
        if (upper_dir)
                json_array_append_new(diff_ids, json_string(layers[n].diff_id));
        json_object_set_new(c, "rootfs", json_pack("{s:s, s:o}", "type", "layers", "diff_ids", diff_ids));
        json_t *h = json_pack("{s:s, s:s}", "created", now, "created_by", created_by);
        if (h && !upper_dir)
                json_object_set_new(h, "empty_layer", json_true());
        json_array_append_new(hist, h);
        json_object_set_new(c, "history", hist);
        json_object_set_new(c, "created", json_string(now));
        if (!json_object_get(c, "architecture"))
                json_object_set_new(c, "architecture", json_string(oci_host_arch(NULL)));
        if (!json_object_get(c, "os"))
                json_object_set_new(c, "os", json_string("linux"));
        return finish_image(s, c, layers, n + (upper_dir ? 1 : 0), NULL, ret_id, err);
}

int image_commit_build(ImageStore *s, const Image *parent, const char *upper_dir, const json_t *config,
                       const char *created_by, char **ret_id, KError **err) {
        int r = store_lock(s, false, err);
        if (r < 0)
                return r;
        r = commit_build_locked(s, parent, upper_dir, config, created_by, ret_id, err);
        store_unlock(s);
        return r;
}
