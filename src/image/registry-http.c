/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl glue (see registry-http.h). Every size read from the network is bounded here; a body
 * streamed to a file is hashed as it arrives, so a blob is read exactly once. */
#include "registry-http.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "fd-util.h"
#include "registry-parse.h"
#include "string-util.h"

#define HEADER_VALUE_MAX (16u << 10)

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)
DEFINE_TRIVIAL_CLEANUP_FUNC(CURLU *, curl_url_cleanup)

typedef struct Transfer {
        const HttpRequest *req;
        HttpResponse *resp;
        Sha256 *hash;           /* of the body streamed to req->sink_fd */
        long status;            /* of the reply being received (the last status line) */
        uint64_t body_off;      /* upload position */
        char fail[160];         /* why a callback aborted the transfer */
        int fail_errno;
        struct timespec start, last_print;
        bool printed;
} Transfer;

static void global_init(void) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void transfer_fail(Transfer *t, int errno_, const char *fmt, ...) _printf_(3, 4);
static void transfer_fail(Transfer *t, int errno_, const char *fmt, ...) {
        if (t->fail[0])
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->fail, sizeof(t->fail), fmt, ap);
        va_end(ap);
        t->fail_errno = errno_;
}

void http_response_done(HttpResponse *r) {
        if (!r)
                return;
        free(r->body);
        free(r->www_authenticate);
        free(r->location);
        free(r->content_type);
        free(r->docker_content_digest);
        *r = (HttpResponse) {};
}

/* A new status line starts a new reply (after a redirect or 100-continue): forget the last one. */
static void response_reset(HttpResponse *r) {
        r->body = mfree(r->body);
        r->body_len = 0;
        r->www_authenticate = mfree(r->www_authenticate);
        r->location = mfree(r->location);
        r->content_type = mfree(r->content_type);
        r->docker_content_digest = mfree(r->docker_content_digest);
}

static int header_store(char **field, const char *value, bool append) {
        if (*field && !append)
                return 0;
        char *n;
        if (*field ? asprintf(&n, "%s, %s", *field, value) < 0 : !(n = strdup(value)))
                return -ENOMEM;
        free(*field);
        *field = n;
        return strlen(n) > HEADER_VALUE_MAX ? -E2BIG : 0;
}

static size_t header_cb(char *data, size_t size, size_t n, void *userdata) {
        Transfer *t = userdata;
        size_t len = size * n;
        char line[HEADER_VALUE_MAX];
        if (len >= sizeof(line))
                return len;     /* a huge header we do not use */
        memcpy(line, data, len);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
                len--;
        line[len] = '\0';
        int code;
        if (startswith(line, "HTTP/") && sscanf(line, "HTTP/%*s %d", &code) == 1) {
                t->status = code;
                response_reset(t->resp);
                return size * n;
        }
        static const struct { const char *name; size_t offset; bool append; } wanted[] = {
                { "www-authenticate", offsetof(HttpResponse, www_authenticate), true },
                { "location", offsetof(HttpResponse, location), false },
                { "content-type", offsetof(HttpResponse, content_type), false },
                { "docker-content-digest", offsetof(HttpResponse, docker_content_digest), false },
        };
        char *colon = strchr(line, ':');
        if (!colon)
                return size * n;
        *colon = '\0';
        const char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
                value++;
        for (size_t i = 0; i < ELEMENTSOF(wanted); i++)
                if (strcasecmp(line, wanted[i].name) == 0 &&
                    header_store((char **) ((char *) t->resp + wanted[i].offset), value, wanted[i].append) < 0) {
                        transfer_fail(t, EBADMSG, "reply header %s too large", wanted[i].name);
                        return 0;
                }
        return size * n;
}

static bool status_ok(long s) {
        return s >= 200 && s < 300;
}

