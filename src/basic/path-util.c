/* SPDX-License-Identifier: Apache-2.0 */
#include "path-util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "string-util.h"

char *path_join(const char *a, const char *b) {
        size_t la = strlen(a);
        while (la > 0 && a[la - 1] == '/')
                la--;
        while (*b == '/')
                b++;
        char *r = malloc(la + 1 + strlen(b) + 1);
        if (!r)
                return NULL;
        memcpy(r, a, la);
        r[la] = '/';
        strcpy(r + la + 1, b);
        return r;
}

int path_normalize(const char *p, bool forbid_dotdot, char **ret) {
        size_t n = strlen(p);
        _cleanup_free_ char *out = malloc(n + 2);
        if (!out)
                return -ENOMEM;
        char *o = out;
        bool abs = p[0] == '/';
        if (abs)
                *o++ = '/';
        const char *s = p;
        while (*s) {
                while (*s == '/')
                        s++;
                if (!*s)
                        break;
                const char *e = strchrnul(s, '/');
                size_t l = (size_t) (e - s);
                if (l == 1 && s[0] == '.') {
                        s = e;
                        continue;
                }
                if (forbid_dotdot && l == 2 && s[0] == '.' && s[1] == '.')
                        return -EINVAL;
                if (o > out && o[-1] != '/')
                        *o++ = '/';
                memcpy(o, s, l);
                o += l;
                s = e;
        }
        if (o == out)
                *o++ = abs ? '/' : '.';
        *o = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        /* s > p: a leading '/' names the root, which exists */
        for (char *s = p; *s; s++) {
                if (*s != '/' || s == p)
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return mkdir(p, mode) < 0 && errno != EEXIST ? -errno : 0;
}

int open_in_root(int rootfd, const char *path, int flags, mode_t mode) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode : 0,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        while (*path == '/')
                path++;
        if (!*path)
                path = ".";
        for (;;) {
                long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
                if (fd >= 0)
                        return (int) fd;
                if (errno != EAGAIN && errno != EINTR)
                        return -errno;
                /* EAGAIN: a concurrent rename raced the lookup; retry as the man page says. */
        }
}

int mkdir_p_in_root(int rootfd, const char *path, mode_t mode) {
        _cleanup_free_ char *norm = NULL;
        int r = path_normalize(path, false, &norm);
        if (r < 0)
                return r;
        _cleanup_close_ int cur = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0);
        if (cur < 0)
                return cur;
        /* Walk component by component: each step opens the next directory relative to the
         * last verified one, still confined by RESOLVE_IN_ROOT semantics of the whole path. */
        const char *s = norm;
        while (*s) {
                while (*s == '/')
                        s++;
                if (!*s)
                        break;
                const char *e = strchrnul(s, '/');
                _cleanup_free_ char *prefix = strndup(norm, (size_t) (e - norm));
                if (!prefix)
                        return -ENOMEM;
                _cleanup_free_ char *name = strndup(s, (size_t) (e - s));
                if (!name)
                        return -ENOMEM;
                int next = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
                if (next == -ENOENT) {
                        if (mkdirat(cur, name, mode) < 0 && errno != EEXIST)
                                return -errno;
                        next = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
                }
                if (next < 0)
                        return next;
                safe_close(cur);
                cur = next;
                s = e;
        }
        return TAKE_FD(cur);
}

int ensure_in_root(int rootfd, const char *path, bool dir, mode_t mode) {
        if (dir)
                return mkdir_p_in_root(rootfd, path, mode);

        int fd = open_in_root(rootfd, path, O_PATH, 0);
        if (fd == -ENOENT) {
                _cleanup_free_ char *norm = NULL;
                int r = path_normalize(path, false, &norm);
                if (r < 0)
                        return r;
                char *slash = strrchr(norm, '/');
                _cleanup_close_ int parent = -1;
                const char *name = norm;
                if (slash) {
                        *slash = '\0';
                        parent = mkdir_p_in_root(rootfd, *norm ? norm : "/", 0755);
                        if (parent < 0)
                                return parent;
                        name = slash + 1;
                }
                /* O_PATH parent: create through /proc/self/fd is not needed, mknodat accepts it. */
                if (mknodat(parent >= 0 ? parent : rootfd, name, S_IFREG | (mode & 07777), 0) < 0 &&
                    errno != EEXIST)
                        return -errno;
                fd = open_in_root(rootfd, path, O_PATH, 0);
        }
        if (fd < 0)
                return fd;
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        if (S_ISDIR(st.st_mode)) {
                safe_close(fd);
                return -EISDIR;
        }
        return fd;
}
