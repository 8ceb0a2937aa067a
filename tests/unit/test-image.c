/* SPDX-License-Identifier: Apache-2.0 */
/* Image store: reference normalization and suggestions, digests, OCI layout and docker-archive
 * imports, load/save, commit roundtrip, rmi/prune/gc accounting, concurrent imports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "image.h"
#include "image-filter.h"
#include "layer.h"
#include "test-image-util.h"

/* ---- refs ---- */

static void test_ref_normalize(void **state) {
        static const struct {
                const char *in, *out;
        } ok[] = {
                { "busybox", "docker.io/library/busybox:latest" },
                { "busybox:1.36", "docker.io/library/busybox:1.36" },
                { "library/busybox", "docker.io/library/busybox:latest" },
                { "docker.io/busybox", "docker.io/library/busybox:latest" },
                { "index.docker.io/library/busybox", "docker.io/library/busybox:latest" },
                { "user/app:v1", "docker.io/user/app:v1" },
                { "quay.io/org/app", "quay.io/org/app:latest" },
                { "localhost/app", "localhost/app:latest" },
                { "127.0.0.1:5000/x", "127.0.0.1:5000/x:latest" },
                { "127.0.0.1:5000/a/b:tag", "127.0.0.1:5000/a/b:tag" },
                { "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                  "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
                { "a.b/c__d-e.f:t_1", "a.b/c__d-e.f:t_1" },
        };
        static const char *const bad[] = {
                "", "Busybox", "busybox:", "busybox@sha256:xyz", "busybox@md5:abc", "-x", "a//b", "x:-tag", "host:99999999/x",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "a/b/", "a..b/c",
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                char *o = NULL;
                KError *e = NULL;
                if (image_ref_normalize(ok[i].in, &o, &e) < 0)
                        fail_msg("%s: %s", ok[i].in, e->msg);
                assert_string_equal(o, ok[i].out);
                free(o);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *o = NULL;
                KError *e = NULL;
                if (image_ref_normalize(bad[i], &o, &e) >= 0)
                        fail_msg("'%s' accepted as '%s'", bad[i], o);
                assert_int_equal(e->kind, KERR_USAGE);
                kerr_free(e);
        }
        char *fam = image_ref_familiar("docker.io/library/busybox:latest");
        assert_string_equal(fam, "busybox:latest");
        free(fam);
        fam = image_ref_familiar("docker.io/user/app:v1");
        assert_string_equal(fam, "user/app:v1");
        free(fam);
}

static void test_ref_suggest(void **state) {
        char *names[] = { "docker.io/library/busybox:latest", "docker.io/library/alpine:3.19", "quay.io/x/debian:12", NULL };
        char **s = NULL;
        assert_int_equal(image_ref_suggest("busybx", names, 3, &s), 0);
        assert_non_null(s);
        assert_string_equal(s[0], "busybox:latest");
        assert_null(s[1]);
        for (char **i = s; *i; i++)
                free(*i);
        free(s);
        s = NULL;
        assert_int_equal(image_ref_suggest("nginx", names, 3, &s), 0);
        assert_true(!s || !s[0]);
        free(s);
}

/* ---- digests ---- */

static void test_digest(void **state) {
        char d[DIGEST_STR_MAX];
        assert_int_equal(digest_buffer("abc", 3, d), 0);
        assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_int_equal(digest_check(d, d, "x", NULL), 0);
        KError *e = NULL;
        assert_int_equal(digest_check(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae", "blob x", &e),
                         -EBADMSG);
        assert_non_null(strstr(e->msg, "blob x: digest mismatch"));
        kerr_free(e);
        assert_int_equal(digest_parse("sha512:abcd", NULL), -EOPNOTSUPP);
        assert_int_equal(digest_parse("sha256:ABCD", NULL), -EINVAL);
        assert_int_equal(digest_parse("sha256:../../etc/passwd", NULL), -EINVAL);
}

/* The shared hash-and-compare: 0 on a match, -EBADMSG (with the digest seen) on a mismatch. */
static void test_digest_verify(void **state) {
        static const char abc[] = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        static const char other[] = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae";
        char d[DIGEST_STR_MAX] = "";
        assert_int_equal(digest_buffer_matches("abc", 3, abc, d), 0);
        assert_string_equal(d, abc);
        assert_int_equal(digest_buffer_matches("abc", 3, NULL, NULL), 0);
        assert_int_equal(digest_buffer_matches("abc", 3, other, d), -EBADMSG);
        assert_string_equal(d, abc);
        KError *e = NULL;
        assert_int_equal(digest_verify("abc", 3, abc, "blob y", NULL, &e), 0);
        assert_null(e);
        assert_int_equal(digest_verify("abc", 3, other, "blob y", NULL, &e), -EBADMSG);
        assert_non_null(strstr(e->msg, "blob y: digest mismatch"));
        assert_int_equal(kerr_exit_code(e), 3);
        kerr_free(e);
}

/* digest_fd_copy(): the copy holds exactly what was hashed. */
static void test_digest_fd_copy(void **state) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        assert_int_equal(write(p[1], "abc", 3), 3);
        close(p[1]);
        FILE *f = tmpfile();
        assert_non_null(f);
        char d[DIGEST_STR_MAX];
        uint64_t size = 0;
        assert_int_equal(digest_fd_copy(p[0], fileno(f), d, &size), 0);
        close(p[0]);
        assert_int_equal(size, 3);
        assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        char back[8] = "";
        assert_int_equal(pread(fileno(f), back, sizeof(back), 0), 3);
        assert_string_equal(back, "abc");
        fclose(f);
}

/* ---- store fixtures ---- */

typedef struct Fx {
        char *top, *root;
        ImageStore *s;
} Fx;

static int setup(void **state) {
        Fx *f = calloc(1, sizeof(*f));
        f->top = test_tmpdir();
        f->root = test_path(f->top, "store");
        assert_int_equal(image_store_open(f->root, &f->s, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fx *f = *state;
        image_store_free(f->s);
        test_rm_rf(f->top);
        free(f->top);
        free(f->root);
        free(f);
        return 0;
}

static int sub_count(Fx *f, const char *sub) {
        char *p = test_path(f->root, sub);
        int n = test_dir_count(p);
        free(p);
        return n;
}

/* Two layers (base + one that deletes a file) as gzip + plain tars; returns the layout path. */
static char *make_layout(Fx *f, const char *name, const char *content, bool bad_diff_id) {
        char *l1 = test_path(f->top, "l1.tgz"), *p1 = test_path(f->top, "l1.tar");
        char *l2 = test_path(f->top, "l2.tgz"), *p2 = test_path(f->top, "l2.tar");
        const TarEntry base[] = {
                { TE_DIR, "bin/" }, { TE_FILE, "bin/sh", .data = content, .mode = 0755 }, { TE_FILE, "etc-old", .data = "x" },
        };
        const TarEntry top[] = { { TE_FILE, ".wh.etc-old" }, { TE_FILE, "hello", .data = "hi\n" } };
        assert_int_equal(test_tar_write(l1, base, ELEMENTSOF(base), true), 0);
        assert_int_equal(test_tar_write(p1, base, ELEMENTSOF(base), false), 0);
        assert_int_equal(test_tar_write(l2, top, ELEMENTSOF(top), true), 0);
        assert_int_equal(test_tar_write(p2, top, ELEMENTSOF(top), false), 0);
        /* gzip output is deterministic: add_gzip() in test-image-util.c writes no mtime */
        char *dir = test_path(f->top, name);
        char *layers[] = { l1, l2, NULL }, *plain[] = { p1, p2, NULL };
        assert_int_equal(test_oci_layout(dir, layers, plain, "latest", bad_diff_id), 0);
        free(l1);
        free(l2);
        free(p1);
        free(p2);
        return dir;
}

static void test_import_oci_layout(void **state) {
        Fx *f = *state;
        char *dir = make_layout(f, "oci", "#!busybox", false);
        char *id = NULL;
        KError *e = NULL;
        if (image_import_oci_layout(f->s, dir, NULL, "busybox", &id, &e) < 0)
                fail_msg("%s", e->msg);
        Image *img = NULL;
        assert_int_equal(image_lookup(f->s, "busybox", &img, NULL), 0);
        assert_string_equal(img->id, id);
        assert_int_equal(img->n_layers, 2);
        assert_string_equal(img->names[0], "docker.io/library/busybox:latest");
        assert_string_equal(img->config.cmd[0], "sh");
        assert_string_equal(img->config.env[0], "PATH=/bin");
        assert_string_equal(img->architecture, "amd64");
        assert_int_equal(img->size, 9 + 1 + 3);
        char *p = test_path(img->layer_dirs[1], "etc-old");
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
        free(p);
        /* by id, by id prefix, and a typo that gets a suggestion */
        Image *again = NULL;
        assert_int_equal(image_lookup(f->s, id, &again, NULL), 0);
        image_free(again);
        char prefix[12];
        snprintf(prefix, sizeof(prefix), "%.8s", id + 7);
        assert_int_equal(image_lookup(f->s, prefix, &again, NULL), 0);
        image_free(again);
        assert_int_equal(image_lookup(f->s, "busybx", &again, &e), -ENOENT);
        assert_int_equal(e->kind, KERR_NOT_FOUND);
        assert_non_null(strstr(e->msg, "did you mean 'busybox:latest'"));
        kerr_free(e);
        /* a second import shares everything: no new layer dirs */
        int layers = sub_count(f, "layers");
        assert_int_equal(image_import_oci_layout(f->s, dir, "latest", "other:tag", NULL, NULL), 0);
        assert_int_equal(sub_count(f, "layers"), layers);
        assert_int_equal(sub_count(f, "tmp"), 0);
        image_free(img);
        free(id);
        free(dir);
}

static void test_digest_mismatch(void **state) {
        Fx *f = *state;
        char *dir = make_layout(f, "oci", "#!x", false);
        /* Corrupt the first layer blob in place: its digest no longer matches. */
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "cd '%s/blobs/sha256' && for b in *; do if gzip -t $b 2>/dev/null; then printf 'junk' >> $b; fi; done",
                 dir);
        assert_int_equal(system(cmd), 0);
        KError *e = NULL;
        assert_true(image_import_oci_layout(f->s, dir, NULL, "x", NULL, &e) < 0);
        assert_non_null(strstr(e->msg, "digest mismatch"));
        kerr_free(e);
        assert_int_equal(sub_count(f, "layers"), 0);
        assert_int_equal(sub_count(f, "tmp"), 0);
        assert_int_equal(sub_count(f, "images"), 0);
        free(dir);
}

static void test_diff_id_mismatch(void **state) {
        Fx *f = *state;
        char *dir = make_layout(f, "oci", "#!y", true);
        KError *e = NULL;
        assert_true(image_import_oci_layout(f->s, dir, NULL, "y", NULL, &e) < 0);
        assert_non_null(strstr(e->msg, "diff-id mismatch"));
        kerr_free(e);
        assert_int_equal(sub_count(f, "layers"), 0);
        assert_int_equal(sub_count(f, "tmp"), 0);
        free(dir);
}

/* docker save, old layout: manifest.json + <hex>.json + <dir>/layer.tar (plain tars). */
static void test_docker_archive(void **state) {
        Fx *f = *state;
        char *d = test_path(f->top, "dsave");
        char cmd[2048];
        const TarEntry files[] = { { TE_DIR, "etc/" }, { TE_FILE, "etc/os-release", .data = "ID=test\n" } };
        mkdir(d, 0755);
        char *lt = test_path(d, "layer.tar");
        assert_int_equal(test_tar_write(lt, files, 2, false), 0);
        char diff[DIGEST_STR_MAX];
        int fd = open(lt, O_RDONLY);
        digest_fd(fd, diff, NULL);
        close(fd);
        char cfg[512];
        snprintf(cfg, sizeof(cfg),
                 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/true\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                 diff);
        char cd[DIGEST_STR_MAX];
        digest_buffer(cfg, strlen(cfg), cd);
        char *cp = NULL;
        assert_true(asprintf(&cp, "%s/%s.json", d, cd + 7) > 0);
        test_write_file(cp, cfg, strlen(cfg));
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && mkdir abc && mv layer.tar abc/ && printf '[{\"Config\":\"%s.json\",\"RepoTags\":[\"app:1\",\"reg.example:5000/app:2\"],\"Layers\":[\"abc/layer.tar\"]}]' > manifest.json && tar -cf ../dsave.tar .",
                 d, cd + 7);
        assert_int_equal(system(cmd), 0);
        char *archive = test_path(f->top, "dsave.tar");
        char **names = NULL;
        KError *e = NULL;
        if (image_load(f->s, archive, &names, &e) < 0)
                fail_msg("%s", e->msg);
        assert_string_equal(names[0], "docker.io/library/app:1");
        assert_string_equal(names[1], "reg.example:5000/app:2");
        Image *img = NULL;
        assert_int_equal(image_lookup(f->s, "reg.example:5000/app:2", &img, NULL), 0);
        assert_string_equal(img->id, cd);
        assert_string_equal(img->config.cmd[0], "/bin/true");
        char *p = test_path(img->layer_dirs[0], "etc/os-release");
        assert_int_equal(access(p, F_OK), 0);
        free(p);
        /* save it again as an OCI archive and load that into a fresh store: same image id */
        char *out = test_path(f->top, "saved.tar");
        char *refs[] = { "app:1", NULL };
        if (image_save(f->s, refs, out, &e) < 0)
                fail_msg("%s", e->msg);
        char *root2 = test_path(f->top, "store2");
        ImageStore *s2 = NULL;
        assert_int_equal(image_store_open(root2, &s2, NULL), 0);
        char **names2 = NULL;
        if (image_load(s2, out, &names2, &e) < 0)
                fail_msg("%s", e->msg);
        assert_string_equal(names2[0], "docker.io/library/app:1");
        Image *img2 = NULL;
        assert_int_equal(image_lookup(s2, "app:1", &img2, NULL), 0);
        assert_string_equal(img2->id, img->id);
        assert_string_equal(img2->manifest_digest, img->manifest_digest);
        /* and export as a layout, re-importable */
        char *lay = test_path(f->top, "exported");
        assert_int_equal(image_export_oci_layout(f->s, "app:1", lay, NULL), 0);
        char *id3 = NULL;
        assert_int_equal(image_import_oci_layout(s2, lay, NULL, "copy", &id3, NULL), 0);
        assert_string_equal(id3, img->id);
        free(id3);
        free(lay);
        image_free(img2);
        image_store_free(s2);
        free(root2);
        for (char **i = names2; *i; i++)
                free(*i);
        free(names2);
        for (char **i = names; *i; i++)
                free(*i);
        free(names);
        image_free(img);
        free(out);
        free(archive);
        free(cp);
        free(lt);
        free(d);
}

/* Upper dir with a whiteout device and an opaque dir -> commit -> .wh. entries -> unpacked
 * back into overlay whiteouts in the new layer. */
static void test_commit_roundtrip(void **state) {
        Fx *f = *state;
        char *dir = make_layout(f, "oci", "#!c", false);
        assert_int_equal(image_import_oci_layout(f->s, dir, NULL, "base", NULL, NULL), 0);
        char *up = test_path(f->top, "upper");
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s/opq/sub' && echo new > '%s/new' && echo s > '%s/opq/sub/f'", up, up, up);
        assert_int_equal(system(cmd), 0);
        char *wh = test_path(up, "hello");
        assert_int_equal(mknod(wh, S_IFCHR | 0, makedev(0, 0)), 0);     /* unprivileged since Linux 5.8 */
        char *opq = test_path(up, "opq");
        assert_int_equal(setxattr(opq, "user.overlay.opaque", "y", 1, 0), 0);
        Image *parent = NULL;
        assert_int_equal(image_lookup(f->s, "base", &parent, NULL), 0);
        ImageConfig cfg = { .cmd = (char *[]) { "/new", NULL } };
        char *id = NULL;
        KError *e = NULL;
        if (image_commit(f->s, parent, up, &cfg, "committed:v1", "test commit", &id, &e) < 0)
                fail_msg("%s", e->msg);
        Image *img = NULL;
        assert_int_equal(image_lookup(f->s, "committed:v1", &img, NULL), 0);
        assert_int_equal(img->n_layers, 3);
        assert_string_equal(img->layer_dirs[0], parent->layer_dirs[0]);
        assert_string_equal(img->config.cmd[0], "/new");
        json_t *hist = json_object_get(img->config_json, "history");
        assert_string_equal(json_string_value(json_object_get(json_array_get(hist, json_array_size(hist) - 1), "comment")),
                            "test commit");
        struct stat st;
        char *p = test_path(img->layer_dirs[2], "hello");
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
        free(p);
        p = test_path(img->layer_dirs[2], "opq");
        char v[2] = {};
        const char *xname = layer_host_privileged() ? "trusted.overlay.opaque" : "user.overlay.opaque";
        assert_int_equal(lgetxattr(p, xname, v, sizeof(v)), 1);
        free(p);
        p = test_path(img->layer_dirs[2], "opq/sub/f");
        assert_int_equal(access(p, F_OK), 0);
        free(p);
        image_free(img);
        image_free(parent);
        free(id);
        free(wh);
        free(opq);
        free(up);
        free(dir);
}

/* A committed layer's gzip header carries no time of day (RFC 1952 MTIME, bytes 4-7): the same
 * upper dir gives the same blob digest whenever it is committed. */
static void test_commit_gzip_no_mtime(void **state) {
        Fx *f = *state;
        char *up = test_path(f->top, "upper");
        assert_int_equal(mkdir(up, 0755), 0);
        char *file = test_path(up, "f");
        assert_int_equal(test_write_file(file, "x", 1), 0);
        int fd = memfd_create("layer", MFD_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(commit_write_layer(up, fd, NULL), 0);
        unsigned char h[10];
        assert_int_equal(pread(fd, h, sizeof(h), 0), (ssize_t) sizeof(h));
        assert_int_equal(h[0], 0x1f);
        assert_int_equal(h[1], 0x8b);
        assert_int_equal(h[4] | h[5] | h[6] | h[7], 0);
        close(fd);
        free(file);
        free(up);
}

static void test_rmi_prune_gc(void **state) {
        Fx *f = *state;
        char *d1 = make_layout(f, "one", "#!1", false);
        char *d2 = make_layout(f, "two", "#!2", false);
        char *id1 = NULL, *id2 = NULL;
        assert_int_equal(image_import_oci_layout(f->s, d1, NULL, "one", &id1, NULL), 0);
        assert_int_equal(image_import_oci_layout(f->s, d2, NULL, "two", &id2, NULL), 0);
        assert_int_equal(image_tag(f->s, "two", "two:alias", NULL), 0);
        /* layer 2 ("hello") is shared: 3 layer dirs + 3 sidecars */
        assert_int_equal(sub_count(f, "layers"), 6);
        int blobs_before = sub_count(f, "blobs/sha256");
        uint64_t freed = 1;
        assert_int_equal(image_gc(f->s, &freed, NULL), 0);
        assert_int_equal(freed, 0);                                     /* all referenced */
        assert_int_equal(sub_count(f, "blobs/sha256"), blobs_before);
        /* two names: removing by id needs force; by name only untags */
        KError *e = NULL;
        assert_int_equal(image_remove(f->s, id2, false, NULL, &e), -EBUSY);
        kerr_free(e);
        char *untagged = NULL;
        assert_int_equal(image_remove(f->s, "two:alias", false, &untagged, NULL), 0);
        assert_string_equal(untagged, "docker.io/library/two:alias");
        free(untagged);
        Image *img = NULL;
        assert_int_equal(image_lookup(f->s, "two", &img, NULL), 0);
        image_free(img);
        /* prune keeps named images and kept ids */
        size_t n = 9;
        assert_int_equal(image_prune(f->s, false, NULL, &n, NULL), 0);
        assert_int_equal(n, 0);
        char *keep[] = { id1, NULL };
        assert_int_equal(image_prune(f->s, true, keep, &n, NULL), 0);
        assert_int_equal(n, 1);
        assert_int_equal(image_lookup(f->s, "two", &img, NULL), -ENOENT);
        assert_int_equal(image_gc(f->s, &freed, NULL), 0);
        assert_true(freed > 0);
        /* image two's own layer and its manifest, config, layer blob are gone; shared layer stays */
        assert_int_equal(sub_count(f, "layers"), 4);
        assert_int_equal(sub_count(f, "blobs/sha256"), blobs_before - 3);
        assert_int_equal(image_lookup(f->s, "one", &img, NULL), 0);
        for (size_t i = 0; i < img->n_layers; i++)
                assert_int_equal(access(img->layer_dirs[i], F_OK), 0);
        image_free(img);
        assert_int_equal(image_remove(f->s, "one", false, NULL, NULL), 0);
        assert_int_equal(image_gc(f->s, NULL, NULL), 0);
        assert_int_equal(sub_count(f, "layers"), 0);
        assert_int_equal(sub_count(f, "blobs/sha256"), 0);
        free(id1);
        free(id2);
        free(d1);
        free(d2);
}

/* rmi -f of an image a container uses: names go, the record and its layers stay (a prune keeping
 * the container's id keeps it, gc keeps its layers) until the image is removed for good. */
static void test_untag_keeps_layers(void **state) {
        Fx *f = *state;
        char *d1 = make_layout(f, "one", "#!1", false);
        char *id1 = NULL, **names = NULL;
        assert_int_equal(image_import_oci_layout(f->s, d1, NULL, "one", &id1, NULL), 0);
        assert_int_equal(image_tag(f->s, "one", "one:alias", NULL), 0);
        int layers = sub_count(f, "layers");
        /* by name: that name */
        assert_int_equal(image_untag(f->s, "one:alias", &names, NULL), 0);
        assert_string_equal(names[0], "docker.io/library/one:alias");
        assert_null(names[1]);
        strv_free(names);
        /* by id: every name */
        assert_int_equal(image_untag(f->s, id1, &names, NULL), 0);
        assert_string_equal(names[0], "docker.io/library/one:latest");
        assert_null(names[1]);
        strv_free(names);
        Image *img = NULL;
        assert_int_equal(image_lookup(f->s, "one", &img, NULL), -ENOENT);
        assert_int_equal(image_lookup(f->s, id1, &img, NULL), 0);
        image_free(img);
        char *keep[] = { id1, NULL };
        size_t n = 9;
        assert_int_equal(image_prune(f->s, true, keep, &n, NULL), 0);
        assert_int_equal(n, 0);
        assert_int_equal(image_gc(f->s, NULL, NULL), 0);
        assert_int_equal(sub_count(f, "layers"), layers);
        /* the last user gone: a prune removes it */
        assert_int_equal(image_prune(f->s, false, NULL, &n, NULL), 0);
        assert_int_equal(n, 1);
        assert_int_equal(image_gc(f->s, NULL, NULL), 0);
        assert_int_equal(sub_count(f, "layers"), 0);
        free(id1);
        free(d1);
}

static void test_concurrent_import(void **state) {
        Fx *f = *state;
        char *dir = make_layout(f, "oci", "#!race", false);
        pid_t pids[2];
        for (int i = 0; i < 2; i++) {
                fflush(NULL);
                pids[i] = fork();
                assert_true(pids[i] >= 0);
                if (pids[i] == 0) {
                        ImageStore *s = NULL;
                        KError *e = NULL;
                        if (image_store_open(f->root, &s, &e) < 0 || image_import_oci_layout(s, dir, NULL, "race", NULL, &e) < 0) {
                                fprintf(stderr, "child: %s\n", e ? e->msg : "?");
                                _exit(1);
                        }
                        image_store_free(s);
                        _exit(0);
                }
        }
        for (int i = 0; i < 2; i++) {
                int st;
                assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
                assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        assert_int_equal(sub_count(f, "layers"), 4);
        assert_int_equal(sub_count(f, "images"), 1);
        assert_int_equal(sub_count(f, "tmp"), 0);
        Image *img = NULL;
        assert_int_equal(image_lookup(f->s, "race", &img, NULL), 0);
        image_free(img);
        free(dir);
}

static void test_import_rootfs_xz(void **state) {
        Fx *f = *state;
        char *src = test_path(f->top, "r.tar"), cmd[1024];
        const TarEntry e[] = { { TE_FILE, "hello", .data = "xz\n" } };
        assert_int_equal(test_tar_write(src, e, 1, false), 0);
        snprintf(cmd, sizeof(cmd), "xz -k '%s'", src);
        if (system(cmd) != 0)
                skip();
        char *xzp = test_path(f->top, "r.tar.xz");
        ImageConfig cfg = { .env = (char *[]) { "A=1", NULL } };
        char *id = NULL;
        KError *err = NULL;
        if (image_import_rootfs(f->s, xzp, "imported", &cfg, &id, &err) < 0)
                fail_msg("%s", err->msg);
        Image *img = NULL;
        assert_int_equal(image_lookup(f->s, "imported", &img, NULL), 0);
        assert_string_equal(img->config.env[0], "A=1");
        /* stored as the plain tar: its blob digest is the diff-id */
        char d[DIGEST_STR_MAX];
        int fd = open(src, O_RDONLY);
        digest_fd(fd, d, NULL);
        close(fd);
        assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(img->config_json, "rootfs"), "diff_ids"), 0)), d);
        image_free(img);
        free(id);
        free(xzp);
        free(src);
}

