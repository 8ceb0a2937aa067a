/* SPDX-License-Identifier: Apache-2.0 */
#include "test-image-util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "digest.h"
#include "fd-util.h"
#include "layer.h"

static struct archive_entry *make_entry(const TarEntry *t) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, t->path);
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        switch (t->type) {
        case TE_FILE:
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, t->mode ? t->mode : 0644);
                archive_entry_set_size(e, t->data ? (la_int64_t) strlen(t->data) : 0);
                break;
        case TE_DIR:
                archive_entry_set_filetype(e, AE_IFDIR);
                archive_entry_set_perm(e, t->mode ? t->mode : 0755);
                break;
        case TE_SYMLINK:
                archive_entry_set_filetype(e, AE_IFLNK);
                archive_entry_set_perm(e, 0777);
                archive_entry_set_symlink(e, t->target);
                break;
        case TE_HARDLINK:
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_hardlink(e, t->target);
                archive_entry_set_size(e, 0);
                break;
        case TE_CHAR:
                archive_entry_set_filetype(e, AE_IFCHR);
                archive_entry_set_perm(e, t->mode ? t->mode : 0666);
                archive_entry_set_rdev(e, makedev(t->rdev_major, t->rdev_minor));
                break;
        case TE_FIFO:
                archive_entry_set_filetype(e, AE_IFIFO);
                archive_entry_set_perm(e, 0644);
                break;
        }
        if (t->xattr_name)
                archive_entry_xattr_add_entry(e, t->xattr_name, t->xattr_value, strlen(t->xattr_value));
        return e;
}

static int write_entries(struct archive *a, const TarEntry *ents, size_t n) {
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = make_entry(&ents[i]);
                int r = archive_write_header(a, e) == ARCHIVE_OK ? 0 : -EIO;
                if (r == 0 && ents[i].type == TE_FILE && ents[i].data)
                        archive_write_data(a, ents[i].data, strlen(ents[i].data));
                archive_entry_free(e);
                if (r < 0)
                        return r;
        }
        return archive_write_close(a) == ARCHIVE_OK ? 0 : -EIO;
}

int test_tar_write(const char *path, const TarEntry *ents, size_t n, bool gzip) {
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (gzip)
                layer_add_gzip(a);       /* no time of day: the same tar is the same blob */
        int r = archive_write_open_filename(a, path) == ARCHIVE_OK ? write_entries(a, ents, n) : -EIO;
        archive_write_free(a);
        return r;
}

int test_tar_buffer(const TarEntry *ents, size_t n, bool gzip, char **ret, size_t *ret_len) {
        size_t cap = 1 << 20, used = 0;
        char *buf = malloc(cap);
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (gzip)
                layer_add_gzip(a);       /* no time of day: the same tar is the same blob */
        archive_write_set_bytes_in_last_block(a, 1);
        int r = archive_write_open_memory(a, buf, cap, &used) == ARCHIVE_OK ? write_entries(a, ents, n) : -EIO;
        archive_write_free(a);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = used;
        return 0;
}

int test_write_file(const char *path, const void *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, data, len);
        close(fd);
        return r;
}

char *test_tmpdir(void) {
        char *t = strdup("/tmp/kapsel-image-test-XXXXXX");
        if (!t || !mkdtemp(t)) {
                free(t);
                return NULL;
        }
        return t;
}

void test_rm_rf(const char *path) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
        if (system(cmd) != 0)
                fprintf(stderr, "rm -rf %s failed\n", path);
}

int test_dir_count(const char *path) {
        DIR *d = opendir(path);
        if (!d)
                return -1;
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

char *test_path(const char *a, const char *b) {
        char *p = NULL;
        return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

static int file_digest(const char *path, char out[static DIGEST_STR_MAX], uint64_t *size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = digest_fd(fd, out, size);
        close(fd);
        return r;
}

/* Store `data` as a blob of the layout; digest in out. */
static int put_blob(const char *dir, const char *data, size_t len, char out[static DIGEST_STR_MAX]) {
        char p[1024];
        digest_buffer(data, len, out);
        snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, out + 7);
        return test_write_file(p, data, len);
}

static int copy_blob(const char *dir, const char *src, char out[static DIGEST_STR_MAX], uint64_t *size) {
        char p[1024], *buf = NULL;
        size_t len = 0;
        int r = file_digest(src, out, size);
        if (r < 0)
                return r;
        if ((r = read_full_file_at(AT_FDCWD, src, 64 << 20, &buf, &len)) < 0)
                return r;
        snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, out + 7);
        r = test_write_file(p, buf, len);
        free(buf);
        return r;
}

int test_oci_layout(const char *dir, char *const *layer_files, char *const *plain_files, const char *tag,
                    bool bad_diff_id) {
        char p[1024], d[DIGEST_STR_MAX], cfg_d[DIGEST_STR_MAX], mf_d[DIGEST_STR_MAX];
        snprintf(p, sizeof(p), "mkdir -p '%s/blobs/sha256'", dir);
        if (system(p) != 0)
                return -EIO;
        json_t *layers = json_array(), *diff_ids = json_array();
        for (size_t i = 0; layer_files[i]; i++) {
                uint64_t size = 0;
                if (copy_blob(dir, layer_files[i], d, &size) < 0)
                        return -EIO;
                json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
                                                        "application/vnd.oci.image.layer.v1.tar+gzip", "digest", d,
                                                        "size", (json_int_t) size));
                if (file_digest(plain_files[i], d, NULL) < 0)
                        return -EIO;
                if (bad_diff_id && i == 0)
                        d[10] = d[10] == 'a' ? 'b' : 'a';
                json_array_append_new(diff_ids, json_string(d));
        }
        json_t *cfg = json_pack("{s:s, s:s, s:s, s:{s:[s], s:[s]}, s:{s:s, s:o}}", "created", "2024-01-02T03:04:05Z",
                                "architecture", "amd64", "os", "linux", "config", "Env", "PATH=/bin", "Cmd", "sh",
                                "rootfs", "type", "layers", "diff_ids", diff_ids);
        char *text = json_dumps(cfg, JSON_COMPACT);
        size_t cfg_len = strlen(text);
        put_blob(dir, text, cfg_len, cfg_d);
        free(text);
        json_decref(cfg);
        json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                              "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
                              "application/vnd.oci.image.config.v1+json", "digest", cfg_d, "size", (json_int_t) cfg_len,
                              "layers", layers);
        text = json_dumps(m, JSON_COMPACT);
        size_t mf_len = strlen(text);
        put_blob(dir, text, mf_len, mf_d);
        free(text);
        json_decref(m);
        json_t *idx = json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s, s:s}, s:{s:s}}]}", "schemaVersion", 2, "manifests",
                                "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest", mf_d, "size",
                                (json_int_t) mf_len, "platform", "os", "linux", "architecture", "amd64", "annotations",
                                "org.opencontainers.image.ref.name", tag);
        text = json_dumps(idx, JSON_COMPACT);
        snprintf(p, sizeof(p), "%s/index.json", dir);
        int r = test_write_file(p, text, strlen(text));
        free(text);
        json_decref(idx);
        snprintf(p, sizeof(p), "%s/oci-layout", dir);
        return r < 0 ? r : test_write_file(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
}
