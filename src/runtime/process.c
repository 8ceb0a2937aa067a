/* SPDX-License-Identifier: Apache-2.0 */
/* The last steps before execve(), shared by the container's init and by exec'd processes,
 * plus the small sync protocol between the runtime and its child. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "init.h"
#include "path-util.h"
#include "security.h"
#include "string-util.h"

#define SYNC_MAX_PAYLOAD (256 * 1024)

int sync_send(int fd, uint32_t type, const char *payload) {
        size_t len = payload ? strlen(payload) : 0;
        if (len > SYNC_MAX_PAYLOAD)
                return -E2BIG;
        _cleanup_free_ char *buf = malloc(sizeof(type) + len);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, &type, sizeof(type));
        if (len)
                memcpy(buf + sizeof(type), payload, len);
        ssize_t n = send(fd, buf, sizeof(type) + len, MSG_NOSIGNAL);
        if (n < 0)
                return -errno;
        return (size_t) n == sizeof(type) + len ? 0 : -EIO;
}

int sync_recv(int fd, uint32_t *ret_type, char **ret_payload) {
        _cleanup_free_ char *buf = malloc(sizeof(uint32_t) + SYNC_MAX_PAYLOAD + 1);
        if (!buf)
                return -ENOMEM;
        ssize_t n;
        do
                n = recv(fd, buf, sizeof(uint32_t) + SYNC_MAX_PAYLOAD, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -EPIPE;
        if ((size_t) n < sizeof(uint32_t))
                return -EBADMSG;
        memcpy(ret_type, buf, sizeof(uint32_t));
        buf[n] = '\0';
        if (ret_payload) {
                *ret_payload = strdup(buf + sizeof(uint32_t));
                if (!*ret_payload)
                        return -ENOMEM;
        }
        return 0;
}

void sync_fail(int fd, const KError *e, int status) {
        (void) sync_send(fd, SYNC_ERROR, NULL);
        (void) kerr_send(fd, e);
        _exit(status);
}

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

int ns_join_path(SpecNsType type, const char *path, KError **err) {
        /* setns() with the type: a path to another kind of namespace is refused, not joined. */
        static const int nstype[_NS_TYPE_MAX] = {
                [NS_PID] = CLONE_NEWPID, [NS_NETWORK] = CLONE_NEWNET, [NS_MOUNT] = CLONE_NEWNS,
                [NS_IPC] = CLONE_NEWIPC, [NS_UTS] = CLONE_NEWUTS,     [NS_USER] = CLONE_NEWUSER,
                [NS_CGROUP] = CLONE_NEWCGROUP, [NS_TIME] = CLONE_NEWTIME,
        };
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return kerr_kind(err, KERR_CONFIG, -errno, "open %s namespace '%s'",
                                 spec_ns_type_to_string(type), path);
        /* Our own mount namespace is the host's (or the caller's): setting the rootfs up in it would
         * pivot every process of it into the container's root. */
        struct stat ns, self;
        if (type == NS_MOUNT && fstat(fd, &ns) >= 0 && stat("/proc/self/ns/mnt", &self) >= 0 &&
            ns.st_dev == self.st_dev && ns.st_ino == self.st_ino)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "linux.namespaces: mount namespace '%s' is the runtime's own; "
                                "remove \"path\" for a new one, or leave out the mount namespace to share it", path);
        if (setns(fd, nstype[type]) < 0) {
                if (errno == EINVAL)
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "linux.namespaces: '%s' is not a %s namespace",
                                        path, spec_ns_type_to_string(type));
                return kerr_kind(err, KERR_CONFIG, -errno, "join %s namespace '%s'",
                                 spec_ns_type_to_string(type), path);
        }
        return 0;
}

static const char *env_get(char *const *env, const char *key) {
        size_t l = strlen(key);
        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], key, l) == 0 && env[i][l] == '=')
                        return env[i] + l + 1;
        return NULL;
}

