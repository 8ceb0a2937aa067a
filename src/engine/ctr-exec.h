/* SPDX-License-Identifier: Apache-2.0 */
/* exec: a new process in a running container (kind container, runtime core).
 *
 * The process never gets the caller's descriptors, terminal or session: the engine forks a proxy
 * that starts a new session (setsid) and has pipes of the engine's (or, with a terminal, a pty made
 * inside the container) as its stdio; the engine copies between those and the caller's ends. So a
 * container process cannot push input into the caller's terminal (TIOCSTI), open the caller's
 * files through /proc/self/fd, or read the caller's stdin unless asked (`interactive`). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "engine.h"
#include "error.h"

typedef struct CtrExecRequest {
        char **args;            /* command and arguments, NULL-terminated */
        char **env;             /* KEY=VALUE over the container's environment, or NULL */
        const char *user;       /* "name", "uid", "name:group", "uid:gid", or NULL */
        const char *cwd;        /* or NULL: the container's */
        bool tty, interactive, detach;
        /* The caller's ends (-1: none). in_fd is read only with `interactive`; with `tty` the
         * window size is taken from in_fd when it is a terminal, which is put in raw mode. */
        int in_fd, out_fd, err_fd;
        /* With `tty`: each read of in_fd goes through this filter (docker's detach keys) before the
         * process gets it; it writes what passes to `out` (room for n + 16 bytes) and returns 1 when
         * the caller asked to detach. NULL: everything passes. */
        int (*input_filter)(void *data, const uint8_t *buf, size_t n, uint8_t *out, size_t *ret_len);
        void *input_filter_data;
} CtrExecRequest;

#define CTR_EXEC_REQUEST_INIT { .in_fd = -1, .out_fd = -1, .err_fd = -1 }

/* Run req->args in the running container `rec` (not --isolation=vm: that goes through its monitor,
 * vm_isolation_exec_request()). Without `detach`, copies the process's stdio until it exits and
 * returns its exit code (128+N for signal N) in *ret_code; with it, returns once it runs.
 * Returns CTR_EXEC_DETACHED when the input filter asked to detach: the process runs on, its pty
 * held by a small process of its own until the process closes it (as docker's daemon holds it).
 * The proxy is then not waited for: a long-lived caller reaps it (SIGCHLD) or it stays a zombie
 * until the caller exits. */
#define CTR_EXEC_DETACHED 1
int ctr_exec(Engine *e, const CtrRecord *rec, const CtrExecRequest *req, int *ret_code, KError **err);
