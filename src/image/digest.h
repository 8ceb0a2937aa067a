/* SPDX-License-Identifier: Apache-2.0 */
/* Content digests (OCI image-spec descriptor.md "Digests"): "sha256:<64 lowercase hex>", computed
 * with libcrypto's EVP interface so the fastest SHA-256 the CPU offers is used. Other algorithms are
 * refused with a clear message rather than half-supported. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define DIGEST_HEX_LEN 64
#define DIGEST_PREFIX "sha256:"
#define DIGEST_STR_MAX (sizeof(DIGEST_PREFIX) - 1 + DIGEST_HEX_LEN + 1)

typedef struct Sha256 {
        void *ctx;      /* EVP_MD_CTX */
} Sha256;

int sha256_init(Sha256 *h);
void sha256_update(Sha256 *h, const void *data, size_t len);
/* Finish into "sha256:<hex>"; the context is freed (sha256_done() is then a no-op). */
void sha256_final(Sha256 *h, char out[static DIGEST_STR_MAX]);
void sha256_done(Sha256 *h);

/* Validate "sha256:<hex>"; on success *ret_hex points into `digest`. -EINVAL for malformed,
 * -EOPNOTSUPP for a well-formed digest of another algorithm. */
int digest_parse(const char *digest, const char **ret_hex);
bool digest_is_valid(const char *digest);
/* The <hex> part of a valid digest (what names its blob file: blobs/sha256/<hex>), or NULL. */
const char *digest_hex(const char *digest);
/* True when `s` is 64 lowercase hex chars (a bare id). */
bool digest_hex_is_valid(const char *s);

int digest_buffer(const void *data, size_t len, char out[static DIGEST_STR_MAX]);
/* Hash everything readable from fd (from its current offset); size in *ret_size when non-NULL. */
int digest_fd(int fd, char out[static DIGEST_STR_MAX], uint64_t *ret_size);
/* Copy everything readable from fd to copy_fd while hashing it (digest_fd() with a copy). */
int digest_fd_copy(int fd, int copy_fd, char out[static DIGEST_STR_MAX], uint64_t *ret_size);
/* Compare a computed digest with the expected one; KERR_CONFIG error naming `what` on mismatch. */
int digest_check(const char *computed, const char *expected, const char *what, KError **err);
/* Hash `len` bytes at `data` and compare with `expected` (NULL: nothing to compare with); the
 * digest goes to ret_computed when that is not NULL. 0 on a match, -EBADMSG on a mismatch, another
 * negative errno when hashing failed. Records no error: for callers that word their own. */
int digest_buffer_matches(const void *data, size_t len, const char *expected, char *ret_computed);
/* digest_buffer_matches() with the store's messages: digest_check()'s on a mismatch, "hash <what>"
 * when hashing failed. */
int digest_verify(const void *data, size_t len, const char *expected, const char *what, char *ret_computed,
                  KError **err);
