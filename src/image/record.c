/* SPDX-License-Identifier: Apache-2.0 */
/* Image records (images/<config-hex>.json), names (refs.json) and the Image view built from them.
 * refs.json is the only truth for names; a record holds what the image is made of. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "store.h"
#include "string-util.h"

void image_record_done(ImageRecord *r) {
        free(r->id);
        free(r->manifest_digest);
        strv_free(r->diff_ids);
        *r = (ImageRecord) {};
}

static int record_name(const char *id, char buf[static DIGEST_HEX_LEN + 8]) {
        const char *hex;
        if (digest_parse(id, &hex) < 0)
                return -EINVAL;
        snprintf(buf, DIGEST_HEX_LEN + 8, "%s.json", hex);
        return 0;
}

int store_record_write(ImageStore *s, const ImageRecord *rec, KError **err) {
        char name[DIGEST_HEX_LEN + 8];
        if (record_name(rec->id, name) < 0)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "invalid image id '%s'", rec->id);
        _cleanup_json_ json_t *j = json_pack("{s:s, s:s, s:o, s:I}", "id", rec->id, "manifest", rec->manifest_digest,
                                             "diff_ids", json_from_strv(rec->diff_ids), "added", (json_int_t) rec->added);
        _cleanup_free_ char *text = j ? json_dump_string(j, true) : NULL;
        if (!text)
                return kerr(err, -ENOMEM, "image record %s", rec->id);
        int r = write_file_atomic_at(s->images_fd, name, text, strlen(text), 0644);
        return r < 0 ? kerr(err, r, "write %s/images/%s", s->root, name) : 0;
}

int store_record_read(ImageStore *s, const char *id, ImageRecord *ret, KError **err) {
        char name[DIGEST_HEX_LEN + 8];
        _cleanup_free_ char *text = NULL;
        if (record_name(id, name) < 0)
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "invalid image id '%s'", id);
        int r = read_full_file_at(s->images_fd, name, OCI_JSON_MAX, &text, NULL);
        if (r < 0)
                return kerr_kind(err, r == -ENOENT ? KERR_NOT_FOUND : KERR_GENERIC, r, "image %s", id);
        _cleanup_json_ json_t *j = json_loads(text, 0, NULL);
        const json_t *ids = json_object_get(j, "diff_ids"), *x;
        const char *mf = json_string_value(json_object_get(j, "manifest"));
        if (!json_is_array(ids) || !mf || !digest_is_valid(mf))
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s/images/%s: corrupt image record", s->root, name);
        ImageRecord rec = { .id = strdup(id), .manifest_digest = strdup(mf),
                            .added = json_integer_value(json_object_get(j, "added")) };
        size_t i;
        r = rec.id && rec.manifest_digest ? 0 : -ENOMEM;
        json_array_foreach(ids, i, x) {
                if (r < 0)
                        break;
                if (!json_is_string(x) || !digest_is_valid(json_string_value(x)))
                        r = -EBADMSG;
                else
                        r = strv_extend(&rec.diff_ids, json_string_value(x));
        }
        if (r >= 0 && !rec.diff_ids && !(rec.diff_ids = calloc(1, sizeof(char *))))
                r = -ENOMEM;
        if (r < 0) {
                image_record_done(&rec);
                return kerr_msg(err, KERR_CONFIG, r, "%s/images/%s: corrupt image record", s->root, name);
        }
        *ret = rec;
        return 0;
}

int store_record_delete(ImageStore *s, const char *id) {
        char name[DIGEST_HEX_LEN + 8];
        if (record_name(id, name) < 0)
                return -EINVAL;
        return unlinkat(s->images_fd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

int store_record_ids(ImageStore *s, char ***ret, KError **err) {
        DIR *d = opendir_fd(s->images_fd);
        if (!d)
                return kerr(err, -errno, "list %s/images", s->root);
        _cleanup_strv_free_ char **ids = NULL;
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d))) {
                char hex[DIGEST_HEX_LEN + 1], id[DIGEST_STR_MAX];
                size_t n = strlen(de->d_name);
                if (n != DIGEST_HEX_LEN + 5 || !streq(de->d_name + DIGEST_HEX_LEN, ".json"))
                        continue;
                memcpy(hex, de->d_name, DIGEST_HEX_LEN);
                hex[DIGEST_HEX_LEN] = '\0';
                if (!digest_hex_is_valid(hex))
                        continue;
                snprintf(id, sizeof(id), DIGEST_PREFIX "%s", hex);
                r = strv_extend(&ids, id);
        }
        closedir(d);
        if (r < 0)
                return kerr(err, r, "list images");
        *ret = TAKE_PTR(ids);
        return 0;
}

int store_refs_load(ImageStore *s, json_t **ret, KError **err) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file_at(s->root_fd, "refs.json", OCI_JSON_MAX, &text, NULL);
        if (r == -ENOENT) {
                *ret = json_object();
                return *ret ? 0 : kerr(err, -ENOMEM, "refs");
        }
        if (r < 0)
                return kerr(err, r, "read %s/refs.json", s->root);
        json_t *j = json_loads(text, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s/refs.json: corrupt", s->root);
        }
        *ret = j;
        return 0;
}

int store_refs_save(ImageStore *s, json_t *refs, KError **err) {
        _cleanup_free_ char *text = json_dumps(refs, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text)
                return kerr(err, -ENOMEM, "refs");
        int r = write_file_atomic_at(s->root_fd, "refs.json", text, strlen(text), 0644);
        return r < 0 ? kerr(err, r, "write %s/refs.json", s->root) : 0;
}

int store_set_name(ImageStore *s, const char *name, const char *id, KError **err) {
        _cleanup_free_ char *norm = NULL;
        int r = image_ref_normalize(name, &norm, err);
        if (r < 0)
                return r;
        if ((r = store_refs_lock(s, err)) < 0)
                return r;
        _cleanup_json_ json_t *refs = NULL;
        r = store_refs_load(s, &refs, err);
        if (r >= 0 && json_object_set_new(refs, norm, json_string(id)) < 0)
                r = kerr(err, -ENOMEM, "refs");
        if (r >= 0)
                r = store_refs_save(s, refs, err);
        store_refs_unlock(s);
        return r;
}

int store_publish_image(ImageStore *s, const char *manifest_digest, const char *config_digest, char *const *diff_ids,
                        const char *name, KError **err) {
        ImageRecord rec = { .id = (char *) config_digest, .manifest_digest = (char *) manifest_digest,
                            .diff_ids = (char **) diff_ids, .added = (int64_t) time(NULL) };
        int r = store_record_write(s, &rec, err);
        if (r >= 0 && name)
                r = store_set_name(s, name, config_digest, err);
        return r;
}

/* ---- Image view ---- */

