/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
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
#include "fd-util.h"
#include "path-util.h"
#include "string-util.h"

/* Nothing under the root is reachable by other host users (image layers and volumes hold setuid
 * files and device nodes of containers'): the root and its directories are 0700, and a root made
 * by an older kapsel with wider modes is narrowed. Containers do not need the path: their root file
 * systems and volumes are mounted by root, and overlayfs reaches the layers with the mounter's
 * credentials. */
static int mkdir_one(const char *path, mode_t mode, KError **err) {
        struct stat st;
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return kerr_kind(err, KERR_HOST, -errno, "create %s", path);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) != mode)
                (void) chmod(path, mode);
        return 0;
}

/* A root this user may not write (kapsel as non-root on /var/lib/kapsel) or a read-only one: say what
 * is needed, not sqlite's "attempt to write a readonly database". */
static int root_denied(const char *root, int r, KError **err) {
        if (r == -EROFS)
                return kerr_msg(err, KERR_HOST, r,
                                "kapsel root %s is on a read-only file system: use a writable one with --root DIR "
                                "(or KAPSEL_ROOT)", root);
        return kerr_msg(err, KERR_HOST, r,
                        "kapsel root %s is not writable by this user (uid %u): run kapsel as root (sudo), or get "
                        "write access to %s, or use a root of your own with --root DIR (or KAPSEL_ROOT)",
                        root, (unsigned) geteuid(), root);
}

static bool dir_is_empty(const char *path) {
        _cleanup_(closedirp) DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        return false;
        return d != NULL;
}

/* The root itself: made 0700; an existing one is narrowed only when it is a kapsel root (it holds
 * kapsel.db: an older kapsel made it 0711) or still empty (made for us), never a directory of the
 * user's that kapsel does not own (--root /tmp must not turn /tmp into 0700). What kapsel keeps
 * sits in the 0700 directories below it either way. */
static int mkdir_root(const char *root, KError **err) {
        if (mkdir(root, 0700) == 0)
                return 0;
        if (errno != EEXIST)
                return errno == EACCES || errno == EROFS || errno == EPERM ? root_denied(root, -errno, err)
                                                                            : kerr_kind(err, KERR_HOST, -errno, "create %s", root);
        _cleanup_free_ char *db = path_join(root, "kapsel.db");
        struct stat st;
        if (db && stat(root, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077) &&
            (access(db, F_OK) == 0 || dir_is_empty(root)))
                (void) chmod(root, st.st_mode & ~(mode_t) 077);
        return 0;
}


int engine_open(const char *root, Engine **ret, KError **err) {
        _cleanup_(engine_freep) Engine *e = calloc(1, sizeof(*e));
        if (!e)
                return kerr(err, -ENOMEM, "engine");
        int r = mkdir_root(root, err);
        if (r < 0)
                return r;
        e->root = realpath(root, NULL);
        if (!e->root)
                return errno == EACCES ? root_denied(root, -errno, err) : kerr_kind(err, KERR_HOST, -errno, "root %s", root);
        if (access(e->root, W_OK) < 0 && (errno == EACCES || errno == EROFS))
                return root_denied(e->root, -errno, err);
        static const char *const dirs[] = { "containers", "volumes", "runtime" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *d = path_join(e->root, dirs[i]);
                r = d ? mkdir_one(d, 0700, err) : -ENOMEM;
                if (r < 0)
                        return r;
        }
        e->runtime_root = path_join(e->root, "runtime");
        _cleanup_free_ char *dbpath = path_join(e->root, "kapsel.db");
        if (!e->runtime_root || !dbpath)
                return kerr(err, -ENOMEM, "engine");
        if (access(dbpath, R_OK | W_OK) < 0 && (errno == EACCES || errno == EROFS))
                return root_denied(e->root, -errno, err);
        r = db_open(dbpath, &e->db, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

void engine_free(Engine *e) {
        if (!e)
                return;
        db_close(e->db);
        if (e->images)
                e->free_images(e->images);
        net_close(e->net);
        free(e->root);
        free(e->runtime_root);
        free(e);
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
