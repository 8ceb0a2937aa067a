/* SPDX-License-Identifier: Apache-2.0 */
/* The web console's HTTP side: login with the root's console token, sessions (an HttpOnly,
 * SameSite=Strict cookie with an expiry, kept in memory: a restart logs everyone out), a CSRF token
 * per session that every state change must echo in X-CSRF-Token, a foreign Origin refused, and a
 * strict Content-Security-Policy on every page. The console's API calls are the socket's own routes
 * under /console/api/, so the browser has exactly the socket's power and nothing more. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"
#include "web.h"

#define TOKEN_HEX 48
#define SESSION_HEX 64
#define MAX_SESSIONS 128
#define COOKIE "kapsel_session"

static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                          "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

typedef struct Session {
        char id[SESSION_HEX + 1], csrf[SESSION_HEX + 1];
        time_t expires;         /* CLOCK_BOOTTIME seconds; 0 = free slot */
} Session;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Session sessions[MAX_SESSIONS];
static char token[TOKEN_HEX + 1];
static char *web_dir;
static struct MHD_Daemon *tcp_daemon;
static DaemonConfig tcp_cfg;

static time_t now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_BOOTTIME, &ts);
        return ts.tv_sec;
}

static int random_hex(char *out, size_t hex_len) {
        unsigned char raw[64];
        size_t n = hex_len / 2;
        if (n > sizeof(raw) || getrandom(raw, n, 0) != (ssize_t) n)
                return -EIO;
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", raw[i]);
        out[hex_len] = 0;
        return 0;
}

/* Compare without leaking where the first difference is. */
static bool secret_eq(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        unsigned char d = la != lb;
        for (size_t i = 0; i < la && i < lb; i++)
                d |= (unsigned char) (a[i] ^ b[i]);
        return d == 0;
}

/* <root>/web/token: read it, or on the first start create it (0600) and print it once. */
static int token_load(const char *root, KError **err) {
        _cleanup_free_ char *dir = path_join(root, "web"), *path = path_join(root, "web/token");
        if (!dir || !path)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s for the web console's token", dir);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
                ssize_t n = read(fd, token, TOKEN_HEX);
                token[n > 0 ? n : 0] = 0;
                if (n != TOKEN_HEX)
                        return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                        "%s is not a console token: remove it and restart kapseld to make a new one", path);
                return 0;
        }
        if (errno != ENOENT)
                return kerr(err, -errno, "open %s", path);
        if (random_hex(token, TOKEN_HEX) < 0)
                return kerr(err, -EIO, "random bytes for the web console's token");
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || write_all(fd, token, TOKEN_HEX) < 0)
                return kerr(err, -errno, "write %s", path);
        /* the one time it is shown: the administrator starting the daemon copies it from here */
        fprintf(stderr, "kapseld: web console login token (shown once; kept 0600 in %s): %s\n", path, token);
        return 0;
}

/* The bundled files: --web-dir, else beside us (build tree: src/daemon/web), else installed. */
static char *find_web_dir(const DaemonConfig *cfg) {
        if (cfg->web_dir)
                return strdup(cfg->web_dir);
        _cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
        if (!self)
                return NULL;
        const char *dir = dirname(self);
        static const char *const rel[] = { "web", "../share/kapsel/web" };
        for (size_t i = 0; i < ELEMENTSOF(rel); i++) {
                _cleanup_free_ char *p = path_join(dir, rel[i]), *idx = p ? path_join(p, "index.html") : NULL;
                if (idx && access(idx, R_OK) == 0)
                        return TAKE_PTR(p);
        }
        return NULL;
}

int web_init(const DaemonConfig *cfg, KError **err) {
        int r = token_load(cfg->root, err);
        if (r < 0)
                return r;
        web_dir = find_web_dir(cfg);
        if (!web_dir)
                log_warn("kapseld: the web console's files were not built (npm missing?): /console/ shows a notice");
        return 0;
}

bool web_wants(const DaemonConfig *cfg, const char *url) {
        return cfg->web_only || streq(url, "/console") || startswith(url, "/console/");
}

