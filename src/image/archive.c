/* SPDX-License-Identifier: Apache-2.0 */
/* `kapsel load` / `save` / export: OCI archives (a tar of an image layout, image-layout.md) and
 * `docker save` archives in; OCI archives with a docker-compatible manifest.json out.
 *
 * An archive to load is untrusted: it is unpacked into tmp/ by the same confined unpacker as
 * image layers (rootless mode: no devices, owners or setuid), then imported from there. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "image-import.h"
#include "json-util.h"
#include "layer.h"
#include "path-util.h"
#include "string-util.h"

static int unpack_archive(ImageStore *s, const char *archive, char tmpname[static 32], int *ret_dirfd, KError **err) {
        _cleanup_close_ int fd = open(archive, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return kerr_kind(err, errno == ENOENT ? KERR_NOT_FOUND : KERR_GENERIC, -errno, "open %s", archive);
        _cleanup_free_ char *p = path_join(s->root, "tmp/load-XXXXXX");
        if (!p || !mkdtemp(p))
                return kerr(err, p ? -errno : -ENOMEM, "create a staging directory in %s/tmp", s->root);
        snprintf(tmpname, 32, "%s", strrchr(p, '/') + 1);
        *ret_dirfd = openat(s->tmp_fd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (*ret_dirfd < 0)
                return kerr(err, -errno, "open %s", p);
        _cleanup_free_ char *label = NULL;
        if (asprintf(&label, "archive %s", archive) < 0)
                return kerr(err, -ENOMEM, "load");
        LayerUnpackOptions o = { .label = label, .tee_fd = -1, .rootless = true, .no_whiteouts = true };
        LayerUnpackResult res;
        return layer_unpack(fd, *ret_dirfd, &o, &res, err);
}

static int load_layout(ImageStore *s, int dirfd, const char *archive, char ***ret_names, KError **err) {
        OciIndex idx = {};
        int r = layout_read_index(dirfd, archive, &idx, err);
        size_t imported = 0;
        for (size_t i = 0; r >= 0 && i < idx.n; i++) {
                OciIndex one = { .manifests = &idx.manifests[i], .n = 1 };
                size_t pick;
                if (oci_index_select(&one, NULL, NULL, archive, &pick, NULL) < 0)
                        continue;       /* another platform's image */
                _cleanup_free_ char *id = NULL, *name = NULL;
                _cleanup_strv_free_ char **tags = NULL;
                r = layout_import_one(s, dirfd, archive, &one, NULL, NULL, &id, &name, err);
                if (r < 0)
                        break;
                imported++;
                (void) docker_archive_tags(dirfd, id, &tags);
                for (char **t = tags; r >= 0 && t && *t; t++)
                        if (!streq_ptr(*t, name) && (r = store_set_name(s, *t, id, err)) >= 0)
                                r = strv_extend(ret_names, *t) < 0 ? kerr(err, -ENOMEM, "load") : 0;
                if (r >= 0 && (name || !tags))
                        r = strv_extend(ret_names, name ? name : id) < 0 ? kerr(err, -ENOMEM, "load") : 0;
        }
        oci_index_done(&idx);
        if (r >= 0 && imported == 0)
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "%s: no image for this platform", archive);
        return r;
}

