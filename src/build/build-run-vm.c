/* SPDX-License-Identifier: Apache-2.0 */
/* RUN with --isolation=vm: the step runs behind the hypervisor boundary, as a throw-away container
 * of the engine with HostConfig.Isolation=vm (the machinery of `kapsel run --isolation=vm`: its
 * monitor boots a micro-VM on the parent image's layers, see vm-isolation.h). The container is
 * named kbuild-<step id>; its output is followed in its log as it comes. After a successful run
 * guest init has written the step's changes as a layer tar to a disk of their own; the host
 * unpacks that tar into the step's diff/ with its layer code (no guest-written filesystem is ever
 * mounted on the host), which becomes the step's layer as for a container RUN. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "build-internal.h"
#include "ctr-create.h"
#include "ctr-ops.h"
#include "fd-util.h"
#include "json-util.h"
#include "layer.h"
#include "monitor.h"
#include "path-util.h"
#include "string-util.h"
#include "time-util.h"
#include "vm-guest.h"
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

/* The monitor's exit ends the step: its pidfd wakes the wait, and the log's growth (inotify) in
 * between, so the output is followed as it comes without re-reading the container's row. An
 * interrupt (the signal ends the poll with EINTR) kills the VM. */
static int wait_monitor(Builder *b, const CtrRecord *rec, const char *log, off_t *off) {
        _cleanup_close_ int pfd = rec->monitor_pid > 0 ? (int) syscall(SYS_pidfd_open, rec->monitor_pid, 0) : -1;
        if (pfd < 0)
                return errno == ESRCH || rec->monitor_pid <= 0 ? 0 : -errno;
        _cleanup_close_ int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        bool watched = ifd >= 0 && inotify_add_watch(ifd, log, IN_MODIFY) >= 0;
        uint64_t killed = 0;
        for (;;) {
                follow_log(b, log, off);
                if (build_interrupted && !killed) {
                        (void) ctr_kill(b->e, rec, SIGKILL, NULL);
                        killed = now_monotonic_ns();
                }
                /* a guest that does not end within 5 s: the caller's clean-up ends its VM */
                if (killed && now_monotonic_ns() - killed > 5000000000ULL)
                        return 0;
                struct pollfd p[2] = { { .fd = pfd, .events = POLLIN }, { .fd = ifd, .events = POLLIN } };
                /* the timeout only covers a signal that came just before poll() */
                int n = poll(p, watched ? 2 : 1, watched ? 1000 : 200);
                if (n < 0 && errno != EINTR)
                        return -errno;
                if (n > 0 && p[0].revents)
                        return 0;
                char buf[4096];
                while (n > 0 && watched && p[1].revents && read(ifd, buf, sizeof(buf)) > 0)
                        ;
        }
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
        for (bool waited = false;; waited = true) {
                _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
                if ((r = db_ctr_get(e->db, id, &rec, err)) < 0 || (r = ctr_repair(e, rec, err)) < 0)
                        return r;
                if (rec->state == CTR_EXITED || rec->state == CTR_CREATED) {
                        follow_log(b, log, &off);
                        *ret = rec->exit_code;
                        return build_interrupted ? kerr(err, -EINTR, "build interrupted") : 0;
                }
                /* after the monitor's exit its row (repaired) says how the step ended; a row that
                 * still says running is read again shortly, without a busy loop */
                if (waited)
                        (void) usleep(20000);
                if ((r = wait_monitor(b, rec, log, &off)) < 0)
                        return kerr(err, r, "RUN: wait for the micro-VM's monitor");
                if (build_interrupted)
                        return kerr(err, -EINTR, "build interrupted");
        }
}

/* The step's changes: guest init wrote them as a layer tar on the changes disk (vm-guest.h), after
 * a header the guest writes last. They are unpacked into the step's diff/ by the code that unpacks
 * a pulled layer (layer_unpack: paths beneath diff/ only, no link out of it, whiteouts as overlay
 * whiteouts); nothing the guest wrote is mounted. Its own /etc files (written by guest init) are
 * dropped, as docker's hosts, resolv.conf and hostname never reach a layer. A disk without a
 * header, a bad header, a truncated or hostile tar: the step fails (the executor removes diff/
 * with the work directory). */
