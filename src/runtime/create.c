/* SPDX-License-Identifier: Apache-2.0 */
/* `create`: validate, plan, then set up the container's init in its namespaces and cgroup.
 * Ordered so that a failure at any step unwinds everything before it: no process, cgroup,
 * mount or state directory is left behind (the init dies with us via PDEATHSIG, and its
 * mounts live only in its own mount namespace). */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "container.h"
#include "fd-util.h"
#include "hooks.h"
#include "init.h"
#include "json-util.h"
#include "log.h"
#include "path-util.h"
#include "plan.h"
#include "rootfs.h"
#include "security.h"
#include "state.h"
#include "string-util.h"
#include "terminal.h"

typedef struct CreateContext {
        const CreateOptions *o;
        Spec *spec;
        Plan *plan;
        char *bundle;
        char *config_text;
        int state_dirfd;
        bool state_dir_created;
        Cgroup *cgroup;
        CgroupJoin *cgroup_join;        /* v1: the init joins by itself (cgroup.h) */
        CgroupMode cgroup_mode;
        char *cgroup_path;
        int sync_parent, sync_child;
        int start_fd;
        int console_fd;
        int devnull_fd;
        int agent_fd;           /* seccomp agent connection, handed to the init */
        int *bind_fds;          /* with a user namespace: bind sources opened as the caller */
        pid_t pid;
        ContainerState *state;
} CreateContext;

static void create_context_unwind(CreateContext *c, bool failed) {
        if (failed && c->pid > 0) {
                kill(c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
        }
        if (failed && c->cgroup)
                (void) cgroup_destroy(c->cgroup, NULL);
        if (failed && c->state_dir_created)
                (void) state_dir_remove(c->o->root, c->o->id, NULL);
        cgroup_free(c->cgroup);
        cgroup_join_free(c->cgroup_join);
        for (size_t i = 0; c->bind_fds && i < c->plan->n_mounts; i++)
                safe_close(c->bind_fds[i]);
        free(c->bind_fds);
        safe_close(c->state_dirfd);
        safe_close(c->sync_parent);
        safe_close(c->sync_child);
        safe_close(c->start_fd);
        if (c->o->console_fd < 0)
                safe_close(c->console_fd);
        safe_close(c->devnull_fd);
        spec_free(c->spec);
        plan_free(c->plan);
        free(c->bundle);
        free(c->config_text);
        free(c->cgroup_path);
        container_state_free(c->state);
}

static int load_bundle(CreateContext *c, KError **err) {
        _cleanup_free_ char *abs = realpath(c->o->bundle, NULL);
        if (!abs)
                return kerr_kind(err, KERR_CONFIG, -errno, "bundle '%s'", c->o->bundle);
        int r = spec_load_bundle(abs, &c->spec, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *cfg = path_join(abs, "config.json");
        if (!cfg || read_full_file_at(AT_FDCWD, cfg, 16 << 20, &c->config_text, NULL) < 0)
                return kerr(err, -EIO, "read '%s'", cfg ? cfg : "config.json");
        if (!c->spec->process)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s: \"process\" is required to create a container", cfg);
        r = plan_build(c->spec, abs, &c->plan, err);
        if (r < 0)
                return kerr_prefix(err, kerr_set_kind(err, r, KERR_CONFIG), "%s", cfg);
        c->bundle = TAKE_PTR(abs);

        struct stat st;
        if (stat(c->plan->rootfs, &st) < 0)
                return kerr_kind(err, KERR_ROOTFS, -errno,
                                 "rootfs '%s' (root.path in %s); create it or fix root.path", c->plan->rootfs, cfg);
        if (!S_ISDIR(st.st_mode))
                return kerr_msg(err, KERR_ROOTFS, -ENOTDIR, "rootfs '%s' is not a directory", c->plan->rootfs);
        if (c->spec->process->terminal && c->o->console_fd < 0 && !c->o->console_socket)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "process.terminal is true: pass --console-socket to receive the pty");
        if (c->spec->hostname && !c->plan->ns_new[NS_UTS] && !c->plan->ns_join[NS_UTS])
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "%s: hostname is set but there is no UTS namespace; add {\"type\": \"uts\"}", cfg);
        for (size_t i = 0; c->spec->has_linux && i < c->spec->linux_.n_sysctl; i++) {
                r = sysctl_validate(c->spec->linux_.sysctl[i].key,
                                    c->plan->ns_new[NS_IPC] || c->plan->ns_join[NS_IPC],
                                    c->plan->ns_new[NS_NETWORK] || c->plan->ns_join[NS_NETWORK],
                                    c->plan->ns_new[NS_UTS] || c->plan->ns_join[NS_UTS], err);
                if (r < 0)
                        return kerr_prefix(err, r, "%s", cfg);
        }
        return 0;
}

