/* SPDX-License-Identifier: Apache-2.0 */
/* A build step's changes as an OCI layer tar, written inside the guest (guest-tar.h). ustar header
 * layout: POSIX.1-2008 pax, "ustar Interchange Format"; extended header records "%d key=value\n"
 * where the length counts the whole record, its own digits included. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "fd-util.h"
#include "guest-tar.h"
#include "string-util.h"

#define BLOCK 512
#define OUTBUF (64 * 1024)
#define PATH_MAX_LEN 4096
#define OCTAL7_MAX 07777777ULL          /* 8-byte fields: 7 digits and a NUL */
#define OCTAL11_MAX 077777777777ULL     /* 12-byte fields: 11 digits and a NUL */
#define XATTR_LIST_MAX_ 65536
#define XATTR_SIZE_MAX_ 65536

typedef struct Link {
        dev_t dev;
        ino_t ino;
        char *path;
} Link;

typedef struct Tar {
        int fd;
        const char *prefix;     /* overlay xattrs */
        char *buf;
        size_t used;
        Link *links;
        size_t n_links, cap_links;
        char *pax;              /* the extended header being built */
        size_t pax_len, pax_cap;
        GuestTarResult *res;
} Tar;

static int flush(Tar *t) {
        if (t->used && write_all(t->fd, t->buf, t->used) < 0)
                return -errno;
        t->used = 0;
        return 0;
}

