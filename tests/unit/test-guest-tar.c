/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the guest's writer of a build step's changes (src/helpers/guest-tar.c): an overlay
 * upper dir written as a layer tar and read back with libarchive, as the host's layer code reads
 * it; and the host's check of the changes disk's header (vm_guest_changes_header). No root needed:
 * as an unprivileged user the whiteout is overlayfs' "xwhiteout" (an empty file with
 * user.overlay.whiteout) under the user.overlay. prefix; as root a char device 0:0 under trusted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "guest-tar.h"
#include "rm-rf.h"
#include "string-util.h"
#include "vm-guest.h"

#define LONG_DIR "a-directory-whose-name-is-long-enough-that-with-its-file-the-path-needs-more-than-ustar"
#define XATTR_VALUE "v\0\x01\xff"       /* binary: SCHILY.xattr values are raw bytes */

typedef struct Got {
        char *path;
        mode_t type, perm;
        int64_t uid, gid, size, mtime;
        char *link;             /* symlink target */
        char *hardlink;
        char *data;
        bool has_xattr, overlay_xattr;
        size_t xattr_len;
        char xattr[16];
        unsigned index;
} Got;

typedef struct Tree {
        char dir[64], tar[80];
        const char *prefix;
        bool root;
        Got got[32];
        size_t n;
} Tree;

static void put(int dfd, const char *name, const char *data, mode_t mode) {
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, data, strlen(data)), 0);
        close(fd);
        assert_int_equal(fchmodat(dfd, name, mode, 0), 0);     /* past the umask: setuid too */
}

static void setx(const char *dir, const char *name, const char *key, const void *v, size_t len) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        assert_int_equal(lsetxattr(p, key, v, len, 0), 0);
}

/* The tree of a RUN step that deleted /gone, replaced /opq, added files of every kind. */
static void make_tree(Tree *t) {
        char key[64];
        t->root = geteuid() == 0;
        t->prefix = t->root ? GUEST_TAR_OVERLAY_PREFIX : "user.overlay.";
        snprintf(t->dir, sizeof(t->dir), "/tmp/test-guest-tar-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        /* (not snprintf "%s.tar": GCC's sanitizer build sees a NULL path through cmocka's assert) */
        size_t n = strlen(t->dir);
        assert_true(n + sizeof(".tar") <= sizeof(t->tar));
        memcpy(t->tar, t->dir, n);
        memcpy(t->tar + n, ".tar", sizeof(".tar"));
        int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(mkdirat(dfd, "dir", 0750), 0);
        put(dfd, "dir/a", "hello", 0640);
        setx(t->dir, "dir/a", "user.kapsel", XATTR_VALUE, sizeof(XATTR_VALUE) - 1);
        struct timespec ts[2] = { { .tv_sec = 1234567890 }, { .tv_sec = 1234567890 } };
        assert_int_equal(utimensat(dfd, "dir/a", ts, 0), 0);
        assert_int_equal(linkat(dfd, "dir/a", dfd, "hard", 0), 0);
        assert_int_equal(symlinkat("dir/a", dfd, "link"), 0);
        put(dfd, "suid", "#!/bin/sh\n", 04755);
        assert_int_equal(mkfifoat(dfd, "fifo", 0600), 0);
        /* a whiteout: /gone deleted */
        if (t->root)
                assert_int_equal(mknodat(dfd, "gone", S_IFCHR | 0, makedev(0, 0)), 0);
        else {
                put(dfd, "gone", "", 0644);
                snprintf(key, sizeof(key), "%swhiteout", t->prefix);
                setx(t->dir, "gone", key, "", 0);
        }
        /* an opaque directory: /opq replaced as a whole */
        assert_int_equal(mkdirat(dfd, "opq", 0755), 0);
        snprintf(key, sizeof(key), "%sopaque", t->prefix);
        setx(t->dir, "opq", key, "y", 1);
        put(dfd, "opq/keep", "kept", 0644);
        assert_int_equal(mkdirat(dfd, LONG_DIR, 0755), 0);
        put(dfd, LONG_DIR "/" LONG_DIR, "long", 0600);
        close(dfd);
}

static void read_tar(Tree *t) {
        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        assert_int_equal(archive_read_open_filename(a, t->tar, 10240), ARCHIVE_OK);
        struct archive_entry *e;
        int r;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                assert_true(t->n < ELEMENTSOF(t->got));
                Got *g = &t->got[t->n];
                *g = (Got) { .path = strdup(archive_entry_pathname(e)), .type = archive_entry_filetype(e),
                             .perm = archive_entry_perm(e) | (archive_entry_mode(e) & 07000), .uid = archive_entry_uid(e),
                             .gid = archive_entry_gid(e), .size = archive_entry_size(e), .mtime = archive_entry_mtime(e),
                             .index = (unsigned) t->n };
                if (archive_entry_symlink(e))
                        g->link = strdup(archive_entry_symlink(e));
                if (archive_entry_hardlink(e))
                        g->hardlink = strdup(archive_entry_hardlink(e));
                const char *name;
                const void *v;
                size_t len;
                archive_entry_xattr_reset(e);
                while (archive_entry_xattr_next(e, &name, &v, &len) == ARCHIVE_OK) {
                        if (strstr(name, "overlay"))
                                g->overlay_xattr = true;
                        if (streq(name, "user.kapsel") && len <= sizeof(g->xattr)) {
                                g->has_xattr = true;
                                g->xattr_len = len;
                                memcpy(g->xattr, v, len);
                        }
                }
                if (g->size > 0 && !g->hardlink) {
                        g->data = calloc(1, (size_t) g->size + 1);
                        assert_int_equal(archive_read_data(a, g->data, (size_t) g->size), g->size);
                }
                t->n++;
        }
        assert_int_equal(r, ARCHIVE_EOF);
        archive_read_free(a);
}

