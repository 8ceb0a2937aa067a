/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-guest-init's parts (guest-init.c: boot and disks; guest-init-setup.c: config mounts and
 * network; guest-init-run.c: the process; guest-init-spec.c: process specs, pure; guest-agent.c:
 * `kapsel exec` over /dev/hvc1). Any setup failure ends the guest through guest_fail(). */
#pragma once

#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "cleanup.h"
#include "vm-agent.h"

#define NEWROOT "/newroot"

/* One line on ttyS0 for the host ("KAPSEL-..."). */
void guest_marker(const char *fmt, ...) _printf_(1, 2);
/* KAPSEL-ERROR <msg>, clean shutdown, KAPSEL-EXIT <code>, reset. */
_noreturn_ void guest_fail(int code, const char *fmt, ...) _printf_(2, 3);
/* Poll until `path` exists; fails the guest after a timeout. */
void guest_wait_for(const char *path);
/* A raw line discipline: no echo, no \n -> \r\n translation. */
void guest_set_raw(int fd);
/* mount(2) at `dst` resolved inside the tree at rootfd (created when missing). */
void guest_mount_in_root(int rootfd, const char *src, const char *dst, const char *type, unsigned long flags,
                         const char *data);

/* The config's "mounts" (tmpfs) and "volumes" (ext4 disks). */
void guest_mount_config(int rootfd, json_t *cfg);
/* lo up; eth0 per the config's "network" object (NULL: nothing else). */
void guest_network(json_t *net);
/* Run the process on /dev/hvc0, forward signals (delivered to init, or KAPSEL-SIGNAL lines on
 * console_fd) until it exits. Returns its exit code (128+signal when killed). */
int guest_run(json_t *cfg, int console_fd);

/* ---- process specs (guest-init-spec.c) ---- */

#define GUEST_MAX_GIDS 64
#define GUEST_MAX_RLIMITS 16

/* Everything a child needs to become the container's process (OCI runtime-spec config.md
 * "process"), decoded before fork so a bad config or request fails in init with a message. */
typedef struct ProcSpec {
        char **args, **env;     /* owned, NULL-terminated */
        const char *cwd;        /* borrowed (config or request); NULL: stay at / */
        uid_t uid;
        gid_t gid;
        gid_t gids[GUEST_MAX_GIDS];
        size_t n_gids;
        mode_t umask;
        bool terminal;          /* stdin is a tty: make it the controlling one */
        struct { int res; struct rlimit lim; } rl[GUEST_MAX_RLIMITS];
        size_t n_rl;
} ProcSpec;

/* `base` (K=V entries) with `over`'s entries replacing those of the same key, new keys appended
 * in order. Returns 0 or -ENOMEM. */
int guest_env_merge(char *const *base, char *const *over, char ***ret);
/* The spec of an exec'd process: the request's args, env merged over the container's, cwd and
 * user replacing the container's when given; umask and rlimits stay the container's. `ret`
 * borrows x->cwd / def->cwd. Returns 0 or -ENOMEM. */
int guest_spec_for_exec(const ProcSpec *def, const VmAgentExec *x, ProcSpec *ret);
void guest_spec_done(ProcSpec *p);

/* ---- the process (guest-init-run.c) ---- */

/* What a child reports through its close-on-exec pipe when it cannot exec. */
typedef struct ChildError {
        int code;               /* its exit code: 125 setup, 126 not executable, 127 not found */
        char msg[240];
} ChildError;

/* In a forked child: report through pipe_fd (and stderr) and _exit(code). */
_noreturn_ void guest_child_fail(int pipe_fd, int code, const char *what, int e);
/* In a forked child: in, out, err become fds 0, 1, 2 (any overlap with 0..2 handled). */
void guest_child_stdio(int in, int out, int err, int pipe_fd);
/* In a forked child, already in the container's root with stdio set: rlimits, groups, ids, umask,
 * cwd, env, exec. Failures go through guest_child_fail(). */
_noreturn_ void guest_child_exec(const ProcSpec *p, int pipe_fd);

/* ---- the exec agent (guest-agent.c) ---- */

typedef struct GuestAgent GuestAgent;

/* The agent on /dev/hvc1 (the caller waited for it: config "agent": true); NULL when it cannot be
 * opened (a KAPSEL-WARNING says why). `def` (the main process's spec, defaults for exec requests)
 * and the main pid must outlive the agent. */
GuestAgent *guest_agent_new(const ProcSpec *def, pid_t main_pid);
void guest_agent_free(GuestAgent *a);
/* Fill at most `max` pollfds for the agent's channel and streams; returns how many. */
size_t guest_agent_pollfds(GuestAgent *a, struct pollfd *pfd, size_t max);
/* Handle the revents of the pollfds the last guest_agent_pollfds() call filled. */
void guest_agent_dispatch(GuestAgent *a, const struct pollfd *pfd, size_t n);
/* A child was reaped: true when it was an exec'd process (its stream gets its EXIT). */
bool guest_agent_reaped(GuestAgent *a, pid_t pid, int status);
