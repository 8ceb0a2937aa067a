/* SPDX-License-Identifier: Apache-2.0 */
/* What POST /build and POST /images/create?fromSrc=- parse from the client (pure, fuzzed in
 * tests/fuzz/fuzz-api.c): buildargs and labels (JSON objects in the query), the Dockerfile inside
 * the context tar, an import's `changes` (Dockerfile lines), and RUN output made JSON-safe. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "dockerfile.h"
#include "json-util.h"
#include "string-util.h"

#define DOCKERFILE_MAX (16u << 20)

int api_build_kv(const char *text, const char *what, char ***ret, KError **err) {
        *ret = NULL;
        if (!text || !*text)
                return 0;
        json_error_t je;
        _cleanup_json_ json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(j))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "build: %s must be a JSON object of strings: %s", what,
                                j ? "not an object" : je.text);
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        const char *k;
        json_t *val;
        if (!v)
                return -ENOMEM;
        json_object_foreach(j, k, val) {
                /* null: the client left the value unset; the daemon's own environment is never used */
                if (json_is_null(val))
                        continue;
                if (!json_is_string(val) || !*k || strchr(k, '='))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "build: %s: \"%s\" needs a name without '=' and a string value",
                                        what, k);
                _cleanup_free_ char *kv = NULL;
                if (asprintf(&kv, "%s=%s", k, json_string_value(val)) < 0 || strv_extend(&v, kv) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* "./a//b" -> "a/b"; NULL for a name that leaves the context (".." components). */
static char *clean_name(const char *p) {
        char *out = malloc(strlen(p) + 1), *o = out;
        if (!out)
                return NULL;
        while (*p) {
                size_t len = strcspn(p, "/");
                if ((len == 2 && p[0] == '.' && p[1] == '.')) {
                        free(out);
                        return NULL;
                }
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (o != out)
                                *o++ = '/';
                        memcpy(o, p, len);
                        o += len;
                }
                p += len;
                p += strspn(p, "/");
        }
        *o = 0;
        return out;
}

static void archive_freep(struct archive **a) {
        if (*a)
                archive_read_free(*a);
}

static int read_entry(struct archive *a, struct archive_entry *ent, const char *name, char **ret, size_t *ret_len,
                      KError **err) {
        if (archive_entry_filetype(ent) != AE_IFREG)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "build: the Dockerfile %s in the context is not a regular file", name);
        int64_t size = archive_entry_size(ent);
        if (size < 0 || (uint64_t) size > DOCKERFILE_MAX)
                return kerr_msg(err, KERR_USAGE, -EFBIG, "build: the Dockerfile %s is larger than 16 MiB", name);
        _cleanup_free_ char *buf = malloc((size_t) size + 1);
        size_t n = 0;
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) size) {
                la_ssize_t l = archive_read_data(a, buf + n, (size_t) size - n);
                if (l < 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "build: read the Dockerfile %s from the context: %s", name,
                                        archive_error_string(a) ?: "damaged archive");
                if (l == 0)
                        break;
                n += (size_t) l;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

int api_build_dockerfile(int fd, const char *name, char **ret, size_t *ret_len, KError **err) {
        const char *want_raw = name && *name ? name : "Dockerfile";
        _cleanup_free_ char *want = clean_name(want_raw);
        if (!want || !*want)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "build: dockerfile=%s: expected a path inside the build context", want_raw);
        if (lseek(fd, 0, SEEK_SET) < 0)
                return kerr(err, -errno, "build: rewind the context");
        _cleanup_(archive_freep) struct archive *a = archive_read_new();
        if (!a)
                return -ENOMEM;
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_bzip2(a);
        archive_read_support_filter_xz(a);
        archive_read_support_filter_zstd(a);
        archive_read_support_format_tar(a);
        if (archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "build: the context is not a tar archive: %s",
                                archive_error_string(a) ?: "unknown format");
        /* docker's default name, then ours (Containerfile) when the client named none */
        bool fallback = !name || !*name;
        _cleanup_free_ char *alt = NULL;
        size_t alt_len = 0;
        struct archive_entry *ent;
        int r;
        while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
                _cleanup_free_ char *n = clean_name(archive_entry_pathname(ent) ?: "");
                if (!n)
                        continue;
                if (streq(n, want)) {
                        return read_entry(a, ent, want, ret, ret_len, err);
                }
                if (fallback && !alt && streq(n, "Containerfile") && (r = read_entry(a, ent, n, &alt, &alt_len, err)) < 0)
                        return r;
        }
        if (r != ARCHIVE_EOF)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "build: the context archive is damaged: %s",
                                archive_error_string(a) ?: "read error");
        if (alt) {
                *ret = TAKE_PTR(alt);
                *ret_len = alt_len;
                return 0;
        }
        return kerr_msg(err, KERR_USAGE, -ENOENT, "Cannot locate specified Dockerfile: %s (not in the build context)",
                        want_raw);
}

/* --- docker import's changes --- */

static const char *no_lookup(void *ud, const char *name) {
        (void) ud, (void) name;
        return NULL;
}

static int set_str(char **field, const DfInstr *in, KError **err) {
        char *v = NULL;
        int r = dockerfile_expand(in->args[0], '\\', no_lookup, NULL, &v, err);
        if (r < 0)
                return r;
        free(*field);
        *field = v;
        return 0;
}

