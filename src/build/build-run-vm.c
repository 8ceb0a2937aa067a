/* SPDX-License-Identifier: Apache-2.0 */
/* RUN with --isolation=vm: the step runs behind the hypervisor boundary, as a throw-away container
 * of the engine with HostConfig.Isolation=vm (the machinery of `kapsel run --isolation=vm`: its
 * monitor boots a micro-VM on the parent image's layers, see vm-isolation.h). The container is
 * named kbuild-<step id>; its output is followed in its log as it comes. After a successful run the
 * guest's overlay upper dir, on the instance's upper disk (mounted through a loop device), is
 * bind-mounted on the step's diff/, which becomes the step's layer as for a container RUN. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"
#include "ctr-create.h"
#include "ctr-ops.h"
#include "fd-util.h"
#include "json-util.h"
#include "monitor.h"
#include "path-util.h"
#include "string-util.h"
#include "vm-isolation.h"
#include "vm-ops.h"

bool build_isolation_vm(const BuildOptions *o) {
        return o->isolation && streq(o->isolation, "vm");
}

/* The step's container config: the stage's Env (and ARGs), WorkingDir and User, `argv` as the
 * whole command (Entrypoint [] drops the image's), the build's network. */
static json_t *step_config(Builder *b, Stage *st, char **argv, char **extra_env) {
        json_t *cc = build_cc(st), *cmd = json_array(), *env = json_array(), *e;
        size_t i;
        for (char **a = argv; cmd && a && *a; a++)
                json_array_append_new(cmd, json_string(*a));
        json_array_foreach(json_object_get(cc, "Env"), i, e)
                json_array_append(env, e);
        for (char **x = extra_env; env && x && *x; x++)
                json_array_append_new(env, json_string(*x));
        const char *wd = json_string_value(json_object_get(cc, "WorkingDir")), *user = json_string_value(json_object_get(cc, "User"));
        const char *net = b->o->network && !streq(b->o->network, "host") ? b->o->network : "none";
        return json_pack("{s:{s:o, s:[], s:o, s:s, s:s}, s:{s:s, s:s}}", "Config", "Cmd", cmd, "Entrypoint", "Env", env,
                         "WorkingDir", wd && *wd ? wd : "/", "User", user ?: "", "HostConfig", "Isolation", "vm",
                         "NetworkMode", net);
}

int build_vm_check(Builder *b, KError **err) {
        if (!b->o->isolation || streq(b->o->isolation, "container") || streq(b->o->isolation, "default") ||
            streq(b->o->isolation, "process"))
                return 0;
        if (!build_isolation_vm(b->o))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--isolation %s: expected container or vm", b->o->isolation);
        if (b->o->network && streq(b->o->network, "host"))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--isolation=vm with --network host: a micro-VM has no access to the host's network "
                                "namespace; use none, bridge or a network's name");
        _cleanup_json_ json_t *cfg = json_pack("{s:{}, s:{s:s, s:s}}", "Config", "HostConfig", "Isolation", "vm",
                                               "NetworkMode", b->o->network ?: "none");
        int r = cfg ? vm_isolation_check(cfg, err) : kerr(err, -ENOMEM, "--isolation=vm");
        if (r >= 0)
                r = vm_check_kvm(err);
        return r < 0 ? kerr_prefix(err, r, "build --isolation=vm") : 0;
}

/* Forward the log lines written since *off (complete lines only). */
static void follow_log(Builder *b, const char *path, off_t *off) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || lseek(fd, *off, SEEK_SET) < 0)
                return;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        if (read_full_fd(fd, 64 << 20, &buf, &len) < 0 || len == 0)
                return;
        size_t done = 0;
        for (char *nl; (nl = memchr(buf + done, '\n', len - done)); done = (size_t) (nl - buf) + 1) {
                _cleanup_json_ json_t *rec = json_loadb(buf + done, (size_t) (nl - buf) - done, 0, NULL);
                const char *text = json_string_value(json_object_get(rec, "log"));
                if (text && b->cb)
                        b->cb(b->userdata, BUILD_EVENT_OUTPUT, text, json_string_length(json_object_get(rec, "log")));
        }
        *off += (off_t) done;
}

/* Start, follow and wait; the exit code in *ret. An interrupt kills the VM. */
static int run_vm(Builder *b, const char *id, int *ret, KError **err) {
        Engine *e = b->e;
        _cleanup_free_ char *log = engine_ctr_path(e, id, "ctr.log");
        if (!log)
                return kerr(err, -ENOMEM, "RUN");
        int r = monitor_spawn(e, id, false, err);
        if (r < 0)
                return r;
        off_t off = 0;
        bool killed = false;
        for (;;) {
                follow_log(b, log, &off);
                _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
                if ((r = db_ctr_get(e->db, id, &rec, err)) < 0 || (r = ctr_repair(e, rec, err)) < 0)
                        return r;
                if (rec->state == CTR_EXITED || rec->state == CTR_CREATED) {
                        follow_log(b, log, &off);
                        *ret = rec->exit_code;
                        return build_interrupted ? kerr(err, -EINTR, "build interrupted") : 0;
                }
                if (build_interrupted && !killed) {
                        (void) ctr_kill(e, rec, SIGKILL, NULL);
                        killed = true;
                }
                (void) ctr_wait_monitor(rec->monitor_pid, 200);
        }
}

