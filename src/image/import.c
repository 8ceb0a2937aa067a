/* SPDX-License-Identifier: Apache-2.0 */
/* Importing images: the manifest walk shared by every source (image-spec manifest.md: config,
 * then layers in order, each checked against config.rootfs.diff_ids), and OCI image layout
 * directories (image-layout.md: oci-layout, index.json, blobs/<alg>/<hex>). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "image-import.h"
#include "json-util.h"
#include "store.h"
#include "string-util.h"

#define INDEX_DEPTH_MAX 4

int open_in_dir(int dirfd, const char *path, int flags) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd;
        do
                fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        while (fd < 0 && (errno == EAGAIN || errno == EINTR));
        return fd < 0 ? -errno : (int) fd;
}

int open_in_archive(int dirfd, const char *path, const char *what, KError **err) {
        int fd = open_in_dir(dirfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
        if (fd >= 0) {
                int r = fd_verify_regular(fd);
                if (r >= 0)
                        return fd;
                close(fd);
                fd = r;
        }
        switch (fd) {
        case -ENOENT:
                return kerr_kind(err, KERR_NOT_FOUND, fd, "%s: '%s' is missing", what, path);
        case -EXDEV:
        case -ELOOP:
                return kerr_msg(err, KERR_CONFIG, fd, "%s: '%s' is a link pointing outside the archive%s: the archive "
                                "is damaged or hostile and was not loaded", what, path,
                                fd == -ELOOP ? " (or in a loop)" : "");
        case -EINVAL:
        case -EISDIR:
                return kerr_msg(err, KERR_CONFIG, fd, "%s: '%s' is not a regular file (a FIFO, device or directory): "
                                "the archive is damaged or hostile and was not loaded", what, path);
        default:
                return kerr(err, fd, "%s: open '%s'", what, path);
        }
}

int read_json_at(int dirfd, const char *path, const char *what, const char *expect, json_t **ret, KError **err) {
        _cleanup_close_ int fd = open_in_archive(dirfd, path, what, err);
        if (fd < 0)
                return fd;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_full_fd(fd, OCI_JSON_MAX, &text, &len);
        if (r < 0)
                return kerr(err, r, "read %s", what);
        if (expect && (r = digest_verify(text, len, expect, what, NULL, err)) < 0)
                return r;
        return oci_json_load(text, len, what, ret, err);
}

static int src_read(const BlobSource *src, const char *digest, char **ret, size_t *ret_len, KError **err) {
        _cleanup_close_ int fd = src->open(src->userdata, digest, err);
        if (fd < 0)
                return fd;
        int r = read_full_fd(fd, OCI_JSON_MAX, ret, ret_len);
        if (r < 0)
                return kerr(err, r, "%s: read blob %s", src->what, digest);
        if ((r = digest_verify(*ret, *ret_len, digest, src->what, NULL, err)) < 0) {
                *ret = mfree(*ret);
                return r;
        }
        return 0;
}

static int import_layers(ImageStore *s, const BlobSource *src, const OciManifest *m, const OciConfig *c, KError **err) {
        for (size_t i = 0; i < m->n_layers; i++) {
                const Descriptor *d = &m->layers[i];
                if (store_blob_exists(s, d->digest) && store_layer_exists(s, c->diff_ids[i]))
                        continue;       /* shared with an image already here */
                _cleanup_close_ int fd = src->open(src->userdata, d->digest, err);
                if (fd < 0)
                        return fd;
                LayerInfo li;
                int r = store_layer_import(s, fd, d->digest, c->diff_ids[i], d->media_type, false, &li, err);
                if (r < 0)
                        return kerr_prefix(err, r, "%s", src->what);
        }
        return 0;
}

static int import_config(ImageStore *s, const BlobSource *src, const OciManifest *m, OciConfig *ret, KError **err) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        char dg[DIGEST_STR_MAX];
        _cleanup_json_ json_t *j = NULL;
        int r = src_read(src, m->config.digest, &text, &len, err);
        if (r >= 0)
                r = oci_json_load(text, len, m->config.digest, &j, err);
        if (r >= 0)
                r = oci_config_parse(j, m->config.digest, ret, err);
        if (r < 0)
                return r;
        if (ret->n_diff_ids != m->n_layers) {
                oci_config_done(ret);
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s: the manifest has %zu layers, the config %zu diff_ids",
                                src->what, m->n_layers, ret->n_diff_ids);
        }
        r = store_blob_write(s, text, len, m->config.digest, dg, err);
        if (r < 0)
                oci_config_done(ret);
        return r;
}

