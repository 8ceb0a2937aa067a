/* SPDX-License-Identifier: Apache-2.0 */
/* Guest RAM as a sparse file of a snapshot (docs/vm-snapshots.md). */
#pragma once

#include <stdint.h>

#include "error.h"

/* Write [base, base + len) to dirfd/name (through a temporary name and a rename), zero pages as holes. */
int memory_file_save(int dirfd, const char *name, const uint8_t *base, uint64_t len, KError **err);
/* Open dirfd/name read-only, checking it is a regular file of exactly len bytes; returns the fd. */
int memory_file_open(int dirfd, const char *name, uint64_t len, KError **err);
