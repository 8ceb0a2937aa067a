/* SPDX-License-Identifier: Apache-2.0 */
/* The layer unpacker against hostile tars (layer.h): every escape attempt fails the whole import
 * with a message naming the entry, leaves nothing in the store's tmp/ or layers/, and creates
 * nothing outside (a canary directory next to the store stays as it was). Plus the legitimate
 * cases: whiteouts, absolute paths, rootless mode, hardlinks inside the layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "error.h"
#include "image.h"
#include "layer.h"
#include "test-image-util.h"

typedef struct Fixture {
        char *top, *store_dir, *canary, *tar;
        ImageStore *store;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        f->top = test_tmpdir();
        f->store_dir = test_path(f->top, "store");
        f->canary = test_path(f->top, "canary");
        f->tar = test_path(f->top, "layer.tar");
        mkdir(f->canary, 0755);
        char *c = test_path(f->canary, "file");
        test_write_file(c, "canary", 6);
        free(c);
        assert_int_equal(image_store_open(f->store_dir, &f->store, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        image_store_free(f->store);
        test_rm_rf(f->top);
        free(f->top);
        free(f->store_dir);
        free(f->canary);
        free(f->tar);
        free(f);
        return 0;
}

static int count_sub(Fixture *f, const char *sub) {
        char *p = test_path(f->store_dir, sub);
        int n = test_dir_count(p);
        free(p);
        return n;
}

/* Nothing escaped, nothing staged or published. */
static void assert_clean(Fixture *f) {
        assert_int_equal(test_dir_count(f->top), 3);    /* store, canary, layer.tar */
        assert_int_equal(test_dir_count(f->canary), 1);
        assert_int_equal(count_sub(f, "tmp"), 0);
        assert_int_equal(count_sub(f, "layers"), 0);
        assert_int_equal(count_sub(f, "images"), 0);
        assert_int_equal(access("/kapsel-escape-x", F_OK), -1);
}

static void expect_rejected(Fixture *f, const TarEntry *e, size_t n, const char *msg_part) {
        assert_int_equal(test_tar_write(f->tar, e, n, true), 0);
        KError *err = NULL;
        char *id = NULL;
        int r = image_import_rootfs(f->store, f->tar, "evil", NULL, &id, &err);
        assert_true(r < 0);
        assert_non_null(err);
        if (!strstr(err->msg, msg_part))
                fail_msg("message '%s' lacks '%s'", err->msg, msg_part);
        assert_non_null(strstr(err->msg, "layer"));
        kerr_free(err);
        assert_null(id);
        assert_clean(f);
}

static void test_dotdot(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = { { TE_FILE, "../x", .data = "x" } };
        expect_rejected(f, e, 1, "'../x'");
}

static void test_abs_dotdot(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = { { TE_FILE, "/../../kapsel-escape-x", .data = "x" } };
        expect_rejected(f, e, 1, "escapes the layer");
}

static void test_inner_dotdot(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = { { TE_DIR, "a/" }, { TE_FILE, "a/../../x", .data = "x" } };
        expect_rejected(f, e, 2, "'a/../../x'");
}

static void test_symlink_parent(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = { { TE_SYMLINK, "evil", .target = f->canary }, { TE_FILE, "evil/x", .data = "x" } };
        expect_rejected(f, e, 2, "symlink");
}

static void test_symlink_root_parent(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = { { TE_SYMLINK, "evil", .target = "/" }, { TE_FILE, "evil/kapsel-escape-x", .data = "x" } };
        expect_rejected(f, e, 2, "evil/kapsel-escape-x");
}

static void test_symlink_chain(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = {
                { TE_SYMLINK, "l2", .target = f->canary },
                { TE_SYMLINK, "l1", .target = "l2" },
                { TE_FILE, "l1/x", .data = "x" },
        };
        expect_rejected(f, e, 3, "'l1/x'");
}

static void test_relative_symlink_up(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = {
                { TE_DIR, "d/" },
                { TE_SYMLINK, "d/up", .target = "../../../canary" },
                { TE_FILE, "d/up/x", .data = "x" },
        };
        expect_rejected(f, e, 3, "symlink");
}

static void test_hardlink_outside(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = { { TE_HARDLINK, "h", .target = "../../etc/passwd" } };
        expect_rejected(f, e, 1, "outside the layer");
}

static void test_hardlink_absolute(void **state) {
        Fixture *f = *state;
        /* "/etc/passwd" means the layer's etc/passwd (leading '/' stripped), which is absent. */
        const TarEntry e[] = { { TE_HARDLINK, "h", .target = "/etc/passwd" } };
        expect_rejected(f, e, 1, "'h'");
}

static void test_hardlink_through_symlink(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = { { TE_SYMLINK, "s", .target = f->canary }, { TE_HARDLINK, "h", .target = "s/file" } };
        expect_rejected(f, e, 2, "hardlink target 's/file'");
}