int image_load(ImageStore *s, const char *archive, char ***ret_names, KError **err) {
        char tmpname[32] = "";
        _cleanup_close_ int dirfd = -1;
        _cleanup_strv_free_ char **names = NULL;
        int r = store_lock(s, false, err);
        if (r < 0)
                return r;
        r = unpack_archive(s, archive, tmpname, &dirfd, err);
        /* present at all (a link or FIFO there is refused when it is read, saying why) */
        if (r >= 0 && faccessat(dirfd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                r = load_layout(s, dirfd, archive, &names, err);
        else if (r >= 0 && faccessat(dirfd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                r = docker_archive_import(s, dirfd, archive, &names, err);
        else if (r >= 0)
                r = kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s: neither an OCI archive (index.json) nor a docker save archive (manifest.json)",
                             archive);
        if (tmpname[0])
                (void) rm_rf_at(s->tmp_fd, tmpname);
        store_unlock(s);
        /* what a failed load stored (blobs, unpacked layers no record names) goes now, not at the
         * next check: a full disk must not stay full */
        if (r < 0)
                (void) image_gc(s, NULL, NULL);
        if (r >= 0 && ret_names)
                *ret_names = TAKE_PTR(names);
        return r;
}

/* ---- export ---- */

typedef struct Exported {
        char *id, *name, *manifest;
        uint64_t manifest_size;
        char **blobs;           /* digests: manifest, config, layers */
        char **layer_paths;     /* "blobs/sha256/<hex>" of the layers, for manifest.json */
} Exported;

static void exported_done(Exported *e) {
        free(e->id);
        free(e->name);
        free(e->manifest);
        strv_free(e->blobs);
        strv_free(e->layer_paths);
}

static int collect(ImageStore *s, const char *ref, Exported *e, KError **err) {
        ImageRecord rec;
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_t *j = NULL;
        size_t len = 0;
        OciManifest m = {};
        int r = store_resolve(s, ref, &e->id, err);
        if (r < 0 || (r = store_record_read(s, e->id, &rec, err)) < 0)
                return r;
        e->manifest = TAKE_PTR(rec.manifest_digest);
        image_record_done(&rec);
        if ((r = store_blob_read(s, e->manifest, &text, &len, err)) < 0 || (r = oci_json_load(text, len, e->manifest, &j, err)) < 0 ||
            (r = oci_manifest_parse(j, e->manifest, &m, err)) < 0)
                return r;
        e->manifest_size = len;
        if (!startswith(ref, DIGEST_PREFIX) && image_ref_normalize(ref, &e->name, NULL) < 0)
                e->name = NULL;
        r = strv_extend(&e->blobs, e->manifest) < 0 || strv_extend(&e->blobs, m.config.digest) < 0 ? -ENOMEM : 0;
        for (size_t i = 0; r >= 0 && i < m.n_layers; i++) {
                char p[DIGEST_HEX_LEN + 16];
                snprintf(p, sizeof(p), "blobs/sha256/%s", m.layers[i].digest + STRLEN(DIGEST_PREFIX));
                r = strv_extend(&e->blobs, m.layers[i].digest) < 0 || strv_extend(&e->layer_paths, p) < 0 ? -ENOMEM : 0;
        }
        oci_manifest_done(&m);
        return r < 0 ? kerr(err, r, "export") : 0;
}

static json_t *index_entry(const Exported *e) {
        json_t *d = json_pack("{s:s, s:s, s:I}", "mediaType", MT_OCI_MANIFEST, "digest", e->manifest, "size",
                              (json_int_t) e->manifest_size);
        if (d && e->name) {
                ImageRef pr = {};
                if (image_ref_parse(e->name, &pr, NULL) >= 0) {
                        json_object_set_new(d, "annotations",
                                            json_pack("{s:s, s:s}", ANNOTATION_IMAGE_NAME, e->name, ANNOTATION_REF_NAME,
                                                      pr.tag ? pr.tag : "latest"));
                        image_ref_done(&pr);
                }
        }
        return d;
}

static json_t *build_index(const Exported *ex, size_t n) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
                json_array_append_new(arr, index_entry(&ex[i]));
        return json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests", arr);
}

/* docker load reads manifest.json; Docker 25 writes exactly this shape next to the OCI layout. */
static json_t *build_docker_manifest(const Exported *ex, size_t n) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
                char cfg[DIGEST_HEX_LEN + 16];
                snprintf(cfg, sizeof(cfg), "blobs/sha256/%s", ex[i].id + STRLEN(DIGEST_PREFIX));
                json_t *tags = json_array();
                _cleanup_free_ char *fam = ex[i].name ? image_ref_familiar(ex[i].name) : NULL;
                if (fam && !strchr(fam, '@'))
                        json_array_append_new(tags, json_string(fam));
                json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "Config", cfg, "RepoTags", tags, "Layers",
                                                     json_from_strv(ex[i].layer_paths)));
        }
        return arr;
}

