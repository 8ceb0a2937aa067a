/* SPDX-License-Identifier: Apache-2.0 */
#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "string-util.h"

#define DIGEST_CHUNK (1 << 17)

int sha256_init(Sha256 *h) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c)
                return -ENOMEM;
        if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(c);
                return -EIO;
        }
        h->ctx = c;
        return 0;
}

void sha256_update(Sha256 *h, const void *data, size_t len) {
        if (len > 0)
                EVP_DigestUpdate(h->ctx, data, len);
}

void sha256_final(Sha256 *h, char out[static DIGEST_STR_MAX]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char md[32];
        unsigned int n = 0;
        EVP_DigestFinal_ex(h->ctx, md, &n);
        sha256_done(h);
        char *o = stpcpy(out, DIGEST_PREFIX);
        for (unsigned i = 0; i < 32; i++) {
                *o++ = hex[md[i] >> 4];
                *o++ = hex[md[i] & 15];
        }
        *o = '\0';
}

void sha256_done(Sha256 *h) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
}

bool digest_hex_is_valid(const char *s) {
        size_t n = 0;
        for (; s[n]; n++)
                if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
                        return false;
        return n == DIGEST_HEX_LEN;
}

int digest_parse(const char *digest, const char **ret_hex) {
        if (!digest)
                return -EINVAL;
        const char *hex = startswith(digest, DIGEST_PREFIX);
        if (!hex) {
                /* algorithm ":" encoded (image-spec descriptor.md grammar): only sha256 is ours */
                const char *colon = strchr(digest, ':');
                return colon && colon != digest && colon[1] ? -EOPNOTSUPP : -EINVAL;
        }
        if (!digest_hex_is_valid(hex))
                return -EINVAL;
        if (ret_hex)
                *ret_hex = hex;
        return 0;
}

bool digest_is_valid(const char *digest) {
        return digest_parse(digest, NULL) >= 0;
}

const char *digest_hex(const char *digest) {
        const char *hex = NULL;
        return digest_parse(digest, &hex) < 0 ? NULL : hex;
}

int digest_buffer(const void *data, size_t len, char out[static DIGEST_STR_MAX]) {
        Sha256 h;
        int r = sha256_init(&h);
        if (r < 0)
                return r;
        sha256_update(&h, data, len);
        sha256_final(&h, out);
        return 0;
}

/* Read until EOF, retrying EINTR; each chunk is hashed and, when copy_fd >= 0, written there. */
static int hash_stream(Sha256 *h, int fd, int copy_fd, uint64_t *ret_size) {
        _cleanup_free_ char *buf = malloc(DIGEST_CHUNK);
        if (!buf)
                return -ENOMEM;
        uint64_t total = 0;
        for (;;) {
                ssize_t n = read(fd, buf, DIGEST_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                sha256_update(h, buf, (size_t) n);
                int r = copy_fd >= 0 ? write_all(copy_fd, buf, (size_t) n) : 0;
                if (r < 0)
                        return r;
                total += (uint64_t) n;
        }
        if (ret_size)
                *ret_size = total;
        return 0;
}

int digest_fd_copy(int fd, int copy_fd, char out[static DIGEST_STR_MAX], uint64_t *ret_size) {
        _cleanup_(sha256_done) Sha256 h = {};
        int r = sha256_init(&h);
        if (r >= 0)
                r = hash_stream(&h, fd, copy_fd, ret_size);
        if (r >= 0)
                sha256_final(&h, out);
        return r;
}

int digest_fd(int fd, char out[static DIGEST_STR_MAX], uint64_t *ret_size) {
        return digest_fd_copy(fd, -1, out, ret_size);
}

int digest_check(const char *computed, const char *expected, const char *what, KError **err) {
        if (!expected || streq(computed, expected))
                return 0;
        return kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s: digest mismatch: expected %s, content is %s", what,
                        expected, computed);
}

int digest_buffer_matches(const void *data, size_t len, const char *expected, char *ret_computed) {
        char got[DIGEST_STR_MAX];
        int r = digest_buffer(data, len, got);
        if (r < 0)
                return r;
        if (ret_computed)
                memcpy(ret_computed, got, sizeof(got));
        return !expected || streq(got, expected) ? 0 : -EBADMSG;
}

int digest_verify(const void *data, size_t len, const char *expected, const char *what, char *ret_computed,
                  KError **err) {
        char buf[DIGEST_STR_MAX], *got = ret_computed ? ret_computed : buf;
        int r = digest_buffer_matches(data, len, expected, got);
        if (r == -EBADMSG)
                return digest_check(got, expected, what, err);
        return r < 0 ? kerr(err, r, "hash %s", what) : 0;
}