static void test_dir_replaced_by_symlink(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = {
                { TE_DIR, "d/" },
                { TE_FILE, "d/ok", .data = "1" },
                { TE_SYMLINK, "d", .target = f->canary },
                { TE_FILE, "d/x", .data = "x" },
        };
        expect_rejected(f, e, 4, "'d/x'");
}

/* A file written over an existing symlink replaces the link, never writes through it. */
static void test_file_over_symlink(void **state) {
        Fixture *f = *state;
        char *target = test_path(f->canary, "file");
        const TarEntry e[] = { { TE_SYMLINK, "x", .target = target }, { TE_FILE, "x", .data = "pwned" } };
        assert_int_equal(test_tar_write(f->tar, e, 2, false), 0);
        char *id = NULL;
        assert_int_equal(image_import_rootfs(f->store, f->tar, "ok", NULL, &id, NULL), 0);
        char buf[16] = {};
        int fd = open(target, O_RDONLY);
        assert_int_equal(read(fd, buf, sizeof(buf)), 6);
        close(fd);
        assert_string_equal(buf, "canary");
        Image *img = NULL;
        assert_int_equal(image_lookup(f->store, "ok", &img, NULL), 0);
        char *p = test_path(img->layer_dirs[0], "x");
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        free(p);
        image_free(img);
        free(id);
        free(target);
}

/* Raw tar bytes with a patched header: size field set to 8 GiB-1 (all octal 7s). */
static void patch_size(char *buf) {
        memcpy(buf + 124, "77777777777", 11);
        memset(buf + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < 512; i++)
                sum += (unsigned char) buf[i];
        snprintf(buf + 148, 8, "%06o", sum);
}

static void test_huge_size(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = { { TE_FILE, "big", .data = "abc" } };
        char *buf;
        size_t len;
        assert_int_equal(test_tar_buffer(e, 1, false, &buf, &len), 0);
        patch_size(buf);
        assert_int_equal(test_write_file(f->tar, buf, len), 0);
        free(buf);
        KError *err = NULL;
        assert_true(image_import_rootfs(f->store, f->tar, "big", NULL, NULL, &err) < 0);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, "layer"));
        kerr_free(err);
        assert_clean(f);
}

static void test_truncated(void **state) {
        Fixture *f = *state;
        char data[4000];
        memset(data, 'z', sizeof(data) - 1);
        data[sizeof(data) - 1] = '\0';
        const TarEntry e[] = { { TE_FILE, "a", .data = data }, { TE_FILE, "b", .data = data } };
        char *buf;
        size_t len;
        assert_int_equal(test_tar_buffer(e, 2, false, &buf, &len), 0);
        assert_int_equal(test_write_file(f->tar, buf, 512 + 2000), 0);
        free(buf);
        KError *err = NULL;
        assert_true(image_import_rootfs(f->store, f->tar, "cut", NULL, NULL, &err) < 0);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, "tar"));
        kerr_free(err);
        assert_clean(f);
}

static void test_garbage(void **state) {
        Fixture *f = *state;
        assert_int_equal(test_write_file(f->tar, "this is not a tar archive at all", 32), 0);
        KError *err = NULL;
        assert_true(image_import_rootfs(f->store, f->tar, "junk", NULL, NULL, &err) < 0);
        assert_non_null(err);
        kerr_free(err);
        assert_clean(f);
}

/* ---- legitimate layers, unpacked directly ---- */

static int unpack_buffer(const char *dir, const TarEntry *e, size_t n, bool rootless, LayerUnpackResult *res,
                         KError **err) {
        char *buf;
        size_t len;
        assert_int_equal(test_tar_buffer(e, n, true, &buf, &len), 0);
        int fd = memfd_create("layer", MFD_CLOEXEC);
        assert_int_equal(write(fd, buf, len), (ssize_t) len);
        lseek(fd, 0, SEEK_SET);
        free(buf);
        mkdir(dir, 0755);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        LayerUnpackOptions o = { .label = "layer test", .tee_fd = -1, .rootless = rootless };
        int r = layer_unpack(fd, dfd, &o, res, err);
        close(dfd);
        close(fd);
        return r;
}

