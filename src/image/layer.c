/* SPDX-License-Identifier: Apache-2.0 */
/* Layer streaming: input fd -> [hash, tee] -> decompressor ("raw" libarchive reader) -> [hash] ->
 * tar reader -> entries. The two hashes give the blob digest and the diff-id (image-spec
 * config.md rootfs.diff_ids) in the same single pass that unpacks; nothing is staged. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "layer-internal.h"
#include "string-util.h"

#define INBUF_SIZE (256 * 1024)

int unpack_fail(Unpack *u, int r, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
                what = NULL;
        va_end(ap);
        if (u->entry)
                return kerr_msg(u->err, KERR_CONFIG, r, "%s: entry '%s': %s", u->o->label, u->entry,
                                what ? what : "error");
        return kerr_msg(u->err, KERR_CONFIG, r, "%s: %s", u->o->label, what ? what : "error");
}

bool layer_host_privileged(void) {
        if (geteuid() != 0)
                return false;
        _cleanup_free_ char *map = NULL;
        if (read_full_file_at(AT_FDCWD, "/proc/self/uid_map", 4096, &map, NULL) < 0)
                return false;
        unsigned long a, b, c;
        /* The initial namespace maps the whole range 0 0 4294967295 (user_namespaces(7)). */
        return sscanf(map, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 && c == 4294967295UL;
}

const char *layer_overlay_xattr_prefix(bool rootless) {
        return !rootless && layer_host_privileged() ? "trusted.overlay." : "user.overlay.";
}

void layer_add_gzip(struct archive *a) {
        archive_write_add_filter_gzip(a);
        /* "!timestamp": libarchive writes time(NULL) into the header unless told not to */
        (void) archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
}

static la_ssize_t raw_read(struct archive *a, void *data, const void **buf) {
        Unpack *u = data;
        ssize_t n;
        do
                n = read(u->in_fd, u->inbuf, INBUF_SIZE);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                archive_set_error(a, errno, "read failed");
                return -1;
        }
        sha256_update(&u->raw_hash, u->inbuf, (size_t) n);
        u->res->raw_size += (uint64_t) n;
        if (n > 0 && u->o->tee_fd >= 0 && !u->o->tee_uncompressed && write_all(u->o->tee_fd, u->inbuf, (size_t) n) < 0) {
                archive_set_error(a, errno, "copy to the blob store failed");
                return -1;
        }
        *buf = u->inbuf;
        return n;
}

static la_ssize_t tar_read(struct archive *a, void *data, const void **buf) {
        Unpack *u = data;
        size_t size = 0;
        la_int64_t off;
        int r = archive_read_data_block(u->raw, buf, &size, &off);
        if (r == ARCHIVE_EOF)
                return 0;
        if (r < ARCHIVE_WARN) {
                archive_set_error(a, archive_errno(u->raw) ? archive_errno(u->raw) : EIO, "%s",
                                  archive_error_string(u->raw) ? archive_error_string(u->raw) : "decompression failed");
                return -1;
        }
        sha256_update(&u->tar_hash, *buf, size);
        u->res->tar_size += size;
        if (size > 0 && u->o->tee_fd >= 0 && u->o->tee_uncompressed && write_all(u->o->tee_fd, *buf, size) < 0) {
                archive_set_error(a, errno, "copy to the blob store failed");
                return -1;
        }
        return (la_ssize_t) size;
}

LayerCompression layer_compression_sniff(const void *head, size_t n) {
        static const struct {
                LayerCompression compression;
                size_t len;
                unsigned char magic[4];
        } magics[] = {
                { LAYER_COMPRESSION_GZIP, 2, { 0x1f, 0x8b } },                  /* RFC 1952 2.3.1: ID1 ID2 */
                { LAYER_COMPRESSION_ZSTD, 4, { 0x28, 0xb5, 0x2f, 0xfd } },      /* RFC 8878 3.1.1: Magic_Number */
        };
        for (size_t i = 0; i < ELEMENTSOF(magics); i++)
                if (n >= magics[i].len && memcmp(head, magics[i].magic, magics[i].len) == 0)
                        return magics[i].compression;
        return LAYER_COMPRESSION_NONE;
}

static LayerCompression compression_of(int code) {
        switch (code) {
        case ARCHIVE_FILTER_NONE:
                return LAYER_COMPRESSION_NONE;
        case ARCHIVE_FILTER_GZIP:
                return LAYER_COMPRESSION_GZIP;
        case ARCHIVE_FILTER_ZSTD:
                return LAYER_COMPRESSION_ZSTD;
        default:
                return LAYER_COMPRESSION_OTHER;
        }
}

