/* SPDX-License-Identifier: Apache-2.0 */
/* The per-instance monitor: the parent of the payload's process. One event loop (monitor.c) owns
 * the log and the pty, serves attach clients (and exec/top streams), records the exit status,
 * applies the restart policy, and cleans up. It is the small kapsel-monitor binary
 * (src/cli/kapsel-monitor.c), spawned by `start`/`run` (monitor_spawn); no daemon.
 *
 * What it runs is a payload behind one interface (MonitorPayload, monitor-internal.h), chosen once
 * from the row (monitor_payload_for), one implementation each in monitor-payload.c:
 *   - a container: overlay, network and bundle, created and started by the runtime core in-process;
 *   - a micro-VM (kind vm): a kapsel-vmm child on console pipes with a boot watchdog (monitor-vm.h);
 *   - an --isolation=vm container: kapsel-vmm with our guest init, its ttyS0 for the exit status and
 *     the guest agent for exec (vm-isolation.h, exec-relay.h).
 * Same log, attach socket, events, exit codes and restart policy for all three; the payload is
 * released (ctr_release) before its exit is recorded.
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
