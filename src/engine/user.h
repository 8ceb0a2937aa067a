/* SPDX-License-Identifier: Apache-2.0 */
/* Config.User ("name", "uid", "name:group", "uid:gid") -> numeric ids, read from the container's
 * own /etc/passwd and /etc/group (opened beneath the rootfs, so a symlink cannot point us at the
 * host's files). Supplementary groups come from /etc/group membership, as docker does. */
#pragma once

#include <sys/types.h>

#include "error.h"

typedef struct UserIds {
        uid_t uid;
        gid_t gid;
        gid_t *groups;          /* supplementary */
        size_t n_groups;
} UserIds;

/* `spec` NULL or empty means root. */
int user_resolve(int rootfd, const char *spec, UserIds *ret, KError **err);
void user_ids_done(UserIds *u);