static size_t sink_write(Transfer *t, const char *data, size_t len) {
        if (t->resp->sunk + len > t->req->max_body) {
                transfer_fail(t, EFBIG, "reply from %s is larger than the expected %" PRIu64 " bytes", t->req->url,
                              t->req->max_body);
                return 0;
        }
        int r = write_all(t->req->sink_fd, data, len);
        if (r < 0) {
                transfer_fail(t, -r, "write downloaded data: %s", strerror(-r));
                return 0;
        }
        sha256_update(t->hash, data, len);
        t->resp->sunk += len;
        return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userdata) {
        Transfer *t = userdata;
        size_t len = size * n;
        bool ok = status_ok(t->status);
        if (ok && t->req->sink_fd >= 0)
                return sink_write(t, data, len);
        uint64_t max = ok ? t->req->max_body : REGISTRY_ERROR_BODY_MAX;
        HttpResponse *r = t->resp;
        if (r->body_len + len > max) {
                if (!ok) {
                        /* error bodies are only for the message: keep the start, read on */
                        len = (size_t) (max - r->body_len);
                        if (len == 0)
                                return size * n;
                } else {
                        transfer_fail(t, EFBIG, "reply from %s is larger than %" PRIu64 " bytes", t->req->url, max);
                        return 0;
                }
        }
        char *b = realloc(r->body, r->body_len + len + 1);
        if (!b) {
                transfer_fail(t, ENOMEM, "out of memory");
                return 0;
        }
        memcpy(b + r->body_len, data, len);
        r->body = b;
        r->body_len += len;
        r->body[r->body_len] = '\0';
        return size * n;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *userdata) {
        Transfer *t = userdata;
        const HttpRequest *q = t->req;
        uint64_t total = q->body_fd >= 0 ? q->body_size : q->body_len;
        size_t want = size * n;
        if (t->body_off >= total)
                return 0;
        if (want > total - t->body_off)
                want = (size_t) (total - t->body_off);
        if (q->body_fd < 0) {
                memcpy(buf, (const char *) q->body + t->body_off, want);
                t->body_off += want;
                return want;
        }
        ssize_t r = pread(q->body_fd, buf, want, (off_t) t->body_off);
        if (r <= 0) {
                transfer_fail(t, r < 0 ? errno : EIO, "read upload body: %s", r < 0 ? strerror(errno) : "file shrank");
                return CURL_READFUNC_ABORT;
        }
        t->body_off += (uint64_t) r;
        return (size_t) r;
}

static int seek_cb(void *userdata, curl_off_t offset, int origin) {
        Transfer *t = userdata;
        if (origin != SEEK_SET || offset < 0)
                return CURL_SEEKFUNC_CANTSEEK;
        t->body_off = (uint64_t) offset;
        return CURL_SEEKFUNC_OK;
}

static void format_bytes(double v, char buf[static 16]) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        size_t u = 0;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, 16, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static double elapsed(const struct timespec *a, const struct timespec *b) {
        return (double) (b->tv_sec - a->tv_sec) + (double) (b->tv_nsec - a->tv_nsec) / 1e9;
}

static void progress_print(Transfer *t, curl_off_t now, curl_off_t total, bool final) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (!final && t->printed && elapsed(&t->last_print, &ts) < 0.2)
                return;
        double secs = elapsed(&t->start, &ts);
        char done[16], all[16], rate[16];
        format_bytes((double) now, done);
        format_bytes((double) total, all);
        format_bytes(secs > 0 ? (double) now / secs : 0, rate);
        fprintf(stderr, "\r%-20.20s %10s / %-10s %10s/s%s", t->req->progress_label, done, total > 0 ? all : "?", rate,
                final ? "\n" : "");
        t->last_print = ts;
        t->printed = true;
}

static int xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        Transfer *t = userdata;
        if (ulnow > 0 || ultotal > 0)
                progress_print(t, ulnow, ultotal, false);
        else if (dlnow > 0)
                progress_print(t, dlnow, dltotal, false);
        return 0;
}

static int build_headers(const HttpRequest *q, struct curl_slist **list) {
        const struct { const char *name, *value; } h[] = {
                { "Authorization", q->authorization },
                { "Accept", q->accept },
                { "Content-Type", q->content_type },
        };
        /* No 100-continue round trip: the registry answers an unwanted upload with an error anyway. */
        struct curl_slist *l = curl_slist_append(*list, "Expect:");
        if (!l)
                return -ENOMEM;
        *list = l;
        for (size_t i = 0; i < ELEMENTSOF(h); i++) {
                if (!h[i].value)
                        continue;
                if (strpbrk(h[i].value, "\r\n"))
                        return -EINVAL;
                _cleanup_free_ char *line = NULL;
                if (asprintf(&line, "%s: %s", h[i].name, h[i].value) < 0)
                        return -ENOMEM;
                if (!(l = curl_slist_append(*list, line)))
                        return -ENOMEM;
                *list = l;
        }
        return 0;
}

static void setup_method(CURL *h, const HttpRequest *q) {
        uint64_t size = q->body_fd >= 0 ? q->body_size : q->body_len;
        if (streq(q->method, "HEAD"))
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else if (streq(q->method, "POST")) {
                curl_easy_setopt(h, CURLOPT_POST, 1L);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
        } else if (streq(q->method, "PUT")) {
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) size);
        } else if (!streq(q->method, "GET"))
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
}