void web_secure_headers(struct MHD_Response *r) {
        MHD_add_response_header(r, "Content-Security-Policy", CSP);
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
        MHD_add_response_header(r, "Cache-Control", "no-store");
        MHD_add_response_header(r, "Server", "kapseld");
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
                             const char *cookie) {
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, "Content-Type", type);
        if (cookie)
                MHD_add_response_header(r, "Set-Cookie", cookie);
        web_secure_headers(r);
        enum MHD_Result ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *j, const char *cookie) {
        _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return reply(c, status, "application/json", text ?: (char *) "{}", cookie);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg) {
        return reply_json(c, status, json_pack("{s:s}", "message", msg), NULL);
}

static bool is_tls(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_PROTOCOL);
        return ci && ci->protocol != 0;
}

/* A browser names the page that sent the request in Origin: it must be this server. Requests
 * without Origin (curl, our tests) are judged by the session and CSRF header alone. */
static bool origin_ok(struct MHD_Connection *c, bool required) {
        const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
        const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
        if (site && !streq(site, "same-origin") && !streq(site, "none"))
                return false;
        if (!origin)
                return !required;
        if (!host)
                return false;
        const char *rest = startswith(origin, is_tls(c) ? "https://" : "http://");
        return rest && streq(rest, host);
}

/* The session of the request's cookie, copied; false when there is none or it expired. */
static bool session_get(struct MHD_Connection *c, Session *ret) {
        const char *id = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
        if (!id || strlen(id) != SESSION_HEX)
                return false;
        bool found = false;
        time_t now = now_s();
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < MAX_SESSIONS; i++) {
                Session *s = &sessions[i];
                if (s->expires && s->expires <= now)
                        *s = (Session) { 0 };
                if (s->expires && secret_eq(s->id, id)) {
                        *ret = *s;
                        found = true;
                }
        }
        pthread_mutex_unlock(&lock);
        return found;
}

/* A new session in a free slot, else in the one that expires first. */
static int session_new(unsigned ttl, Session *ret) {
        Session s = { .expires = now_s() + ttl };
        if (random_hex(s.id, SESSION_HEX) < 0 || random_hex(s.csrf, SESSION_HEX) < 0)
                return -EIO;
        pthread_mutex_lock(&lock);
        size_t slot = 0;
        for (size_t i = 0; i < MAX_SESSIONS; i++)
                if (sessions[i].expires < sessions[slot].expires)
                        slot = i;
        sessions[slot] = s;
        pthread_mutex_unlock(&lock);
        *ret = s;
        return 0;
}

static void session_end(const char *id) {
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < MAX_SESSIONS; i++)
                if (sessions[i].expires && streq(sessions[i].id, id))
                        sessions[i] = (Session) { 0 };
        pthread_mutex_unlock(&lock);
}

static enum MHD_Result do_login(const DaemonConfig *cfg, struct MHD_Connection *c, const char *body, size_t len) {
        if (!origin_ok(c, false))
                return reply_error(c, 403, "cross-site login refused");
        _cleanup_json_ json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
        const char *given = json_string_value(json_object_get(j, "token"));
        if (!given || !secret_eq(given, token)) {
                usleep(300 * 1000);     /* slows guessing; the token has 192 bits anyway */
                return reply_error(c, 401, "wrong token: it is in web/token under kapseld's root (0600)");
        }
        Session s;
        if (session_new(cfg->web_session_s, &s) < 0)
                return reply_error(c, 500, "no random bytes for a session");
        char cookie[256];
        snprintf(cookie, sizeof(cookie), COOKIE "=%s; Path=/console/; Max-Age=%u; HttpOnly; SameSite=Strict%s", s.id,
                 cfg->web_session_s, is_tls(c) ? "; Secure" : "");
        return reply_json(c, 200, json_pack("{s:s,s:I}", "csrf", s.csrf, "expires_in", (json_int_t) cfg->web_session_s),
                          cookie);
}