static const Got *find(const Tree *t, const char *path) {
        for (size_t i = 0; i < t->n; i++)
                if (streq(t->got[i].path, path))
                        return &t->got[i];
        return NULL;
}

static int setup(void **state) {
        Tree *t = calloc(1, sizeof(Tree));
        make_tree(t);
        int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = open(t->tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(dfd >= 0 && fd >= 0);
        GuestTarResult res;
        assert_int_equal(guest_tar_write_tree(dfd, fd, t->prefix, &res), 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(res.size, st.st_size);
        assert_int_equal(res.size % 512, 0);
        close(fd);
        close(dfd);
        read_tar(t);
        assert_int_equal(res.entries, t->n);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        Tree *t = *state;
        for (size_t i = 0; i < t->n; i++) {
                free(t->got[i].path);
                free(t->got[i].link);
                free(t->got[i].hardlink);
                free(t->got[i].data);
        }
        (void) rm_rf(t->dir);
        (void) unlink(t->tar);
        free(t);
        return 0;
}

/* Files keep their content, mode, owner, mtime and xattrs; parents come before children. */
static void test_files(void **state) {
        Tree *t = *state;
        const Got *d = find(t, "dir/"), *a = find(t, "dir/a");
        assert_non_null(d);
        assert_non_null(a);
        assert_int_equal(d->type, AE_IFDIR);
        assert_int_equal(d->perm, 0750);
        assert_true(d->index < a->index);
        assert_int_equal(a->type, AE_IFREG);
        assert_int_equal(a->perm, 0640);
        assert_string_equal(a->data, "hello");
        assert_int_equal(a->mtime, 1234567890);
        assert_int_equal(a->uid, geteuid());
        assert_int_equal(a->gid, getegid());
        assert_true(a->has_xattr);
        assert_int_equal(a->xattr_len, sizeof(XATTR_VALUE) - 1);
        assert_memory_equal(a->xattr, XATTR_VALUE, sizeof(XATTR_VALUE) - 1);
        const Got *s = find(t, "suid");
        assert_non_null(s);
        assert_int_equal(s->perm, 04755);
        const Got *f = find(t, "fifo");
        assert_non_null(f);
        assert_int_equal(f->type, AE_IFIFO);
        /* a path past ustar's 100 bytes goes through a PAX header */
        const Got *l = find(t, LONG_DIR "/" LONG_DIR);
        assert_non_null(l);
        assert_string_equal(l->data, "long");
}

/* A symlink stays a symlink; the second name of a file is a hardlink entry to the first. */
static void test_links(void **state) {
        Tree *t = *state;
        const Got *s = find(t, "link"), *h = find(t, "hard");
        assert_non_null(s);
        assert_int_equal(s->type, AE_IFLNK);
        assert_string_equal(s->link, "dir/a");
        assert_non_null(h);
        assert_non_null(h->hardlink);
        assert_string_equal(h->hardlink, "dir/a");
        assert_true(find(t, "dir/a")->index < h->index);
}

/* A whiteout becomes .wh.NAME, an opaque directory DIR/.wh..wh..opq after DIR/; the overlay's own
 * xattrs are not copied. */
static void test_whiteouts(void **state) {
        Tree *t = *state;
        assert_null(find(t, "gone"));
        const Got *w = find(t, ".wh.gone");
        assert_non_null(w);
        assert_int_equal(w->type, AE_IFREG);
        assert_int_equal(w->size, 0);
        const Got *o = find(t, "opq/"), *q = find(t, "opq/.wh..wh..opq"), *k = find(t, "opq/keep");
        assert_non_null(o);
        assert_non_null(q);
        assert_non_null(k);
        assert_true(o->index < q->index);
        assert_string_equal(k->data, "kept");
        for (size_t i = 0; i < t->n; i++)
                assert_false(t->got[i].overlay_xattr);
}

/* The changes disk's header: written last by the guest, untrusted on the host. */
static void test_changes_header(void **state) {
        (void) state;
        char head[VM_GUEST_CHANGES_OFFSET] = { 0 };
        uint64_t len = 0;
        assert_int_equal(vm_guest_changes_header(head, sizeof(head), 1 << 20, &len), -ENODATA);
        snprintf(head, sizeof(head), VM_GUEST_CHANGES_MAGIC "10240\n");
        assert_int_equal(vm_guest_changes_header(head, sizeof(head), 1 << 20, &len), 0);
        assert_int_equal(len, 10240);
        /* past the disk's end */
        assert_int_equal(vm_guest_changes_header(head, sizeof(head), 10240, &len), -EBADMSG);
        assert_int_equal(vm_guest_changes_header(head, 100, 1 << 20, &len), -EBADMSG);
        const char *bad[] = { "KAPSEL-CHANGES 1 \n", "KAPSEL-CHANGES 2 5\n", "KAPSEL-CHANGES 1 5", "KAPSEL-CHANGES 1 -5\n",
                              "KAPSEL-CHANGES 1 99999999999999999999\n", "junk" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memset(head, 0, sizeof(head));
                memcpy(head, bad[i], strlen(bad[i]));
                assert_int_equal(vm_guest_changes_header(head, sizeof(head), 1 << 20, &len), -EBADMSG);
        }
        /* bytes after the line */
        memset(head, 0, sizeof(head));
        snprintf(head, sizeof(head), VM_GUEST_CHANGES_MAGIC "5\n");
        head[300] = 'x';
        assert_int_equal(vm_guest_changes_header(head, sizeof(head), 1 << 20, &len), -EBADMSG);
        /* no NUL at all */
        memset(head, '1', sizeof(head));
        memcpy(head, VM_GUEST_CHANGES_MAGIC, strlen(VM_GUEST_CHANGES_MAGIC));
        assert_int_equal(vm_guest_changes_header(head, sizeof(head), 1 << 20, &len), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_links, setup, teardown),
                cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
                cmocka_unit_test(test_changes_header),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
