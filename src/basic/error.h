/* SPDX-License-Identifier: Apache-2.0 */
/* The one error idiom of kapsel.
 *
 * Every fallible library function returns a negative errno (or >= 0 on success) and takes an
 * optional `KError **err`. The first failure records a message naming what failed and where
 * (`kerr()`), callers on the way up may prepend context (`kerr_prefix()`), and only main()
 * prints it, once. A caller that passes NULL gets the errno alone.
 *
 *   if (fd < 0)
 *           return kerr(err, -errno, "open rootfs '%s'", path);
 *
 * The message of an errno-carrying error ends with ": <strerror>". `kind` classifies the failure
 * so the CLI can map it to a distinct exit code (docs/kapsel-runtime.8.md lists them). */
#pragma once

#include "cleanup.h"

typedef enum KErrorKind {
        KERR_GENERIC = 0,       /* anything else: exit 1 */
        KERR_USAGE,             /* bad command line: exit 2 */
        KERR_CONFIG,            /* invalid config.json / process.json: exit 3 */
        KERR_NOT_FOUND,         /* no such container: exit 4 */
        KERR_EXISTS,            /* container id already in use: exit 5 */
        KERR_ROOTFS,            /* rootfs missing or unusable: exit 6 */
        KERR_HOST,              /* the host refused a request (rlimit, cgroup, permission): exit 7 */
        KERR_STATE,             /* operation not allowed in the container's current state: exit 8 */
        _KERR_KIND_MAX,
} KErrorKind;

typedef struct KError {
        int code;               /* negative errno, never 0 */
        KErrorKind kind;
        char *msg;              /* full human message, without trailing newline */
} KError;

/* Record an error (if none is recorded yet) and return `r` (made negative; 0 becomes -EIO).
 * When r carries an errno, ": strerror(r)" is appended. */
int kerr(KError **err, int r, const char *fmt, ...) _printf_(3, 4);
/* Same, with an explicit kind. */
int kerr_kind(KError **err, KErrorKind kind, int r, const char *fmt, ...) _printf_(4, 5);
/* Record without the strerror suffix: for validation errors where errno says nothing. */
int kerr_msg(KError **err, KErrorKind kind, int r, const char *fmt, ...) _printf_(4, 5);
/* Prepend "context: " to a recorded error; returns `r` unchanged (for `return kerr_prefix(...)`). */
int kerr_prefix(KError **err, int r, const char *fmt, ...) _printf_(3, 4);
/* Set the kind of an already recorded error (no-op without one); returns r. */
int kerr_set_kind(KError **err, int r, KErrorKind kind);

void kerr_free(KError *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(KError *, kerr_free)
#define _cleanup_kerr_ _cleanup_(kerr_freep)

/* Process exit code for a kind (KERR_GENERIC -> 1 ...). */
int kerr_exit_code(const KError *e);

/* Serialize an error through a pipe/socket between a forked child and its parent:
 * the child sends {code, kind, msg}, the parent rebuilds it. Both return negative errno. */
int kerr_send(int fd, const KError *e);
int kerr_recv(int fd, KError **ret);
