/* SPDX-License-Identifier: Apache-2.0 */
/* The console's terminals: an exec instance (created with Tty by POST /console/api/containers/{id}/exec),
 * or an attach to a container's or VM's own stdio (a VM's serial console), started over the
 * daemon's own socket with the hijacked stream Docker clients use, its bytes carried to the
 * browser in WebSocket frames (RFC 6455). Binary frames from the page are the
 * terminal's input; a text frame {"resize":[cols,rows]} resizes the pty. Going through the socket
 * keeps one exec implementation (api-exec.c) for docker, the CLI and the page. */
#include <errno.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "string-util.h"
#include "web.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef struct WsJob {
        char id[65];
        const char *base;       /* "/exec/" or "/containers/": ID/resize resizes the terminal */
        char *sock_path;
        int exec_fd;            /* the hijacked exec stream on our socket */
        char *early;            /* bytes of the exec stream read with its response head */
        size_t early_len;
        int ws_fd;
        struct MHD_UpgradeResponseHandle *urh;
        char *in;               /* the client's frames not yet complete */
        size_t in_len;
} WsJob;

static void ws_job_free(WsJob *j) {
        if (!j)
                return;
        safe_close(j->exec_fd);
        free(j->sock_path);
        free(j->early);
        free(j->in);
        free(j);
}

static char *copy_bytes(const void *p, size_t n) {
        char *c = malloc(n);
        return c ? memcpy(c, p, n) : NULL;
}

static void base64(const unsigned char *in, size_t n, char *out) {
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned) in[i] << 16 | (i + 1 < n ? (unsigned) in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
                out[o++] = tab[v >> 18 & 63];
                out[o++] = tab[v >> 12 & 63];
                out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
                out[o++] = i + 2 < n ? tab[v & 63] : '=';
        }
        out[o] = 0;
}

/* RFC 6455 §4.2.2: base64(SHA-1(key + GUID)). */
static int accept_key(const char *key, char out[static 32]) {
        char buf[128];
        unsigned char sha[20];
        if (snprintf(buf, sizeof(buf), "%s" WS_GUID, key) >= (int) sizeof(buf) ||
            gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, strlen(buf), sha) < 0)
                return -EINVAL;
        base64(sha, sizeof(sha), out);
        return 0;
}

static int sock_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* One request on our own socket; returns the connected fd with the response head read, its status
 * in *ret_status and bytes after the head in *ret_early. */