int store_import_manifest(ImageStore *s, const BlobSource *src, const char *manifest_digest, const char *name,
                          char **ret_id, KError **err) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        _cleanup_json_ json_t *j = NULL;
        OciKind kind;
        OciManifest m = {};
        OciConfig c = {};
        char dg[DIGEST_STR_MAX];
        int r = src_read(src, manifest_digest, &text, &len, err);
        if (r >= 0)
                r = oci_json_load(text, len, manifest_digest, &j, err);
        if (r >= 0)
                r = oci_kind(j, manifest_digest, &kind, err);
        if (r >= 0 && kind != OCI_KIND_MANIFEST)
                r = kerr_msg(err, KERR_CONFIG, -EMEDIUMTYPE, "%s: %s is an index, not a manifest", src->what,
                             manifest_digest);
        if (r >= 0)
                r = oci_manifest_parse(j, manifest_digest, &m, err);
        if (r >= 0)
                r = import_config(s, src, &m, &c, err);
        if (r >= 0)
                r = import_layers(s, src, &m, &c, err);
        if (r >= 0)
                r = store_blob_write(s, text, len, manifest_digest, dg, err);
        if (r >= 0)
                r = store_publish_image(s, manifest_digest, m.config.digest, c.diff_ids, name, err);
        if (r >= 0 && ret_id && !(*ret_id = strdup(m.config.digest)))
                r = kerr(err, -ENOMEM, "import");
        oci_manifest_done(&m);
        oci_config_done(&c);
        return r;
}

int store_write_manifest(ImageStore *s, const char *config_digest, uint64_t config_size, const LayerInfo *layers,
                         size_t n, char ret_digest[static DIGEST_STR_MAX], KError **err) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "mediaType", layers[i].media_type, "digest",
                                                     layers[i].digest, "size", (json_int_t) layers[i].size));
        _cleanup_json_ json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                                             MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest",
                                             config_digest, "size", (json_int_t) config_size, "layers", arr);
        _cleanup_free_ char *text = m ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (!text)
                return kerr(err, -ENOMEM, "manifest");
        return store_blob_write(s, text, strlen(text), NULL, ret_digest, err);
}

/* ---- OCI layout directories ---- */

typedef struct LayoutSource {
        int dirfd;
        const char *path;
} LayoutSource;

static int layout_open(void *userdata, const char *digest, KError **err) {
        LayoutSource *ls = userdata;
        const char *hex;
        char p[DIGEST_HEX_LEN + 16];
        if (digest_parse(digest, &hex) < 0)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "invalid digest '%s'", digest);
        snprintf(p, sizeof(p), "blobs/sha256/%s", hex);
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "OCI layout %s: blob %s", ls->path, digest) < 0)
                return kerr(err, -ENOMEM, "OCI layout");
        return open_in_archive(ls->dirfd, p, what, err);
}

static int descriptor_names(const Descriptor *from, const char *digest, Descriptor *ret) {
        *ret = (Descriptor) { .digest = strdup(digest), .ref_name = from->ref_name ? strdup(from->ref_name) : NULL,
                              .image_name = from->image_name ? strdup(from->image_name) : NULL };
        if (!ret->digest || (from->ref_name && !ret->ref_name) || (from->image_name && !ret->image_name)) {
                descriptor_done(ret);
                return -ENOMEM;
        }
        return 0;
}

/* Follow nested indexes (a manifest list inside index.json) down to one manifest; the names are
 * those of the top-level entry. */
