/* SPDX-License-Identifier: Apache-2.0 */
/* The builder's resources on the host: step work directories (overlay mounts) under
 * <root>/build/<id>/, the build context (a directory, or a tar unpacked under <root>/build/),
 * signal handling, and the sweep of what a killed builder left (build_gc). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"
#include "container.h"
#include "ctr-net.h"
#include "fd-util.h"
#include "layer.h"
#include "overlay.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"

static char *build_dir(Engine *e) {
        return path_join(e->root, "build");
}

static int new_dir(Engine *e, const char *prefix, char ret_id[static 13], char **ret, KError **err) {
        char id[65];
        _cleanup_free_ char *base = build_dir(e), *dir = NULL, *owner = NULL;
        int r = engine_new_id(id);
        if (r < 0 || !base)
                return kerr(err, r < 0 ? r : -ENOMEM, "build work directory");
        snprintf(ret_id, 13, "%.12s", id);
        if (asprintf(&dir, "%s/%s%s", base, prefix, ret_id) < 0)
                return kerr(err, -ENOMEM, "build work directory");
        if ((r = mkdir_p(dir, 0700)) < 0)
                return kerr(err, r, "create %s", dir);
        /* the owner: build_gc removes the directory once this process is gone */
        char pid[32];
        snprintf(pid, sizeof(pid), "%d\n", (int) getpid());
        _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || write_file_atomic_at(dfd, "owner", pid, strlen(pid), 0600) < 0) {
                (void) rm_rf(dir);
                return kerr(err, -EIO, "write %s/owner", dir);
        }
        *ret = TAKE_PTR(dir);
        return 0;
}

int workdir_open(Builder *b, const Image *img, WorkDir *ret, KError **err) {
        WorkDir w = {};
        int r = new_dir(b->e, "step-", w.id, &w.dir, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *empty = path_join(w.dir, "empty");
        char *one[] = { empty, NULL };
        if (!empty)
                r = kerr(err, -ENOMEM, "work directory");
        else if (!img || img->n_layers == 0)
                r = mkdir(empty, 0755) < 0 ? kerr(err, -errno, "create %s", empty) : 0;
        if (r >= 0)
                r = overlay_prepare(w.dir, err);
        if (r >= 0)
                r = img && img->n_layers ? overlay_mount(w.dir, img->layer_dirs, img->n_layers, err) : overlay_mount(w.dir, one, 1, err);
        if (r < 0) {
                (void) rm_rf(w.dir);
                free(w.dir);
                return r;
        }
        w.mounted = true;
        *ret = w;
        return 0;
}

void workdir_close(Builder *b, WorkDir *w) {
        (void) b;
        if (w->mounted)
                (void) overlay_umount(w->dir, NULL);
        w->mounted = false;
}

bool workdir_unchanged(const WorkDir *w) {
        _cleanup_free_ char *diff = path_join(w->dir, "diff");
        _cleanup_(closedirp) DIR *d = diff ? opendir(diff) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        return false;
        return true;
}

/* --- what a killed builder leaves --- */

static bool owner_alive(int dfd) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (read_full_file_at(dfd, "owner", 64, &text, &len) < 0)
                return false;
        int pid = atoi(text);
        return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int build_gc(Engine *e, KError **err) {
        _cleanup_free_ char *base = build_dir(e);
        _cleanup_(closedirp) DIR *d = base ? opendir(base) : NULL;
        if (!d)
                return errno == ENOENT ? 0 : kerr(err, -errno, "open %s", base ? base : "build dir");
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *id = startswith(de->d_name, "step-");
                if (!id && !startswith(de->d_name, "ctx-"))
                        continue;
                _cleanup_close_ int dfd = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0 || owner_alive(dfd))
                        continue;
                _cleanup_free_ char *dir = path_join(base, de->d_name), *ctr = NULL;
                if (!dir || (id && asprintf(&ctr, "kbuild-%s", id) < 0))
                        continue;
                if (ctr)
                        (void) container_delete(e->runtime_root, ctr, true, NULL);
                /* a RUN step on a bridge network: its veth, address and netns */
                _cleanup_free_ char *ns = ctr ? path_join(dir, "netns") : NULL;
                if (ns && access(ns, F_OK) >= 0)
                        (void) ctr_net_release(e, ctr, ns, NULL);
                /* a RUN step in a micro-VM: its container (with its disks) */
                if (ctr)
                        build_vm_gc(e, ctr);
                (void) overlay_umount(dir, NULL);
                if (rm_rf(dir) >= 0)
                        n++;
        }
        return n;
}

/* --- the context --- */

int build_context_open(Builder *b, KError **err) {
        const BuildOptions *o = b->o;
        int r;
        if (o->context_tar_fd >= 0) {
                char id[13];
                if ((r = new_dir(b->e, "ctx-", id, &b->tmp_ctx, err)) < 0)
                        return r;
                if (!(b->ctx = path_join(b->tmp_ctx, "context")) || mkdir(b->ctx, 0700) < 0)
                        return kerr(err, b->ctx ? -errno : -ENOMEM, "build context");
                _cleanup_close_ int dfd = open(b->ctx, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                LayerUnpackOptions uo = { .label = "the build context (tar on stdin)", .tee_fd = -1, .no_whiteouts = true };
                LayerUnpackResult res;
                if (dfd < 0)
                        return kerr(err, -errno, "open %s", b->ctx);
                if ((r = layer_unpack(o->context_tar_fd, dfd, &uo, &res, err)) < 0)
                        return r;
        } else {
                if (!o->context_dir)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "no build context given");
                if (!(b->ctx = realpath(o->context_dir, NULL)))
                        return kerr_kind(err, KERR_USAGE, -errno, "build context %s", o->context_dir);
                struct stat st;
                if (stat(b->ctx, &st) < 0 || !S_ISDIR(st.st_mode))
                        return kerr_msg(err, KERR_USAGE, -ENOTDIR, "build context %s: not a directory", o->context_dir);
        }
        _cleanup_free_ char *text = NULL;
        size_t len;
        _cleanup_close_ int cfd = open(b->ctx, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cfd >= 0 && read_full_file_at(cfd, ".dockerignore", 1 << 20, &text, &len) >= 0)
                return dockerignore_parse(text, len, &b->ignore, err);
        return 0;
}

void build_context_close(Builder *b) {
        if (b->tmp_ctx)
                (void) rm_rf(b->tmp_ctx);
        free(b->tmp_ctx);
        free(b->ctx);
        dockerignore_done(&b->ignore);
}

/* --- signals: stop at the next step (the running container is killed by the RUN loop) --- */

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction saved[ELEMENTSOF(stop_signals)];

static void on_stop(int sig) {
        (void) sig;
        build_interrupted = 1;
}

void build_interrupt(void) {
        build_interrupted = 1;
}

int build_signals_install(void) {
        struct sigaction sa = { .sa_handler = on_stop };
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(stop_signals); i++)
                (void) sigaction(stop_signals[i], &sa, &saved[i]);
        return 0;
}

void build_signals_restore(void) {
        for (size_t i = 0; i < ELEMENTSOF(stop_signals); i++)
                (void) sigaction(stop_signals[i], &saved[i], NULL);
}