static int names_of(json_t *refs, const char *id, char ***ret) {
        const char *k;
        json_t *v;
        _cleanup_strv_free_ char **names = calloc(1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        json_object_foreach(refs, k, v)
                if (streq_ptr(json_string_value(v), id) && strv_extend(&names, k) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(names);
        return 0;
}

static int fill_from_config(ImageStore *s, Image *img, KError **err) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = store_blob_read(s, img->id, &text, &len, err);
        if (r < 0)
                return kerr_prefix(err, r, "image %s: config", img->id);
        if ((r = oci_json_load(text, len, img->id, &img->config_json, err)) < 0)
                return r;
        OciConfig c;
        if ((r = oci_config_parse(img->config_json, img->id, &c, err)) < 0)
                return r;
        img->config = c.config;
        img->created = TAKE_PTR(c.created);
        img->os = TAKE_PTR(c.os);
        img->architecture = TAKE_PTR(c.architecture);
        c.config = (ImageConfig) {};
        oci_config_done(&c);
        return 0;
}

static int image_build(ImageStore *s, const char *id, json_t *refs, Image **ret, KError **err) {
        ImageRecord rec;
        int r = store_record_read(s, id, &rec, err);
        if (r < 0)
                return r;
        _cleanup_(image_freep) Image *img = calloc(1, sizeof(*img));
        if (!img) {
                image_record_done(&rec);
                return kerr(err, -ENOMEM, "image");
        }
        img->id = TAKE_PTR(rec.id);
        img->manifest_digest = TAKE_PTR(rec.manifest_digest);
        img->n_layers = strv_length(rec.diff_ids);
        img->layer_dirs = calloc(img->n_layers + 1, sizeof(char *));
        for (size_t i = 0; img->layer_dirs && i < img->n_layers; i++) {
                uint64_t sz = 0;
                if (!(img->layer_dirs[i] = store_layer_path(s, rec.diff_ids[i])))
                        r = -ENOMEM;
                (void) store_layer_read_info(s, rec.diff_ids[i], &sz);
                img->size += sz;
        }
        image_record_done(&rec);
        if (!img->layer_dirs || r < 0 || names_of(refs, img->id, &img->names) < 0)
                return kerr(err, -ENOMEM, "image");
        if ((r = fill_from_config(s, img, err)) < 0)
                return r;
        *ret = TAKE_PTR(img);
        return 0;
}

void image_free(Image *img) {
        if (!img)
                return;
        free(img->id);
        free(img->manifest_digest);
        strv_free(img->names);
        strv_free(img->layer_dirs);
        image_config_done(&img->config);
        free(img->created);
        free(img->os);
        free(img->architecture);
        json_decref(img->config_json);
        free(img);
}

/* "sha256:<hex>", "<hex>" or a prefix of >= 4 hex digits: the matching record ids. */
static int match_ids(ImageStore *s, const char *ref, char ***ret, KError **err) {
        const char *hex = startswith(ref, DIGEST_PREFIX) ? ref + STRLEN(DIGEST_PREFIX) : ref;
        size_t n = strlen(hex);
        *ret = NULL;
        if (n < 4 || n > DIGEST_HEX_LEN || strspn(hex, "0123456789abcdef") != n)
                return 0;
        _cleanup_strv_free_ char **ids = NULL;
        int r = store_record_ids(s, &ids, err);
        if (r < 0)
                return r;
        for (char **i = ids; i && *i; i++)
                if (!strncmp(*i + STRLEN(DIGEST_PREFIX), hex, n) && strv_extend(ret, *i) < 0)
                        return kerr(err, -ENOMEM, "lookup");
        return 0;
}

/* name@sha256:<manifest digest>: any record with that manifest. */
static int match_manifest(ImageStore *s, const char *digest, char **ret) {
        _cleanup_strv_free_ char **ids = NULL;
        if (store_record_ids(s, &ids, NULL) < 0)
                return -ENOENT;
        for (char **i = ids; i && *i; i++) {
                ImageRecord rec;
                if (store_record_read(s, *i, &rec, NULL) < 0)
                        continue;
                bool hit = streq(rec.manifest_digest, digest);
                image_record_done(&rec);
                if (hit)
                        return (*ret = strdup(*i)) ? 0 : -ENOMEM;
        }
        return -ENOENT;
}

static int not_found(json_t *refs, const char *ref, KError **err) {
        _cleanup_strv_free_ char **names = NULL, **sugg = NULL;
        const char *k;
        json_t *v;
        json_object_foreach(refs, k, v)
                (void) strv_extend(&names, k);
        (void) image_ref_suggest(ref, names, 3, &sugg);
        if (sugg && sugg[0])
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "image '%s' not found; did you mean '%s'%s%s%s? (or `kapsel pull %s`)",
                                ref, sugg[0], sugg[1] ? ", '" : "", sugg[1] ? sugg[1] : "", sugg[1] ? "'" : "", ref);
        return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "image '%s' not found in the store (try `kapsel pull %s`)", ref, ref);
}