static int resolve_cgroup(CreateContext *c, KError **err) {
        const SpecLinux *l = c->spec->has_linux ? &c->spec->linux_ : NULL;
        int r = cgroup_detect("/sys/fs/cgroup", &c->cgroup_mode, err);
        if (r < 0)
                return r;
        return cgroup_resolve_path(l ? l->cgroups_path : NULL, c->o->id, &c->cgroup_path, err);
}

static int setup_cgroup(CreateContext *c, KError **err) {
        const SpecLinux *l = c->spec->has_linux ? &c->spec->linux_ : NULL;
        int r;
        /* The plan's device rules (defaults + spec) replace the spec's list. */
        SpecResources res = l && l->has_resources ? l->resources : (SpecResources) { 0 };
        res.devices = c->plan->device_rules;
        res.n_devices = c->plan->n_device_rules;
        if (c->plan->userns && geteuid() != 0)
                res.n_devices = 0;      /* rootless: device cgroup is not ours to set */
        r = cgroup_create("/sys/fs/cgroup", c->cgroup_mode, c->cgroup_path, &res, &c->cgroup, err);
        _cleanup_free_ pid_t *pids = NULL;
        size_t n_pids = 0;
        if (r >= 0 && cgroup_existed(c->cgroup) && cgroup_pids(c->cgroup, &pids, &n_pids, NULL) >= 0 && n_pids > 0)
                log_warn("container's cgroup is not empty: %zu process(es) already run in %s", n_pids, c->cgroup_path);
        if (r < 0 && geteuid() != 0 && !(l && l->has_resources) && (r == -EACCES || r == -EPERM || r == -EROFS)) {
                /* Rootless without a delegated cgroup: run without one, as runc does. */
                if (err) {
                        kerr_free(*err);
                        *err = NULL;
                }
                c->cgroup_path = mfree(c->cgroup_path);
                return 0;
        }
        return r;
}

/* In a user namespace the init may not reach a bind source the caller can (a directory only
 * the host's root may enter): open every source here, before the init exists, as runc does. */
static int open_bind_sources(CreateContext *c, KError **err) {
        const Plan *p = c->plan;
        if (!p->userns || p->n_mounts == 0)
                return 0;
        if (!(c->bind_fds = calloc(p->n_mounts, sizeof(int))))
                return kerr(err, -ENOMEM, "bind sources");
        for (size_t i = 0; i < p->n_mounts; i++)
                c->bind_fds[i] = -1;
        for (size_t i = 0; i < p->n_mounts; i++) {
                const PlanMount *m = &p->mounts[i];
                if (m->kind != PLAN_MOUNT_BIND)
                        continue;
                /* a detached copy of the source mount (open_tree), which the init attaches in
                 * its own mount namespace: a plain fd of ours would be in the wrong one */
                c->bind_fds[i] = (int) syscall(SYS_open_tree, AT_FDCWD, m->source,
                                               OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m->recursive ? AT_RECURSIVE : 0));
                /* unprivileged (rootless) callers may not clone mounts: the init opens the source */
                if (c->bind_fds[i] < 0 && (errno == EPERM || errno == ENOSYS))
                        continue;
                if (c->bind_fds[i] < 0)
                        return kerr_kind(err, KERR_CONFIG, -errno, "bind mount source '%s' for %s", m->source, m->dest);
        }
        return 0;
}