/* ---- list filters (docker's images --filter) ---- */

static bool filtered(char *const *filters, Image *const *all, size_t n, const Image *img, const char *name) {
        ImageFilter *f = NULL;
        KError *err = NULL;
        if (image_filter_new(filters, all, n, &f, &err) < 0)
                fail_msg("%s", err->msg);
        bool hit = image_filter_match(f, img, name);
        image_filter_free(f);
        return hit;
}

static void test_image_filter(void **state) {
        (void) state;
        Image old = { .id = "sha256:aaaa1111", .names = (char *[]) { "docker.io/library/busybox:latest",
                                                                    "127.0.0.1:5000/tools/busybox:1", NULL },
                      .created = "2024-01-01T00:00:00Z", .config_json = json_pack("{s:{s:{s:s}}}", "config", "Labels", "tier", "base") };
        Image mid = { .id = "sha256:bbbb2222", .names = (char *[]) { "docker.io/library/debian:12", NULL },
                      .created = "2024-01-01T01:30:00.5+01:00" };        /* 00:30:00.5 UTC */
        Image dangling = { .id = "sha256:cccc3333", .created = "2024-02-01T00:00:00Z" };
        Image *all[] = { &dangling, &mid, &old };
        const char *bb = old.names[0], *local = old.names[1];

        assert_true(filtered(NULL, all, 3, &old, bb));
        assert_true(filtered((char *[]) { "dangling=true", NULL }, all, 3, &dangling, NULL));
        assert_false(filtered((char *[]) { "dangling=true", NULL }, all, 3, &old, bb));
        assert_true(filtered((char *[]) { "dangling=false", NULL }, all, 3, &old, bb));
        assert_true(filtered((char *[]) { "label=tier", NULL }, all, 3, &old, bb));
        assert_true(filtered((char *[]) { "label=tier=base", NULL }, all, 3, &old, bb));
        assert_false(filtered((char *[]) { "label=tier=app", NULL }, all, 3, &old, bb));
        assert_false(filtered((char *[]) { "label=tier", NULL }, all, 3, &mid, mid.names[0]));
        /* reference: the familiar name with and without its tag, per row (name) */
        assert_true(filtered((char *[]) { "reference=busybox", NULL }, all, 3, &old, bb));
        assert_true(filtered((char *[]) { "reference=busy*:latest", NULL }, all, 3, &old, bb));
        assert_false(filtered((char *[]) { "reference=busybox", NULL }, all, 3, &old, local));
        assert_true(filtered((char *[]) { "reference=127.0.0.1:5000/tools/*", NULL }, all, 3, &old, local));
        assert_true(filtered((char *[]) { "reference=nomatch", "reference=deb*", NULL }, all, 3, &mid, mid.names[0]));
        assert_false(filtered((char *[]) { "reference=deb*", "label=tier", NULL }, all, 3, &mid, mid.names[0]));
        /* before/since: by name or id prefix; offsets and fractions count */
        assert_true(filtered((char *[]) { "since=busybox", NULL }, all, 3, &mid, mid.names[0]));
        assert_false(filtered((char *[]) { "before=busybox", NULL }, all, 3, &mid, mid.names[0]));
        assert_true(filtered((char *[]) { "before=sha256:bbbb", NULL }, all, 3, &old, bb));
        assert_true(filtered((char *[]) { "before=cccc3333", NULL }, all, 3, &mid, mid.names[0]));
        assert_false(filtered((char *[]) { "since=debian:12", NULL }, all, 3, &old, bb));

        /* bad filters say what is wrong */
        static const char *const bad[] = { "colour=red", "dangling=maybe", "label=", "before=nosuchimage", "nokey" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ImageFilter *f = NULL;
                KError *err = NULL;
                assert_true(image_filter_new((char *[]) { (char *) bad[i], NULL }, all, 3, &f, &err) < 0);
                assert_non_null(strstr(err->msg, bad[i]));
                kerr_free(err);
        }
        json_decref(old.config_json);

        /* an untagged parent of another image (a build step) is intermediate, not dangling */
        Image step = { .id = "sha256:dddd4444", .layer_dirs = (char *[]) { "/l/1", NULL }, .n_layers = 1,
                       .created = "2024-03-01T00:00:00Z", .config_json = json_pack("{s:[{s:s}]}", "history", "created_by", "a") };
        Image app = { .id = "sha256:eeee5555", .names = (char *[]) { "docker.io/library/app:1", NULL },
                      .layer_dirs = (char *[]) { "/l/1", NULL }, .n_layers = 1, .created = "2024-03-01T00:00:01Z",
                      .config_json = json_pack("{s:[{s:s},{s:s}]}", "history", "created_by", "a", "created_by", "b") };
        Image other = { .id = "sha256:ffff6666", .layer_dirs = (char *[]) { "/l/2", NULL }, .n_layers = 1,
                        .config_json = json_pack("{s:[{s:s},{s:s}]}", "history", "created_by", "a", "created_by", "b") };
        Image *family[] = { &app, &step, &other };
        assert_true(image_is_intermediate(&step, family, 3));
        assert_false(image_is_intermediate(&app, family, 3));     /* tagged */
        assert_false(image_is_intermediate(&other, family, 3));   /* no child */
        assert_false(image_is_intermediate(&step, (Image *[]) { &step, &other }, 2));      /* its child is gone */
        assert_false(filtered((char *[]) { "dangling=true", NULL }, family, 3, &step, NULL));
        assert_true(filtered((char *[]) { "dangling=true", NULL }, family, 3, &other, NULL));
        json_decref(step.config_json);
        json_decref(app.config_json);
        json_decref(other.config_json);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ref_normalize),
                cmocka_unit_test(test_ref_suggest),
                cmocka_unit_test(test_digest),
                cmocka_unit_test(test_digest_verify),
                cmocka_unit_test(test_digest_fd_copy),
                cmocka_unit_test(test_image_filter),
                cmocka_unit_test_setup_teardown(test_import_oci_layout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_digest_mismatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_diff_id_mismatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_docker_archive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_gzip_no_mtime, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rmi_prune_gc, setup, teardown),
                cmocka_unit_test_setup_teardown(test_untag_keeps_layers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_import, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_rootfs_xz, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
