/* SPDX-License-Identifier: Apache-2.0 */
/* /etc/hostname, /etc/hosts and /etc/resolv.conf for one container, written into its directory and
 * bind-mounted by the spec. */
#pragma once

#include <jansson.h>

#include "error.h"

/* hostname: Config.Hostname or the id's first 12 chars; hosts: localhost, the container's own
 * name and address (when known), HostConfig.ExtraHosts ("name:ip"); resolv.conf: HostConfig.Dns or
 * the host's non-loopback nameservers. `ip` may be NULL. */
int etc_files_write(const char *ctr_dir, const char *id, const char *name, const json_t *config, const char *ip,
                    KError **err);
