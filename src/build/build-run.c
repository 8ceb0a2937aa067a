/* SPDX-License-Identifier: Apache-2.0 */
/* RUN: the command in a throw-away container of the runtime core (in-process, as the monitor
 * does), on the step's overlay, with the image's env, working directory and user; its output
 * (stdout and stderr together) goes to the progress callback as it comes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build-internal.h"
#include "container.h"
#include "ctr-net.h"
#include "fd-util.h"
#include "json-util.h"
#include "path-util.h"
#include "spec-gen.h"
#include "string-util.h"
#include "user.h"

static char **json_strv(const json_t *a) {
        char **v = calloc(1, sizeof(char *));
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e)
                if (v && strv_extend(&v, json_string_value(e) ?: "") < 0) {
                        strv_free(v);
                        return NULL;
                }
        return v;
}

int build_run_env(Builder *b, Stage *st, char ***ret_env, char **ret_key) {
        _cleanup_strv_free_ char **env = calloc(1, sizeof(char *));
        _cleanup_free_ char *key = strdup("");
        size_t n = 0;
        const char *k;
        json_t *v;
        if (!env || !key)
                return -ENOMEM;
        json_object_foreach(st->args, k, v) {
                if (!json_is_string(v))
                        continue;
                size_t l = strlen(k), i;
                json_t *e;
                bool shadowed = false;
                json_array_foreach(json_object_get(build_cc(st), "Env"), i, e) {
                        const char *kv = json_string_value(e);
                        shadowed |= kv && strncmp(kv, k, l) == 0 && kv[l] == '=';
                }
                if (shadowed)
                        continue;
                char *kv = NULL, *nk = NULL;
                if (asprintf(&kv, "%s=%s", k, json_string_value(v)) < 0 || strv_extend(&env, kv) < 0 ||
                    asprintf(&nk, "%s %s", key, kv) < 0) {
                        free(kv);
                        return -ENOMEM;
                }
                free(kv);
                free(key);
                key = nk;
                n++;
        }
        /* the predefined proxy args reach RUN without an ARG line and stay out of the cache key */
        json_object_foreach(b->plan.build_args, k, v)
                if (plan_is_proxy_arg(k) && !json_object_get(st->args, k)) {
                        char *kv = NULL;
                        if (asprintf(&kv, "%s=%s", k, json_string_value(v)) < 0 || strv_extend(&env, kv) < 0) {
                                free(kv);
                                return -ENOMEM;
                        }
                        free(kv);
                }
        char *full = NULL;
        if (asprintf(&full, n ? "|%zu%s " : "", n, key) < 0)
                return -ENOMEM;
        *ret_env = TAKE_PTR(env);
        *ret_key = full;
        return 0;
}

