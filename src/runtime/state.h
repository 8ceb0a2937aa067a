/* SPDX-License-Identifier: Apache-2.0 */
/* Per-container state under the runtime root: <root>/<id>/ holds
 *   state.json   what `create` recorded (pid + its start time, bundle, cgroup, ...)
 *   config.json  the spec the container was created with (exec and poststop hooks use it)
 *   start.sock   listening socket the init waits on; `start` connects to it, then removes it
 * The status is derived, never stored: a dead (or recycled) pid is "stopped", a live one
 * whose start socket still exists is "created", a frozen cgroup is "paused". */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "error.h"

typedef enum ContainerStatus {
        STATUS_CREATING, STATUS_CREATED, STATUS_RUNNING, STATUS_PAUSED, STATUS_STOPPED,
} ContainerStatus;

typedef struct ContainerState {
        char *id;
        pid_t pid;                      /* init's pid in the runtime's pid namespace */
        uint64_t pid_start;             /* /proc/<pid>/stat field 22: guards against pid reuse */
        char *bundle;
        char *rootfs;
        char *created;                  /* RFC 3339 */
        uid_t owner;
        char *cgroup_path;              /* NULL: no cgroup (rootless without delegation) */
        CgroupMode cgroup_mode;
        char **annotations;             /* alternating key, value */
} ContainerState;

void container_state_free(ContainerState *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ContainerState *, container_state_free)

/* Valid ids: 1..128 of [A-Za-z0-9_.+-], not starting with '.'. */
bool container_id_valid(const char *id);
/* Default runtime root: /run/kapsel-runtime, or $XDG_RUNTIME_DIR/kapsel-runtime when not root. */
const char *state_default_root(void);
/* mkdir <root>/<id> (EEXIST: KERR_EXISTS); returns an O_DIRECTORY fd. */
int state_dir_create(const char *root, const char *id, KError **err);
/* Open <root>/<id> (ENOENT: KERR_NOT_FOUND). */
int state_dir_open(const char *root, const char *id, KError **err);
int state_dir_remove(const char *root, const char *id, KError **err);
int state_save(int dirfd, const ContainerState *s, KError **err);
/* Load state.json; a directory without it (a create that died early) yields a state with
 * pid 0 and status STATUS_STOPPED so that delete can clean it up. */
int state_load(int dirfd, const char *id, ContainerState **ret, KError **err);
ContainerStatus state_status(int dirfd, const ContainerState *s);
const char *container_status_to_string(ContainerStatus st);
/* The OCI state object (runtime-spec "State"): ociVersion, id, status, pid, bundle, annotations,
 * plus runc's rootfs/created/owner. */
json_t *state_to_json(const ContainerState *s, ContainerStatus st);
/* Process start time from /proc/<pid>/stat, 0 if gone. */
uint64_t proc_start_time(pid_t pid);
