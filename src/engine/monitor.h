/* SPDX-License-Identifier: Apache-2.0 */
/* The per-container monitor: the parent of the container's init. It mounts the rootfs, creates
 * and starts the container through the runtime core in-process, owns the log and the pty, serves
 * attach clients, records the exit status, applies the restart policy, and cleans up. It is a hidden
 * mode of the kapsel binary (`kapsel __monitor ID`), spawned by `start`/`run`; no daemon.
 *
 * For a micro-VM (kind vm) or an --isolation=vm container the payload is a kapsel-vmm child instead
 * (monitor-vm.h, vm-isolation.h): same log, attach socket, exit status and cleanup.
 *
 * Signals to the monitor: SIGUSR1 = a stop was requested (do not restart). */
#pragma once

#include <stdbool.h>

#include "engine.h"

/* Spawn the monitor for container `id` and wait until the container runs (or failed to: the
 * error comes back). With `attach_wait`, the process is started only when the first client sends
 * ATTACH_START, so a foreground run sees all output. */
int monitor_spawn(Engine *e, const char *id, bool attach_wait, KError **err);

/* The monitor's main (after exec). `sync_fd` reports readiness or the error to the spawner. */
int monitor_main(Engine *e, const char *id, bool attach_wait, int sync_fd);
