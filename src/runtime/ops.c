/* SPDX-License-Identifier: Apache-2.0 */
/* start, kill, delete, state, list, pause/resume, ps, update. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "container.h"
#include "fd-util.h"
#include "hooks.h"
#include "json-util.h"
#include "state.h"
#include "string-util.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* An opened container: state dir (locked), state, derived status. */
typedef struct Handle {
        int dirfd;
        ContainerState *state;
        ContainerStatus status;
} Handle;

static void handle_done(Handle *h) {
        safe_close(h->dirfd);
        container_state_free(h->state);
}

static int handle_open(const char *root, const char *id, bool lock, Handle *h, KError **err) {
        *h = (Handle) { .dirfd = -1 };
        h->dirfd = state_dir_open(root, id, err);
        if (h->dirfd < 0)
                return h->dirfd;
        if (lock && flock(h->dirfd, LOCK_EX) < 0)
                return kerr(err, -errno, "lock the state of \"%s\"", id);
        int r = state_load(h->dirfd, id, &h->state, err);
        if (r < 0)
                return r;
        h->status = state_status(h->dirfd, h->state);
        return 0;
}

/* Whether the saved config may have hooks of this kind, without parsing it (start and delete of
 * every container read it just for its hooks). A key spelled with \u escapes is parsed too. */
static bool config_may_have(const char *text, const char *key) {
        return strstr(text, key) || strstr(text, "\\u");
}

static int handle_cgroup(const Handle *h, Cgroup **ret, KError **err) {
        if (!h->state->cgroup_path)
                return kerr_msg(err, KERR_STATE, -ENOTSUP, "container \"%s\" has no cgroup (rootless)", h->state->id);
        return cgroup_open(CGROUP_ROOT, h->state->cgroup_mode, h->state->cgroup_path, ret, err);
}

/* A pidfd for the init, or -ESRCH when the pid is gone or has been reused. */
static int handle_pidfd(const Handle *h) {
        if (h->state->pid <= 0)
                return -ESRCH;
        int fd = (int) syscall(SYS_pidfd_open, h->state->pid, 0);
        if (fd < 0)
                return -errno;
        if (proc_start_time(h->state->pid) != h->state->pid_start) {
                close(fd);
                return -ESRCH;
        }
        return fd;
}

int container_start(const char *root, const char *id, KError **err) {
        _cleanup_(handle_done) Handle h;
        int r = handle_open(root, id, true, &h, err);
        if (r < 0)
                return r;
        if (h.status != STATUS_CREATED)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container \"%s\" is %s: only a created container can be started",
                                id, container_status_to_string(h.status));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/start.sock", h.dirfd);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return kerr(err, -errno, "socket");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return kerr(err, -errno, "connect to the init of \"%s\"", id);
        (void) unlinkat(h.dirfd, "start.sock", 0);
        if (write(fd, "s", 1) != 1)
                return kerr(err, -errno, "start \"%s\"", id);
        /* EOF: the exec succeeded (the connection was close-on-exec). Else an error. */
        KError *child = NULL;
        r = kerr_recv(fd, &child);
        if (r == 0) {
                if (err && !*err)
                        *err = child;
                else
                        kerr_free(child);
                return kerr_prefix(err, -EIO, "start container \"%s\"", id);
        }

        _cleanup_free_ char *cfg_text = NULL;
        _cleanup_(spec_freep) Spec *spec = NULL;
        if (read_full_file_at(h.dirfd, "config.json", 16 << 20, &cfg_text, NULL) >= 0 &&
            config_may_have(cfg_text, "poststart") &&
            spec_parse(cfg_text, strlen(cfg_text), "config.json", &spec, NULL) >= 0 &&
            spec->n_hooks[HOOK_POSTSTART] > 0) {
                _cleanup_json_ json_t *j = state_to_json(h.state, STATUS_RUNNING);
                _cleanup_free_ char *text = json_dump_string(j, false);
                _cleanup_kerr_ KError *herr = NULL;
                /* runtime-spec: a failing poststart hook is a warning, the container runs on */
                if (hooks_run(HOOK_POSTSTART, spec->hooks[HOOK_POSTSTART], spec->n_hooks[HOOK_POSTSTART],
                              text ? text : "{}", &herr) < 0)
                        fprintf(stderr, "kapsel-runtime: warning: %s\n", herr->msg);
        }
        return 0;
}