/* Attach `image` to a free loop device (detached again when unmounted) and mount its ext4 on `mnt`. */
static int loop_mount(const char *image, const char *mnt, KError **err) {
        _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                return kerr_kind(err, KERR_HOST, -errno, "open /dev/loop-control (the loop module is needed to read "
                                 "a micro-VM's disk)");
        _cleanup_close_ int ifd = open(image, O_RDWR | O_CLOEXEC);
        if (ifd < 0)
                return kerr(err, -errno, "open %s", image);
        for (int tries = 0; tries < 16; tries++) {
                int n = ioctl(ctl, LOOP_CTL_GET_FREE);
                if (n < 0)
                        return kerr(err, -errno, "find a free loop device");
                char dev[32];
                snprintf(dev, sizeof(dev), "/dev/loop%d", n);
                _cleanup_close_ int lfd = open(dev, O_RDWR | O_CLOEXEC);
                if (lfd < 0)
                        return kerr(err, -errno, "open %s", dev);
                struct loop_config cfg = { .fd = (uint32_t) ifd, .info = { .lo_flags = LO_FLAGS_AUTOCLEAR } };
                if (ioctl(lfd, LOOP_CONFIGURE, &cfg) < 0) {
                        if (errno == EBUSY)
                                continue;       /* taken by someone else meanwhile */
                        return kerr(err, -errno, "attach %s to %s", image, dev);
                }
                /* the mount holds the device; closing lfd then leaves only the mount (autoclear) */
                if (mount(dev, mnt, "ext4", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                        return kerr(err, -errno, "mount %s (%s)", dev, image);
                return 0;
        }
        return kerr(err, -EBUSY, "no free loop device");
}

void build_vm_umount(const char *dir) {
        static const char *const mnts[] = { "diff", "vm-upper" };
        for (size_t i = 0; i < ELEMENTSOF(mnts); i++) {
                _cleanup_free_ char *p = path_join(dir, mnts[i]);
                if (p)
                        (void) umount2(p, MNT_DETACH);
        }
}

/* The guest's upper dir (upper/ on the instance's upper disk) becomes the step's diff/ (a bind
 * mount: the commit reads whiteouts, opaque directories, owners and modes as the guest's overlay
 * left them). The disk is the throw-away container's: its own /etc files (written by guest init)
 * are removed from it first, as docker's hosts, resolv.conf and hostname never reach a layer.
 * The guest wrote that disk: nothing on it is followed out of it (upper/ and etc/ are opened
 * O_NOFOLLOW, the bind goes through the fd), and it is mounted nosuid, nodev, noexec. The host's
 * ext4 driver still parses it, though: docs/build.md names that as what is left to move into
 * the guest (a stream of its changes) before a VM build is a full boundary. */
static int mount_upper(Builder *b, WorkDir *w, const char *id, KError **err) {
        _cleanup_free_ char *disk = engine_ctr_path(b->e, id, "upper.ext4"), *mnt = path_join(w->dir, "vm-upper"),
                            *diff = path_join(w->dir, "diff"), *upper = NULL;
        if (!disk || !mnt || !diff || !(upper = path_join(mnt, "upper")))
                return kerr(err, -ENOMEM, "RUN");
        if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s", mnt);
        int r = loop_mount(disk, mnt, err);
        if (r < 0)
                return kerr_prefix(err, r, "RUN: read the step's changes from the micro-VM's disk");
        w->vm_mounted = true;
        /* the disk is the guest's: upper/ must be a directory of it, never a link out of it */
        _cleanup_close_ int mfd = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int ufd = mfd < 0 ? -1 : openat(mfd, "upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ufd < 0)
                return kerr(err, -errno, "RUN: the micro-VM's disk has no upper/ directory (%s)", upper);
        build_drop_net_files(ufd, 7, false);
        char src[FD_PATH_MAX];
        if (mount(fd_path(ufd, src), diff, NULL, MS_BIND, NULL) < 0)
                return kerr(err, -errno, "bind %s on %s", upper, diff);
        return 0;
}

/* Remove the step's container, killing its VM first if it still runs. */
static void remove_ctr(Engine *e, const char *ref) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        if (db_ctr_get(e->db, ref, &rec, NULL) < 0)
                return;
        if (ctr_repair(e, rec, NULL) >= 0 && (rec->state == CTR_RUNNING || rec->state == CTR_PAUSED)) {
                (void) ctr_kill(e, rec, SIGKILL, NULL);
                (void) ctr_wait_monitor(rec->monitor_pid, 10000);
                (void) ctr_repair(e, rec, NULL);
        }
        (void) ctr_remove(e, rec->id, NULL);
}

void build_vm_gc(Engine *e, const char *dir, const char *ctr) {
        build_vm_umount(dir);
        remove_ctr(e, ctr);
}

int build_run_step_vm(Builder *b, Stage *st, WorkDir *w, char **argv, char **extra_env, KError **err) {
        _cleanup_free_ char *name = NULL;
        if (!st->img)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--isolation=vm: a RUN step needs an image with files "
                                "(FROM scratch has none to boot)");
        _cleanup_json_ json_t *cfg = step_config(b, st, argv, extra_env);
        if (!cfg || asprintf(&name, "kbuild-%s", w->id) < 0)
                return kerr(err, -ENOMEM, "RUN");
        /* the step's changes come from the guest's disk, not the overlay prepared on the host */
        workdir_close(b, w);
        char id[65];
        CtrCreateRequest req = { .config = cfg, .image = st->img->id, .name = name, .pull = CTR_PULL_NEVER };
        int r = ctr_create(b->e, &req, id, err);
        if (r < 0)
                return r;
        int code = -1;
        r = run_vm(b, id, &code, err);
        if (r >= 0 && code != 0)
                r = kerr_msg(err, KERR_GENERIC, -ECHILD, "returned a non-zero code: %d", code);
        if (r >= 0)
                r = mount_upper(b, w, id, err);
        /* the container goes now; a mounted disk stays readable until build_vm_umount() */
        remove_ctr(b->e, id);
        return r;
}