static void setup_handle(CURL *h, Transfer *t, struct curl_slist *headers, char *errbuf) {
        const HttpRequest *q = t->req;
        curl_easy_setopt(h, CURLOPT_URL, q->url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, q->follow_redirects ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 8L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
        /* a stalled server: less than 1 byte/s for two minutes */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "kapsel/" KAPSEL_VERSION);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, t);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, t);
        if (q->insecure) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (q->progress_label) {
                curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
                curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
        }
        setup_method(h, q);
}

static int curl_errno(CURLcode c) {
        static const struct { CURLcode code; int err; } map[] = {
                { CURLE_COULDNT_CONNECT, ECONNREFUSED },  { CURLE_COULDNT_RESOLVE_HOST, EHOSTUNREACH },
                { CURLE_OPERATION_TIMEDOUT, ETIMEDOUT },  { CURLE_PEER_FAILED_VERIFICATION, EPROTO },
                { CURLE_SSL_CONNECT_ERROR, EPROTO },      { CURLE_TOO_MANY_REDIRECTS, ELOOP },
                { CURLE_OUT_OF_MEMORY, ENOMEM },          { CURLE_URL_MALFORMAT, EINVAL },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (map[i].code == c)
                        return map[i].err;
        return EIO;
}

int http_request(const HttpRequest *q, HttpResponse *ret, KError **err) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, global_init);
        *ret = (HttpResponse) {};
        Transfer t = { .req = q, .resp = ret };
        _cleanup_(sha256_done) Sha256 hash = {};
        if (q->sink_fd >= 0) {
                if (sha256_init(&hash) < 0)
                        return kerr(err, -ENOMEM, "sha256 init");
                t.hash = &hash;
        }
        _cleanup_(curl_easy_cleanupp) CURL *h = curl_easy_init();
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        if (!h)
                return kerr(err, -ENOMEM, "%s %s: curl init", q->method, q->url);
        int r = build_headers(q, &headers);
        if (r < 0)
                return kerr(err, r, "%s %s: request headers", q->method, q->url);
        char errbuf[CURL_ERROR_SIZE] = "";
        setup_handle(h, &t, headers, errbuf);
        clock_gettime(CLOCK_MONOTONIC, &t.start);
        CURLcode c = curl_easy_perform(h);
        if (t.printed)
                progress_print(&t, (curl_off_t) (ret->sunk ? ret->sunk : q->body_size),
                               (curl_off_t) (ret->sunk ? ret->sunk : q->body_size), true);
        if (c != CURLE_OK || t.fail[0]) {
                int e = t.fail[0] ? t.fail_errno : curl_errno(c);
                http_response_done(ret);
                return kerr_msg(err, KERR_GENERIC, -e, "%s %s: %s", q->method, q->url,
                                t.fail[0] ? t.fail : errbuf[0] ? errbuf : curl_easy_strerror(c));
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
        if (t.hash && status_ok(ret->status))
                sha256_final(t.hash, ret->sink_digest);
        return 0;
}

int http_url_resolve(const char *base, const char *ref, const char *query, char **ret) {
        _cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
            (ref && curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK))
                return -EINVAL;
        if (query && curl_url_set(u, CURLUPART_QUERY, query, CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK)
                return -EINVAL;
        char *scheme = NULL, *out = NULL;
        if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
                return -EINVAL;
        bool web = streq(scheme, "http") || streq(scheme, "https");
        curl_free(scheme);
        if (!web)
                return -EPROTONOSUPPORT;
        if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
                return -EINVAL;
        *ret = strdup(out);
        curl_free(out);
        return *ret ? 0 : -ENOMEM;
}

int http_basic_auth(const char *user, const char *password, char **ret) {
        _cleanup_free_ char *plain = NULL;
        int n = asprintf(&plain, "%s:%s", user ? user : "", password ? password : "");
        if (n < 0) {
                plain = NULL;
                return -ENOMEM;
        }
        size_t enc_len = 4 * (((size_t) n + 2) / 3);
        _cleanup_free_ char *out = malloc(STRLEN("Basic ") + enc_len + 1);
        if (!out)
                return -ENOMEM;
        memcpy(out, "Basic ", STRLEN("Basic "));
        EVP_EncodeBlock((unsigned char *) out + STRLEN("Basic "), (const unsigned char *) plain, n);
        *ret = TAKE_PTR(out);
        return 0;
}
