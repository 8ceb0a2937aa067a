/* SPDX-License-Identifier: Apache-2.0 */
/* Terminals: the container's pty is allocated from its own devpts and the master is handed to
 * whoever listens on --console-socket (SCM_RIGHTS), as runc does. */
#pragma once

#include <stdbool.h>

#include "error.h"
#include "spec.h"

/* Open <rootfd>/dev/pts/ptmx (verified devpts), return master; *ret_slave gets the peer. */
int terminal_open_pty(int rootfd, uid_t owner, int *ret_slave, KError **err);
/* Apply consoleSize to the pty. */
int terminal_set_size(int fd, unsigned rows, unsigned cols, KError **err);
/* Send the master to the console socket. */
int terminal_send_master(int console_sock, int master, KError **err);
/* New session, make `slave` the controlling terminal and stdio. */
int terminal_become_stdio(int slave, KError **err);
/* Connect to a unix socket path (the --console-socket). */
int terminal_connect_socket(const char *path, KError **err);
