/* SPDX-License-Identifier: Apache-2.0 */
/* The container's init during setup: a clone of the runtime that turns itself into the
 * container's first process. It talks to the runtime (`create`) over a SOCK_SEQPACKET pair:
 *
 *   parent -> child  SYNC_GO     (id maps written, v2 cgroup joined) + state JSON for hooks
 *   (the child joins a v1 cgroup itself, first thing after GO: see cgroup_join_prepare)
 *   child  -> parent SYNC_HOOKS  (namespaces and mounts ready: run prestart/createRuntime)
 *   parent -> child  SYNC_GO     (hooks done)
 *   child  -> parent SYNC_READY  (all set up; now waiting on start.sock)
 *   child  -> parent SYNC_ERROR  + a KError message, then exits
 *
 * After READY the child blocks in accept() on start.sock; `start` connects, and the child
 * reports an exec failure on that connection (EOF means the exec succeeded). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cgroup.h"
#include "error.h"
#include "plan.h"
#include "security.h"
#include "spec.h"

enum {
        SYNC_GO = 1,
        SYNC_HOOKS,
        SYNC_READY,
        SYNC_ERROR,
};

typedef struct InitArgs {
        const Spec *spec;
        const Plan *plan;
        const char *id;
        int sync_fd;
        int start_fd;                   /* listening start.sock */
        int console_fd;                 /* connected console socket, or -1 */
        int devnull_fd;                 /* host /dev/null, verified */
        int preserve_fds;
        bool no_pivot;
        bool no_new_keyring;
        const char *cgroup_path;
        CgroupJoin *cgroup_join;        /* v1: the cgroup's tasks files, to join first; or NULL */
        int agent_fd;                   /* connected seccomp agent (SCMP_ACT_NOTIFY), or -1 */
        const int *bind_fds;            /* bind sources opened before the user namespace, or NULL */
} InitArgs;

_noreturn_ void container_init(const InitArgs *a);

/* Send/receive one sync message (type + optional payload). */
int sync_send(int fd, uint32_t type, const char *payload);
int sync_recv(int fd, uint32_t *ret_type, char **ret_payload);
/* Child side: report `e` and exit. */
_noreturn_ void sync_fail(int fd, const KError *e, int status);

/* The final steps shared by init and exec: user, caps, no_new_privs, seccomp, fds, execve.
 * `seccomp` may be NULL. Only returns on failure. */
int process_exec(const SpecProcess *p, const SpecSeccomp *seccomp, const SeccompAgent *agent, int preserve_fds,
                 KError **err);
/* process_exec in two steps: everything up to execve (credentials, capabilities, no_new_privs,
 * seccomp, fds), then execve of the resolved path; the init runs startContainer hooks between
 * them, so they run as the process will (runc's order). */
int process_prepare(const SpecProcess *p, const SpecSeccomp *seccomp, const SeccompAgent *agent, int preserve_fds,
                    char **ret_path, KError **err);
int process_execve(const SpecProcess *p, const char *path, KError **err);
/* Resolve args[0] against PATH from the process env, as execvp would; *ret is malloc'd. */
int process_resolve_path(const SpecProcess *p, char **ret, KError **err);
/* Join a namespace by path (setns), naming it in errors. */
int ns_join_path(SpecNsType type, const char *path, KError **err);
