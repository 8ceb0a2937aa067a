/* SPDX-License-Identifier: Apache-2.0 */
/* OCI lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks"): each hook is executed
 * with its args and env, the container's state JSON on stdin, and an optional timeout. */
#pragma once

#include <stddef.h>

#include "error.h"
#include "spec.h"

/* Run `hooks` in order; stop at the first failure (non-zero exit, signal, timeout), naming
 * the hook kind, index and path. */
int hooks_run(SpecHookKind kind, const SpecHook *hooks, size_t n, const char *state_json, KError **err);
