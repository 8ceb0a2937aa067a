/* SPDX-License-Identifier: Apache-2.0 */
/* A container's filesystem for copies (`kapsel cp`, the API's /containers/{id}/archive): a running
 * container as its processes see it (/proc/PID/root: bind mounts, volumes, /etc/hosts), a stopped
 * one through its rootfs mounted for the copy, with the files kapsel writes for it (/etc/hosts,
 * hostname, resolv.conf) read from its directory. Paths inside are resolved in its root
 * (copy-tree.h). */
#pragma once

#include <stdbool.h>

#include "engine.h"

typedef struct CtrRoot {
        int fd;                 /* O_PATH of the container's root */
        bool running;
        bool mounted;           /* the rootfs was mounted for us: ctr_root_close unmounts it */
        char *dir;              /* containers/<id> */
} CtrRoot;

int ctr_root_open(Engine *e, const CtrRecord *rec, CtrRoot *ret, KError **err);
void ctr_root_close(CtrRoot *root);

/* The source `path` in the container as (O_PATH parent dir, name); "/" gives name ".". A stopped
 * container's /etc/hosts (and the others) come from its directory, or a state error says they
 * exist only while it runs. A missing parent is a not-found error naming `label`. */
int ctr_root_source(const CtrRoot *root, const char *path, const char *label, int *ret_dirfd, char **ret_name,
                    KError **err);
