/* SPDX-License-Identifier: Apache-2.0 */
/* The `docker save` format (docker image-spec v1.2 "combined image JSON + filesystem changeset"):
 * manifest.json = [{"Config": "<hex>.json", "RepoTags": ["name:tag"], "Layers": ["<dir>/layer.tar"]}].
 * Docker 25+ writes the same manifest.json next to an OCI layout, with paths "blobs/sha256/<hex>"
 * (and the old paths as symlinks to them). Layers are tars, plain or compressed. The store keeps
 * them as they are and writes an OCI manifest for them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "image-import.h"
#include "json-util.h"
#include "string-util.h"

static int load_manifest_json(int dirfd, const char *path, json_t **ret, KError **err) {
        _cleanup_close_ int fd = open_in_archive(dirfd, "manifest.json", path, err);
        if (fd < 0)
                return fd;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_full_fd(fd, OCI_JSON_MAX, &text, &len);
        if (r < 0)
                return kerr(err, r, "read %s/manifest.json", path);
        json_error_t je;
        json_t *j = json_loadb(text, len, 0, &je);
        if (!json_is_array(j)) {
                json_decref(j);
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s/manifest.json: not a docker save manifest (JSON array)", path);
        }
        *ret = j;
        return 0;
}

/* "<hex>.json", "<hex>/layer.tar" or "blobs/sha256/<hex>": the digest the name promises. */
static bool digest_from_path(const char *p, char out[static DIGEST_STR_MAX]) {
        const char *b = startswith(p, "blobs/sha256/");
        char hex[DIGEST_HEX_LEN + 1];
        if (!b)
                b = p;
        if (strlen(b) < DIGEST_HEX_LEN)
                return false;
        memcpy(hex, b, DIGEST_HEX_LEN);
        hex[DIGEST_HEX_LEN] = '\0';
        const char *rest = b + DIGEST_HEX_LEN;
        if (!digest_hex_is_valid(hex) || !(streq(rest, "") || streq(rest, ".json")))
                return false;
        snprintf(out, DIGEST_STR_MAX, DIGEST_PREFIX "%s", hex);
        return true;
}

static int import_config(ImageStore *s, int dirfd, const char *cpath, char ret_digest[static DIGEST_STR_MAX],
                         uint64_t *ret_size, OciConfig *ret, KError **err) {
        _cleanup_close_ int fd = open_in_archive(dirfd, cpath, "config", err);
        if (fd < 0)
                return fd;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        char expect[DIGEST_STR_MAX];
        _cleanup_json_ json_t *j = NULL;
        int r = read_full_fd(fd, OCI_JSON_MAX, &text, &len);
        if (r < 0)
                return kerr(err, r, "read config '%s'", cpath);
        if ((r = store_blob_write(s, text, len, digest_from_path(cpath, expect) ? expect : NULL, ret_digest, err)) < 0 ||
            (r = oci_json_load(text, len, cpath, &j, err)) < 0)
                return kerr_prefix(err, r, "config '%s'", cpath);
        *ret_size = len;
        return oci_config_parse(j, cpath, ret, err);
}

static int import_layers(ImageStore *s, int dirfd, const json_t *layers, const OciConfig *c, LayerInfo *li, KError **err) {
        for (size_t i = 0; i < c->n_diff_ids; i++) {
                const char *p = json_string_value(json_array_get(layers, i));
                char expect[DIGEST_STR_MAX];
                if (!p)
                        return kerr_msg(err, KERR_CONFIG, -EBADMSG, "manifest.json: Layers[%zu] is not a path", i);
                bool known = startswith(p, "blobs/sha256/") && digest_from_path(p, expect);
                _cleanup_close_ int fd = open_in_archive(dirfd, p, "layer", err);
                if (fd < 0)
                        return fd;
                int r = store_layer_import(s, fd, known ? expect : NULL, c->diff_ids[i], NULL, false, &li[i], err);
                if (r < 0)
                        return kerr_prefix(err, r, "layer '%s'", p);
        }
        return 0;
}