static int tar_add_buffer(struct archive *a, const char *name, const char *data, size_t len) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, data ? AE_IFREG : AE_IFDIR);
        archive_entry_set_perm(e, data ? 0644 : 0755);
        archive_entry_set_size(e, (la_int64_t) len);
        archive_entry_set_mtime(e, 0, 0);
        int r = archive_write_header(a, e) == ARCHIVE_OK ? 0 : -EIO;
        if (r >= 0 && data && archive_write_data(a, data, len) != (la_ssize_t) len)
                r = -EIO;
        archive_entry_free(e);
        return r;
}

static int tar_add_json(struct archive *a, const char *name, json_t *j) {
        _cleanup_free_ char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        return text ? tar_add_buffer(a, name, text, strlen(text)) : -ENOMEM;
}

static int tar_add_blob(ImageStore *s, struct archive *a, const char *digest) {
        _cleanup_close_ int fd = store_blob_open(s, digest, NULL);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return fd < 0 ? fd : -errno;
        char name[DIGEST_HEX_LEN + 16];
        snprintf(name, sizeof(name), "blobs/sha256/%s", digest + STRLEN(DIGEST_PREFIX));
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, st.st_size);
        archive_entry_set_mtime(e, 0, 0);
        int r = archive_write_header(a, e) == ARCHIVE_OK ? 0 : -EIO;
        archive_entry_free(e);
        _cleanup_free_ char *buf = malloc(1 << 17);
        for (ssize_t n = 1; r >= 0 && buf && n > 0;) {
                n = read(fd, buf, 1 << 17);
                if (n < 0)
                        r = -errno;
                else if (n > 0 && archive_write_data(a, buf, (size_t) n) != n)
                        r = -EIO;
        }
        return buf ? r : -ENOMEM;
}

static void set_filter(struct archive *a, const char *path) {
        size_t n = strlen(path);
        if ((n > 3 && streq(path + n - 3, ".gz")) || (n > 4 && streq(path + n - 4, ".tgz")))
                layer_add_gzip(a);
        else if (n > 4 && streq(path + n - 4, ".zst"))
                archive_write_add_filter_zstd(a);
}

static int write_archive(ImageStore *s, const Exported *ex, size_t n, const char *path, KError **err) {
        struct archive *a = archive_write_new();
        if (!a)
                return kerr(err, -ENOMEM, "save");
        archive_write_set_format_pax_restricted(a);
        set_filter(a, path);
        int r = archive_write_open_filename(a, path) == ARCHIVE_OK ? 0 : -EIO;
        _cleanup_strv_free_ char **done = NULL;
        if (r >= 0)
                r = tar_add_json(a, "oci-layout", json_pack("{s:s}", "imageLayoutVersion", "1.0.0"));
        if (r >= 0)
                r = tar_add_json(a, "index.json", build_index(ex, n));
        if (r >= 0)
                r = tar_add_json(a, "manifest.json", build_docker_manifest(ex, n));
        if (r >= 0)
                r = tar_add_buffer(a, "blobs/", NULL, 0);
        if (r >= 0)
                r = tar_add_buffer(a, "blobs/sha256/", NULL, 0);
        for (size_t i = 0; r >= 0 && i < n; i++)
                for (char **b = ex[i].blobs; r >= 0 && *b; b++)
                        if (!strv_contains(done, *b) && (r = tar_add_blob(s, a, *b)) >= 0)
                                r = strv_extend(&done, *b);
        if (r >= 0 && archive_write_close(a) != ARCHIVE_OK)
                r = -EIO;
        if (r < 0)
                r = kerr(err, r, "write %s%s%s", path, archive_error_string(a) ? ": " : "",
                         archive_error_string(a) ? archive_error_string(a) : "");
        archive_write_free(a);
        return r;
}