static int self_request(const char *path, const char *head, const char *body, unsigned *ret_status, char **ret_early,
                        size_t *ret_early_len) {
        _cleanup_close_ int fd = sock_connect(path);
        if (fd < 0)
                return fd;
        char req[1024];
        int n = snprintf(req, sizeof(req), "%sHost: kapseld\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         head, strlen(body), body);
        if (n >= (int) sizeof(req) || write_all(fd, req, (size_t) n) < 0)
                return -EIO;
        char buf[4096];
        size_t len = 0;
        char *end = NULL;
        while (!end && len < sizeof(buf) - 1) {
                ssize_t k = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (k <= 0)
                        return -EIO;
                len += (size_t) k;
                buf[len] = 0;
                end = strstr(buf, "\r\n\r\n");
        }
        if (!end || sscanf(buf, "HTTP/1.1 %u", ret_status) != 1)
                return -EIO;
        end += 4;
        *ret_early_len = len - (size_t) (end - buf);
        *ret_early = *ret_early_len ? copy_bytes(end, *ret_early_len) : NULL;
        return TAKE_FD(fd);
}

/* A server frame (never masked, §5.1). */
static int ws_send(int fd, int opcode, const void *data, size_t len) {
        unsigned char h[10];
        size_t hl = 2;
        h[0] = (unsigned char) (0x80 | opcode);
        if (len < 126)
                h[1] = (unsigned char) len;
        else if (len < 65536) {
                h[1] = 126;
                h[2] = (unsigned char) (len >> 8);
                h[3] = (unsigned char) len;
                hl = 4;
        } else {
                h[1] = 127;
                for (int i = 0; i < 8; i++)
                        h[2 + i] = (unsigned char) ((uint64_t) len >> (56 - 8 * i));
                hl = 10;
        }
        return write_all(fd, h, hl) < 0 || (len && write_all(fd, data, len) < 0) ? -EIO : 0;
}

/* {"resize":[cols,rows]}: the exec's pty size, through the socket's resize route. */
static void ws_control(WsJob *j, const char *text, size_t len) {
        _cleanup_json_ json_t *m = json_loadb(text, len, 0, NULL);
        json_t *rz = json_object_get(m, "resize");
        long cols = (long) json_integer_value(json_array_get(rz, 0)), rows = (long) json_integer_value(json_array_get(rz, 1));
        if (cols <= 0 || rows <= 0 || cols > 1000 || rows > 1000)
                return;
        char head[256];
        snprintf(head, sizeof(head), "POST %s%s/resize?h=%ld&w=%ld HTTP/1.1\r\nConnection: close\r\n", j->base, j->id,
                 rows, cols);
        unsigned status;
        _cleanup_free_ char *early = NULL;
        size_t el;
        int fd = self_request(j->sock_path, head, "", &status, &early, &el);
        safe_close(fd);
}

ssize_t websocket_frame(unsigned char *p, size_t avail, WsFrame *ret) {
        if (avail < 2)
                return 0;
        uint64_t len = p[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
                if (avail < 4)
                        return 0;
                len = (uint64_t) p[2] << 8 | p[3];
                hl = 4;
        } else if (len == 127) {
                if (avail < 10)
                        return 0;
                len = 0;
                for (int i = 0; i < 8; i++)
                        len = len << 8 | p[2 + i];
                hl = 10;
        }
        /* §5.1: a client's frames are masked; §5.5: control frames are short and not fragmented */
        int opcode = p[0] & 0x0f;
        if (!(p[1] & 0x80) || len > WS_MAX_FRAME || (opcode >= 0x8 && (len > 125 || !(p[0] & 0x80))))
                return -EPROTO;
        if (avail < hl + 4 || avail - hl - 4 < len)
                return 0;
        unsigned char *mask = p + hl, *data = p + hl + 4;
        for (uint64_t i = 0; i < len; i++)
                data[i] ^= mask[i & 3];
        *ret = (WsFrame) { .opcode = opcode, .data = data, .len = (size_t) len };
        return (ssize_t) (hl + 4 + len);
}

/* Act on the complete client frames in j->in; false when the client closed or broke the protocol. */
static bool ws_consume(WsJob *j) {
        size_t off = 0;
        bool ok = true;
        while (ok) {
                WsFrame f;
                ssize_t n = websocket_frame((unsigned char *) j->in + off, j->in_len - off, &f);
                if (n < 0)
                        return false;
                if (n == 0)
                        break;
                if (f.opcode == 0x8) {
                        (void) ws_send(j->ws_fd, 0x8, f.data, f.len >= 2 ? 2 : 0);
                        ok = false;
                } else if (f.opcode == 0x9)
                        ok = ws_send(j->ws_fd, 0xA, f.data, f.len) >= 0;
                else if (f.opcode == 0x2 || f.opcode == 0x0)
                        ok = write_all(j->exec_fd, f.data, f.len) >= 0;
                else if (f.opcode == 0x1)
                        ws_control(j, (const char *) f.data, f.len);
                off += (size_t) n;
        }
        memmove(j->in, j->in + off, j->in_len - off);
        j->in_len -= off;
        return ok;
}

static void ws_pump(WsJob *j) {
        char buf[32768];
        if (j->early_len && ws_send(j->ws_fd, 0x2, j->early, j->early_len) < 0)
                return;
        for (;;) {
                struct pollfd p[2] = { { .fd = j->exec_fd, .events = POLLIN }, { .fd = j->ws_fd, .events = POLLIN } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                if (p[0].revents) {
                        ssize_t n = read(j->exec_fd, buf, sizeof(buf));
                        if (n <= 0 || ws_send(j->ws_fd, 0x2, buf, (size_t) n) < 0) {
                                (void) ws_send(j->ws_fd, 0x8, "\x03\xe8", 2);   /* 1000: normal closure */
                                return;
                        }
                }
                if (p[1].revents) {
                        if (j->in_len + sizeof(buf) > WS_MAX_FRAME + 16)
                                return;
                        char *b = realloc(j->in, j->in_len + sizeof(buf));
                        if (!b)
                                return;
                        j->in = b;
                        ssize_t n = read(j->ws_fd, j->in + j->in_len, sizeof(buf));
                        if (n <= 0)
                                return;
                        j->in_len += (size_t) n;
                        if (!ws_consume(j))
                                return;
                }
        }
}

static void *ws_thread(void *arg) {
        WsJob *j = arg;
        ws_pump(j);
        (void) shutdown(j->exec_fd, SHUT_RDWR);
        MHD_upgrade_action(j->urh, MHD_UPGRADE_ACTION_CLOSE);
        ws_job_free(j);
        return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in, size_t extra_in_size,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
        WsJob *j = cls;
        (void) c, (void) con_cls;
        j->ws_fd = sock;
        j->urh = urh;
        /* a terminal may sit idle for hours, but a browser that vanished (no FIN) must not keep its
         * shell forever: TCP keepalive finds it within ~90 s (no-ops on the socket pair the library
         * hands over behind TLS) */
        int one = 1, idle = 60, intvl = 10, cnt = 3;
        (void) setsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        (void) setsockopt(sock, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        (void) setsockopt(sock, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        (void) setsockopt(sock, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
        if (extra_in_size && (j->in = copy_bytes(extra_in, extra_in_size)))
                j->in_len = extra_in_size;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, ws_thread, j) != 0) {
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                ws_job_free(j);
        }
        pthread_attr_destroy(&attr);
}

static enum MHD_Result ws_refuse(struct MHD_Connection *c, unsigned status, const char *msg) {
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(msg), (void *) msg, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        web_secure_headers(r);
        enum MHD_Result ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

/* Kinds of terminal: the hijacked request started on our socket (POST BASE ID START), its body. */
typedef struct WsTarget {
        const char *base, *start, *body;
} WsTarget;

static const WsTarget targets[] = {
        [WS_EXEC] = { "/exec/", "/start", "{\"Detach\":false,\"Tty\":true}" },
        [WS_ATTACH] = { "/containers/", "/attach?stream=1&stdin=1&stdout=1&stderr=1", "" },
};

enum MHD_Result websocket_terminal(const DaemonConfig *cfg, struct MHD_Connection *c, WsKind kind, const char *id) {
        const char *up = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");
        const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
        const char *ver = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
        char acc[32];
        if (!up || strcasecmp(up, "websocket") != 0 || !key || !ver || !streq(ver, "13") || accept_key(key, acc) < 0)
                return ws_refuse(c, 400, "a WebSocket (version 13) handshake is expected here\n");
        if (!*id || strlen(id) > 64 || id[strspn(id, "0123456789abcdef")])
                return ws_refuse(c, 404, "no such exec instance or container (a full hex ID is expected)\n");
        const char *path = startswith(cfg->host, "unix://");
        WsJob *j = calloc(1, sizeof(*j));
        if (!j || !path || !(j->sock_path = strdup(path))) {
                free(j);
                return MHD_NO;
        }
        j->exec_fd = -1;
        strcpy(j->id, id);
        j->base = targets[kind].base;
        char head[256];
        snprintf(head, sizeof(head), "POST %s%s%s HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n", j->base, id,
                 targets[kind].start);
        unsigned status = 0;
        j->exec_fd = self_request(j->sock_path, head, targets[kind].body, &status, &j->early, &j->early_len);
        if (j->exec_fd < 0 || status != 101) {
                ws_job_free(j);
                return ws_refuse(c, status == 404 ? 404 : 409, "the terminal could not be started\n");
        }
        struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgrade, j);
        if (!r) {
                ws_job_free(j);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Upgrade", "websocket");
        MHD_add_response_header(r, "Sec-WebSocket-Accept", acc);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
        MHD_destroy_response(r);
        return ret;
}
