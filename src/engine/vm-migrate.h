/* SPDX-License-Identifier: Apache-2.0 */
/* Live migration of micro-VMs (`kapsel vm migrate` / `kapsel vm receive`): the engine's side of
 * kapsel-vmm's migration (src/vmm/migration.h). The target is a VM created with the source's
 * options whose kapsel-vmm waits with --incoming; the source's kapsel-vmm is told to migrate over
 * its control socket and ends once the target runs the guest. */
#pragma once

#include "engine.h"

/* Start the created VM `id` as a migration target listening on `listen` (unix:PATH or
 * tcp:ADDR:PORT) for a source presenting `token`. Returns once kapsel-vmm waits. */
int vm_receive_start(Engine *e, const char *id, const char *listen, const char *token, KError **err);
/* Migrate the running VM to `to` and wait until it is done (at most `timeout_s` seconds): the
 * source's kapsel-vmm ends with status 0. *ret_report (malloc'ed): kapsel-vmm's summary, "migrated to
 * ...: total N ms, downtime M ms, R rounds, P pages sent". */
int vm_migrate(Engine *e, const CtrRecord *rec, const char *to, const char *token, unsigned max_downtime_ms,
               unsigned timeout_s, char **ret_report, KError **err);

/* The one-shot --incoming of a VM row's config: listen address and token, or NULL. */
const char *vm_incoming_listen(const json_t *config);
const char *vm_incoming_token(const json_t *config);