int image_save(ImageStore *s, char *const *refs, const char *archive, KError **err) {
        size_t n = strv_length(refs);
        if (n == 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "save: no image given");
        _cleanup_free_ Exported *ex = calloc(n, sizeof(Exported));
        _cleanup_free_ char *tmp = NULL;
        if (!ex || asprintf(&tmp, "%s.tmp-%d", archive, (int) getpid()) < 0)
                return kerr(err, -ENOMEM, "save");
        int r = store_lock(s, false, err);
        bool locked = r >= 0;
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = collect(s, refs[i], &ex[i], err);
        if (r >= 0)
                r = write_archive(s, ex, n, tmp, err);
        if (r >= 0 && rename(tmp, archive) < 0)
                r = kerr(err, -errno, "rename %s", archive);
        if (r < 0)
                (void) unlink(tmp);
        if (locked)
                store_unlock(s);
        for (size_t i = 0; i < n; i++)
                exported_done(&ex[i]);
        return r;
}

static int export_blob(ImageStore *s, int blobs_dir, const char *digest, KError **err) {
        const char *hex = digest + STRLEN(DIGEST_PREFIX);
        if (linkat(s->blobs_fd, hex, blobs_dir, hex, 0) == 0 || errno == EEXIST)
                return 0;
        _cleanup_close_ int in = store_blob_open(s, digest, err);
        if (in < 0)
                return in;
        char tmp[DIGEST_HEX_LEN + 8];
        snprintf(tmp, sizeof(tmp), "%s.tmp", hex);
        _cleanup_close_ int out = openat(blobs_dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (out < 0)
                return kerr(err, -errno, "export blob %s", digest);
        _cleanup_free_ char *buf = malloc(1 << 17);
        int r = buf ? 0 : -ENOMEM;
        for (ssize_t n = 1; r >= 0 && n != 0;) {
                n = read(in, buf, 1 << 17);
                if (n < 0 && errno == EINTR)
                        continue;
                r = n < 0 ? -errno : n > 0 ? write_all(out, buf, (size_t) n) : 0;
        }
        if (r >= 0 && renameat(blobs_dir, tmp, blobs_dir, hex) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(blobs_dir, tmp, 0);     /* no half-written blob in the export */
        return r < 0 ? kerr(err, r, "export blob %s", digest) : 0;
}

static int export_layout(ImageStore *s, const Exported *e, const char *dir, KError **err) {
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s", dir);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || (mkdirat(dfd, "blobs", 0755) < 0 && errno != EEXIST) ||
            (mkdirat(dfd, "blobs/sha256", 0755) < 0 && errno != EEXIST))
                return kerr(err, -errno, "create %s/blobs/sha256", dir);
        _cleanup_close_ int bfd = openat(dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (bfd < 0)
                return kerr(err, -errno, "open %s/blobs/sha256", dir);
        int r = 0;
        for (char **b = e->blobs; r >= 0 && *b; b++)
                r = export_blob(s, bfd, *b, err);
        _cleanup_json_ json_t *idx = build_index(e, 1);
        _cleanup_free_ char *text = idx ? json_dumps(idx, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        if (r >= 0 && !text)
                r = kerr(err, -ENOMEM, "export");
        if (r >= 0 && (r = write_file_atomic_at(dfd, "oci-layout", layout, strlen(layout), 0644)) < 0)
                r = kerr(err, r, "write %s/oci-layout", dir);
        if (r >= 0 && (r = write_file_atomic_at(dfd, "index.json", text, strlen(text), 0644)) < 0)
                r = kerr(err, r, "write %s/index.json", dir);
        return r;
}

int image_export_oci_layout(ImageStore *s, const char *ref, const char *dir, KError **err) {
        Exported e = {};
        int r = store_lock(s, false, err);
        if (r < 0)
                return r;
        r = collect(s, ref, &e, err);
        if (r >= 0)
                r = export_layout(s, &e, dir, err);
        store_unlock(s);
        exported_done(&e);
        return r;
}