int container_kill(const char *root, const char *id, int sig, bool all, KError **err) {
        _cleanup_(handle_done) Handle h;
        int r = handle_open(root, id, false, &h, err);
        if (r < 0)
                return r;
        if (all && h.state->cgroup_path) {
                _cleanup_(cgroup_freep) Cgroup *cg = NULL;
                if ((r = handle_cgroup(&h, &cg, err)) < 0)
                        return r;
                return cgroup_kill_all(cg, sig, err);
        }
        if (h.status == STATUS_STOPPED)
                return kerr_msg(err, KERR_STATE, -ESRCH, "container \"%s\" is not running", id);
        _cleanup_close_ int pidfd = handle_pidfd(&h);
        if (pidfd < 0)
                return kerr_msg(err, KERR_STATE, -ESRCH, "container \"%s\" is not running", id);
        if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
                return kerr(err, -errno, "send signal %d to container \"%s\"", sig, id);
        return 0;
}

/* Wait (bounded) for the pidfd to report exit; reap it if it is our child. */
static int wait_pidfd(int pidfd, pid_t pid, int timeout_ms) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int n;
        do
                n = poll(&p, 1, timeout_ms);
        while (n < 0 && errno == EINTR);
        (void) waitpid(pid, NULL, WNOHANG);
        return n > 0 ? 0 : -ETIMEDOUT;
}

static void run_poststop(Handle *h) {
        _cleanup_free_ char *cfg_text = NULL;
        _cleanup_(spec_freep) Spec *spec = NULL;
        if (read_full_file_at(h->dirfd, "config.json", 16 << 20, &cfg_text, NULL) < 0 ||
            !config_may_have(cfg_text, "poststop") ||
            spec_parse(cfg_text, strlen(cfg_text), "config.json", &spec, NULL) < 0 ||
            spec->n_hooks[HOOK_POSTSTOP] == 0)
                return;
        _cleanup_json_ json_t *j = state_to_json(h->state, STATUS_STOPPED);
        _cleanup_free_ char *text = json_dump_string(j, false);
        _cleanup_kerr_ KError *herr = NULL;
        /* runtime-spec: poststop failures are warnings; deletion goes on */
        if (hooks_run(HOOK_POSTSTOP, spec->hooks[HOOK_POSTSTOP], spec->n_hooks[HOOK_POSTSTOP],
                      text ? text : "{}", &herr) < 0)
                fprintf(stderr, "kapsel-runtime: warning: %s\n", herr->msg);
}

int container_delete(const char *root, const char *id, bool force, KError **err) {
        _cleanup_(handle_done) Handle h;
        int r = handle_open(root, id, true, &h, err);
        if (r < 0)
                return r;
        if (h.status == STATUS_CREATING && !force)
                return kerr_msg(err, KERR_STATE, -EBUSY,
                                "container \"%s\" is being created (or its create was killed): use delete --force", id);
        if ((h.status == STATUS_RUNNING || h.status == STATUS_PAUSED) && !force)
                return kerr_msg(err, KERR_STATE, -EBUSY,
                                "container \"%s\" is %s: stop it first or use delete --force",
                                id, container_status_to_string(h.status));
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        if (h.state->cgroup_path)
                (void) cgroup_open(CGROUP_ROOT, h.state->cgroup_mode, h.state->cgroup_path, &cg, NULL);
        if (h.status != STATUS_STOPPED) {
                _cleanup_close_ int pidfd = handle_pidfd(&h);
                if (cg)
                        (void) cgroup_kill_all(cg, SIGKILL, NULL);      /* thaws a paused one */
                if (pidfd >= 0) {
                        (void) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
                        if (wait_pidfd(pidfd, h.state->pid, 10000) < 0)
                                return kerr(err, -ETIMEDOUT, "container \"%s\" did not die after SIGKILL", id);
                }
        }
        if (cg && (r = cgroup_destroy(cg, err)) < 0)
                return kerr_prefix(err, r, "delete container \"%s\"", id);
        if (h.state->pid > 0)
                run_poststop(&h);
        return state_dir_remove(root, id, err);
}

