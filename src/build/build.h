/* SPDX-License-Identifier: Apache-2.0 */
/* `kapsel build`: images from Dockerfiles with docker's classic builder semantics, over the
 * engine. One call builds one Dockerfile; the CLI and kapseld's POST /build are thin callers.
 *
 * Every step is an image of its own (docker's intermediate images): its parent, the step's text
 * after substitution and, for COPY/ADD, a hash of the selected files' contents, modes and owners
 * make its cache key; a later build with the same key reuses the image (" ---> Using cache").
 * RUN steps run as throw-away containers of the runtime core on an overlay of the parent's layers
 * and a fresh upper dir, which becomes the step's layer. Work directories live under
 * <root>/build/<id>/ (owner pid recorded), swept by build_gc() when their builder is gone. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "error.h"

typedef struct BuildOptions {
        const char *context_dir;        /* the build context (a directory) */
        int context_tar_fd;             /* >= 0: the context is this tar stream (context_dir ignored) */
        const char *dockerfile;         /* path, NULL: <context>/Dockerfile; relative to the context when
                                         * it is not found relative to cwd (docker's -f) */
        const char *dockerfile_text;    /* -f -: the Dockerfile's text itself (dockerfile ignored) */
        size_t dockerfile_len;
        char *const *tags;              /* NULL-terminated or NULL */
        const char *target;             /* stage to stop at, or NULL */
        char *const *build_args;        /* "K=V", or "K" (value from the environment) */
        char *const *labels;            /* "K=V" set on the final image */
        bool no_cache;
        bool pull;                      /* pull FROM / COPY --from images even when present (else
                                         * only when the store lacks them) */
        const char *network;            /* RUN steps: "none" (or NULL), "host", "bridge" (CLI, API default), a network */
        const char *isolation;          /* RUN steps: NULL/"container" (namespaces) or "vm" (a micro-VM
                                         * each, as `run --isolation=vm`) */
        bool no_signals;                /* leave SIGINT/SIGTERM/SIGHUP alone: the caller stops the
                                         * build with build_interrupt() (kapseld) */
} BuildOptions;

typedef enum BuildEventKind {
        BUILD_EVENT_STEP,       /* "Step 1/5 : FROM busybox" */
        BUILD_EVENT_INFO,       /* " ---> Using cache", " ---> 3f2a...", "Successfully built ..." */
        BUILD_EVENT_OUTPUT,     /* bytes a RUN step wrote (stdout and stderr) */
        BUILD_EVENT_WARNING,    /* "[Warning] ..." */
} BuildEventKind;

/* Progress: lines (without '\n') for STEP/INFO/WARNING, raw bytes for OUTPUT. */
typedef void (*BuildProgress)(void *userdata, BuildEventKind kind, const char *text, size_t len);

/* Build; the final image id ("sha256:...") in *ret_id. A failing RUN fails with its command
 * and exit status in the message (its output went to `cb`). SIGINT/SIGTERM/SIGHUP during the
 * build stop it: the running step's container is killed, its work directory removed, and the
 * call fails with -EINTR. */
int build_run(Engine *e, const BuildOptions *o, BuildProgress cb, void *userdata, char **ret_id, KError **err);

/* Stop the build in progress as SIGINT would (kapseld: its client went away). Async-signal-safe. */
void build_interrupt(void);

/* Remove build work directories (mounts, runtime state, files) whose builder process is gone.
 * Returns how many were removed. For `kapsel system check` and the start of every build. */
int build_gc(Engine *e, KError **err);