static int out(Tar *t, const void *data, size_t len) {
        const char *p = data;
        while (len) {
                size_t n = OUTBUF - t->used < len ? OUTBUF - t->used : len;
                memcpy(t->buf + t->used, p, n);
                t->used += n;
                t->res->size += n;
                p += n;
                len -= n;
                if (t->used == OUTBUF) {
                        int r = flush(t);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int pad(Tar *t, uint64_t len) {
        static const char zero[BLOCK];
        size_t rest = (size_t) (len % BLOCK);
        return rest ? out(t, zero, BLOCK - rest) : 0;
}

static void octal(char *field, size_t size, uint64_t v) {
        /* size-1 digits, zero-filled, and a NUL */
        snprintf(field, size, "%0*llo", (int) size - 1, (unsigned long long) v);
}

/* One "%d key=value\n" record; value may hold any bytes. */
static int pax_add(Tar *t, const char *key, const void *value, size_t vlen) {
        size_t body = 1 + strlen(key) + 1 + vlen + 1;   /* " key=value\n" */
        size_t len = body + 1;
        for (char digits[24]; (size_t) snprintf(digits, sizeof(digits), "%zu", len) + body != len;)
                len = (size_t) snprintf(digits, sizeof(digits), "%zu", len) + body;
        if (t->pax_len + len > t->pax_cap) {
                size_t cap = (t->pax_len + len) * 2;
                char *p = realloc(t->pax, cap);
                if (!p)
                        return -ENOMEM;
                t->pax = p;
                t->pax_cap = cap;
        }
        char *p = t->pax + t->pax_len;
        int n = sprintf(p, "%zu %s=", len, key);
        memcpy(p + n, value, vlen);
        p[n + vlen] = '\n';
        t->pax_len += len;
        return 0;
}

static int pax_num(Tar *t, const char *key, uint64_t v) {
        char s[24];
        int n = snprintf(s, sizeof(s), "%llu", (unsigned long long) v);
        return pax_add(t, key, s, (size_t) n);
}

typedef struct Entry {
        const char *name;       /* as written ("dir/" for directories) */
        char type;
        const struct stat *st;  /* NULL: a whiteout or opaque marker (root, 0644) */
        const char *link;       /* symlink target or hardlink name */
        uint64_t size;
} Entry;

static void header(char h[static BLOCK], const Entry *e) {
        memset(h, 0, BLOCK);
        memcpy(h, e->name, strnlen(e->name, 100));
        uint64_t uid = e->st ? e->st->st_uid : 0, gid = e->st ? e->st->st_gid : 0;
        octal(h + 100, 8, e->st ? e->st->st_mode & 07777 : 0644);
        octal(h + 108, 8, uid > OCTAL7_MAX ? 0 : uid);
        octal(h + 116, 8, gid > OCTAL7_MAX ? 0 : gid);
        octal(h + 124, 12, e->size > OCTAL11_MAX ? 0 : e->size);
        int64_t mtime = e->st ? (int64_t) e->st->st_mtim.tv_sec : 0;
        octal(h + 136, 12, mtime < 0 ? 0 : (uint64_t) mtime > OCTAL11_MAX ? OCTAL11_MAX : (uint64_t) mtime);
        h[156] = e->type;
        if (e->link)
                memcpy(h + 157, e->link, strnlen(e->link, 100));
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        if (e->st && (e->type == '3' || e->type == '4')) {
                octal(h + 329, 8, major(e->st->st_rdev) & OCTAL7_MAX);
                octal(h + 337, 8, minor(e->st->st_rdev) & OCTAL7_MAX);
        }
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (size_t i = 0; i < BLOCK; i++)
                sum += (unsigned char) h[i];
        snprintf(h + 148, 8, "%06o", sum);      /* six digits, NUL, and the space already there */
}

/* The PAX records an entry needs besides its xattrs (already in t->pax). */
static int pax_fields(Tar *t, const Entry *e) {
        int r = 0;
        if (strlen(e->name) > 100)
                r = pax_add(t, "path", e->name, strlen(e->name));
        if (r >= 0 && e->link && strlen(e->link) > 100)
                r = pax_add(t, "linkpath", e->link, strlen(e->link));
        if (r >= 0 && e->st && e->st->st_uid > OCTAL7_MAX)
                r = pax_num(t, "uid", e->st->st_uid);
        if (r >= 0 && e->st && e->st->st_gid > OCTAL7_MAX)
                r = pax_num(t, "gid", e->st->st_gid);
        if (r >= 0 && e->size > OCTAL11_MAX)
                r = pax_num(t, "size", e->size);
        return r;
}

/* [PAX header] ustar header; the caller writes the data. */
static int emit(Tar *t, const Entry *e) {
        char h[BLOCK];
        int r = pax_fields(t, e);
        if (r < 0)
                return r;
        if (t->pax_len) {
                Entry x = { .name = "PaxHeader", .type = 'x', .size = t->pax_len };
                header(h, &x);
                if ((r = out(t, h, BLOCK)) < 0 || (r = out(t, t->pax, t->pax_len)) < 0 || (r = pad(t, t->pax_len)) < 0)
                        return r;
                t->pax_len = 0;
        }
        header(h, e);
        t->res->entries++;
        return out(t, h, BLOCK);
}

/* The xattrs of `name` in `dirfd` into t->pax, except the overlay's; *opaque and *xwhiteout
 * from those. */
static int xattrs(Tar *t, int dirfd, const char *name, bool *opaque, bool *xwhiteout) {
        char path[FD_PATH_MAX + NAME_MAX + 2];
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
        *opaque = *xwhiteout = false;
        _cleanup_free_ char *list = malloc(XATTR_LIST_MAX_), *val = malloc(XATTR_SIZE_MAX_);
        if (!list || !val)
                return -ENOMEM;
        ssize_t n = llistxattr(path, list, XATTR_LIST_MAX_);
        if (n < 0)
                return errno == ENOTSUP || errno == EOPNOTSUPP ? 0 : -errno;
        for (char *k = list; k < list + n; k += strlen(k) + 1) {
                ssize_t v = lgetxattr(path, k, val, XATTR_SIZE_MAX_);
                if (v < 0) {
                        if (errno == ENODATA)
                                continue;       /* removed meanwhile */
                        return -errno;
                }
                const char *ov = startswith(k, t->prefix);
                if (ov) {
                        if (streq(ov, "opaque") && v == 1 && val[0] == 'y')
                                *opaque = true;
                        else if (streq(ov, "whiteout"))
                                *xwhiteout = true;
                        continue;
                }
                char key[sizeof("SCHILY.xattr.") + XATTR_NAME_MAX];
                snprintf(key, sizeof(key), "SCHILY.xattr.%s", k);
                int r = pax_add(t, key, val, (size_t) v);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int file_data(Tar *t, int dirfd, const char *name, uint64_t size) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        char buf[16384];
        uint64_t left = size;
        while (left) {
                ssize_t n = read(fd, buf, left < sizeof(buf) ? (size_t) left : sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;    /* shorter than its size said: changed while read */
                int r = out(t, buf, (size_t) n);
                if (r < 0)
                        return r;
                left -= (uint64_t) n;
        }
        return pad(t, size);
}

/* The first path written for a multiply linked inode, or NULL (then this one is recorded). */
static int hardlink(Tar *t, const struct stat *st, const char *path, const char **ret) {
        *ret = NULL;
        for (size_t i = 0; i < t->n_links; i++)
                if (t->links[i].dev == st->st_dev && t->links[i].ino == st->st_ino) {
                        *ret = t->links[i].path;
                        return 0;
                }
        if (t->n_links == t->cap_links) {
                size_t cap = t->cap_links ? t->cap_links * 2 : 64;
                Link *l = realloc(t->links, cap * sizeof(Link));
                if (!l)
                        return -ENOMEM;
                t->links = l;
                t->cap_links = cap;
        }
        char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        t->links[t->n_links++] = (Link) { st->st_dev, st->st_ino, p };
        return 0;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void names_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* The names in dirfd, sorted. */
static int list_dir(int dirfd, char ***ret, size_t *ret_n) {
        int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
        if (!d) {
                safe_close(dfd);
                return -errno;
        }
        char **v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        int r = 0;
        errno = 0;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (n == cap) {
                        char **nv = realloc(v, (cap = cap ? cap * 2 : 32) * sizeof(char *));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                }
                if (!(v[n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        if (r >= 0 && errno)
                r = -errno;
        closedir(d);
        if (r < 0) {
                names_free(v, n);
                return r;
        }
        if (n)
                qsort(v, n, sizeof(char *), cmp_names);
        *ret = v;
        *ret_n = n;
        return 0;
}

static int walk(Tar *t, int dirfd, char *path, size_t len);

/* One entry `name` of the directory dirfd, whose path in the tar is path[0..len) ("" or "dir/"). */
static int one(Tar *t, int dirfd, char *path, size_t len, const char *name) {
        size_t nlen = strlen(name);
        if (len + nlen + sizeof(".wh..wh..opq") + 2 > PATH_MAX_LEN)
                return -ENAMETOOLONG;
        memcpy(path + len, name, nlen + 1);
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (S_ISSOCK(st.st_mode))
                return 0;
        bool opaque, xwhiteout;
        int r = xattrs(t, dirfd, name, &opaque, &xwhiteout);
        if (r < 0)
                return r;
        if ((S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) || (xwhiteout && S_ISREG(st.st_mode) && !st.st_size)) {
                /* a whiteout: ".wh.NAME" (its own xattrs mean nothing) */
                t->pax_len = 0;
                memmove(path + len + 4, path + len, nlen + 1);
                memcpy(path + len, ".wh.", 4);
                return emit(t, &(Entry) { .name = path, .type = '0' });
        }
        if (S_ISDIR(st.st_mode)) {
                path[len + nlen] = '/';
                path[len + nlen + 1] = 0;
                if ((r = emit(t, &(Entry) { .name = path, .type = '5', .st = &st })) < 0)
                        return r;
                if (opaque) {
                        memcpy(path + len + nlen + 1, ".wh..wh..opq", sizeof(".wh..wh..opq"));
                        if ((r = emit(t, &(Entry) { .name = path, .type = '0' })) < 0)
                                return r;
                        path[len + nlen + 1] = 0;
                }
                _cleanup_close_ int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return -errno;
                return walk(t, sub, path, len + nlen + 1);
        }
        const char *first = NULL;
        if (st.st_nlink > 1 && (r = hardlink(t, &st, path, &first)) < 0)
                return r;
        if (first) {
                t->pax_len = 0;         /* the first name carried the inode's xattrs */
                return emit(t, &(Entry) { .name = path, .type = '1', .st = &st, .link = first });
        }
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX_LEN];
                ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
                if (n < 0)
                        return -errno;
                target[n] = 0;
                return emit(t, &(Entry) { .name = path, .type = '2', .st = &st, .link = target });
        }
        if (S_ISREG(st.st_mode)) {
                if ((r = emit(t, &(Entry) { .name = path, .type = '0', .st = &st, .size = (uint64_t) st.st_size })) < 0)
                        return r;
                return file_data(t, dirfd, name, (uint64_t) st.st_size);
        }
        char type = S_ISCHR(st.st_mode) ? '3' : S_ISBLK(st.st_mode) ? '4' : S_ISFIFO(st.st_mode) ? '6' : 0;
        if (!type)
                return -EBADF;
        return emit(t, &(Entry) { .name = path, .type = type, .st = &st });
}

static int walk(Tar *t, int dirfd, char *path, size_t len) {
        char **names = NULL;
        size_t n = 0;
        int r = list_dir(dirfd, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = one(t, dirfd, path, len, names[i]);
        names_free(names, n);
        if (r >= 0)
                path[len] = 0;
        return r;
}

int guest_tar_write_tree(int dirfd, int fd, const char *overlay_prefix, GuestTarResult *ret) {
        *ret = (GuestTarResult) { 0 };
        Tar t = { .fd = fd, .prefix = overlay_prefix, .res = ret };
        _cleanup_free_ char *path = calloc(1, PATH_MAX_LEN);
        t.buf = malloc(OUTBUF);
        int r = path && t.buf ? walk(&t, dirfd, path, 0) : -ENOMEM;
        if (r < 0 && path)
                snprintf(ret->where, sizeof(ret->where), "%s", path);
        if (r >= 0) {
                static const char end[2 * BLOCK];
                r = out(&t, end, sizeof(end));
        }
        if (r >= 0)
                r = flush(&t);
        free(t.buf);
        free(t.pax);
        for (size_t i = 0; i < t.n_links; i++)
                free(t.links[i].path);
        free(t.links);
        return r;
}
