/* SPDX-License-Identifier: Apache-2.0 */
/* `update`: new resource limits and restart policy for a created, running or paused container. The
 * stored config changes (so the next start applies it), and a running container's cgroup is
 * written through the runtime core at once. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

typedef struct CtrUpdate {
        bool has_memory, has_memory_swap, has_nano_cpus, has_cpu_shares, has_pids_limit;
        int64_t memory;         /* bytes */
        int64_t memory_swap;    /* memory + swap in bytes; -1 = unlimited swap */
        int64_t nano_cpus;      /* 1e9 = one CPU */
        int64_t cpu_shares;
        int64_t pids_limit;     /* <= 0: unlimited */
        json_t *restart_policy; /* {"Name","MaximumRetryCount"} or NULL; borrowed */
} CtrUpdate;

/* docker's --restart value as {"Name","MaximumRetryCount"} (new reference); a usage error says
 * what is accepted. */
int ctr_restart_policy_parse(const char *s, json_t **ret, KError **err);
/* Apply `u` to the container `ref`. Refused for micro-VMs and containers being removed; the
 * container's record and its cgroup agree afterwards or nothing changed. */
int ctr_update(Engine *e, const char *ref, const CtrUpdate *u, KError **err);
