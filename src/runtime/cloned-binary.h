/* SPDX-License-Identifier: Apache-2.0 */
/* CVE-2019-5736 defence: a process in the container must never get a writable handle to the
 * runtime binary. Before any command that enters a container, the runtime re-executes itself
 * from a sealed memfd copy, so /proc/<pid>/exe of every runtime process that the container can
 * see (or execute as /proc/self/exe) is an immutable anonymous copy, not the host file. */
#pragma once

#include "error.h"

/* No-op when already running from a sealed memfd; otherwise never returns on success. */
int cloned_binary_ensure(char **argv, KError **err);
/* True when /proc/self/exe is a sealed memfd. */
int cloned_binary_is_sealed(void);
