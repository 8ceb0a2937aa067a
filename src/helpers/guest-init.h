/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-guest-init's parts (guest-init.c: boot and disks; guest-init-setup.c: config mounts and
 * network; guest-init-run.c: the process). Any setup failure ends the guest through guest_fail(). */
#pragma once

#include <jansson.h>

#include "cleanup.h"

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
