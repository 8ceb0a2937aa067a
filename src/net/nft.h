/* SPDX-License-Identifier: Apache-2.0 */
/* Apply the planned `table ip kapsel` (net-plan.h) through libnftnl + libmnl. */
#pragma once

#include <stddef.h>

#include "error.h"
#include "net-plan.h"

/* Replace the whole table `table` (the root's, net_root_names) with `rules` in one transaction. */
int nft_apply(const char *table, const NftRule *rules, size_t n, KError **err);
/* Delete the table (absent is fine). */
int nft_delete_table(const char *table, KError **err);
