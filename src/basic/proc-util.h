/* SPDX-License-Identifier: Apache-2.0 */
/* What `kapsel top` shows of a process, read from /proc: shared by the host (a container's cgroup)
 * and kapsel-guest-init's agent (an --isolation=vm guest), so both print the same table. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PROC_TOP_HEADER "PID      USER     CMD\n"

/* `pid`'s row under PROC_TOP_HEADER: its pid, real uid and command line (NULs as spaces), newline
 * terminated, truncated to `size`. Returns whether it has a command line (kernel threads, zombies
 * and processes that are gone have none; their row still shows the pid). */
bool proc_top_row(pid_t pid, char *buf, size_t size);
