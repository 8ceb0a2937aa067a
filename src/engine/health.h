/* SPDX-License-Identifier: Apache-2.0 */
/* Health checks (--health-cmd, docker's Config.Healthcheck), run by the container's monitor: every
 * interval the test command is exec'd in the container; its exit status moves the state between
 * starting, healthy and unhealthy (after `retries` failures in a row). The state is kept in the
 * container's row (config "Health": Status, FailingStreak, Log) where inspect and ps read it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"

typedef struct Health {
        bool enabled;
        char **test;            /* argv to exec: CMD args, or /bin/sh -c for CMD-SHELL */
        int64_t interval_ns, timeout_ns, start_period_ns;
        int retries;
        int timer_fd;           /* -1 when disabled */
        pid_t probe;            /* running probe (our child), 0 when none */
        int64_t probe_started, started;
        int streak;
} Health;

/* Read the container's Healthcheck; when it has one, a timerfd the monitor watches, and the row's
 * state goes back to "starting" (a restart begins again). */
int health_setup(Health *h, Engine *e, const char *id, const CtrRecord *rec);
/* The timer fired: start a probe (or kill one past its timeout, which counts as a failure). */
void health_tick(Health *h, Engine *e, const char *runtime_root, const char *id);
/* Our child `pid` exited: true when it was the probe (its result is recorded). */
bool health_reaped(Health *h, Engine *e, const char *id, pid_t pid, int status);
void health_done(Health *h);

/* " (healthy)" / " (unhealthy)" / " (health: starting)" for ps, or "" (from the row). */
const char *health_status_suffix(const CtrRecord *r);
