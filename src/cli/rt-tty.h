/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <sys/types.h>

/* Proxy between our stdio and the container's pty master until `pid` exits. */
int rt_tty_proxy(int master, pid_t pid, int *ret_status);
