/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd-util.h"
#include "path-util.h"
#include "string-util.h"
#include "user.h"

/* One colon-separated database (passwd or group) from the rootfs; missing file = empty. The image or
 * the container wrote it: a FIFO or device there must not block us (O_NONBLOCK, regular files
 * only), and it is read up to a bound. */
#define USER_DB_MAX (4 << 20)
static int read_db(int rootfd, const char *path, char **ret) {
        *ret = NULL;
        _cleanup_close_ int fd = open_in_root(rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
        if (fd < 0)
                return fd == -ENOENT ? 0 : fd;
        int r = fd_verify_regular(fd);
        return r < 0 ? r : read_full_fd(fd, USER_DB_MAX, ret, NULL);
}

static int db_error(KError **err, int r, const char *path) {
        if (r == -EINVAL || r == -EISDIR)
                return kerr_msg(err, KERR_CONFIG, r, "/%s in the container is not a regular file: fix the image "
                                "or the container, or give -u a numeric uid:gid", path);
        if (r == -EFBIG)
                return kerr_msg(err, KERR_CONFIG, r, "/%s in the container is larger than %d MiB: not read", path,
                                USER_DB_MAX >> 20);
        return kerr(err, r, "read /%s in the container", path);
}

/* Find the line whose field 0 (name) or field 2 (id) matches `key`; fills up to 4 fields. */
static bool db_find(char *text, const char *key, bool numeric, char *fields[4]) {
        for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line;
             line = strtok_r(NULL, "\n", &save)) {
                char *f[4] = { 0 };
                char *p = line;
                for (int i = 0; i < 4 && p; i++) {
                        f[i] = p;
                        p = strchr(p, ':');
                        if (p)
                                *p++ = 0;
                }
                if (f[2] && streq(numeric ? f[2] : f[0], key)) {
                        memcpy(fields, f, sizeof(f));
                        return true;
                }
        }
        return false;
}

static bool is_number(const char *s) {
        return *s && strspn(s, "0123456789") == strlen(s);
}

static int lookup_group(int rootfd, const char *group, gid_t *ret, KError **err) {
        if (is_number(group)) {
                *ret = (gid_t) strtoul(group, NULL, 10);
                return 0;
        }
        _cleanup_free_ char *text = NULL;
        char *f[4];
        int r = read_db(rootfd, "etc/group", &text);
        if (r < 0)
                return db_error(err, r, "etc/group");
        if (!db_find(text, group, false, f))
                return kerr_msg(err, KERR_USAGE, -ENOENT, "unable to find group %s: no matching entries in the "
                                "container's /etc/group", group);
        *ret = (gid_t) strtoul(f[2], NULL, 10);
        return 0;
}

/* Supplementary groups: every group listing the user by name. */
static int supplementary(int rootfd, const char *name, gid_t primary, UserIds *u) {
        _cleanup_free_ char *text = NULL;
        if (!name || read_db(rootfd, "etc/group", &text) < 0 || !text)
                return 0;
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[4] = { 0 }, *p = line;
                for (int i = 0; i < 4 && p; i++) {
                        f[i] = p;
                        p = strchr(p, ':');
                        if (p)
                                *p++ = 0;
                }
                if (!f[2] || !f[3])
                        continue;
                gid_t gid = (gid_t) strtoul(f[2], NULL, 10);
                for (char *s2 = NULL, *m = strtok_r(f[3], ",", &s2); m; m = strtok_r(NULL, ",", &s2))
                        if (streq(m, name) && gid != primary) {
                                gid_t *n = realloc(u->groups, (u->n_groups + 1) * sizeof(*n));
                                if (!n)
                                        return -ENOMEM;
                                u->groups = n;
                                u->groups[u->n_groups++] = gid;
                        }
        }
        return 0;
}

int user_resolve(int rootfd, const char *spec, UserIds *ret, KError **err) {
        UserIds u = { 0 };
        if (!spec || !*spec) {
                *ret = u;
                return 0;
        }
        _cleanup_free_ char *copy = strdup(spec);
        if (!copy)
                return -ENOMEM;
        char *group = strchr(copy, ':');
        if (group)
                *group++ = 0;
        _cleanup_free_ char *text = NULL;
        /* uid:gid, both numeric, needs no file of the container's */
        bool numeric = is_number(copy) && group && is_number(group);
        int r = numeric ? 0 : read_db(rootfd, "etc/passwd", &text);
        if (r < 0)
                return db_error(err, r, "etc/passwd");
        char *f[4];
        const char *name = NULL;
        bool found = db_find(text, copy, is_number(copy), f);
        if (found) {
                u.uid = (uid_t) strtoul(f[2], NULL, 10);
                u.gid = f[3] ? (gid_t) strtoul(f[3], NULL, 10) : 0;
                name = f[0];
        } else if (is_number(copy))
                u.uid = (uid_t) strtoul(copy, NULL, 10);   /* a uid without an entry is fine, gid 0 */
        else
                return kerr_msg(err, KERR_USAGE, -ENOENT,
                                "unable to find user %s: no matching entries in the container's /etc/passwd", copy);
        if (group && (r = lookup_group(rootfd, group, &u.gid, err)) < 0)
                return r;
        if (!group && supplementary(rootfd, name, u.gid, &u) < 0) {
                user_ids_done(&u);
                return kerr(err, -ENOMEM, "groups");
        }
        *ret = u;
        return 0;
}

void user_ids_done(UserIds *u) {
        free(u->groups);
        *u = (UserIds) { 0 };
}