static int resolve_index(const BlobSource *src, const OciIndex *top, const char *ref, Descriptor *ret, KError **err) {
        size_t pick;
        int r = oci_index_select(top, ref, NULL, src->what, &pick, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *cur = strdup(top->manifests[pick].digest);
        for (int depth = 0; cur && depth < INDEX_DEPTH_MAX; depth++) {
                _cleanup_free_ char *text = NULL;
                size_t len;
                _cleanup_json_ json_t *j = NULL;
                OciKind kind;
                OciIndex sub = {};
                if ((r = src_read(src, cur, &text, &len, err)) < 0 || (r = oci_json_load(text, len, cur, &j, err)) < 0 ||
                    (r = oci_kind(j, cur, &kind, err)) < 0)
                        return r;
                if (kind == OCI_KIND_MANIFEST)
                        return descriptor_names(&top->manifests[pick], cur, ret) < 0 ? kerr(err, -ENOMEM, "index") : 0;
                size_t sp;
                if ((r = oci_index_parse(j, cur, &sub, err)) < 0)
                        return r;
                r = oci_index_select(&sub, NULL, NULL, cur, &sp, err);
                free(cur);
                cur = r >= 0 ? strdup(sub.manifests[sp].digest) : NULL;
                oci_index_done(&sub);
                if (r < 0)
                        return r;
        }
        return cur ? kerr_msg(err, KERR_CONFIG, -ELOOP, "%s: image indexes nested too deep", src->what)
                   : kerr(err, -ENOMEM, "index");
}

/* The name an index entry carries: containerd's full name, else ref.name when it is a full ref. */
char *descriptor_name(const Descriptor *d) {
        _cleanup_free_ char *norm = NULL;
        if (d->image_name && image_ref_normalize(d->image_name, &norm, NULL) >= 0)
                return TAKE_PTR(norm);
        if (d->ref_name && (strchr(d->ref_name, '/') || strchr(d->ref_name, ':')) &&
            image_ref_normalize(d->ref_name, &norm, NULL) >= 0)
                return TAKE_PTR(norm);
        return NULL;
}

int layout_import_one(ImageStore *s, int dirfd, const char *path, const OciIndex *idx, const char *select_ref,
                      const char *name, char **ret_id, char **ret_name, KError **err) {
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "OCI layout %s", path) < 0)
                return kerr(err, -ENOMEM, "import");
        LayoutSource ls = { .dirfd = dirfd, .path = path };
        BlobSource src = { .open = layout_open, .userdata = &ls, .what = what };
        Descriptor d = {};
        int r = resolve_index(&src, idx, select_ref, &d, err);
        _cleanup_free_ char *auto_name = r >= 0 && !name ? descriptor_name(&d) : NULL;
        if (r >= 0)
                r = store_import_manifest(s, &src, d.digest, name ? name : auto_name, ret_id, err);
        if (r >= 0 && ret_name)
                *ret_name = name ? strdup(name) : TAKE_PTR(auto_name);
        descriptor_done(&d);
        return r;
}

int layout_read_index(int dirfd, const char *path, OciIndex *ret, KError **err) {
        _cleanup_json_ json_t *layout = NULL, *index = NULL;
        _cleanup_free_ char *w1 = NULL, *w2 = NULL;
        if (asprintf(&w1, "%s/oci-layout", path) < 0 || asprintf(&w2, "%s/index.json", path) < 0)
                return kerr(err, -ENOMEM, "import");
        int r = read_json_at(dirfd, "oci-layout", w1, NULL, &layout, err);
        if (r < 0)
                return kerr_prefix(err, r, "not an OCI image layout");
        const char *v = json_string_value(json_object_get(layout, "imageLayoutVersion"));
        if (!v || strncmp(v, "1.", 2))
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s: unsupported imageLayoutVersion", w1);
        if ((r = read_json_at(dirfd, "index.json", w2, NULL, &index, err)) < 0)
                return r;
        return oci_index_parse(index, w2, ret, err);
}

int image_import_oci_layout(ImageStore *s, const char *dir, const char *select_ref, const char *name, char **ret_id,
                            KError **err) {
        _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return kerr_kind(err, errno == ENOENT ? KERR_NOT_FOUND : KERR_GENERIC, -errno, "OCI layout %s", dir);
        OciIndex idx = {};
        int r = layout_read_index(dirfd, dir, &idx, err);
        if (r < 0)
                return r;
        if ((r = store_lock(s, false, err)) >= 0) {
                r = layout_import_one(s, dirfd, dir, &idx, select_ref, name, ret_id, NULL, err);
                store_unlock(s);
        }
        oci_index_done(&idx);
        return r;
}
