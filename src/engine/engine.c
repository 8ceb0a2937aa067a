/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "path-util.h"
#include "string-util.h"

#ifndef KAPSEL_BUSYBOX_IMAGE
#define KAPSEL_BUSYBOX_IMAGE ""
#endif

static int mkdir_one(const char *path, mode_t mode, KError **err) {
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return kerr_kind(err, KERR_HOST, -errno, "create %s", path);
        return 0;
}

int engine_open(const char *root, Engine **ret, KError **err) {
        _cleanup_(engine_freep) Engine *e = calloc(1, sizeof(*e));
        if (!e)
                return kerr(err, -ENOMEM, "engine");
        if (mkdir_one(root, 0711, err) < 0)
                return -errno;
        e->root = realpath(root, NULL);
        if (!e->root)
                return kerr_kind(err, KERR_HOST, -errno, "root %s", root);
        static const char *const dirs[] = { "containers", "volumes", "runtime" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *d = path_join(e->root, dirs[i]);
                int r = d ? mkdir_one(d, 0711, err) : -ENOMEM;
                if (r < 0)
                        return r;
        }
        e->runtime_root = path_join(e->root, "runtime");
        _cleanup_free_ char *dbpath = path_join(e->root, "kapsel.db");
        /* not resolved: after the CVE-2019-5736 re-exec it is a sealed memfd with no path */
        e->self_exe = strdup("/proc/self/exe");
        if (!e->runtime_root || !dbpath || !e->self_exe)
                return kerr(err, -ENOMEM, "engine");
        int r = db_open(dbpath, &e->db, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

void engine_free(Engine *e) {
        if (!e)
                return;
        db_close(e->db);
        image_store_free(e->images);
        net_close(e->net);
        free(e->root);
        free(e->runtime_root);
        free(e->self_exe);
        free(e);
}

int engine_images(Engine *e, ImageStore **ret, KError **err) {
        if (!e->images) {
                _cleanup_free_ char *p = path_join(e->root, "image");
                if (!p)
                        return kerr(err, -ENOMEM, "image store");
                int r = image_store_open(p, &e->images, err);
                if (r < 0)
                        return r;
        }
        *ret = e->images;
        return 0;
}

int engine_net(Engine *e, NetCtx **ret, KError **err) {
        if (!e->net) {
                _cleanup_free_ char *p = path_join(e->root, "net");
                if (!p)
                        return kerr(err, -ENOMEM, "network state");
                int r = net_open(p, &e->net, err);
                if (r < 0)
                        return r;
        }
        *ret = e->net;
        return 0;
}

/* The embedded default: the busybox image the build made from Debian's busybox-static. */
static bool is_builtin_busybox(const char *ref) {
        return streq(ref, "busybox") || streq(ref, "busybox:latest") ||
               streq(ref, "docker.io/library/busybox:latest") || streq(ref, "docker.io/library/busybox");
}

static const char *builtin_busybox_dir(void) {
        const char *env = getenv("KAPSEL_BUSYBOX_IMAGE");
        if (env && *env)
                return env;
        return KAPSEL_BUSYBOX_IMAGE[0] ? KAPSEL_BUSYBOX_IMAGE : NULL;
}

int engine_image_lookup(Engine *e, const char *ref, Image **ret, KError **err) {
        ImageStore *s;
        int r = engine_images(e, &s, err);
        if (r < 0)
                return r;
        _cleanup_kerr_ KError *lerr = NULL;
        r = image_lookup(s, ref, ret, &lerr);
        if (r != -ENOENT || !is_builtin_busybox(ref) || !builtin_busybox_dir()) {
                if (r < 0 && err && !*err)
                        *err = TAKE_PTR(lerr);
                return r;
        }
        _cleanup_free_ char *id = NULL;
        r = image_import_oci_layout(s, builtin_busybox_dir(), NULL, "docker.io/library/busybox:latest", &id, err);
        if (r < 0)
                return kerr_prefix(err, r, "import the built-in busybox image");
        return image_lookup(s, "docker.io/library/busybox:latest", ret, err);
}

char *engine_ctr_path(const Engine *e, const char *id, const char *file) {
        char *p = NULL;
        if (asprintf(&p, "%s/containers/%s%s%s", e->root, id, file ? "/" : "", file ?: "") < 0)
                return NULL;
        return p;
}

int engine_new_id(char ret[static 65]) {
        uint8_t b[32];
        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                return -errno;
        for (size_t i = 0; i < sizeof(b); i++)
                snprintf(ret + 2 * i, 3, "%02x", b[i]);
        return 0;
}

char *engine_random_name(void) {
        static const char *const adjectives[] = {
                "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
                "nifty", "proud", "quick", "sharp", "tender", "upbeat", "vivid", "witty", "zealous", "bold",
        };
        static const char *const nouns[] = {
                "turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "dijkstra", "wirth",
                "liskov", "hamilton", "shannon", "backus", "mccarthy", "kernighan", "pike", "cerf", "allen",
        };
        uint32_t r[3];
        if (getrandom(r, sizeof(r), 0) != sizeof(r))
                return NULL;
        char *s = NULL;
        if (asprintf(&s, "%s_%s_%u", adjectives[r[0] % ELEMENTSOF(adjectives)], nouns[r[1] % ELEMENTSOF(nouns)],
                     r[2] % 1000) < 0)
                return NULL;
        return s;
}

bool engine_pid_alive(pid_t pid) {
        if (pid <= 0)
                return false;
        /* a zombie is dead: our monitors are reparented to an init that may reap late */
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;
        const char *paren = strrchr(buf, ')');
        return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}