static int make_start_socket(CreateContext *c, KError **err) {
        /* bind through /proc/self/fd/<dirfd>/start.sock: short whatever the root's length */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/start.sock", c->state_dirfd);
        c->start_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->start_fd < 0)
                return kerr(err, -errno, "socket");
        if (bind(c->start_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return kerr(err, -errno, "bind start.sock in the state directory");
        if (listen(c->start_fd, 4) < 0)
                return kerr(err, -errno, "listen on start.sock");
        return 0;
}

static int write_id_map(pid_t pid, const char *file, const SpecIdMap *m, size_t n, KError **err) {
        if (n == 0)
                return 0;
        char buf[4096];
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
                int k = snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].container_id, m[i].host_id, m[i].size);
                if (k < 0 || (size_t) k >= sizeof(buf) - len)
                        return kerr_msg(err, KERR_CONFIG, -E2BIG, "too many %s entries", file);
                len += (size_t) k;
        }
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
        int r = write_string_file_at(AT_FDCWD, path, buf);
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "write %s (the host refused the mapping \"%.*s\")",
                                 path, (int) strcspn(buf, "\n"), buf);
        return 0;
}

static int setup_user_namespace(CreateContext *c, KError **err) {
        if (!c->plan->ns_new[NS_USER])
                return 0;
        const SpecLinux *l = &c->spec->linux_;
        if (geteuid() != 0) {
                /* unprivileged: gid_map needs setgroups denied first */
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/setgroups", (int) c->pid);
                (void) write_string_file_at(AT_FDCWD, path, "deny");
        }
        int r = write_id_map(c->pid, "uid_map", l->uid_mappings, l->n_uid_mappings, err);
        if (r < 0)
                return r;
        return write_id_map(c->pid, "gid_map", l->gid_mappings, l->n_gid_mappings, err);
}

/* Namespaces that only affect children (pid, time) are entered by the runtime itself. */
static int enter_parent_namespaces(CreateContext *c, KError **err) {
        const Plan *p = c->plan;
        if (p->ns_join[NS_PID]) {
                int r = ns_join_path(NS_PID, p->ns_join[NS_PID], err);
                if (r < 0)
                        return r;
        }
        if (p->ns_join[NS_TIME]) {
                int r = ns_join_path(NS_TIME, p->ns_join[NS_TIME], err);
                if (r < 0)
                        return r;
        }
        if (p->ns_new[NS_TIME]) {
                if (unshare(CLONE_NEWTIME) < 0)
                        return kerr_kind(err, KERR_HOST, -errno, "unshare the time namespace");
                const SpecLinux *l = &c->spec->linux_;
                if (l->has_time_offsets) {
                        char buf[128];
                        snprintf(buf, sizeof(buf), "monotonic %lld %u\nboottime %lld %u\n",
                                 (long long) l->time_offset_monotonic.secs, l->time_offset_monotonic.nanosecs,
                                 (long long) l->time_offset_boottime.secs, l->time_offset_boottime.nanosecs);
                        int r = write_string_file_at(AT_FDCWD, "/proc/self/timens_offsets", buf);
                        if (r < 0)
                                return kerr(err, r, "write linux.timeOffsets");
                }
        }
        if (p->ns_join[NS_USER] && p->ns_new[NS_PID])
                return kerr_msg(err, KERR_CONFIG, -EOPNOTSUPP,
                                "joining a user namespace together with a new pid namespace is not supported");
        return 0;
}

static char *now_rfc3339(void) {
        struct timespec ts;
        struct tm tm;
        char buf[64], *out = NULL;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        if (asprintf(&out, "%s.%09ldZ", buf, ts.tv_nsec) < 0)
                return NULL;
        return out;
}

/* Saved twice: first without a pid, before anything is created (a create killed with -9
 * from then on leaves a "creating" state that `delete --force` uses to find and remove the
 * cgroup), then with the init's pid and the config. */
static int record_state(CreateContext *c, bool final, KError **err) {
        ContainerState *s = c->state;
        if (!s) {
                if (!(s = c->state = calloc(1, sizeof(*s))))
                        return kerr(err, -ENOMEM, "state");
                s->id = strdup(c->o->id);
                s->bundle = strdup(c->bundle);
                s->rootfs = strdup(c->plan->rootfs);
                s->created = now_rfc3339();
                s->owner = geteuid();
                s->cgroup_mode = c->cgroup_mode;
                if (!s->id || !s->bundle || !s->rootfs || !s->created ||
                    strv_copy(c->spec->annotations, &s->annotations) < 0)
                        return kerr(err, -ENOMEM, "state");
        }
        free(s->cgroup_path);
        s->cgroup_path = c->cgroup_path ? strdup(c->cgroup_path) : NULL;
        if (c->cgroup_path && !s->cgroup_path)
                return kerr(err, -ENOMEM, "state");
        if (final) {
                if (s->pid != c->pid) {         /* else release_init did */
                        s->pid = c->pid;
                        s->pid_start = proc_start_time(c->pid);
                }
                int r = write_file_atomic_at(c->state_dirfd, "config.json", c->config_text, strlen(c->config_text), 0600);
                if (r < 0)
                        return kerr(err, r, "save config.json in the state directory");
        }
        return state_save(c->state_dirfd, s, err);
}

