/* SPDX-License-Identifier: Apache-2.0 */
/* COPY and ADD: sources from the context (minus .dockerignore), an earlier stage or an image
 * (--from), or URLs (ADD); docker's destination rules; --chown (names from the image's passwd and
 * group) and --chmod; ADD unpacks local tar archives. Sources are opened beneath their root
 * (RESOLVE_IN_ROOT), so neither "../" nor a symlink reaches outside the context; destinations
 * beneath the step's rootfs the same way. The cache key hashes the selected files' paths, types,
 * modes, owners and contents, never their mtimes. */
#include <archive.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "build-internal.h"
#include "digest.h"
#include "json-util.h"
#include "layer.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"
#include "user.h"

typedef struct Link {
        dev_t dev;
        ino_t ino;
        char *dest;             /* path beneath the rootfs of the first copy */
} Link;

struct CopyPlan {
        const DfInstr *in;
        char **srcs;            /* cleaned relative paths beneath src_root ("" = the root) */
        char *dest;             /* absolute, cleaned */
        bool dest_is_dir;       /* ended in '/' (or "."), or several sources */
        char *chown;            /* spec, resolved against the image being built */
        bool chmod_set;
        mode_t chmod;
        bool from_context;
        int src_root;           /* O_PATH fd of the context or of --from's rootfs */
        WorkDir from_w;         /* --from: the mounted source image */
        char *dl_dir;           /* ADD URLs: downloaded files (named by the URL's last element) */
        uid_t uid;
        gid_t gid;
        Link *links;
        size_t n_links;
};

void copy_plan_free(CopyPlan *p) {
        if (!p)
                return;
        strv_free(p->srcs);
        free(p->dest);
        free(p->chown);
        safe_close(p->src_root);
        if (p->from_w.dir) {
                workdir_close(NULL, &p->from_w);
                (void) rm_rf(p->from_w.dir);
                free(p->from_w.dir);
        }
        if (p->dl_dir) {
                (void) rm_rf(p->dl_dir);
                free(p->dl_dir);
        }
        for (size_t i = 0; i < p->n_links; i++)
                free(p->links[i].dest);
        free(p->links);
        free(p);
}

static bool endswith_slash(const char *s) {
        size_t l = strlen(s);
        return l > 0 && s[l - 1] == '/';
}

static bool has_glob(const char *s) {
        return strpbrk(s, "*?[") != NULL;
}

static bool excluded(const Builder *b, const CopyPlan *p, const char *rel) {
        return p->from_context && *rel && dockerignore_excluded(&b->ignore, rel);
}

/* Expand one glob source, element by element, beneath the source root. */
static int glob_source(Builder *b, CopyPlan *p, const char *pat, char ***out) {
        _cleanup_strv_free_ char **cur = NULL;
        if (strv_extend(&cur, "") < 0)
                return -ENOMEM;
        for (const char *s = pat; *s;) {
                size_t l = strcspn(s, "/");
                _cleanup_free_ char *elem = strndup(s, l);
                _cleanup_strv_free_ char **next = calloc(1, sizeof(char *));
                if (!elem || !next)
                        return -ENOMEM;
                for (char **c = cur; *c; c++) {
                        _cleanup_close_ int dfd = open_in_root(p->src_root, **c ? *c : ".", O_RDONLY | O_DIRECTORY, 0);
                        _cleanup_(closedirp) DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
                        if (d)
                                dfd = -1;
                        struct dirent *de;
                        while (d && (de = readdir(d))) {
                                if (streq(de->d_name, ".") || streq(de->d_name, "..") || glob_match(elem, de->d_name, false) <= 0)
                                        continue;
                                _cleanup_free_ char *path = NULL;
                                if (asprintf(&path, "%s%s%s", *c, **c ? "/" : "", de->d_name) < 0 || strv_extend(&next, path) < 0)
                                        return -ENOMEM;
                        }
                }
                strv_free(cur);
                cur = TAKE_PTR(next);
                s += l;
                while (*s == '/')
                        s++;
        }
        for (char **c = cur; *c; c++)
                if (!excluded(b, p, *c) && strv_extend(out, *c) < 0)
                        return -ENOMEM;
        return 0;
}

