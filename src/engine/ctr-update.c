/* SPDX-License-Identifier: Apache-2.0 */
#include "ctr-update.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "ctr-ops.h"
#include "events.h"
#include "string-util.h"
#include "vm-ops.h"

static const char *const restart_names[] = { "no", "always", "on-failure", "unless-stopped" };

int ctr_restart_policy_parse(const char *s, json_t **ret, KError **err) {
        _cleanup_free_ char *name = strdup(s);
        if (!name)
                return kerr(err, -ENOMEM, "restart policy");
        char *colon = strchr(name, ':');
        int64_t max = 0;
        if (colon) {
                *colon++ = 0;
                if (parse_int64(colon, &max) < 0 || max < 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--restart %s: \"%s\" is not a retry count", s, colon);
        }
        bool known = false;
        for (size_t i = 0; i < ELEMENTSOF(restart_names); i++)
                known |= streq(name, restart_names[i]);
        if (!known)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "--restart \"%s\": expected no, on-failure[:N], always or unless-stopped", s);
        if (colon && !streq(name, "on-failure"))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--restart %s: only on-failure takes a retry count", s);
        *ret = json_pack("{s:s, s:I}", "Name", name, "MaximumRetryCount", (json_int_t) max);
        return *ret ? 0 : kerr(err, -ENOMEM, "restart policy");
}

/* HostConfig after the update: docker's field names, the ones spec-gen reads at the next start. */
static void store_update(CtrRecord *r, void *userdata) {
        const CtrUpdate *u = userdata;
        json_t *host = json_object_get(r->config, "HostConfig");
        if (!host)
                json_object_set_new(r->config, "HostConfig", host = json_object());
        if (u->has_memory)
                json_object_set_new(host, "Memory", json_integer(u->memory));
        if (u->has_memory_swap)
                json_object_set_new(host, "MemorySwap", json_integer(u->memory_swap));
        if (u->has_nano_cpus)
                json_object_set_new(host, "NanoCpus", json_integer(u->nano_cpus));
        if (u->has_cpu_shares)
                json_object_set_new(host, "CpuShares", json_integer(u->cpu_shares));
        if (u->has_pids_limit)
                json_object_set_new(host, "PidsLimit", json_integer(u->pids_limit));
        if (u->restart_policy)
                json_object_set(host, "RestartPolicy", u->restart_policy);
}

/* Check the combination against what is stored, as docker does: swap needs memory, and covers it. */
static int validate(const CtrRecord *rec, const CtrUpdate *u, KError **err) {
        const json_t *host = json_object_get(rec->config, "HostConfig");
        int64_t mem = u->has_memory ? u->memory : (int64_t) json_integer_value(json_object_get(host, "Memory"));
        if (u->has_memory && u->memory < 6 * 1024 * 1024)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--memory %lld bytes is below the minimum of 6 MiB a container needs",
                                (long long) u->memory);
        if (u->has_memory_swap && u->memory_swap != -1) {
                if (mem <= 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--memory-swap needs a memory limit: give --memory too");
                if (u->memory_swap < mem)
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "--memory-swap (%lld) must be at least --memory (%lld): it is memory plus swap",
                                        (long long) u->memory_swap, (long long) mem);
        }
        if (u->has_nano_cpus && u->nano_cpus <= 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--cpus must be positive");
        if (u->has_cpu_shares && (u->cpu_shares < 2 || u->cpu_shares > 262144))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--cpu-shares %lld: expected 2..262144", (long long) u->cpu_shares);
        return 0;
}

static void to_resources(const CtrUpdate *u, SpecResources *res) {
        if (u->has_memory) {
                res->has_memory_limit = true;
                res->memory_limit = u->memory;
        }
        if (u->has_memory_swap) {
                res->has_memory_swap = true;
                res->memory_swap = u->memory_swap;
        }
        if (u->has_nano_cpus) {
                res->has_cpu_quota = res->has_cpu_period = true;
                res->cpu_period = 100000;
                res->cpu_quota = u->nano_cpus / 10000;
        }
        if (u->has_cpu_shares) {
                res->has_cpu_shares = true;
                res->cpu_shares = (uint64_t) u->cpu_shares;
        }
        if (u->has_pids_limit) {
                res->has_pids_limit = true;
                res->pids_limit = u->pids_limit > 0 ? u->pids_limit : -1;
        }
}

int ctr_update(Engine *e, const char *ref, const CtrUpdate *u, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = db_ctr_get(e->db, ref, &rec, err);
        if (r < 0 || (r = ctr_repair(e, rec, err)) < 0)
                return r;
        if (rec->kind != CTR_KIND_CONTAINER || ctr_runs_vmm(rec))
                return kerr_msg(err, KERR_STATE, -EOPNOTSUPP,
                                "%s runs in a micro-VM: its limits are fixed at start (stop, rm and run it again)", rec->name);
        if (rec->state == CTR_REMOVING)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container %s is being removed", rec->name);
        if ((r = validate(rec, u, err)) < 0)
                return r;
        bool live = rec->state == CTR_RUNNING || rec->state == CTR_PAUSED;
        if (live && (u->has_memory || u->has_memory_swap || u->has_nano_cpus || u->has_cpu_shares || u->has_pids_limit)) {
                SpecResources res = {};
                to_resources(u, &res);
                if ((r = container_update(e->runtime_root, rec->id, &res, err)) < 0)
                        return kerr_prefix(err, r, "update %s", rec->name);
        }
        if ((r = ctr_modify(e, rec->id, store_update, (void *) u, err)) < 0)
                return r;
        events_emit(e->root, "container", "update", rec->id, events_ctr_attrs(rec->image, rec->name, rec->config));
        return 0;
}