static enum MHD_Result do_logout(struct MHD_Connection *c, const Session *s) {
        session_end(s->id);
        return reply_json(c, 200, json_object(), COOKIE "=; Path=/console/; Max-Age=0; HttpOnly; SameSite=Strict");
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

typedef struct MimeType {
        const char *ext, *type;
} MimeType;

static const MimeType mime_types[] = {
        { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },   { ".svg", "image/svg+xml" },
        { ".png", "image/png" },                 { ".woff2", "font/woff2" },
        { ".map", "application/json" },
};

/* /console/ and /console/assets/NAME: plain names only, from the bundle's directory. */
static enum MHD_Result serve_file(struct MHD_Connection *c, const char *name) {
        if (!web_dir)
                return reply(c, 404, "text/plain; charset=utf-8",
                             (char *) "kapseld was built without the web console's files (npm was missing at build time)\n",
                             NULL);
        const char *type = NULL;
        for (size_t i = 0; i < ELEMENTSOF(mime_types); i++)
                if (has_suffix(name, mime_types[i].ext))
                        type = mime_types[i].type;
        if (!type || name[0] == '.' || name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")])
                return reply_error(c, 404, "no such file in the console");
        /* the build's gzip copy when the browser takes it */
        const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
        bool gz = false;
        _cleanup_free_ char *path = path_join(web_dir, name), *gz_path = NULL;
        int fd = -1;
        if (path && ae && strstr(ae, "gzip") && asprintf(&gz_path, "%s.gz", path) >= 0) {
                fd = open(gz_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                gz = fd >= 0;
        }
        if (fd < 0 && path)
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                safe_close(fd);
                return reply_error(c, 404, "no such file in the console");
        }
        struct MHD_Response *r = MHD_create_response_from_fd((uint64_t) st.st_size, fd);
        if (!r) {
                close(fd);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", type);
        MHD_add_response_header(r, "Vary", "Accept-Encoding");
        if (gz)
                MHD_add_response_header(r, "Content-Encoding", "gzip");
        web_secure_headers(r);
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
}

bool web_may_send_body(struct MHD_Connection *c, const char *url) {
        const char *rest = startswith(url, "/console/");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
        Session s;
        if (!te && (!cl || strtoull(cl, NULL, 10) == 0))
                return true;    /* nothing to read: judged with the rest of the request */
        if (rest && streq(rest, "login"))
                return !te && cl && strtoull(cl, NULL, 10) <= 4096;
        return session_get(c, &s);
}

enum MHD_Result web_refuse_early(struct MHD_Connection *c) {
        return reply_error(c, 401, "not logged in, or the session expired: log in again (nothing was read)");
}

static bool is_safe_method(const char *method) {
        return streq(method, "GET") || streq(method, "HEAD");
}

/* Everything behind the login: the session; for a state change the CSRF header and the Origin. */
static enum MHD_Result authed(const DaemonConfig *cfg, struct MHD_Connection *c, const char *method, const char *rest,
                              struct Upload *u) {
        Session s;
        if (!session_get(c, &s))
                return reply_error(c, 401, "not logged in, or the session expired: log in again");
        bool ws = startswith(rest, "ws/") != NULL;
        if (!origin_ok(c, ws))
                return reply_error(c, 403, "cross-site request refused (Origin is not this server)");
        if (!is_safe_method(method)) {
                const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
                if (!h || !secret_eq(h, s.csrf))
                        return reply_error(c, 403, "missing or wrong X-CSRF-Token header: reload the console");
        }
        if (streq(rest, "session") && is_safe_method(method))
                return reply_json(c, 200, json_pack("{s:s,s:I}", "csrf", s.csrf, "expires_in", (json_int_t) (s.expires - now_s())),
                                  NULL);
        if (streq(rest, "logout") && streq(method, "POST"))
                return do_logout(c, &s);
        if (streq(rest, "stats") && is_safe_method(method))
                return reply_json(c, 200, web_stats(cfg), NULL);
        if (streq(rest, "instances") && is_safe_method(method)) {
                _cleanup_kerr_ KError *err = NULL;
                json_t *rows = web_instances(cfg, &err);
                return rows ? reply_json(c, 200, rows, NULL) : reply_error(c, 500, err ? err->msg : "cannot list");
        }
        const char *exec_id = startswith(rest, "ws/exec/"), *attach_id = startswith(rest, "ws/attach/");
        if (exec_id && streq(method, "GET"))
                return websocket_terminal(cfg, c, WS_EXEC, exec_id);
        if (attach_id && streq(method, "GET"))
                return websocket_terminal(cfg, c, WS_ATTACH, attach_id);
        const char *api = startswith(rest, "api/");
        if (api) {
                _cleanup_free_ char *url = NULL;
                if (asprintf(&url, "/%s", api) < 0)
                        return MHD_NO;
                return server_api(cfg, c, method, url, u);
        }
        return reply_error(c, 404, "no such page in the console");
}

enum MHD_Result web_request(const DaemonConfig *cfg, struct MHD_Connection *c, const char *method, const char *url,
                            struct Upload *u) {
        const char *rest = startswith(url, "/console/");
        if (!rest) {
                if (streq(url, "/") || streq(url, "/console")) {
                        /* the console's one entry point */
                        struct MHD_Response *r = MHD_create_response_from_buffer(0, (char *) "", MHD_RESPMEM_PERSISTENT);
                        if (!r)
                                return MHD_NO;
                        MHD_add_response_header(r, "Location", "/console/");
                        web_secure_headers(r);
                        enum MHD_Result ret = MHD_queue_response(c, 302, r);
                        MHD_destroy_response(r);
                        return ret;
                }
                return reply_error(c, 404, "only the web console (/console/) is served here");
        }
        if (streq(rest, "") && is_safe_method(method))
                return serve_file(c, "index.html");
        const char *asset = startswith(rest, "assets/");
        if (asset && is_safe_method(method))
                return serve_file(c, asset);
        if (streq(rest, "login") && streq(method, "POST")) {
                size_t len;
                const char *body = server_upload_body(u, &len);
                return do_login(cfg, c, body, len);
        }
        return authed(cfg, c, method, rest, u);
}

/* "ADDR:PORT" ("[v6]:PORT" too) -> a socket address; *ret_loopback. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, bool *ret_loopback, KError **err) {
        _cleanup_free_ char *host = NULL;
        const char *colon = strrchr(spec, ':');
        if (!colon || !colon[1])
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--web-listen %s: expected ADDR:PORT (e.g. 127.0.0.1:8443)", spec);
        char *end;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--web-listen %s: the port must be 1-65535", spec);
        if (spec[0] == '[' && colon > spec && colon[-1] == ']')
                host = strndup(spec + 1, (size_t) (colon - spec - 2));
        else
                host = strndup(spec, (size_t) (colon - spec));
        if (!host)
                return -ENOMEM;
        struct sockaddr_in *in4 = (struct sockaddr_in *) ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
        memset(ss, 0, sizeof(*ss));
        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t) port);
                *ret_loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *ret_loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
        } else
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--web-listen %s: %s is not an IP address", spec, host);
        return 0;
}

static char *read_pem(const char *path, const char *what, KError **err) {
        char *buf = NULL;
        size_t n = 0;
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f || getdelim(&buf, &n, 0, f) < 0) {
                free(buf);
                kerr(err, -errno ?: -EIO, "read the %s %s", what, path);
                return NULL;
        }
        return buf;
}

int web_start(const DaemonConfig *cfg, MHD_AccessHandlerCallback on_request, MHD_RequestCompletedCallback on_completed,
              KError **err) {
        if (!cfg->web_listen)
                return 0;
        struct sockaddr_storage ss;
        bool loopback = false;
        int r = parse_listen(cfg->web_listen, &ss, &loopback, err);
        if (r < 0)
                return r;
        bool tls = cfg->tls_cert || cfg->tls_key;
        if (tls && !(cfg->tls_cert && cfg->tls_key))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--tlscert and --tlskey go together");
        if (!tls && !loopback)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--web-listen %s is beyond loopback: give --tlscert FILE --tlskey FILE (plain HTTP is "
                                "served on 127.0.0.0/8 and ::1 only)", cfg->web_listen);
        _cleanup_free_ char *cert = tls ? read_pem(cfg->tls_cert, "TLS certificate", err) : NULL;
        _cleanup_free_ char *key = tls ? read_pem(cfg->tls_key, "TLS key", err) : NULL;
        if (tls && (!cert || !key))
                return -EIO;
        tcp_cfg = *cfg;
        tcp_cfg.web_only = true;
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_UPGRADE |
                         MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
        tcp_daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &tcp_cfg,
                                      MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                                      MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
                                      MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s,
                                      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 64 * 1024,
                                      MHD_OPTION_THREAD_STACK_SIZE, (size_t) 256 * 1024,
                                      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                      tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
                                      MHD_OPTION_HTTPS_MEM_KEY, key,
                                      MHD_OPTION_END);
        if (!tcp_daemon)
                return kerr(err, -EADDRNOTAVAIL, "serve the web console on %s: is the address in use, or the TLS "
                            "certificate/key unreadable?", cfg->web_listen);
        fprintf(stderr, "kapseld: web console on %s://%s/console/\n", tls ? "https" : "http", cfg->web_listen);
        return 0;
}
