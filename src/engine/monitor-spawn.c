/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a container's monitor: write the image plan it needs, fork, detach, exec the small
 * kapsel-monitor binary, and wait for its "running" or its error. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "monitor.h"
#include "path-util.h"

#ifndef KAPSEL_MONITOR_PATH
#define KAPSEL_MONITOR_PATH "/usr/libexec/kapsel/kapsel-monitor"
#endif

/* $KAPSEL_MONITOR, else next to this binary (the build tree), else the installed path. */
static char *monitor_binary(void) {
        const char *env = getenv("KAPSEL_MONITOR");
        if (env && *env)
                return strdup(env);
        _cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
        if (self) {
                _cleanup_free_ char *sib = path_join(dirname(self), "kapsel-monitor");
                if (sib && access(sib, X_OK) == 0)
                        return TAKE_PTR(sib);
        }
        return strdup(KAPSEL_MONITOR_PATH);
}

int monitor_spawn(Engine *e, const char *id, bool attach_wait, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        _cleanup_(image_freep) Image *img = NULL;
        int r = db_ctr_get(e->db, id, &rec, err);
        if (r >= 0)
                r = engine_image_lookup(e, rec->image_id, &img, err);
        if (r >= 0)
                r = image_plan_write(e, id, img, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *bin = monitor_binary();
        if (!bin)
                return kerr(err, -ENOMEM, "monitor");
        if (access(bin, X_OK) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "the container monitor %s (set KAPSEL_MONITOR)", bin);
        int sync[2];
        if (pipe2(sync, O_CLOEXEC) < 0)
                return kerr(err, -errno, "monitor pipe");
        pid_t pid = fork();
        if (pid < 0) {
                close(sync[0]);
                close(sync[1]);
                return kerr(err, -errno, "fork the monitor");
        }
        if (pid == 0) {
                /* Detach from the caller's session and terminal, then exec ourselves as the monitor
                 * (a fresh image: no state of the CLI leaks into the container's parent). */
                close(sync[0]);
                setsid();
                if (fork() != 0)
                        _exit(0);       /* the monitor is a grandchild: reparented, never our zombie */
                int devnull = open("/dev/null", O_RDWR);
                dup2(devnull, 0);
                dup2(devnull, 1);
                dup2(devnull, 2);
                dup2(sync[1], 3);
                char fdarg[16];
                snprintf(fdarg, sizeof(fdarg), "%d", 3);
                char *argv[] = { "kapsel-monitor", "--root", e->root, (char *) id, fdarg,
                                 attach_wait ? "attach-wait" : NULL, NULL };
                execv(bin, argv);
                _exit(127);
        }
        close(sync[1]);
        int status;
        waitpid(pid, &status, 0);
        char c;
        ssize_t n = read(sync[0], &c, 1);
        r = 0;
        if (n == 1 && c == 'E') {
                KError *child = NULL;
                r = kerr_recv(sync[0], &child);
                if (r >= 0 && child) {
                        r = child->code;
                        if (err && !*err)
                                *err = child;
                        else
                                kerr_free(child);
                } else
                        r = kerr(err, -EIO, "the monitor of %s failed without a message", id);
        } else if (n != 1)
                r = kerr(err, -EIO, "the monitor of %s died while starting the container", id);
        close(sync[0]);
        return r;
}