/* CMD/ENTRYPOINT: exec form as given, shell form under /bin/sh -c. */
static int set_argv(char ***field, const DfInstr *in) {
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        if (!in->json && (strv_extend(&v, "/bin/sh") < 0 || strv_extend(&v, "-c") < 0))
                return -ENOMEM;
        for (size_t i = 0; i < in->n_args; i++)
                if (strv_extend(&v, in->args[i]) < 0)
                        return -ENOMEM;
        strv_free(*field);
        *field = TAKE_PTR(v);
        return 0;
}

static int add_words(char ***field, const DfInstr *in, bool ports, KError **err) {
        for (size_t i = 0; i < in->n_args; i++) {
                _cleanup_strv_free_ char **words = NULL;
                int r = in->json ? strv_extend(&words, in->args[i])
                                 : dockerfile_expand_words(in->args[i], '\\', no_lookup, NULL, &words, err);
                if (r < 0)
                        return r;
                for (char **w = words; w && *w; w++) {
                        _cleanup_free_ char *p = NULL;
                        if (ports && !strchr(*w, '/') && asprintf(&p, "%s/tcp", *w) < 0)
                                return -ENOMEM;
                        if (!strv_contains(*field, p ?: *w) && strv_extend(field, p ?: *w) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

static int set_env(char ***field, const DfInstr *in, KError **err) {
        for (size_t i = 0; i + 1 < in->n_args; i += 2) {
                _cleanup_free_ char *val = NULL, *kv = NULL;
                int r = dockerfile_expand(in->args[i + 1], '\\', no_lookup, NULL, &val, err);
                if (r < 0)
                        return r;
                if (asprintf(&kv, "%s=%s", in->args[i], val) < 0)
                        return -ENOMEM;
                size_t klen = strlen(in->args[i]) + 1;
                bool replaced = false;
                for (char **e = *field; e && *e && !replaced; e++)
                        if (strncmp(*e, kv, klen) == 0) {
                                free(*e);
                                *e = TAKE_PTR(kv);
                                replaced = true;
                        }
                if (!replaced && strv_extend(field, kv) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int api_import_changes(char *const *changes, ImageConfig *cfg, KError **err) {
        for (size_t i = 0; changes && changes[i]; i++) {
                if (!*changes[i])
                        continue;
                DfInstr in = { 0 };
                int r = dockerfile_parse_line(changes[i], '\\', "changes", (unsigned) i + 1, &in, err);
                if (r < 0)
                        return r;
                switch (in.kind) {
                case DF_CMD: r = set_argv(&cfg->cmd, &in); break;
                case DF_ENTRYPOINT: r = set_argv(&cfg->entrypoint, &in); break;
                case DF_ENV: r = set_env(&cfg->env, &in, err); break;
                case DF_EXPOSE: r = add_words(&cfg->exposed_ports, &in, true, err); break;
                case DF_VOLUME: r = add_words(&cfg->volumes, &in, false, err); break;
                case DF_USER: r = in.n_args ? set_str(&cfg->user, &in, err) : -EINVAL; break;
                case DF_WORKDIR: r = in.n_args ? set_str(&cfg->working_dir, &in, err) : -EINVAL; break;
                case DF_STOPSIGNAL: r = in.n_args ? set_str(&cfg->stop_signal, &in, err) : -EINVAL; break;
                default:
                        r = kerr_msg(err, KERR_USAGE, -EINVAL,
                                     "import: change \"%s\": only CMD, ENTRYPOINT, ENV, EXPOSE, USER, VOLUME, WORKDIR and "
                                     "STOPSIGNAL apply to an import", changes[i]);
                }
                df_instr_done(&in);
                if (r == -EINVAL && !(err && *err))
                        r = kerr_msg(err, KERR_USAGE, -EINVAL, "import: change \"%s\": an argument is missing", changes[i]);
                if (r < 0)
                        return r == -ENOMEM ? kerr(err, r, "import changes") : r;
        }
        return 0;
}

/* --- RUN output as JSON strings --- */

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid, -1 when cut off by the end. */
static int utf8_seq(const unsigned char *p, size_t n) {
        unsigned char c = p[0];
        if (c < 0x80)
                return 1;
        int len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len)
                return 0;
        for (int i = 1; i < len; i++) {
                if ((size_t) i >= n)
                        return -1;
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        }
        /* overlong, surrogates, beyond U+10FFFF */
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
            (c == 0xf4 && p[1] > 0x8f))
                return 0;
        return len;
}

size_t api_utf8_clean(const char *in, size_t n, char *out, bool final) {
        const unsigned char *p = (const unsigned char *) in;
        size_t i = 0, o = 0;
        while (i < n) {
                int l = utf8_seq(p + i, n - i);
                if (l < 0 && !final)
                        break;  /* the rest comes with the next chunk */
                if (l <= 0 || (l == 1 && p[i] == 0)) {
                        out[o++] = '?';
                        i++;
                        continue;
                }
                memcpy(out + o, p + i, (size_t) l);
                o += (size_t) l;
                i += (size_t) l;
        }
        out[o] = 0;
        return i;
}
