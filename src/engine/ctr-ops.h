/* SPDX-License-Identifier: Apache-2.0 */
/* Container operations shared by the CLI verbs and the monitor. */
#pragma once

#include <stdbool.h>

#include "engine.h"

/* Read-modify-write one container row in a transaction. `fn` edits the fresh record. */
int ctr_modify(Engine *e, const char *id, void (*fn)(CtrRecord *r, void *userdata), void *userdata, KError **err);

/* Tear down what a stopped container still holds: runtime state (cgroup, processes), network,
 * the rootfs mount. Idempotent. */
int ctr_release(Engine *e, const char *id, KError **err);

/* Remove a stopped container entirely: release, files, row. */
int ctr_remove(Engine *e, const char *id, KError **err);

/* Is the container's monitor alive? (A dead monitor with a "running" row is repaired by callers.) */
bool ctr_monitor_alive(const CtrRecord *r);

/* Bring a row whose monitor died (kill -9) back to the truth: exited, resources released. */
int ctr_repair(Engine *e, CtrRecord *r, KError **err);

/* Stop: SIGTERM (or the image's stop signal), wait `timeout` seconds, then SIGKILL. No restart. */
/* A container or VM name docker would take: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 characters. */
bool ctr_name_valid(const char *n);
/* Config.StopSignal as a number (SIGTERM when unset or unknown). */
int ctr_stop_signal(const CtrRecord *r);
int ctr_stop(Engine *e, const char *ref, int timeout, KError **err);
/* Restart: ctr_stop() then a new monitor, and the "restart" event (as docker's). The CLI's restart
 * and the API's POST /containers/{id}/restart both come here. */
int ctr_restart(Engine *e, const CtrRecord *rec, int timeout, KError **err);
/* Send `sig` to a running instance's process: the container's (all of them for SIGKILL), the
 * process in an --isolation=vm guest, or a micro-VM's kapsel-vmm. A kill is not a stop: a restart
 * policy still applies, as in docker. */
int ctr_kill(Engine *e, const CtrRecord *rec, int sig, KError **err);

/* Wait for a monitor to exit, at most timeout_ms (< 0: forever). True when it is gone. */
bool ctr_wait_monitor(pid_t pid, int timeout_ms);

/* Wait until the container is no longer running; returns its exit code in *ret. */
int ctr_wait(Engine *e, const char *id, int *ret, KError **err);
