/* SPDX-License-Identifier: Apache-2.0 */
/* Layers into the store: unpack a new one (staged in tmp/, renamed into layers/) or verify a
 * blob against one already present. Apart from store.c so that programs which only read the
 * store (lookups, lists, names) do not link the archive library. */
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

static int write_sidecar(ImageStore *s, const LayerInfo *li, KError **err) {
        char name[DIGEST_HEX_LEN + 8], *text = NULL;
        snprintf(name, sizeof(name), "%s.json", digest_hex(li->diff_id));
        if (asprintf(&text, "{\"size\":%llu}\n", (unsigned long long) li->unpacked_size) < 0)
                return kerr(err, -ENOMEM, "layer %s", li->diff_id);
        int r = write_file_atomic_at(s->layers_fd, name, text, strlen(text), 0644);
        free(text);
        return r < 0 ? kerr(err, r, "write layer info %s/layers/%s", s->root, name) : 0;
}

static int detect_media_type(int fd, char out[static 64]) {
        unsigned char m[4] = {};
        ssize_t n = pread(fd, m, sizeof(m), 0);
        snprintf(out, 64, "%s", oci_layer_media_type(layer_compression_sniff(m, n > 0 ? (size_t) n : 0)));
        return 0;
}

/* The layer is unpacked already (another image shares it): only the blob may be missing. */
static int layer_present(ImageStore *s, int src_fd, const char *digest, const char *diff_id, LayerInfo *li,
                         KError **err) {
        snprintf(li->diff_id, sizeof(li->diff_id), "%s", diff_id);
        (void) store_layer_read_info(s, diff_id, &li->unpacked_size);
        if (!li->media_type[0])
                detect_media_type(src_fd, li->media_type);
        if (digest && store_blob_exists(s, digest))
                snprintf(li->digest, sizeof(li->digest), "%s", digest);
        else {
                int r = store_blob_copy(s, src_fd, digest, li->media_type, li->digest, err);
                if (r < 0)
                        return kerr_prefix(err, r, "layer %s", diff_id);
        }
        struct stat st;
        if (fstat(src_fd, &st) == 0)
                li->size = (uint64_t) st.st_size;
        return 0;
}

static int layer_publish(ImageStore *s, int blob_fd, const char *tmpname, LayerInfo *li, KError **err) {
        const char *hex = digest_hex(li->diff_id);
        int r = blob_fd >= 0 ? store_blob_publish(s, blob_fd, li->digest, err) : 0;
        if (r >= 0)
                r = write_sidecar(s, li, err);
        if (r < 0)
                return r;
        if (renameat(s->tmp_fd, tmpname, s->layers_fd, hex) < 0) {
                if (errno != EEXIST && errno != ENOTEMPTY)
                        return kerr(err, -errno, "publish layer %s", li->diff_id);
                (void) rm_rf_at(s->tmp_fd, tmpname);    /* a concurrent import won: same content */
        }
        return 0;
}

static int layer_unpack_new(ImageStore *s, int src_fd, const char *digest, const char *diff_id, bool uncompressed,
                            LayerInfo *li, KError **err) {
        char tmpname[] = "layer-XXXXXX";
        _cleanup_free_ char *tmppath = path_join(s->root, "tmp/layer-XXXXXX");
        if (!tmppath || !mkdtemp(tmppath))
                return kerr(err, tmppath ? -errno : -ENOMEM, "create a staging directory in %s/tmp", s->root);
        memcpy(tmpname, strrchr(tmppath, '/') + 1, sizeof(tmpname));
        _cleanup_close_ int dfd = openat(s->tmp_fd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        bool need_blob = !digest || !store_blob_exists(s, digest);
        _cleanup_close_ int blob_fd = need_blob && dfd >= 0 ? store_tmpfile_open(s, err) : -1;
        char label[DIGEST_STR_MAX + 16];
        snprintf(label, sizeof(label), "layer %s", digest ? digest : diff_id ? diff_id : "(new)");
        LayerUnpackOptions o = {
                .label = label, .expect_digest = uncompressed ? NULL : digest, .expect_diff_id = diff_id,
                .tee_fd = blob_fd, .tee_uncompressed = uncompressed, .rootless = s->rootless,
        };
        LayerUnpackResult res;
        int r = dfd < 0 ? kerr(err, -errno, "open %s", tmppath) : (need_blob && blob_fd < 0) ? blob_fd : 0;
        if (r >= 0)
                r = layer_unpack(src_fd, dfd, &o, &res, err);
        if (r >= 0) {
                (void) fchmod(dfd, 0755);
                snprintf(li->digest, sizeof(li->digest), "%s", uncompressed ? res.diff_id : res.digest);
                snprintf(li->diff_id, sizeof(li->diff_id), "%s", res.diff_id);
                if (!li->media_type[0])
                        snprintf(li->media_type, sizeof(li->media_type), "%s",
                                 oci_layer_media_type(uncompressed ? LAYER_COMPRESSION_NONE : (int) res.compression));
                li->size = uncompressed ? res.tar_size : res.raw_size;
                li->unpacked_size = res.unpacked_size;
                if (store_layer_exists(s, res.diff_id))   /* learnt only now (no diff-id given) */
                        r = blob_fd >= 0 ? store_blob_publish(s, blob_fd, li->digest, err) : 0;
                else
                        r = layer_publish(s, blob_fd, tmpname, li, err);
        }
        (void) rm_rf_at(s->tmp_fd, tmpname);
        return r;
}

int store_layer_import(ImageStore *s, int src_fd, const char *expect_digest, const char *expect_diff_id,
                       const char *media_type, bool store_uncompressed, LayerInfo *ret, KError **err) {
        LayerInfo li = {};
        if (media_type)
                snprintf(li.media_type, sizeof(li.media_type), "%s", media_type);
        int r;
        if (expect_diff_id && store_layer_exists(s, expect_diff_id) && !store_uncompressed)
                r = layer_present(s, src_fd, expect_digest, expect_diff_id, &li, err);
        else
                r = layer_unpack_new(s, src_fd, expect_digest, expect_diff_id, store_uncompressed, &li, err);
        if (r < 0)
                return r;
        *ret = li;
        return 0;
}
