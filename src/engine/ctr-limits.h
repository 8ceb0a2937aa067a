/* SPDX-License-Identifier: Apache-2.0 */
/* Resource limits as users give them (the CLI's flags, later the API's fields), checked once here. */
#pragma once

#include <stdint.h>

#include "error.h"

/* --cpus: a decimal number of CPUs, 0 (no limit) or from 0.01 to the CPUs this host can give us, as
 * docker allows; *ret_nano in 1e-9 CPUs (HostConfig.NanoCpus). NaN, infinities, hex and numbers
 * too small or too large are refused with a message saying the range. */
int ctr_parse_cpus(const char *arg, int64_t *ret_nano, KError **err);
/* The same check for a NanoCpus value given as it is. */
int ctr_check_nano_cpus(int64_t nano, KError **err);
