/* SPDX-License-Identifier: Apache-2.0 */
/* The container lifecycle of kapsel-runtime (runtime-spec runtime.md "Operations"): the whole
 * library API behind the runc-compatible CLI. Each call is self-contained (loads state from
 * the runtime root, acts, saves) so many commands may run at once. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

typedef struct CreateOptions {
        const char *root;               /* runtime state root */
        const char *id;
        const char *bundle;             /* absolute or relative to cwd */
        const char *pid_file;           /* NULL: none */
        const char *console_socket;     /* NULL: none (required when process.terminal) */
        int console_fd;                 /* >= 0: an already connected console socket (run) */
        int preserve_fds;               /* fds 3 .. 3+n-1 are passed to the container */
        bool no_pivot;
        bool no_new_keyring;
} CreateOptions;

/* create: the container's init is set up and waits for `start`. *ret_pid: its pid. */
int container_create(const CreateOptions *o, pid_t *ret_pid, KError **err);
/* start: release the init into the user's process; reports exec failures. */
int container_start(const char *root, const char *id, KError **err);
int container_kill(const char *root, const char *id, int sig, bool all, KError **err);
int container_delete(const char *root, const char *id, bool force, KError **err);
/* The OCI state object of one container. */
int container_state(const char *root, const char *id, json_t **ret, KError **err);
/* An array of state objects, sorted by id. */
int container_list(const char *root, json_t **ret, KError **err);
int container_pause(const char *root, const char *id, bool pause, KError **err);
int container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n, KError **err);
int container_update(const char *root, const char *id, const SpecResources *res, KError **err);
/* The resource usage of a running container's cgroup (-ESRCH once it stopped). */
typedef struct CgroupStats CgroupStats;
int container_stats(const char *root, const char *id, CgroupStats *ret, KError **err);

typedef struct ExecOptions {
        const char *root;
        const char *id;
        SpecProcess *process;           /* complete process to run (CLI merges flags into it) */
        const char *console_socket;
        int console_fd;
        const char *pid_file;
        bool detach;
        bool ignore_paused;             /* exec into a paused container (it runs once resumed) */
        char **cgroup_subs;             /* --cgroup [CONTROLLERS:]PATH entries (NULL: the container's) */
        int preserve_fds;
        pid_t *ret_pid;                 /* optional: the exec'd process's host pid (for detach) */
} ExecOptions;

/* Load the stored config's process (the base `exec` starts from, as runc does). */
int container_exec_base_process(const char *root, const char *id, SpecProcess **ret, KError **err);
/* exec: start a process inside a running container. Without `detach`, waits and returns its
 * wait status in *ret_status. With it, *ret_status is 0 once the process runs. */
int container_exec(const ExecOptions *o, int *ret_status, KError **err);

/* Forward signals to `pid` and wait for it; returns the wait status. Used by run and exec. */
int container_wait_forwarding(pid_t pid, int *ret_status);