static int add_names(ImageStore *s, const json_t *tags, const char *id, char ***names, KError **err) {
        size_t i;
        const json_t *t;
        int r = 0;
        json_array_foreach(tags, i, t) {
                _cleanup_free_ char *norm = NULL;
                if (!json_is_string(t))
                        continue;
                if ((r = image_ref_normalize(json_string_value(t), &norm, err)) < 0 ||
                    (r = store_set_name(s, norm, id, err)) < 0)
                        return r;
                if (names && strv_extend(names, norm) < 0)
                        return kerr(err, -ENOMEM, "load");
        }
        if (names && json_array_size(tags) == 0 && strv_extend(names, id) < 0)
                return kerr(err, -ENOMEM, "load");
        return 0;
}

static int import_entry(ImageStore *s, int dirfd, const json_t *e, char ***names, KError **err) {
        const char *cpath = json_string_value(json_object_get(e, "Config"));
        const json_t *layers = json_object_get(e, "Layers");
        if (!cpath || !json_is_array(layers))
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "manifest.json: an entry lacks Config or Layers");
        char config_digest[DIGEST_STR_MAX], manifest_digest[DIGEST_STR_MAX];
        uint64_t config_size = 0;
        OciConfig c = {};
        int r = import_config(s, dirfd, cpath, config_digest, &config_size, &c, err);
        if (r < 0)
                return r;
        _cleanup_free_ LayerInfo *li = calloc(c.n_diff_ids + 1, sizeof(LayerInfo));
        if (!li)
                r = kerr(err, -ENOMEM, "load");
        else if (json_array_size(layers) != c.n_diff_ids)
                r = kerr_msg(err, KERR_CONFIG, -EBADMSG, "manifest.json: %zu layers for %zu diff_ids in '%s'",
                             json_array_size(layers), c.n_diff_ids, cpath);
        if (r >= 0)
                r = import_layers(s, dirfd, layers, &c, li, err);
        if (r >= 0)
                r = store_write_manifest(s, config_digest, config_size, li, c.n_diff_ids, manifest_digest, err);
        if (r >= 0)
                r = store_publish_image(s, manifest_digest, config_digest, c.diff_ids, NULL, err);
        if (r >= 0)
                r = add_names(s, json_object_get(e, "RepoTags"), config_digest, names, err);
        oci_config_done(&c);
        return r;
}

int docker_archive_import(ImageStore *s, int dirfd, const char *path, char ***ret_names, KError **err) {
        _cleanup_json_ json_t *m = NULL;
        int r = load_manifest_json(dirfd, path, &m, err);
        if (r < 0)
                return r;
        if (json_array_size(m) == 0)
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s/manifest.json: no images", path);
        size_t i;
        const json_t *e;
        json_array_foreach(m, i, e)
                if ((r = import_entry(s, dirfd, e, ret_names, err)) < 0)
                        return kerr_prefix(err, r, "docker archive %s", path);
        return 0;
}

int docker_archive_tags(int dirfd, const char *config_digest, char ***ret) {
        _cleanup_json_ json_t *m = NULL;
        *ret = NULL;
        if (load_manifest_json(dirfd, "", &m, NULL) < 0)
                return 0;
        size_t i, k;
        const json_t *e, *t;
        json_array_foreach(m, i, e) {
                const char *cpath = json_string_value(json_object_get(e, "Config"));
                char d[DIGEST_STR_MAX];
                if (!cpath || !digest_from_path(cpath, d) || !streq(d, config_digest))
                        continue;
                json_array_foreach(json_object_get(e, "RepoTags"), k, t) {
                        _cleanup_free_ char *norm = NULL;
                        if (json_is_string(t) && image_ref_normalize(json_string_value(t), &norm, NULL) >= 0 &&
                            strv_extend(ret, norm) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}