int container_state(const char *root, const char *id, json_t **ret, KError **err) {
        _cleanup_(handle_done) Handle h;
        int r = handle_open(root, id, false, &h, err);
        if (r < 0)
                return r;
        *ret = state_to_json(h.state, h.status);
        return *ret ? 0 : kerr(err, -ENOMEM, "state");
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int container_list(const char *root, json_t **ret, KError **err) {
        _cleanup_json_ json_t *arr = json_array();
        _cleanup_strv_free_ char **ids = NULL;
        DIR *d = opendir(root);
        if (!d) {
                if (errno != ENOENT)
                        return kerr(err, -errno, "list state root '%s'", root);
        } else {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (de->d_type == DT_DIR && container_id_valid(de->d_name) && strv_extend(&ids, de->d_name) < 0)
                                break;
                closedir(d);
        }
        if (ids)
                qsort(ids, strv_length(ids), sizeof(char *), cmp_str);
        for (size_t i = 0; ids && ids[i]; i++) {
                json_t *st = NULL;
                if (container_state(root, ids[i], &st, NULL) >= 0)
                        json_array_append_new(arr, st);
        }
        *ret = TAKE_PTR(arr);
        return 0;
}

int container_pause(const char *root, const char *id, bool pause, KError **err) {
        _cleanup_(handle_done) Handle h;
        int r = handle_open(root, id, true, &h, err);
        if (r < 0)
                return r;
        ContainerStatus want = pause ? STATUS_RUNNING : STATUS_PAUSED;
        if (h.status != want)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container \"%s\" is %s, not %s", id,
                                container_status_to_string(h.status), container_status_to_string(want));
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        if ((r = handle_cgroup(&h, &cg, err)) < 0)
                return r;
        return cgroup_freeze(cg, pause, err);
}

int container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n, KError **err) {
        _cleanup_(handle_done) Handle h;
        int r = handle_open(root, id, false, &h, err);
        if (r < 0)
                return r;
        if (!h.state->cgroup_path) {
                /* no cgroup: the init alone is what we know */
                *ret_n = 0;
                *ret = calloc(1, sizeof(pid_t));
                if (h.status != STATUS_STOPPED && *ret)
                        (*ret)[(*ret_n)++] = h.state->pid;
                return *ret ? 0 : -ENOMEM;
        }
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        if ((r = handle_cgroup(&h, &cg, err)) < 0)
                return r;
        return cgroup_pids(cg, ret, ret_n, err);
}

int container_stats(const char *root, const char *id, CgroupStats *ret, KError **err) {
        _cleanup_(handle_done) Handle h;
        int r = handle_open(root, id, false, &h, err);
        if (r < 0)
                return r;
        if (h.status == STATUS_STOPPED)
                return kerr_msg(err, KERR_STATE, -ESRCH, "container \"%s\" is not running", id);
        if (!h.state->cgroup_path)
                return kerr_msg(err, KERR_STATE, -ENOENT, "container \"%s\" has no cgroup to read statistics from", id);
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        if ((r = handle_cgroup(&h, &cg, err)) < 0)
                return r;
        return cgroup_stats(cg, ret, err);
}

int container_update(const char *root, const char *id, const SpecResources *res, KError **err) {
        _cleanup_(handle_done) Handle h;
        int r = handle_open(root, id, true, &h, err);
        if (r < 0)
                return r;
        if (h.status == STATUS_STOPPED)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container \"%s\" is stopped", id);
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        if ((r = handle_cgroup(&h, &cg, err)) < 0)
                return r;
        return cgroup_apply(cg, res, err);
}