static int write_spec(Builder *b, Stage *st, WorkDir *w, char **argv, char **extra_env, const CtrNet *net,
                      KError **err) {
        _cleanup_free_ char *rootfs = path_join(w->dir, "rootfs"), *bundle = path_join(w->dir, "bundle"),
                            *volumes = path_join(b->e->root, "volumes"), *cg = NULL;
        if (!rootfs || !bundle || !volumes || asprintf(&cg, "/kapsel/kbuild-%s", w->id) < 0)
                return kerr(err, -ENOMEM, "RUN");
        json_t *cc = build_cc(st);
        const char *user = json_string_value(json_object_get(cc, "User"));
        const char *wd = json_string_value(json_object_get(cc, "WorkingDir"));
        _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return kerr(err, -errno, "open %s", rootfs);
        if (wd && *wd) {
                int fd = mkdir_p_in_root(rootfd, wd, 0755);
                if (fd < 0)
                        return kerr(err, fd, "create the working directory %s", wd);
                close(fd);
        }
        UserIds u;
        int r = user_resolve(rootfd, user, &u, err);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **env = json_strv(json_object_get(cc, "Env"));
        for (char **e = extra_env; env && e && *e; e++)
                if (strv_extend(&env, *e) < 0)
                        env = NULL;
        bool has_path = false;
        for (char **e = env; e && *e; e++)
                has_path |= startswith(*e, "PATH=") != NULL;
        if (env && !has_path && strv_extend(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") < 0)
                env = NULL;
        ImageConfig ic = { .env = env, .cmd = argv, .working_dir = (char *) (wd && *wd ? wd : "/"), .user = (char *) user };
        _cleanup_json_ json_t *cfg = json_pack("{s:{}, s:{}}", "Config", "HostConfig");
        SpecGenInput in = {
                .image = &ic, .config = cfg, .rootfs = rootfs, .volumes_dir = volumes, .uid = u.uid, .gid = u.gid,
                .additional_gids = u.groups, .n_additional_gids = u.n_groups, .cgroups_path = cg,
                .host_network = b->o->network && streq(b->o->network, "host"), .netns_path = net->netns_path,
                .hosts_path = net->files.hosts, .hostname_path = net->files.hostname,
                .resolv_path = net->files.resolv_conf,
        };
        json_t *spec = NULL;
        r = env && cfg ? spec_gen(&in, &spec, err) : kerr(err, -ENOMEM, "RUN");
        user_ids_done(&u);
        if (r < 0)
                return r;
        return spec_write_bundle(bundle, spec, err);
}

/* Create with fds 1 and 2 on the pipe (the container inherits them), then put ours back. */
static int create_on_pipe(CreateOptions *o, int out, pid_t *pid, KError **err) {
        _cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int s0 = fcntl(0, F_DUPFD_CLOEXEC, 3), s1 = fcntl(1, F_DUPFD_CLOEXEC, 3), s2 = fcntl(2, F_DUPFD_CLOEXEC, 3);
        if (devnull < 0 || s0 < 0 || s1 < 0 || s2 < 0) {
                safe_close(s0), safe_close(s1), safe_close(s2);
                return kerr(err, -errno, "RUN: duplicate stdio");
        }
        dup2(devnull, 0);
        dup2(out, 1);
        dup2(out, 2);
        int r = container_create(o, pid, err);
        dup2(s0, 0);
        dup2(s1, 1);
        dup2(s2, 2);
        safe_close(s0), safe_close(s1), safe_close(s2);
        return r;
}

/* Forward output until the pipe closes; on an interrupt kill the container. */
static void pump(Builder *b, const char *root, const char *id, int fd) {
        char buf[8192];
        bool killed = false;
        for (;;) {
                if (build_interrupted && !killed) {
                        (void) container_kill(root, id, SIGKILL, true, NULL);
                        killed = true;
                }
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int n = poll(&p, 1, 200);
                if (n < 0 && errno != EINTR)
                        return;
                if (n <= 0)
                        continue;
                ssize_t l = read(fd, buf, sizeof(buf));
                if (l < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (l <= 0)
                        return;
                if (b->cb)
                        b->cb(b->userdata, BUILD_EVENT_OUTPUT, buf, (size_t) l);
        }
}

bool build_network_bridged(const BuildOptions *o) {
        return o->network && !streq(o->network, "none") && !streq(o->network, "host") && !build_isolation_vm(o);
}

int build_network_check(Builder *b, KError **err) {
        const char *n = b->o->network;
        if (!n || streq(n, "none") || streq(n, "host"))
                return 0;       /* (a bridge or network with --isolation=vm too: its tap goes there) */
        if (startswith(n, "container:"))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--network %s: RUN steps take none, host, bridge or the name of a network", n);
        _cleanup_json_ json_t *cfg = json_pack("{s:{s:s}}", "HostConfig", "NetworkMode", n);
        _cleanup_kerr_ KError *verr = NULL;
        int r = cfg ? ctr_net_validate(b->e, cfg, &verr) : -ENOMEM;
        if (r == -ENOENT)
                return kerr_msg(err, KERR_NOT_FOUND, r, "--network %s: no such network (`kapsel network ls` lists them, "
                                "`kapsel network create %s` makes one)", n, n);
        if (r < 0)
                return kerr_msg(err, verr ? verr->kind : KERR_GENERIC, r, "--network %s: %s", n,
                                verr ? verr->msg : strerror(-r));
        return 0;
}

/* The /etc files a bridged RUN step gets bind-mounted: the runtime creates a mount point for each
 * one the image lacks, in the step's upper dir. Those empty stubs are not the step's doing and
 * stay out of its layer (as docker's init layer keeps them out of a commit). */
static const char *const net_files[] = { "hosts", "resolv.conf", "hostname" };

/* etc/ of a container's tree, opened without following a symlink (a RUN step can make its etc a
 * link to the host's /etc, which a path would follow): -1 when there is no such directory. */
static int open_etc(int treefd) {
        return openat(treefd, "etc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static unsigned missing_net_files(const WorkDir *w) {
        _cleanup_free_ char *rootfs = path_join(w->dir, "rootfs");
        _cleanup_close_ int rfd = rootfs ? open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        _cleanup_close_ int efd = rfd >= 0 ? open_etc(rfd) : -1;
        bool no_etc = rfd >= 0 && efd < 0 && errno == ENOENT;        /* a link or a file: not ours to fill */
        unsigned m = 0;
        struct stat sb;
        for (size_t i = 0; i < ELEMENTSOF(net_files); i++)
                if (no_etc || (efd >= 0 && fstatat(efd, net_files[i], &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT))
                        m |= 1u << i;
        return m;
}

void build_drop_net_files(int treefd, unsigned which, bool only_empty) {
        _cleanup_close_ int efd = open_etc(treefd);
        struct stat sb;
        if (efd < 0)
                return;
        for (size_t i = 0; i < ELEMENTSOF(net_files); i++)
                if ((which & (1u << i)) && fstatat(efd, net_files[i], &sb, AT_SYMLINK_NOFOLLOW) >= 0 &&
                    S_ISREG(sb.st_mode) && (!only_empty || sb.st_size == 0))
                        (void) unlinkat(efd, net_files[i], 0);
        (void) unlinkat(treefd, "etc", AT_REMOVEDIR);   /* only when nothing else in it changed */
}

static void drop_net_stubs(const WorkDir *w, unsigned missing) {
        _cleanup_free_ char *diff = path_join(w->dir, "diff");
        _cleanup_close_ int dfd = diff ? open(diff, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (dfd >= 0 && missing)
                build_drop_net_files(dfd, missing, true);
}

static int run_container(Builder *b, WorkDir *w, const char *id, KError **err) {
        _cleanup_free_ char *bundle = path_join(w->dir, "bundle");
        if (!bundle)
                return kerr(err, -ENOMEM, "RUN");
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return kerr(err, -errno, "RUN: output pipe");
        CreateOptions o = { .root = b->e->runtime_root, .id = id, .bundle = bundle, .console_fd = -1 };
        pid_t pid = -1;
        int r = create_on_pipe(&o, p[1], &pid, err);
        safe_close(p[1]);
        if (r >= 0)
                r = container_start(o.root, id, err);
        if (r >= 0)
                pump(b, o.root, id, p[0]);
        safe_close(p[0]);
        int status = 0;
        if (pid > 0) {
                if (r < 0)
                        (void) kill(pid, SIGKILL);
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
        }
        (void) container_delete(o.root, id, true, NULL);
        if (r < 0)
                return r;
        if (build_interrupted)
                return kerr(err, -EINTR, "build interrupted");
        if (WIFSIGNALED(status))
                return kerr_msg(err, KERR_GENERIC, -ECHILD, "killed by signal %d", WTERMSIG(status));
        if (WEXITSTATUS(status) != 0)
                return kerr_msg(err, KERR_GENERIC, -ECHILD, "returned a non-zero code: %d", WEXITSTATUS(status));
        return 0;
}

int build_run_step(Builder *b, Stage *st, WorkDir *w, char **argv, char **extra_env, KError **err) {
        if (build_isolation_vm(b->o))
                return build_run_step_vm(b, st, w, argv, extra_env, err);
        _cleanup_free_ char *id = NULL, *ns = NULL;
        CtrNet net = { 0 };
        bool bridged = build_network_bridged(b->o);
        unsigned missing = 0;
        if (asprintf(&id, "kbuild-%s", w->id) < 0 || (bridged && !(ns = path_join(w->dir, "netns"))))
                return kerr(err, -ENOMEM, "RUN");
        int r = 0;
        if (bridged) {
                missing = missing_net_files(w);
                r = ctr_net_setup_bare(b->e, id, b->o->network, ns, &net, err);
                if (r < 0)
                        return kerr_prefix(err, r, "RUN: attach to network %s", b->o->network);
        }
        r = write_spec(b, st, w, argv, extra_env, &net, err);
        if (r >= 0)
                r = run_container(b, w, id, err);
        if (bridged) {
                (void) ctr_net_release(b->e, id, ns, NULL);
                ctr_net_done(&net);
                drop_net_stubs(w, missing);
        }
        return r;
}