static void test_whiteouts_and_paths(void **state) {
        Fixture *f = *state;
        const TarEntry e[] = {
                { TE_DIR, "/etc/" },
                { TE_FILE, "/etc/hostname", .data = "box\n" },
                { TE_DIR, "./opq/" },
                { TE_FILE, "opq/.wh..wh..opq" },
                { TE_FILE, "etc/.wh.gone" },
                { TE_FILE, "etc/.wh..wh.plnk" },
                { TE_FILE, "suid", .data = "#!", .mode = 04755 },
                { TE_HARDLINK, "etc/hostname2", .target = "etc/hostname" },
                { TE_FIFO, "fifo" },
                { TE_CHAR, "null", .rdev_major = 1, .rdev_minor = 3 },
                { TE_FILE, "x", .data = "1", .xattr_name = "trusted.overlay.redirect", .xattr_value = "/etc" },
        };
        char *dir = test_path(f->top, "l");
        LayerUnpackResult res;
        KError *err = NULL;
        int r = unpack_buffer(dir, e, ELEMENTSOF(e), true, &res, &err);
        if (r < 0)
                fail_msg("%s", err ? err->msg : "?");
        struct stat st;
        char *p = test_path(dir, "etc/gone");
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
        free(p);
        p = test_path(dir, "etc/.wh..wh.plnk");
        assert_int_equal(lstat(p, &st), -1);
        free(p);
        p = test_path(dir, "opq");
        char v[4] = {};
        assert_int_equal(lgetxattr(p, "user.overlay.opaque", v, sizeof(v)), 1);
        assert_string_equal(v, "y");
        free(p);
        p = test_path(dir, "suid");
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);     /* rootless: setuid dropped */
        free(p);
        p = test_path(dir, "etc/hostname2");
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_nlink, 2);
        free(p);
        p = test_path(dir, "fifo");
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISFIFO(st.st_mode));
        free(p);
        p = test_path(dir, "null");
        assert_int_equal(lstat(p, &st), -1);            /* rootless: device skipped ... */
        assert_int_equal(res.skipped_devices, 1);       /* ... and counted */
        free(p);
        p = test_path(dir, "x");
        assert_true(lgetxattr(p, "trusted.overlay.redirect", v, sizeof(v)) < 0);
        assert_true(res.skipped_xattrs >= 1);
        free(p);
        assert_true(res.compression == LAYER_COMPRESSION_GZIP);
        test_rm_rf(dir);
        free(dir);
}

static void test_privileged_keeps_setuid_and_devices(void **state) {
        Fixture *f = *state;
        if (!layer_host_privileged())
                skip();
        const TarEntry e[] = {
                { TE_FILE, "suid", .data = "#!", .mode = 04755 },
                { TE_CHAR, "null", .rdev_major = 1, .rdev_minor = 3 },
                { TE_DIR, "opq/" },
                { TE_FILE, "opq/.wh..wh..opq" },
        };
        char *dir = test_path(f->top, "p");
        LayerUnpackResult res;
        assert_int_equal(unpack_buffer(dir, e, ELEMENTSOF(e), false, &res, NULL), 0);
        struct stat st;
        char *p = test_path(dir, "suid");
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 04755);
        free(p);
        p = test_path(dir, "null");
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
        free(p);
        p = test_path(dir, "opq");
        char v[4] = {};
        assert_int_equal(lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
        free(p);
        test_rm_rf(dir);
        free(dir);
}

static void test_clean_path(void **state) {
        static const struct {
                const char *in, *out;
        } ok[] = {
                { "/a/b", "a/b" }, { "./a//b/", "a/b" }, { "a/../b", "b" }, { "a/b/../../c", "c" }, { "/", "" }, { "./", "" },
        };
        static const char *const bad[] = { "..", "../x", "/../x", "a/../../x", "a/b/../../../x" };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                char *o = NULL;
                assert_int_equal(layer_clean_path(ok[i].in, &o), 0);
                assert_string_equal(o, ok[i].out);
                free(o);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *o = NULL;
                assert_int_equal(layer_clean_path(bad[i], &o), -EXDEV);
        }
}

/* Magic-number sniffing: gzip and zstd are recognised, short or other input is NONE. */
static void test_compression_sniff(void **state) {
        static const struct {
                const char *head;
                size_t n;
                LayerCompression want;
        } cases[] = {
                { "\x1f\x8b\x08\x00", 4, LAYER_COMPRESSION_GZIP },
                { "\x1f\x8b", 2, LAYER_COMPRESSION_GZIP },
                { "\x1f", 1, LAYER_COMPRESSION_NONE },
                { "\x28\xb5\x2f\xfd", 4, LAYER_COMPRESSION_ZSTD },
                { "\x28\xb5\x2f", 3, LAYER_COMPRESSION_NONE },
                { "\xfd" "7zXZ", 5, LAYER_COMPRESSION_NONE },
                { "BZh9", 4, LAYER_COMPRESSION_NONE },
                { "", 0, LAYER_COMPRESSION_NONE },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(layer_compression_sniff(cases[i].head, cases[i].n), cases[i].want);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_compression_sniff),
                cmocka_unit_test_setup_teardown(test_dotdot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_abs_dotdot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inner_dotdot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlink_parent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlink_root_parent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlink_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_relative_symlink_up, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hardlink_outside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hardlink_absolute, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hardlink_through_symlink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dir_replaced_by_symlink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_over_symlink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_huge_size, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
                cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_whiteouts_and_paths, setup, teardown),
                cmocka_unit_test_setup_teardown(test_privileged_keeps_setuid_and_devices, setup, teardown),
                cmocka_unit_test(test_clean_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
