/* SPDX-License-Identifier: Apache-2.0 */
/* Removal: names (rmi), image records (prune), then unreferenced blobs and layers (gc). Each
 * holds the store lock exclusively, so no import is between "layer reused" and "record written". */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "layer.h"
#include "store.h"
#include "string-util.h"

/* Drop every name pointing at one of `ids` (or just `only_name`). */
static int refs_drop(ImageStore *s, char *const *ids, const char *only_name, KError **err) {
        int r = store_refs_lock(s, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *refs = NULL;
        r = store_refs_load(s, &refs, err);
        const char *k;
        json_t *v;
        void *tmp;
        if (r >= 0)
                json_object_foreach_safe(refs, tmp, k, v)
                        if (only_name ? streq(k, only_name) : strv_contains(ids, json_string_value(v)))
                                json_object_del(refs, k);
        if (r >= 0)
                r = store_refs_save(s, refs, err);
        store_refs_unlock(s);
        return r;
}

static size_t names_count(json_t *refs, const char *id) {
        const char *k;
        json_t *v;
        size_t n = 0;
        json_object_foreach(refs, k, v)
                n += streq_ptr(json_string_value(v), id);
        return n;
}

static int remove_locked(ImageStore *s, const char *ref, bool force, char **ret_untagged, KError **err) {
        _cleanup_json_ json_t *refs = NULL;
        _cleanup_free_ char *id = NULL, *norm = NULL;
        int r = store_refs_load(s, &refs, err);
        if (r >= 0)
                r = store_resolve(s, ref, &id, err);
        if (r < 0)
                return r;
        /* By name: untag; by id: the image (with its names only when there is one, or `force`). */
        if (image_ref_normalize(ref, &norm, NULL) >= 0 && json_object_get(refs, norm)) {
                if ((r = refs_drop(s, NULL, norm, err)) < 0)
                        return r;
                if (ret_untagged)
                        *ret_untagged = TAKE_PTR(norm);
                if (names_count(refs, id) > 1 && !force)
                        return 0;
        } else if (names_count(refs, id) > 1 && !force)
                return kerr_msg(err, KERR_STATE, -EBUSY,
                                "image %s has %zu names: remove them one by one, or force", id, names_count(refs, id));
        char *ids[] = { id, NULL };
        if ((r = refs_drop(s, ids, NULL, err)) < 0)
                return r;
        if ((r = store_record_delete(s, id)) < 0)
                return kerr(err, r, "remove image record %s", id);
        if (ret_untagged && !*ret_untagged)
                *ret_untagged = TAKE_PTR(id);
        return 0;
}

int image_remove(ImageStore *s, const char *ref, bool force, char **ret_untagged, KError **err) {
        if (ret_untagged)
                *ret_untagged = NULL;
        int r = store_lock(s, true, err);
        if (r < 0)
                return r;
        r = remove_locked(s, ref, force, ret_untagged, err);
        store_unlock(s);
        return r;
}

static int untag_locked(ImageStore *s, const char *ref, char ***ret_untagged, KError **err) {
        _cleanup_json_ json_t *refs = NULL;
        _cleanup_free_ char *id = NULL, *norm = NULL;
        _cleanup_strv_free_ char **names = NULL;
        int r = store_refs_load(s, &refs, err);
        if (r >= 0)
                r = store_resolve(s, ref, &id, err);
        if (r < 0)
                return r;
        const char *k;
        json_t *v;
        if (image_ref_normalize(ref, &norm, NULL) >= 0 && json_object_get(refs, norm)) {
                if (strv_extend(&names, norm) < 0)
                        return kerr(err, -ENOMEM, "untag");
        } else
                json_object_foreach(refs, k, v)
                        if (streq_ptr(json_string_value(v), id) && strv_extend(&names, k) < 0)
                                return kerr(err, -ENOMEM, "untag");
        for (char **n = names; n && *n; n++)
                if ((r = refs_drop(s, NULL, *n, err)) < 0)
                        return r;
        if (!names && !(names = calloc(1, sizeof(char *))))
                return kerr(err, -ENOMEM, "untag");
        *ret_untagged = TAKE_PTR(names);
        return 0;
}

int image_untag(ImageStore *s, const char *ref, char ***ret_untagged, KError **err) {
        *ret_untagged = NULL;
        int r = store_lock(s, true, err);
        if (r < 0)
                return r;
        r = untag_locked(s, ref, ret_untagged, err);
        store_unlock(s);
        return r;
}

static int prune_locked(ImageStore *s, bool all, char *const *keep_ids, size_t *ret_removed, KError **err) {
        _cleanup_json_ json_t *refs = NULL;
        _cleanup_strv_free_ char **ids = NULL, **gone = NULL;
        int r = store_refs_load(s, &refs, err);
        if (r >= 0)
                r = store_record_ids(s, &ids, err);
        if (r < 0)
                return r;
        for (char **i = ids; *i; i++) {
                if (strv_contains(keep_ids, *i) || (!all && names_count(refs, *i) > 0))
                        continue;
                if ((r = store_record_delete(s, *i)) < 0)
                        return kerr(err, r, "remove image record %s", *i);
                if (strv_extend(&gone, *i) < 0)
                        return kerr(err, -ENOMEM, "prune");
        }
        if (gone && (r = refs_drop(s, gone, NULL, err)) < 0)
                return r;
        if (ret_removed)
                *ret_removed = strv_length(gone);
        return 0;
}

int image_prune(ImageStore *s, bool all, char *const *keep_ids, size_t *ret_removed, KError **err) {
        int r = store_lock(s, true, err);
        if (r < 0)
                return r;
        r = prune_locked(s, all, keep_ids, ret_removed, err);
        store_unlock(s);
        return r;
}

/* ---- gc: mark from records, sweep blobs/ and layers/ ---- */

typedef struct Marks {
        char **blobs, **layers;         /* hex */
} Marks;

static int mark(char ***set, const char *digest) {
        const char *hex;
        if (digest_parse(digest, &hex) < 0 || strv_contains(*set, hex))
                return 0;
        return strv_extend(set, hex);
}

static int mark_image(ImageStore *s, const char *id, Marks *m, KError **err) {
        ImageRecord rec;
        int r = store_record_read(s, id, &rec, err);
        if (r < 0)
                return r;
        r = mark(&m->blobs, rec.id);
        if (r >= 0)
                r = mark(&m->blobs, rec.manifest_digest);
        for (char **d = rec.diff_ids; r >= 0 && *d; d++)
                r = mark(&m->layers, *d);
        _cleanup_free_ char *text = NULL;
        size_t len;
        _cleanup_json_ json_t *j = NULL;
        OciManifest mf = {};
        /* A manifest that cannot be read any more protects nothing but must not stop the gc. */
        if (r >= 0 && store_blob_read(s, rec.manifest_digest, &text, &len, NULL) >= 0 &&
            oci_json_load(text, len, "manifest", &j, NULL) >= 0 && oci_manifest_parse(j, "manifest", &mf, NULL) >= 0) {
                for (size_t i = 0; r >= 0 && i < mf.n_layers; i++)
                        r = mark(&m->blobs, mf.layers[i].digest);
                oci_manifest_done(&mf);
        }
        image_record_done(&rec);
        return r < 0 ? kerr(err, r, "gc: image %s", id) : 0;
}

static uint64_t tree_size(int dfd, const char *name) {
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        if (!S_ISDIR(st.st_mode))
                return (uint64_t) st.st_blocks * 512;
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        uint64_t total = (uint64_t) st.st_blocks * 512;
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        total += tree_size(dirfd(d), de->d_name);
        if (d)
                closedir(d);
        else
                safe_close(fd);
        return total;
}

/* Delete entries of `dirfd` whose name (minus ".json" for layer sidecars) is not marked. */
static int sweep(int dfd, char *const *marked, uint64_t *freed) {
        DIR *d = opendir_fd(dfd);
        if (!d)
                return -errno;
        _cleanup_strv_free_ char **victims = NULL;
        struct dirent *de;
        while ((de = readdir(d))) {
                char hex[DIGEST_HEX_LEN + 1];
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                size_t n = strnlen(de->d_name, DIGEST_HEX_LEN);
                memcpy(hex, de->d_name, n);
                hex[n] = '\0';
                if (!strv_contains(marked, hex) && strv_extend(&victims, de->d_name) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
        }
        closedir(d);
        for (char **v = victims; v && *v; v++) {
                *freed += tree_size(dfd, *v);
                int r = rm_rf_at(dfd, *v);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int gc_locked(ImageStore *s, uint64_t *ret_freed, KError **err) {
        _cleanup_strv_free_ char **ids = NULL;
        Marks m = {};
        uint64_t freed = 0;
        int r = store_record_ids(s, &ids, err);
        for (char **i = ids; r >= 0 && i && *i; i++)
                r = mark_image(s, *i, &m, err);
        if (r >= 0 && (r = sweep(s->blobs_fd, m.blobs, &freed)) < 0)
                r = kerr(err, r, "gc %s/blobs", s->root);
        if (r >= 0 && (r = sweep(s->layers_fd, m.layers, &freed)) < 0)
                r = kerr(err, r, "gc %s/layers", s->root);
        strv_free(m.blobs);
        strv_free(m.layers);
        if (r >= 0 && ret_freed)
                *ret_freed = freed;
        return r;
}

int image_gc(ImageStore *s, uint64_t *ret_freed, KError **err) {
        int r = store_lock(s, true, err);
        if (r < 0)
                return r;
        r = gc_locked(s, ret_freed, err);
        store_unlock(s);
        return r;
}
