/* SPDX-License-Identifier: Apache-2.0 */
/* OCI image layout files for the registry client (see registry-layout.h). */
#include "digest.h"
#include "registry-layout.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fd-util.h"
#include "json-util.h"
#include "path-util.h"
#include "string-util.h"

#define INDEX_MAX REGISTRY_MANIFEST_MAX

void layout_close(Layout *l) {
        free(l->path);
        l->dirfd = safe_close(l->dirfd);
        l->blobsfd = safe_close(l->blobsfd);
        l->path = NULL;
}

int layout_open(const char *path, bool create, Layout *ret, KError **err) {
        Layout l = { .dirfd = -1, .blobsfd = -1 };
        int r = create ? mkdir_p(path, 0755) : 0;
        if (r < 0)
                return kerr(err, r, "create layout directory '%s'", path);
        l.dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (l.dirfd < 0)
                return kerr(err, -errno, "open layout directory '%s'", path);
        _cleanup_close_ int blobs = open_subdir(l.dirfd, "blobs", create, 0755, NULL);
        l.blobsfd = blobs < 0 ? blobs : open_subdir(blobs, "sha256", create, 0755, NULL);
        if (l.blobsfd < 0) {
                r = l.blobsfd;
                l.blobsfd = -1;
                layout_close(&l);
                return kerr(err, r, "open '%s/blobs/sha256'", path);
        }
        if (!(l.path = strdup(path))) {
                layout_close(&l);
                return kerr(err, -ENOMEM, "open layout");
        }
        *ret = l;
        return 0;
}

int layout_blob_present(const Layout *l, const char *digest, uint64_t size) {
        const char *name = digest_hex(digest);
        if (!name)
                return -EINVAL;
        _cleanup_close_ int fd = open_regular_at(l->blobsfd, name, O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t) st.st_size != size)
                return 0;
        char got[REGISTRY_DIGEST_LEN + 1];
        return digest_fd(fd, got, NULL) >= 0 && streq(got, digest);
}

