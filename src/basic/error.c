/* SPDX-License-Identifier: Apache-2.0 */
#include "error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

static int normalize(int r) {
        if (r > 0)
                return -r;
        return r == 0 ? -EIO : r;
}

_printf_(5, 0)
static int record(KError **err, KErrorKind kind, int r, bool with_errno, const char *fmt, va_list ap) {
        r = normalize(r);
        if (!err || *err)
                return r;

        KError *e = calloc(1, sizeof(*e));
        if (!e)
                return r;
        char *base = NULL;
        if (vasprintf(&base, fmt, ap) < 0)
                base = NULL;
        if (with_errno && base) {
                char *full = NULL;
                if (asprintf(&full, "%s: %s", base, strerror(-r)) >= 0) {
                        free(base);
                        base = full;
                }
        }
        e->code = r;
        e->kind = kind;
        e->msg = base ? base : strdup("out of memory while formatting an error");
        *err = e;
        return r;
}

int kerr(KError **err, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        r = record(err, KERR_GENERIC, r, true, fmt, ap);
        va_end(ap);
        return r;
}

int kerr_kind(KError **err, KErrorKind kind, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        r = record(err, kind, r, true, fmt, ap);
        va_end(ap);
        return r;
}

int kerr_msg(KError **err, KErrorKind kind, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        r = record(err, kind, r, false, fmt, ap);
        va_end(ap);
        return r;
}

int kerr_prefix(KError **err, int r, const char *fmt, ...) {
        if (!err || !*err)
                return r;
        _cleanup_free_ char *ctx = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&ctx, fmt, ap);
        va_end(ap);
        if (n < 0)
                return r;
        char *full = NULL;
        if (asprintf(&full, "%s: %s", ctx, (*err)->msg) < 0)
                return r;
        free((*err)->msg);
        (*err)->msg = full;
        return r;
}

int kerr_set_kind(KError **err, int r, KErrorKind kind) {
        if (err && *err)
                (*err)->kind = kind;
        return r;
}

void kerr_free(KError *e) {
        if (!e)
                return;
        free(e->msg);
        free(e);
}

int kerr_exit_code(const KError *e) {
        static const int codes[_KERR_KIND_MAX] = {
                [KERR_GENERIC] = 1,  [KERR_USAGE] = 2,     [KERR_CONFIG] = 3, [KERR_NOT_FOUND] = 4,
                [KERR_EXISTS] = 5,   [KERR_ROOTFS] = 6,    [KERR_HOST] = 7,   [KERR_STATE] = 8,
        };
        if (!e || e->kind < 0 || e->kind >= _KERR_KIND_MAX)
                return 1;
        return codes[e->kind];
}

/* Wire format: int32 code, int32 kind, uint32 len, len bytes of message. One write, so a
 * SOCK_SEQPACKET or a pipe under PIPE_BUF delivers it whole. */
struct wire_header {
        int32_t code;
        int32_t kind;
        uint32_t len;
};

int kerr_send(int fd, const KError *e) {
        char buf[4096];
        struct wire_header h = {
                .code = e ? e->code : -EIO,
                .kind = e ? (int32_t) e->kind : KERR_GENERIC,
        };
        const char *msg = e && e->msg ? e->msg : "unknown error";
        size_t len = strlen(msg);
        if (len > sizeof(buf) - sizeof(h))
                len = sizeof(buf) - sizeof(h);
        h.len = (uint32_t) len;
        memcpy(buf, &h, sizeof(h));
        memcpy(buf + sizeof(h), msg, len);
        ssize_t n = write(fd, buf, sizeof(h) + len);
        if (n < 0)
                return -errno;
        return n == (ssize_t) (sizeof(h) + len) ? 0 : -EIO;
}

int kerr_recv(int fd, KError **ret) {
        char buf[4096 + 1];
        struct wire_header h;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        if ((size_t) n < sizeof(h))
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        if (h.len != (size_t) n - sizeof(h) || h.kind < 0 || h.kind >= _KERR_KIND_MAX || h.code >= 0)
                return -EBADMSG;
        buf[n] = '\0';
        KError *e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->code = h.code;
        e->kind = h.kind;
        e->msg = strdup(buf + sizeof(h));
        if (!e->msg) {
                free(e);
                return -ENOMEM;
        }
        *ret = e;
        return 0;
}