static int run_runtime_hooks(CreateContext *c, KError **err) {
        /* prestart (deprecated) sees "created", as runc and runtime-tools expect; createRuntime
         * runs during the create operation: "creating" */
        _cleanup_json_ json_t *pj = state_to_json(c->state, STATUS_CREATED);
        _cleanup_json_ json_t *j = state_to_json(c->state, STATUS_CREATING);
        _cleanup_free_ char *ptext = pj ? json_dump_string(pj, false) : NULL;
        _cleanup_free_ char *text = j ? json_dump_string(j, false) : NULL;
        if (!text || !ptext)
                return kerr(err, -ENOMEM, "state");
        const Spec *s = c->spec;
        int r = hooks_run(HOOK_PRESTART, s->hooks[HOOK_PRESTART], s->n_hooks[HOOK_PRESTART], ptext, err);
        if (r < 0)
                return r;
        return hooks_run(HOOK_CREATE_RUNTIME, s->hooks[HOOK_CREATE_RUNTIME], s->n_hooks[HOOK_CREATE_RUNTIME],
                         text, err);
}

/* GO: the init starts setting itself up (cgroup, namespaces, mounts). */
static int release_init(CreateContext *c, KError **err) {
        c->state->pid = c->pid;
        c->state->pid_start = proc_start_time(c->pid);
        _cleanup_json_ json_t *j = state_to_json(c->state, STATUS_CREATING);
        _cleanup_free_ char *text = j ? json_dump_string(j, false) : NULL;
        if (!text)
                return kerr(err, -ENOMEM, "state");
        int r = sync_send(c->sync_parent, SYNC_GO, text);
        if (r < 0)
                return kerr(err, r, "release the container init");
        return 0;
}

/* Drive the child through setup; returns when it is READY or failed. */
static int supervise_setup(CreateContext *c, KError **err) {
        int r;
        for (;;) {
                uint32_t type;
                r = sync_recv(c->sync_parent, &type, NULL);
                if (r < 0)
                        return kerr(err, r, "the container init exited during setup");
                switch (type) {
                case SYNC_READY:
                        return 0;
                case SYNC_HOOKS:
                        r = run_runtime_hooks(c, err);
                        if (r < 0)
                                return r;
                        r = sync_send(c->sync_parent, SYNC_GO, NULL);
                        if (r < 0)
                                return kerr(err, r, "resume the container init after hooks");
                        break;
                case SYNC_ERROR: {
                        KError *child = NULL;
                        r = kerr_recv(c->sync_parent, &child);
                        if (r < 0)
                                return kerr(err, r, "the container init failed (unreadable error)");
                        if (err && !*err)
                                *err = child;
                        else
                                kerr_free(child);
                        return child ? child->code : -EIO;
                }
                default:
                        return kerr(err, -EPROTO, "unexpected message %u from the container init", type);
                }
        }
}

