/* SPDX-License-Identifier: Apache-2.0 */
/* Apply the planned `table ip kapsel` and `table bridge kapsel` (net-plan.h) through libnftnl +
 * libmnl. */
#pragma once

#include <stddef.h>

#include "error.h"
#include "net-plan.h"

/* Replace the root's tables (`table`, net_root_names) with `rules` and the translations `xlates`
 * in one transaction; without translations the bridge table is deleted. */
int nft_apply(const char *table, const NftRule *rules, size_t n, const NftXlate *xlates, size_t n_xlates,
              KError **err);
/* Delete both tables (absent is fine). */
int nft_delete_table(const char *table, KError **err);