/* --- ADD URLs --- */

static size_t curl_write(char *data, size_t size, size_t n, void *ud) {
        return write(*(int *) ud, data, size * n) == (ssize_t) (size * n) ? size * n : 0;
}

static int download(Builder *b, CopyPlan *p, const char *url, char **ret_rel, KError **err) {
        if (!p->dl_dir) {
                WorkDir tmp = {};
                int r = workdir_open(b, NULL, &tmp, err);
                if (r < 0)
                        return r;
                workdir_close(b, &tmp);
                p->dl_dir = tmp.dir;
                safe_close(p->src_root);
                _cleanup_free_ char *dl = path_join(p->dl_dir, "dl");
                if (!dl || mkdir(dl, 0700) < 0 || (p->src_root = open(dl, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                        return kerr(err, -errno, "ADD %s: download directory", url);
        }
        const char *name = strrchr(url, '/');
        name = name && name[1] && !strchr(name, '?') ? name + 1 : "download";
        _cleanup_close_ int fd = openat(p->src_root, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return kerr(err, -errno, "ADD %s", url);
        CURL *c = curl_easy_init();
        if (!c)
                return kerr(err, -ENOMEM, "ADD %s", url);
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &fd);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        CURLcode cr = curl_easy_perform(c);
        curl_easy_cleanup(c);
        if (cr != CURLE_OK)
                return kerr_msg(err, KERR_GENERIC, -EIO, "ADD %s: download failed: %s", url, *errbuf ? errbuf : curl_easy_strerror(cr));
        return (*ret_rel = strdup(name)) ? 0 : kerr(err, -ENOMEM, "ADD");
}

/* --- nodes: (dirfd, name), or (fd, "") for a top-level source opened with symlinks followed --- */

static int node_stat(int dfd, const char *name, struct stat *st) {
        return (*name ? fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) : fstat(dfd, st)) < 0 ? -errno : 0;
}

static int node_open(int dfd, const char *name, int flags) {
        if (*name)
                return openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", dfd);
        return open(p, flags | O_CLOEXEC);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Entries of a directory in name order: the key and the copy must not depend on readdir order. */
static char **dir_names(int fd) {
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        char **names = calloc(1, sizeof(char *));
        struct dirent *de;
        if (!d) {
                safe_close(fd);
                free(names);
                return NULL;
        }
        while (names && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && strv_extend(&names, de->d_name) < 0) {
                        strv_free(names);
                        names = NULL;
                }
        if (names)
                qsort(names, strv_length(names), sizeof(char *), cmp_str);
        return names;
}

static char *sub_rel(const char *rel, const char *name) {
        char *s = NULL;
        return asprintf(&s, "%s%s%s", rel, *rel ? "/" : "", name) < 0 ? NULL : s;
}

static void hash_tree(Sha256 *h, int dfd, const char *name, const char *rel, const Builder *b, const CopyPlan *p, unsigned depth) {
        struct stat st;
        if (depth > 256 || node_stat(dfd, name, &st) < 0)
                return;
        if (depth > 0 && excluded(b, p, rel) && !(S_ISDIR(st.st_mode) && b->ignore.has_exceptions))
                return;
        char meta[PATH_MAX + 128];
        int n = snprintf(meta, sizeof(meta), "%s\n%o %u %u %lld\n", rel, st.st_mode, p->from_context ? 0 : st.st_uid,
                         p->from_context ? 0 : st.st_gid, (long long) (S_ISDIR(st.st_mode) ? 0 : st.st_size));
        sha256_update(h, meta, (size_t) n);
        if (S_ISLNK(st.st_mode)) {
                char t[PATH_MAX];
                ssize_t l = readlinkat(dfd, name, t, sizeof(t));
                if (l > 0)
                        sha256_update(h, t, (size_t) l);
        } else if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int fd = node_open(dfd, name, O_RDONLY);
                char buf[65536];
                ssize_t l;
                while (fd >= 0 && (l = read(fd, buf, sizeof(buf))) > 0)
                        sha256_update(h, buf, (size_t) l);
        } else if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int fd = node_open(dfd, name, O_RDONLY | O_DIRECTORY);
                _cleanup_strv_free_ char **names = fd >= 0 ? dir_names(fcntl(fd, F_DUPFD_CLOEXEC, 3)) : NULL;
                for (char **c = names; c && *c; c++) {
                        _cleanup_free_ char *sub = sub_rel(rel, *c);
                        if (sub)
                                hash_tree(h, fd, *c, sub, b, p, depth + 1);
                }
        }
}

/* --- the plan --- */

static int add_source(Builder *b, CopyPlan *p, const char *word, KError **err) {
        const DfInstr *in = p->in;
        bool url = startswith(word, "http://") || startswith(word, "https://");
        _cleanup_free_ char *rel = NULL;
        if (url) {
                if (in->kind != DF_ADD)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "source can't be a URL for COPY (%s): use ADD", word);
                int r = download(b, p, word, &rel, err);
                return r < 0 ? r : strv_extend(&p->srcs, rel) < 0 ? -ENOMEM : 0;
        }
        int r = layer_clean_path(word, &rel);
        if (r == -EXDEV && p->from_context)
                return kerr_msg(err, KERR_USAGE, -EPERM, "forbidden path outside the build context: %s", word);
        if (r < 0)
                return kerr(err, r, "source %s", word);
        if (has_glob(rel)) {
                size_t before = strv_length(p->srcs);
                if ((r = glob_source(b, p, rel, &p->srcs)) < 0)
                        return kerr(err, r, "source %s", word);
                return strv_length(p->srcs) > before ? 0 : kerr_msg(err, KERR_USAGE, -ENOENT, "no source files were specified (%s matches nothing)", word);
        }
        _cleanup_close_ int fd = open_in_root(p->src_root, *rel ? rel : ".", O_PATH, 0);
        if (fd < 0 || excluded(b, p, rel))
                return kerr_msg(err, KERR_USAGE, -ENOENT, "%s: file not found in %s", word,
                                p->from_context ? "the build context or excluded by .dockerignore" : "the --from image");
        return strv_extend(&p->srcs, rel) < 0 ? -ENOMEM : 0;
}