static int read_changes(Builder *b, WorkDir *w, const char *id, KError **err) {
        _cleanup_free_ char *disk = engine_ctr_path(b->e, id, VM_ISOLATION_CHANGES_DISK), *diff = path_join(w->dir, "diff");
        if (!disk || !diff)
                return kerr(err, -ENOMEM, "RUN");
        _cleanup_close_ int fd = open(disk, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return kerr(err, -errno, "RUN: open the micro-VM's changes %s", disk);
        char head[VM_GUEST_CHANGES_OFFSET];
        uint64_t len = 0;
        ssize_t n = pread(fd, head, sizeof(head), 0);
        int r = n == (ssize_t) sizeof(head) ? vm_guest_changes_header(head, sizeof(head), (uint64_t) st.st_size, &len)
                                            : -EBADMSG;
        if (r == -ENODATA)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "RUN: the micro-VM ended without writing the step's changes "
                                "(%s has no header): the step fails", disk);
        if (r < 0)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "RUN: the micro-VM's changes %s start with a malformed "
                                "header (want \"%s<length>\" within %llu bytes): refused", disk,
                                VM_GUEST_CHANGES_MAGIC, (unsigned long long) st.st_size);
        /* the tar ends where the header says: nothing past it is read */
        if (ftruncate(fd, (off_t) (VM_GUEST_CHANGES_OFFSET + len)) < 0 || lseek(fd, VM_GUEST_CHANGES_OFFSET, SEEK_SET) < 0)
                return kerr(err, -errno, "RUN: read %s", disk);
        _cleanup_close_ int dfd = open(diff, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return kerr(err, -errno, "open %s", diff);
        LayerUnpackOptions uo = { .label = "the RUN step's changes from the micro-VM", .tee_fd = -1 };
        LayerUnpackResult res;
        if ((r = layer_unpack(fd, dfd, &uo, &res, err)) < 0)
                return r;
        build_drop_net_files(dfd, 7, false);
        return 0;
}

/* Remove the step's container, killing its VM first if it still runs. */
static void remove_ctr(Engine *e, const char *ref) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        if (db_ctr_get(e->db, ref, &rec, NULL) < 0)
                return;
        if (ctr_repair(e, rec, NULL) >= 0 && (rec->state == CTR_RUNNING || rec->state == CTR_PAUSED)) {
                (void) ctr_kill(e, rec, SIGKILL, NULL);
                (void) ctr_wait_monitor(rec->monitor_pid, 5000);
        }
        /* a guest that does not end (or a VM still booting, its row not yet running): the monitor
         * goes, kapsel-vmm with it (PDEATHSIG), and the repair releases what they held; removing
         * the directory under a live monitor would orphan both */
        if (ctr_monitor_alive(rec)) {
                (void) kill(rec->monitor_pid, SIGKILL);
                (void) ctr_wait_monitor(rec->monitor_pid, 10000);
        }
        (void) ctr_repair(e, rec, NULL);
        (void) ctr_remove(e, rec->id, NULL);
}

void build_vm_gc(Engine *e, const char *ctr) {
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
        /* the guest leaves the step's changes as a tar on a disk of their own (vm-isolation.h) */
        json_object_set_new(json_object_get(cfg, "HostConfig"), VM_ISOLATION_CHANGES_KEY, json_true());
        CtrCreateRequest req = { .config = cfg, .image = st->img->id, .name = name, .pull = CTR_PULL_NEVER };
        int r = ctr_create(b->e, &req, id, err);
        if (r < 0)
                return r;
        int code = -1;
        r = run_vm(b, id, &code, err);
        if (r >= 0 && code != 0)
                r = kerr_msg(err, KERR_GENERIC, -ECHILD, "returned a non-zero code: %d", code);
        if (r >= 0)
                r = read_changes(b, w, id, err);
        /* the container goes now, its disks with it */
        remove_ctr(b->e, id);
        return r;
}