static int spawn_init(CreateContext *c, KError **err) {
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return kerr(err, -errno, "socketpair");
        c->sync_parent = sp[0];
        c->sync_child = sp[1];
        int r = enter_parent_namespaces(c, err);
        if (r < 0)
                return r;
        int flags = c->plan->ns_join[NS_USER] ? 0 : c->plan->clone_flags;
        /* The debug lines of create and exec carry the step names runc's users grep for. */
        log_debug("nsexec container setup: clone the init of \"%s\" (clone flags 0x%x)", c->o->id, flags);
        pid_t pid = (pid_t) syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid < 0)
                return kerr_kind(err, KERR_HOST, -errno, "clone the container init");
        if (pid == 0) {
                /* the init keeps only what it needs; the rest of ours must not reach it */
                c->sync_parent = safe_close(c->sync_parent);
                c->state_dirfd = safe_close(c->state_dirfd);
                InitArgs a = {
                        .spec = c->spec, .plan = c->plan, .id = c->o->id, .sync_fd = c->sync_child,
                        .start_fd = c->start_fd, .console_fd = c->console_fd, .devnull_fd = c->devnull_fd,
                        .preserve_fds = c->o->preserve_fds, .no_pivot = c->o->no_pivot,
                        .no_new_keyring = c->o->no_new_keyring, .cgroup_path = c->cgroup_path,
                        .agent_fd = c->agent_fd, .bind_fds = c->bind_fds, .cgroup_join = c->cgroup_join,
                };
                container_init(&a);
        }
        c->pid = pid;
        c->sync_child = safe_close(c->sync_child);
        cgroup_join_free(TAKE_PTR(c->cgroup_join));     /* the init has its own copies */
        return 0;
}

int container_create(const CreateOptions *o, pid_t *ret_pid, KError **err) {
        CreateContext c = {
                .o = o, .state_dirfd = -1, .sync_parent = -1, .sync_child = -1, .start_fd = -1,
                .console_fd = o->console_fd, .devnull_fd = -1, .agent_fd = -1,
        };
        int r;

        if ((r = load_bundle(&c, err)) < 0)
                goto out;
        if ((c.devnull_fd = r = rootfs_open_devnull(err)) < 0)
                goto out;
        if (c.console_fd < 0 && o->console_socket &&
            (c.console_fd = r = terminal_connect_socket(o->console_socket, err)) < 0)
                goto out;
        if ((c.state_dirfd = r = state_dir_create(o->root, o->id, err)) < 0)
                goto out;
        c.state_dir_created = true;
        if ((r = resolve_cgroup(&c, err)) < 0 || (r = record_state(&c, false, err)) < 0)
                goto out;
        if ((r = setup_cgroup(&c, err)) < 0 || (r = make_start_socket(&c, err)) < 0 ||
            (r = open_bind_sources(&c, err)) < 0)
                goto out;
        if (c.cgroup && (r = cgroup_join_prepare(c.cgroup, &c.cgroup_join, err)) < 0)
                goto out;
        /* The seccomp agent is reached from here, the host's view, before the init exists. */
        if ((r = seccomp_listener_connect(c.spec->has_linux ? c.spec->linux_.seccomp : NULL, &c.agent_fd, err)) < 0)
                goto out;
        r = spawn_init(&c, err);
        c.agent_fd = safe_close(c.agent_fd);
        if (r < 0)
                goto out;
        if ((r = setup_user_namespace(&c, err)) < 0)
                goto out;
        /* v2: moved by us here; v1: the init moves itself after GO (cgroup_join_prepare) */
        if (c.cgroup && cgroup_mode(c.cgroup) == CGROUP_MODE_V2 && (r = cgroup_enter(c.cgroup, c.pid, err)) < 0)
                goto out;
        /* The init sets itself up while we save the state (0.3-0.4 ms of writes), unless a
         * createContainer hook, which it runs itself, could look at that state: then state
         * first. Either way a crash of ours from here leaves a container `delete` can remove:
         * the init dies with us (PDEATHSIG), and the state saved before the cgroup was made
         * names it. */
        bool early = c.spec->n_hooks[HOOK_CREATE_CONTAINER] == 0;
        if (early && (r = release_init(&c, err)) < 0)
                goto out;
        if ((r = record_state(&c, true, err)) < 0)
                goto out;
        if (!early && (r = release_init(&c, err)) < 0)
                goto out;
        if ((r = supervise_setup(&c, err)) < 0)
                goto out;
        if (o->pid_file) {
                char buf[32];
                int n = snprintf(buf, sizeof(buf), "%d", (int) c.pid);
                r = write_file_atomic_at(AT_FDCWD, o->pid_file, buf, (size_t) n, 0644);
                if (r < 0) {
                        kerr(err, r, "write --pid-file '%s'", o->pid_file);
                        goto out;
                }
        }
        if (ret_pid)
                *ret_pid = c.pid;
        r = 0;
out:
        if (r < 0 && c.spec)
                kerr_prefix(err, r, "create container \"%s\"", o->id);
        create_context_unwind(&c, r < 0);
        return r;
}