static int open_from(Builder *b, Stage *st, CopyPlan *p, const char *from, KError **err) {
        _cleanup_free_ char *v = NULL;
        int r = dockerfile_expand(from, b->plan.df->escape, build_lookup, st, &v, err);
        ssize_t stage;
        if (r >= 0)
                r = plan_resolve_from(&b->plan, st->idx, v, &stage, err);
        if (r < 0)
                return r;
        Image *img = NULL;
        r = stage >= 0 ? image_lookup(b->s, b->stage_ids[stage], &img, err) : engine_image_lookup(b->e, v, &img, err);
        if (r < 0)
                return kerr_prefix(err, r, "--from=%s", v);
        r = workdir_open(b, img, &p->from_w, err);
        image_free(img);
        if (r < 0)
                return r;
        _cleanup_free_ char *root = path_join(p->from_w.dir, "rootfs");
        p->src_root = root ? open(root, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        return p->src_root >= 0 ? 0 : kerr(err, -errno, "open %s", root ? root : "rootfs");
}

int copy_plan(Builder *b, Stage *st, const DfInstr *in, CopyPlan **ret, char ret_hash[static 72], char **ret_desc, KError **err) {
        CopyPlan *p = calloc(1, sizeof(CopyPlan));
        if (!p)
                return kerr(err, -ENOMEM, "COPY");
        p->in = in;
        p->src_root = -1;
        const char *from = in->kind == DF_COPY ? df_flag(in, "from", NULL) : NULL;
        const char *chown = df_flag(in, "chown", NULL), *chmod = df_flag(in, "chmod", NULL);
        _cleanup_strv_free_ char **words = NULL;
        int r = 0;
        p->from_context = !from;
        if (from)
                r = open_from(b, st, p, from, err);
        else if ((p->src_root = open(b->ctx, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                r = kerr(err, -errno, "open the build context %s", b->ctx);
        if (r >= 0 && chown && (r = dockerfile_expand(chown, b->plan.df->escape, build_lookup, st, &p->chown, err)) >= 0 && !*p->chown)
                p->chown = mfree(p->chown);
        if (r >= 0 && chmod) {
                char *end;
                unsigned long m = strtoul(chmod, &end, 8);
                if (*end || !*chmod || m > 07777)
                        r = kerr_msg(err, KERR_USAGE, -EINVAL, "--chmod=%s: expected an octal mode", chmod);
                p->chmod = (mode_t) m;
                p->chmod_set = true;
        }
        for (size_t k = 0; r >= 0 && k < in->n_args; k++) {
                char *v = NULL;
                if ((r = dockerfile_expand(in->args[k], b->plan.df->escape, build_lookup, st, &v, err)) >= 0 && strv_extend(&words, v) < 0)
                        r = -ENOMEM;
                free(v);
        }
        size_t n = strv_length(words);
        for (size_t k = 0; r >= 0 && k + 1 < n; k++)
                r = add_source(b, p, words[k], err);
        if (r >= 0 && n >= 2) {
                const char *d = words[n - 1];
                const char *wd = json_string_value(json_object_get(build_cc(st), "WorkingDir"));
                _cleanup_free_ char *joined = NULL;
                p->dest_is_dir = endswith_slash(d) || streq(d, ".") || strv_length(p->srcs) > 1;
                if (strv_length(p->srcs) > 1 && !endswith_slash(d))
                        r = kerr_msg(err, KERR_USAGE, -EINVAL, "with more than one source file, the destination must be a directory and end with a /");
                else if (asprintf(&joined, "%s/%s", d[0] == '/' ? "" : (wd ? wd : ""), d) < 0 || !(p->dest = dockerignore_clean(joined)))
                        r = -ENOMEM;
        }
        if (r >= 0) {
                Sha256 h;
                if (sha256_init(&h) < 0)
                        r = -ENOMEM;
                for (char **s = p->srcs; r >= 0 && *s; s++) {
                        _cleanup_close_ int fd = open_in_root(p->src_root, **s ? *s : ".", O_PATH, 0);
                        sha256_update(&h, *s, strlen(*s) + 1);
                        if (fd >= 0)
                                hash_tree(&h, fd, "", *s, b, p, 0);
                }
                if (r >= 0)
                        sha256_final(&h, ret_hash);
        }
        json_t *src = r >= 0 ? json_from_strv(words) : NULL;
        _cleanup_free_ char *args = src ? json_dumps(src, JSON_COMPACT) : NULL;
        json_decref(src);
        if (r >= 0 && (!args || asprintf(ret_desc, "/bin/sh -c #(nop) %s --from=%s --chown=%s --chmod=%s %s", df_kind_name(in->kind),
                                          from ? from : "", p->chown ? p->chown : "", chmod ? chmod : "", args) < 0))
                r = -ENOMEM;
        if (r < 0) {
                copy_plan_free(p);
                return r == -ENOMEM ? kerr(err, r, "%s", in->text) : kerr_prefix(err, r, "%s:%u: %s", b->plan.df->name, in->line, df_kind_name(in->kind));
        }
        *ret = p;
        return 0;
}

/* --- applying --- */

/* mkdir -p beneath the rootfs; directories it creates get the --chown owner. O_PATH fd. */
static int mkdir_dest(CopyPlan *p, int rootfd, const char *path) {
        int fd = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0);
        _cleanup_free_ char *prefix = strdup("");
        for (const char *s = path; fd >= 0 && prefix && *s;) {
                while (*s == '/')
                        s++;
                size_t l = strcspn(s, "/");
                if (!l)
                        break;
                char *np = NULL;
                if (asprintf(&np, "%s/%.*s", prefix, (int) l, s) < 0) {
                        safe_close(fd);
                        return -ENOMEM;
                }
                free(prefix);
                prefix = np;
                _cleanup_free_ char *elem = strndup(s, l);
                int nfd = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
                if (nfd == -ENOENT && elem && mkdirat(fd, elem, 0755) >= 0) {
                        if (p->chown)
                                (void) fchownat(fd, elem, p->uid, p->gid, AT_SYMLINK_NOFOLLOW);
                        nfd = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
                }
                safe_close(fd);
                fd = nfd;
                s += l;
        }
        return fd;
}

static void set_meta(CopyPlan *p, int dfd, const char *name, const struct stat *st) {
        uid_t uid = p->chown ? p->uid : p->from_context ? 0 : st->st_uid;
        gid_t gid = p->chown ? p->gid : p->from_context ? 0 : st->st_gid;
        (void) fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
        if (!S_ISLNK(st->st_mode))
                (void) fchmodat(dfd, name, p->chmod_set ? p->chmod : st->st_mode & 07777, 0);
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        (void) utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int copy_data(int in, int out) {
        for (;;) {
                ssize_t n = sendfile(out, in, NULL, 1 << 30);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : 0;
        }
}

static int copy_node(Builder *b, CopyPlan *p, int sdfd, const char *sname, const char *rel, int rootfd, int ddfd,
                     const char *dname, const char *dpath, unsigned depth);

/* An excluded directory is still copied when an exception ('!') keeps something beneath it. */
static bool keeps_some(Builder *b, CopyPlan *p, int dfd, const char *name, const char *rel, unsigned depth) {
        _cleanup_close_ int fd = node_open(dfd, name, O_RDONLY | O_DIRECTORY);
        _cleanup_strv_free_ char **names = fd >= 0 && depth < 64 ? dir_names(fcntl(fd, F_DUPFD_CLOEXEC, 3)) : NULL;
        for (char **c = names; c && *c; c++) {
                _cleanup_free_ char *sub = sub_rel(rel, *c);
                struct stat st;
                if (!sub || fstatat(fd, *c, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (!excluded(b, p, sub) || (S_ISDIR(st.st_mode) && keeps_some(b, p, fd, *c, sub, depth + 1)))
                        return true;
        }
        return false;
}

static int copy_children(Builder *b, CopyPlan *p, int sfd, const char *rel, int rootfd, int dfd, const char *dpath, unsigned depth) {
        _cleanup_strv_free_ char **names = dir_names(fcntl(sfd, F_DUPFD_CLOEXEC, 3));
        if (!names)
                return -errno ?: -ENOMEM;
        int r = 0;
        for (char **c = names; r >= 0 && *c; c++) {
                _cleanup_free_ char *sub = sub_rel(rel, *c), *dsub = NULL;
                if (!sub || asprintf(&dsub, "%s/%s", dpath, *c) < 0)
                        return -ENOMEM;
                r = copy_node(b, p, sfd, *c, sub, rootfd, dfd, *c, dsub, depth + 1);
        }
        return r;
}

/* One entry: a file (hardlinks kept within the step), a symlink, a directory (recursively). */
static int copy_node(Builder *b, CopyPlan *p, int sdfd, const char *sname, const char *rel, int rootfd, int ddfd,
                     const char *dname, const char *dpath, unsigned depth) {
        struct stat st, dst;
        int r = node_stat(sdfd, sname, &st);
        if (r < 0 || depth > 256)
                return r < 0 ? r : -ELOOP;
        if (depth > 0 && excluded(b, p, rel) && !(S_ISDIR(st.st_mode) && b->ignore.has_exceptions && keeps_some(b, p, sdfd, sname, rel, 0)))
                return 0;
        bool exists = fstatat(ddfd, dname, &dst, AT_SYMLINK_NOFOLLOW) == 0;
        if (exists && !(S_ISDIR(st.st_mode) && S_ISDIR(dst.st_mode)) &&
            unlinkat(ddfd, dname, S_ISDIR(dst.st_mode) ? AT_REMOVEDIR : 0) < 0 && rm_rf_at(ddfd, dname) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode)) {
                if ((!exists || !S_ISDIR(dst.st_mode)) && mkdirat(ddfd, dname, 0700) < 0)
                        return -errno;
                _cleanup_close_ int sfd = node_open(sdfd, sname, O_RDONLY | O_DIRECTORY);
                _cleanup_close_ int dfd = openat(ddfd, dname, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sfd < 0 || dfd < 0)
                        return -errno;
                r = copy_children(b, p, sfd, rel, rootfd, dfd, dpath, depth);
                if (r >= 0)
                        set_meta(p, ddfd, dname, &st);
                return r;
        }
        if (S_ISLNK(st.st_mode)) {
                char t[PATH_MAX];
                ssize_t l = readlinkat(sdfd, sname, t, sizeof(t) - 1);
                if (l < 0)
                        return -errno;
                t[l] = '\0';
                if (symlinkat(t, ddfd, dname) < 0)
                        return -errno;
                set_meta(p, ddfd, dname, &st);
                return 0;
        }
        if (S_ISREG(st.st_mode) && st.st_nlink > 1)
                for (size_t i = 0; i < p->n_links; i++)
                        if (p->links[i].dev == st.st_dev && p->links[i].ino == st.st_ino)
                                return linkat(rootfd, p->links[i].dest + strspn(p->links[i].dest, "/"), ddfd, dname, 0) < 0 ? -errno : 0;
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int in = node_open(sdfd, sname, O_RDONLY);
                _cleanup_close_ int out = openat(ddfd, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (in < 0 || out < 0 || (r = copy_data(in, out)) < 0)
                        return r < 0 ? r : -errno;
        } else if (S_ISFIFO(st.st_mode) || ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && !p->from_context)) {
                if (mknodat(ddfd, dname, st.st_mode, st.st_rdev) < 0)
                        return -errno;
        } else
                return 0;       /* sockets, and devices in a context: not copied */
        set_meta(p, ddfd, dname, &st);
        if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
                Link *v = realloc(p->links, (p->n_links + 1) * sizeof(Link));
                if (!v)
                        return -ENOMEM;
                p->links = v;
                v[p->n_links++] = (Link) { .dev = st.st_dev, .ino = st.st_ino, .dest = strdup(dpath) };
        }
        return 0;
}

/* ADD of a local archive: a regular file libarchive reads as a tar (compressed or not). */
static bool is_archive(int fd) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        bool yes = false;
        if (!a)
                return false;
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        _cleanup_close_ int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup >= 0 && archive_read_open_fd(a, dup, 65536) == ARCHIVE_OK)
                yes = archive_read_next_header(a, &e) == ARCHIVE_OK;
        archive_read_free(a);
        (void) lseek(fd, 0, SEEK_SET);
        return yes;
}

static const char *base_name(const char *rel) {
        const char *s = strrchr(rel, '/');
        return s ? s + 1 : rel;
}

static int copy_one(Builder *b, CopyPlan *p, const char *rel, int rootfd, KError **err) {
        _cleanup_close_ int sfd = open_in_root(p->src_root, *rel ? rel : ".", O_PATH, 0);
        struct stat st;
        if (sfd < 0 || fstat(sfd, &st) < 0)
                return kerr(err, sfd < 0 ? sfd : -errno, "%s", rel);
        if (p->in->kind == DF_ADD && S_ISREG(st.st_mode) && !p->dl_dir) {
                _cleanup_close_ int fd = node_open(sfd, "", O_RDONLY);
                if (fd >= 0 && is_archive(fd)) {
                        _cleanup_close_ int dfd = mkdir_dest(p, rootfd, p->dest);
                        LayerUnpackOptions uo = { .label = rel, .tee_fd = -1, .no_whiteouts = true };
                        LayerUnpackResult res;
                        if (dfd < 0)
                                return kerr(err, dfd, "ADD: create %s", p->dest);
                        _cleanup_close_ int wfd = node_open(dfd, "", O_RDONLY | O_DIRECTORY);
                        return wfd < 0 ? kerr(err, -errno, "open %s", p->dest) : layer_unpack(fd, wfd, &uo, &res, err);
                }
        }
        _cleanup_free_ char *dir = NULL, *name = NULL;
        struct stat dst;
        _cleanup_close_ int existing = open_in_root(rootfd, p->dest, O_PATH, 0);
        bool into = S_ISDIR(st.st_mode) || p->dest_is_dir || (existing >= 0 && fstat(existing, &dst) == 0 && S_ISDIR(dst.st_mode));
        if (S_ISDIR(st.st_mode))
                dir = strdup(p->dest);
        else if (into) {
                dir = strdup(p->dest);
                name = strdup(base_name(rel));
        } else {
                const char *slash = strrchr(p->dest, '/');
                dir = strndup(p->dest, slash ? (size_t) (slash - p->dest) : 0);
                name = strdup(slash ? slash + 1 : p->dest);
        }
        if (!dir || (!S_ISDIR(st.st_mode) && !name))
                return kerr(err, -ENOMEM, "COPY");
        _cleanup_close_ int dfd = mkdir_dest(p, rootfd, dir);
        if (dfd < 0)
                return kerr(err, dfd, "create %s in the image", dir);
        int r;
        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int rd = node_open(sfd, "", O_RDONLY | O_DIRECTORY);
                r = rd < 0 ? -errno : copy_children(b, p, rd, rel, rootfd, dfd, streq(dir, ".") ? "" : dir, 0);
        } else {
                _cleanup_free_ char *dpath = NULL;
                r = asprintf(&dpath, "%s/%s", streq(dir, ".") ? "" : dir, name) < 0 ? -ENOMEM
                                                                                      : copy_node(b, p, sfd, "", rel, rootfd, dfd, name, dpath, 0);
        }
        return r < 0 ? kerr(err, r, "copy %s to %s", *rel ? rel : ".", p->dest) : 0;
}

int copy_apply(Builder *b, Stage *st, CopyPlan *p, WorkDir *w, KError **err) {
        _cleanup_free_ char *root = path_join(w->dir, "rootfs");
        _cleanup_close_ int rootfd = root ? open(root, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (rootfd < 0)
                return kerr(err, -errno, "open %s", root ? root : "rootfs");
        if (p->chown) {
                UserIds u;
                int r = user_resolve(rootfd, p->chown, &u, err);
                if (r < 0)
                        return kerr_prefix(err, r, "%s:%u: --chown=%s", b->plan.df->name, p->in->line, p->chown);
                p->uid = u.uid;
                /* docker: a user without a group gets the same number as its gid */
                p->gid = strchr(p->chown, ':') ? u.gid : (gid_t) u.uid;
                user_ids_done(&u);
        }
        (void) st;
        for (char **s = p->srcs; *s; s++) {
                int r = copy_one(b, p, *s, rootfd, err);
                if (r < 0)
                        return kerr_prefix(err, r, "%s:%u: %s", b->plan.df->name, p->in->line, df_kind_name(p->in->kind));
        }
        return 0;
}
