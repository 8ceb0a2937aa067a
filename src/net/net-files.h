/* SPDX-License-Identifier: Apache-2.0 */
/* Rendering of an instance's /etc/hosts, /etc/resolv.conf, /etc/hostname (pure), and the
 * in-place writer. */
#pragma once

#include "net-state.h"

/* hostname + "\n": opts hostname, else the first 12 characters of the id. */
char *net_hostname_render(const NetInstance *inst, const char *id);
/* localhost lines, --add-host entries, the instance's own addresses with its hostname, name and
 * aliases, then every peer on a user network it shares (not the default network, as docker). */
char *net_hosts_render(const NetState *s, const NetInstance *inst, const char *id);
/* --dns / --dns-search / --dns-option when given, else the host's lines minus loopback resolvers. */
char *net_resolv_render(const char *host_text, const NetInstance *inst);
/* Rewrite `path` in place (O_CREAT, no O_TRUNC then ftruncate): bind mounts keep seeing it. */
int file_write_in_place(const char *path, const char *text);
