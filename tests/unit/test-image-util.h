/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the image store tests: tars built entry by entry with libarchive's writer (so a
 * test controls every header), OCI layouts built from them, temp dirs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum { TE_FILE, TE_DIR, TE_SYMLINK, TE_HARDLINK, TE_CHAR, TE_FIFO } TarEntryType;

typedef struct TarEntry {
        TarEntryType type;
        const char *path;
        const char *target;     /* symlink target / hardlink target */
        const char *data;       /* file content */
        mode_t mode;            /* 0 = 0644 / 0755 */
        unsigned rdev_major, rdev_minor;
        const char *xattr_name, *xattr_value;
} TarEntry;

/* Write a tar (gzip when `gzip`) to `path`. Returns 0 or negative errno. */
int test_tar_write(const char *path, const TarEntry *e, size_t n, bool gzip);
/* Same, into a malloc'd buffer. */
int test_tar_buffer(const TarEntry *e, size_t n, bool gzip, char **ret, size_t *ret_len);
int test_write_file(const char *path, const void *data, size_t len);
char *test_tmpdir(void);
void test_rm_rf(const char *path);
/* Number of entries in a directory (-1 when it cannot be read). */
int test_dir_count(const char *path);
char *test_path(const char *a, const char *b);

/* Build an OCI image layout in `dir` from layer tar files (as they are: compressed or not), with
 * config Cmd ["sh"] and ref name `tag`. `bad_diff_id` puts a wrong diff-id for layer 0.
 * Returns 0; the layer diff-ids are computed by gunzip-free hashing of the tars given uncompressed
 * in `tars_plain` (same order). */
int test_oci_layout(const char *dir, char *const *layer_files, char *const *plain_files, const char *tag,
                    bool bad_diff_id);