static int resolve(ImageStore *s, json_t *refs, const char *ref, char **ret_id, KError **err) {
        _cleanup_strv_free_ char **ids = NULL;
        int r = match_ids(s, ref, &ids, err);
        if (r < 0)
                return r;
        if (strv_length(ids) > 1)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "image id prefix '%s' is ambiguous (%zu images)", ref,
                                strv_length(ids));
        if (ids)
                return (*ret_id = strdup(ids[0])) ? 0 : kerr(err, -ENOMEM, "lookup");
        ImageRef pr = {};
        if ((r = image_ref_parse(ref, &pr, err)) < 0)
                return r;
        _cleanup_free_ char *norm = image_ref_format(&pr);
        const char *id = norm ? json_string_value(json_object_get(refs, norm)) : NULL;
        if (!id && pr.digest && match_manifest(s, pr.digest, ret_id) == 0) {
                image_ref_done(&pr);
                return 0;
        }
        image_ref_done(&pr);
        if (!norm)
                return kerr(err, -ENOMEM, "lookup");
        if (!id)
                return not_found(refs, ref, err);
        return (*ret_id = strdup(id)) ? 0 : kerr(err, -ENOMEM, "lookup");
}

int store_resolve(ImageStore *s, const char *ref, char **ret_id, KError **err) {
        _cleanup_json_ json_t *refs = NULL;
        int r = store_refs_load(s, &refs, err);
        return r < 0 ? r : resolve(s, refs, ref, ret_id, err);
}

int image_lookup(ImageStore *s, const char *ref, Image **ret, KError **err) {
        _cleanup_json_ json_t *refs = NULL;
        _cleanup_free_ char *id = NULL;
        int r = store_refs_load(s, &refs, err);
        if (r >= 0)
                r = resolve(s, refs, ref, &id, err);
        if (r >= 0)
                r = image_build(s, id, refs, ret, err);
        return r;
}

static int cmp_newest(const void *a, const void *b) {
        const Image *x = *(Image *const *) a, *y = *(Image *const *) b;
        int c = strcmp(y->created ? y->created : "", x->created ? x->created : "");
        return c ? c : strcmp(x->id, y->id);
}

void image_list_free(Image **list, size_t n) {
        for (size_t i = 0; list && i < n; i++)
                image_free(list[i]);
        free(list);
}

int image_list(ImageStore *s, Image ***ret, size_t *ret_n, KError **err) {
        _cleanup_json_ json_t *refs = NULL;
        _cleanup_strv_free_ char **ids = NULL;
        int r = store_refs_load(s, &refs, err);
        if (r >= 0)
                r = store_record_ids(s, &ids, err);
        if (r < 0)
                return r;
        size_t n = strv_length(ids), k = 0;
        Image **list = calloc(n + 1, sizeof(Image *));
        if (!list)
                return kerr(err, -ENOMEM, "list images");
        for (size_t i = 0; i < n; i++)
                /* A record removed meanwhile (concurrent rmi) is skipped, not an error. */
                if (image_build(s, ids[i], refs, &list[k], NULL) >= 0)
                        k++;
        qsort(list, k, sizeof(Image *), cmp_newest);
        *ret = list;
        *ret_n = k;
        return 0;
}

int image_tag(ImageStore *s, const char *ref, const char *new_name, KError **err) {
        _cleanup_free_ char *id = NULL;
        int r = store_resolve(s, ref, &id, err);
        return r < 0 ? r : store_set_name(s, new_name, id, err);
}