static int open_streams(Unpack *u) {
        struct archive_entry *e;
        u->raw = archive_read_new();
        u->tar = archive_read_new();
        if (!u->raw || !u->tar)
                return unpack_fail(u, -ENOMEM, "out of memory");
        /* Built-in decoders only: support_filter_all() could run external programs on input. */
        archive_read_support_filter_gzip(u->raw);
        archive_read_support_filter_zstd(u->raw);
        archive_read_support_filter_xz(u->raw);
        archive_read_support_filter_bzip2(u->raw);
        archive_read_support_format_raw(u->raw);
        if (archive_read_open(u->raw, u, NULL, raw_read, NULL) != ARCHIVE_OK ||
            archive_read_next_header(u->raw, &e) != ARCHIVE_OK)
                return unpack_fail(u, -EBADMSG, "cannot read: %s", archive_error_string(u->raw));
        u->res->compression = compression_of(archive_filter_code(u->raw, 0));
        archive_read_support_format_tar(u->tar);
        if (archive_read_open(u->tar, u, NULL, tar_read, NULL) != ARCHIVE_OK)
                return unpack_fail(u, -EBADMSG, "not a tar archive: %s", archive_error_string(u->tar));
        return 0;
}

/* The tar reader stops at the end-of-archive blocks; the diff-id covers the whole uncompressed
 * stream and the digest the whole input, so both are drained to their ends. */
static int drain(Unpack *u) {
        const void *buf;
        la_ssize_t n;
        while ((n = tar_read(u->tar, u, &buf)) > 0)
                ;
        if (n < 0)
                return unpack_fail(u, -EBADMSG, "%s", archive_error_string(u->tar));
        while ((n = raw_read(u->raw, u, &buf)) > 0)
                ;
        if (n < 0)
                return unpack_fail(u, -EIO, "%s", archive_error_string(u->raw));
        return 0;
}

static int unpack_loop(Unpack *u) {
        for (;;) {
                struct archive_entry *e;
                u->entry = NULL;
                int r = archive_read_next_header(u->tar, &e);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN) {
                        const char *msg = archive_error_string(u->tar);
                        return unpack_fail(u, -EBADMSG, "invalid tar: %s", msg ? msg : "unreadable header");
                }
                u->entry = archive_entry_pathname(e);
                r = unpack_entry(u, e);
                if (r < 0)
                        return r;
        }
}

static void unpack_done(Unpack *u) {
        if (u->raw)
                archive_read_free(u->raw);
        if (u->tar)
                archive_read_free(u->tar);
        sha256_done(&u->raw_hash);
        sha256_done(&u->tar_hash);
        free(u->inbuf);
        free(u->cached_parent);
        safe_close(u->cached_fd);
        for (size_t i = 0; i < u->n_dirs; i++)
                free(u->dirs[i].path);
        free(u->dirs);
}

static int verify(Unpack *u) {
        LayerUnpackResult *res = u->res;
        sha256_final(&u->raw_hash, res->digest);
        sha256_final(&u->tar_hash, res->diff_id);
        u->entry = NULL;
        if (u->o->expect_digest && !streq(res->digest, u->o->expect_digest))
                return unpack_fail(u, -EBADMSG, "digest mismatch: expected %s, content is %s", u->o->expect_digest,
                                   res->digest);
        if (u->o->expect_diff_id && !streq(res->diff_id, u->o->expect_diff_id))
                return unpack_fail(u, -EBADMSG, "diff-id mismatch: the config says %s, the tar is %s",
                                   u->o->expect_diff_id, res->diff_id);
        return 0;
}

int layer_unpack(int in_fd, int dest_dirfd, const LayerUnpackOptions *o, LayerUnpackResult *ret, KError **err) {
        *ret = (LayerUnpackResult) {};
        bool root = geteuid() == 0 && !o->rootless;
        Unpack u = {
                .o = o, .res = ret, .err = err, .in_fd = in_fd, .root_fd = dest_dirfd, .cached_fd = -1,
                .can_chown = root, .keep_setid = root, .can_mknod = root && layer_host_privileged(),
        };
        u.opaque_xattr = u.can_mknod ? "trusted.overlay.opaque" : "user.overlay.opaque";
        int r = sha256_init(&u.raw_hash);
        if (r >= 0)
                r = sha256_init(&u.tar_hash);
        if (r >= 0 && !(u.inbuf = malloc(INBUF_SIZE)))
                r = -ENOMEM;
        if (r < 0) {
                unpack_done(&u);
                return kerr(err, r, "%s", o->label);
        }
        r = open_streams(&u);
        if (r >= 0)
                r = unpack_loop(&u);
        if (r >= 0)
                r = drain(&u);
        if (r >= 0)
                r = unpack_finish_dirs(&u);
        if (r >= 0)
                r = verify(&u);
        unpack_done(&u);
        return r;
}

int layer_clean_path(const char *path, char **ret) {
        size_t n = strlen(path);
        _cleanup_free_ char *out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        for (const char *s = path; *s;) {
                while (*s == '/')
                        s++;
                const char *e = strchrnul(s, '/');
                size_t l = (size_t) (e - s);
                if (l == 2 && s[0] == '.' && s[1] == '.') {
                        if (o == 0)
                                return -EXDEV;
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;    /* the separator */
                } else if (l > 0 && !(l == 1 && s[0] == '.')) {
                        if (o > 0)
                                out[o++] = '/';
                        memcpy(out + o, s, l);
                        o += l;
                }
                s = e;
        }
        out[o] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