int layout_blob_open(const Layout *l, const char *digest, int *ret_fd, uint64_t *ret_size, KError **err) {
        const char *name = digest_hex(digest);
        if (!name)
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "malformed digest");
        _cleanup_close_ int fd = openat(l->blobsfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return kerr(err, -errno, "open blob %s in '%s'", digest, l->path);
        if (fd_verify_regular(fd) < 0)
                return kerr_msg(err, KERR_GENERIC, -EBADF, "blob %s in '%s' is not a regular file", digest, l->path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return kerr(err, -errno, "stat blob %s in '%s'", digest, l->path);
        if (!S_ISREG(st.st_mode))
                return kerr_msg(err, KERR_GENERIC, -EBADF, "blob %s in '%s' is not a regular file", digest, l->path);
        *ret_size = (uint64_t) st.st_size;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int layout_blob_read(const Layout *l, const char *digest, size_t max, char **ret, size_t *ret_len, KError **err) {
        _cleanup_close_ int fd = -1;
        uint64_t size;
        int r = layout_blob_open(l, digest, &fd, &size, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        if ((r = read_full_fd(fd, max, &buf, &len)) < 0)
                return kerr(err, r, "read blob %s in '%s'", digest, l->path);
        char got[DIGEST_STR_MAX];
        r = digest_buffer_matches(buf, len, digest, got);
        if (r == -EBADMSG)
                return kerr_msg(err, KERR_GENERIC, r, "blob %s in '%s' is corrupt (its content hashes to %s)", digest,
                                l->path, got);
        if (r < 0)
                return kerr(err, r, "hash blob %s", digest);
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int layout_tmp_open(const Layout *l, LayoutTmp *ret, KError **err) {
        static unsigned counter;
        *ret = (LayoutTmp) { .fd = -1, .layout = l };
        for (int i = 0; i < 100; i++) {
                snprintf(ret->name, sizeof(ret->name), ".partial-%d-%u", (int) getpid(), counter++);
                ret->fd = openat(l->blobsfd, ret->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (ret->fd >= 0)
                        return 0;
                if (errno != EEXIST)
                        break;
        }
        int r = -errno;
        ret->name[0] = '\0';
        return kerr(err, r, "create staging file in '%s/blobs/sha256'", l->path);
}

int layout_tmp_commit(LayoutTmp *t, const char *digest, KError **err) {
        const char *name = digest_hex(digest);
        if (!name)
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "malformed digest");
        if (renameat(t->layout->blobsfd, t->name, t->layout->blobsfd, name) < 0)
                return kerr(err, -errno, "store blob %s in '%s'", digest, t->layout->path);
        t->name[0] = '\0';
        return 0;
}

void layout_tmp_done(LayoutTmp *t) {
        if (t->name[0])
                (void) unlinkat(t->layout->blobsfd, t->name, 0);
        t->name[0] = '\0';
        t->fd = safe_close(t->fd);
}

int layout_blob_write(const Layout *l, const char *digest, const void *data, size_t len, KError **err) {
        char got[DIGEST_STR_MAX];
        int r = digest_buffer_matches(data, len, digest, got);
        if (r == -EBADMSG)
                return kerr_msg(err, KERR_GENERIC, r, "blob %s: content hashes to %s", digest, got);
        if (r < 0)
                return kerr(err, r, "hash blob");
        _cleanup_(layout_tmp_done) LayoutTmp t = { .fd = -1 };
        if ((r = layout_tmp_open(l, &t, err)) < 0)
                return r;
        if ((r = write_all(t.fd, data, len)) < 0)
                return kerr(err, r, "write blob %s in '%s'", digest, l->path);
        return layout_tmp_commit(&t, digest, err);
}

static json_t *descriptor_json(const RegistryDescriptor *d, const char *ref_name) {
        json_t *j = json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest, "size",
                              (json_int_t) d->size);
        if (j && d->has_platform) {
                json_t *p = json_pack("{s:s, s:s}", "os", d->platform.os, "architecture", d->platform.architecture);
                if (p && d->platform.variant)
                        json_object_set_new(p, "variant", json_string(d->platform.variant));
                json_object_set_new(j, "platform", p);
        }
        if (j && ref_name)
                json_object_set_new(j, "annotations", json_pack("{s:s}", "org.opencontainers.image.ref.name", ref_name));
        return j;
}

/* The manifests of an existing index.json, minus any entry named `ref_name`. */
static int index_kept_entries(const Layout *l, const char *ref_name, json_t *out, KError **err) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_regular_file_at(l->dirfd, "index.json", INDEX_MAX, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return kerr(err, r, "read '%s/index.json'", l->path);
        json_error_t jerr;
        _cleanup_json_ json_t *j = json_loadb(buf, len, 0, &jerr);
        json_t *manifests = j ? json_object_get(j, "manifests") : NULL;
        if (!json_is_array(manifests))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "'%s/index.json' exists but is not an image index; not touching it",
                                l->path);
        size_t i;
        json_t *e;
        json_array_foreach(manifests, i, e) {
                const char *name = json_string_value(
                        json_object_get(json_object_get(e, "annotations"), "org.opencontainers.image.ref.name"));
                if (!streq_ptr(name, ref_name) && json_array_append(out, e) < 0)
                        return kerr(err, -ENOMEM, "index.json");
        }
        return 0;
}

int layout_write_index(const Layout *l, const RegistryDescriptor *desc, const char *ref_name, KError **err) {
        static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}\n";
        _cleanup_json_ json_t *manifests = json_array();
        if (!manifests)
                return kerr(err, -ENOMEM, "index.json");
        int r = index_kept_entries(l, ref_name, manifests, err);
        if (r < 0)
                return r;
        if (json_array_append_new(manifests, descriptor_json(desc, ref_name)) < 0)
                return kerr(err, -ENOMEM, "index.json");
        _cleanup_json_ json_t *index = json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType",
                                                 MEDIA_TYPE_OCI_INDEX, "manifests", manifests);
        _cleanup_free_ char *text = index ? json_dump_string(index, false) : NULL;
        if (!text)
                return kerr(err, -ENOMEM, "index.json");
        r = write_file_atomic_at(l->dirfd, "oci-layout", oci_layout, sizeof(oci_layout) - 1, 0644);
        if (r < 0)
                return kerr(err, r, "write '%s/oci-layout'", l->path);
        r = write_file_atomic_at(l->dirfd, "index.json", text, strlen(text), 0644);
        if (r < 0)
                return kerr(err, r, "write '%s/index.json'", l->path);
        return 0;
}
