/* SPDX-License-Identifier: Apache-2.0 */
/* The eight OpenSSL functions kapseld's code calls (the image store's SHA-256 digests, base64 of
 * credentials and of docker cp's stat header), over nettle: libmicrohttpd's gnutls maps nettle
 * anyway, while libcrypto cost 1.4 MiB of RSS when mapped and 3.3 MiB once its digest code and
 * provider set-up had run, with the first `docker run` (docs/daemon-memory.md). Only kapseld links
 * this file; everything else uses libcrypto. Same results as OpenSSL 3 for what they are called
 * with: SHA-256 only, EVP_EncodeBlock's padded output and return value, EVP_DecodeBlock's
 * whitespace trimming, its -1 for a length not a multiple of 4 or a foreign character, and its
 * count of the padding's zero bytes. */
#include <nettle/sha2.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct evp_md_ctx_st {
        struct sha256_ctx sha;
};

struct evp_md_st {
        int nid;
};

static const EVP_MD sha256_md = { 672 /* NID_sha256 */ };

const EVP_MD *EVP_sha256(void) {
        return &sha256_md;
}

EVP_MD_CTX *EVP_MD_CTX_new(void) {
        return calloc(1, sizeof(EVP_MD_CTX));
}

void EVP_MD_CTX_free(EVP_MD_CTX *ctx) {
        free(ctx);
}

int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl) {
        (void) impl;
        if (!ctx || type != &sha256_md)
                return 0;
        sha256_init(&ctx->sha);
        return 1;
}

int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt) {
        sha256_update(&ctx->sha, cnt, d);
        return 1;
}

int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s) {
        sha256_digest(&ctx->sha, SHA256_DIGEST_SIZE, md);
        if (s)
                *s = SHA256_DIGEST_SIZE;
        return 1;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n) {
        int ret = 0;
        for (int i = 0; i < n; i += 3) {
                unsigned long l = (unsigned long) f[i] << 16 | (i + 1 < n ? (unsigned long) f[i + 1] << 8 : 0) |
                                  (i + 2 < n ? f[i + 2] : 0);
                *t++ = b64[l >> 18 & 0x3f];
                *t++ = b64[l >> 12 & 0x3f];
                *t++ = i + 1 < n ? b64[l >> 6 & 0x3f] : '=';
                *t++ = i + 2 < n ? b64[l & 0x3f] : '=';
                ret += 4;
        }
        *t = '\0';
        return ret;
}

/* OpenSSL's classes: a value, '=' (decoded as 0), white space, end of line, or anything else */
enum { B64_WS = 0xe0, B64_EOLN = 0xf0, B64_CR = 0xf1, B64_EOF = 0xf2, B64_ERROR = 0xff };

static unsigned conv(unsigned char c) {
        const char *p = c ? strchr(b64, c) : NULL;
        if (p)
                return (unsigned) (p - b64);
        switch (c) {
        case '=': return 0;
        case ' ': case '\t': return B64_WS;
        case '\n': return B64_EOLN;
        case '\r': return B64_CR;
        case '-': return B64_EOF;
        default: return B64_ERROR;
        }
}

#define NOT_BASE64(a) (((a) | 0x13) == 0xf3)

int EVP_DecodeBlock(unsigned char *t, const unsigned char *f, int n) {
        while (n > 0 && conv(*f) == B64_WS) {
                f++;
                n--;
        }
        while (n > 3 && NOT_BASE64(conv(f[n - 1])))
                n--;
        if (n % 4 != 0)
                return -1;
        int ret = 0;
        for (int i = 0; i < n; i += 4) {
                unsigned a = conv(f[i]), b = conv(f[i + 1]), c = conv(f[i + 2]), d = conv(f[i + 3]);
                if ((a | b | c | d) & 0x80)
                        return -1;
                unsigned long l = (unsigned long) a << 18 | b << 12 | c << 6 | d;
                *t++ = l >> 16 & 0xff;
                *t++ = l >> 8 & 0xff;
                *t++ = l & 0xff;
                ret += 3;
        }
        return ret;
}