int process_resolve_path(const SpecProcess *p, char **ret, KError **err) {
        const char *cmd = p->args[0];
        if (strchr(cmd, '/')) {
                /* Checked now (inside the rootfs, in the process's cwd) so that `create` fails,
                 * instead of a container that can only die at `start`. */
                struct stat st;
                if (stat(cmd, &st) < 0)
                        return kerr_kind(err, KERR_CONFIG, -errno, "exec: \"%s\" in the container", cmd);
                if (S_ISDIR(st.st_mode))
                        return kerr_msg(err, KERR_CONFIG, -EISDIR, "exec: \"%s\" is a directory", cmd);
                if (!(*ret = strdup(cmd)))
                        return kerr(err, -ENOMEM, "exec");
                return 0;
        }
        const char *path = env_get(p->env, "PATH");
        if (!path)
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return kerr(err, -ENOMEM, "exec");
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *cand = path_join(*dir ? dir : ".", cmd);
                if (!cand)
                        return kerr(err, -ENOMEM, "exec");
                struct stat st;
                if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
                        *ret = TAKE_PTR(cand);
                        return 0;
                }
        }
        return kerr_msg(err, KERR_CONFIG, -ENOENT,
                        "exec: \"%s\": executable file not found in $PATH (%s)", cmd, path);
}

static int switch_user(const SpecUser *u, KError **err) {
        if (u->n_additional_gids > 0 || u->uid != 0 || u->gid != 0) {
                if (setgroups(u->n_additional_gids, u->additional_gids) < 0) {
                        /* setgroups is denied in a user namespace set up without it: only
                         * fatal when groups were really asked for. */
                        if (u->n_additional_gids > 0 || errno != EPERM)
                                return kerr(err, -errno, "setgroups for process.user.additionalGids");
                }
        }
        if (setresgid(u->gid, u->gid, u->gid) < 0)
                return kerr_kind(err, KERR_CONFIG, -errno, "setgid %u (is it mapped in the user namespace?)",
                                 (unsigned) u->gid);
        if (setresuid(u->uid, u->uid, u->uid) < 0)
                return kerr_kind(err, KERR_CONFIG, -errno, "setuid %u (is it mapped in the user namespace?)",
                                 (unsigned) u->uid);
        return 0;
}

int process_exec(const SpecProcess *p, const SpecSeccomp *seccomp, const SeccompAgent *agent, int preserve_fds,
                 KError **err) {
        _cleanup_free_ char *path = NULL;
        int r = process_prepare(p, seccomp, agent, preserve_fds, &path, err);
        if (r < 0)
                return r;
        return process_execve(p, path, err);
}

int process_execve(const SpecProcess *p, const char *path, KError **err) {
        execve(path, p->args, p->env);
        int r = -errno;
        return kerr_kind(err, r == -ENOENT || r == -EACCES ? KERR_CONFIG : KERR_GENERIC, r,
                         "exec \"%s\"", path);
}

int process_prepare(const SpecProcess *p, const SpecSeccomp *seccomp, const SeccompAgent *agent, int preserve_fds,
                    char **ret_path, KError **err) {
        static const SpecCaps no_caps = { 0 };
        const SpecCaps *caps = p->has_caps ? &p->caps : &no_caps;
        int r;

        _cleanup_free_ char *path = NULL;
        r = process_resolve_path(p, &path, err);
        if (r < 0)
                return r;

        /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we still
         * have it (runc's order). With it, load last, so the filter need not allow our setup. */
        if (seccomp && !p->no_new_privileges) {
                r = seccomp_apply_notify(seccomp, agent, err);
                if (r < 0)
                        return r;
        }
        r = caps_apply_bounding(caps, err);
        if (r < 0)
                return r;
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return kerr(err, -errno, "PR_SET_KEEPCAPS");
        r = switch_user(&p->user, err);
        if (r < 0)
                return r;
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                return kerr(err, -errno, "PR_SET_KEEPCAPS");
        r = caps_apply_sets(caps, err);
        if (r < 0)
                return r;
        if (p->user.has_umask)
                umask(p->user.umask);
        if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return kerr(err, -errno, "set no_new_privs");

        /* CVE-2024-21626: nothing of the runtime's survives exec but stdio and preserved fds. */
        for (int fd = 3; fd < 3 + preserve_fds; fd++) {
                int fl = fcntl(fd, F_GETFD);
                if (fl >= 0)
                        (void) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
        }
        r = fds_cloexec_from(3 + preserve_fds);
        if (r < 0)
                return kerr(err, r, "mark runtime fds close-on-exec");

        if (seccomp && p->no_new_privileges) {
                r = seccomp_apply_notify(seccomp, agent, err);
                if (r < 0)
                        return r;
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}
