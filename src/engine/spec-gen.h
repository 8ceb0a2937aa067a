/* SPDX-License-Identifier: Apache-2.0 */
/* Image config + the user's flags -> the OCI runtime spec the runtime core runs. Pure: everything
 * it needs is in SpecGenInput (paths are decided by the caller), so it is golden-tested without a
 * container. Docker's semantics: Entrypoint + Cmd, image Env under flag Env, WorkingDir, User,
 * default capability set, masked paths, a default seccomp profile. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"

typedef struct SpecGenInput {
        const ImageConfig *image;       /* may be NULL (no image config) */
        const json_t *config;           /* {"Config": {...}, "HostConfig": {...}} as stored */
        const char *rootfs;             /* absolute path of the mounted overlay */
        const char *volumes_dir;        /* named volume NAME lives at volumes_dir/NAME/_data */
        const char *hosts_path, *hostname_path, *resolv_path;   /* bind-mounted files, or NULL */
        const char *init_path;          /* static init binary for --init, or NULL */
        const char *netns_path;         /* join this network namespace, or NULL for a new one */
        bool host_network;              /* --network host: no network namespace */
        uid_t uid;                      /* resolved from Config.User by the caller */
        gid_t gid;
        gid_t *additional_gids;
        size_t n_additional_gids;
        const char *cgroups_path;
        const char *instance_id;        /* the container's id: its 12-character short form is the
                                         * hostname (and $HOSTNAME) unless Config.Hostname says one */
} SpecGenInput;

/* Build the spec. Errors are the user's (bad -v, unknown capability...) with KERR_USAGE. */
int spec_gen(const SpecGenInput *in, json_t **ret, KError **err);
/* Write `spec` (taken: released here) as BUNDLE/config.json, creating BUNDLE (0700); the file is
 * replaced atomically, 0600. */
int spec_write_bundle(const char *bundle, json_t *spec, KError **err);

/* Parse "-v SRC:DST[:OPTS]" into its parts. SRC is a host path (absolute) or a volume name.
 * OPTS: ro, rw, z/Z (ignored), nocopy. */
typedef struct BindSpec {
        char *source;           /* absolute host path or volume name */
        char *destination;
        bool readonly;
        bool is_volume;
} BindSpec;
int bind_spec_parse(const char *s, BindSpec *ret, KError **err);
void bind_spec_done(BindSpec *b);

/* The process arguments docker would run: Entrypoint + Cmd with flag overrides. */
int spec_gen_args(const ImageConfig *image, const json_t *cfg, char ***ret, KError **err);

/* --privileged, --device, --pid host (HostConfig Privileged, Devices, PidMode): spec-host.c. */
int spec_gen_host(const json_t *cfg, json_t *spec, KError **err);
