/* SPDX-License-Identifier: Apache-2.0 */
/* A container's network, from HostConfig.NetworkMode and its port flags, over the network layer
 * (src/net): its own netns bind-mounted at containers/<id>/netns (bridge, user networks, none),
 * the host's (host), or another container's (container:<name>); plus its /etc files. */
#pragma once

#include <stdbool.h>

#include "engine.h"

typedef struct CtrNet {
        char *netns_path;       /* NULL with host networking */
        bool host;
        NetFiles files;         /* hosts, resolv.conf, hostname (all NULL with host networking) */
} CtrNet;

void ctr_net_done(CtrNet *n);

/* HostConfig.PortSpecs (-p) and, with PublishAllPorts (-P), `img`'s exposed ports as port maps.
 * Caller frees *ret. */
int ctr_net_port_maps(const json_t *config, const ImageConfig *img, NetPortMap **ret, size_t *ret_n, KError **err);
/* Check the flags at create time: the mode, the network exists, the port specs parse. */
int ctr_net_validate(Engine *e, const json_t *config, KError **err);
/* Set up before the runtime creates the container; undone by ctr_net_teardown on failure too. */
int ctr_net_setup(Engine *e, const CtrRecord *rec, const ImageConfig *img, CtrNet *ret, KError **err);
/* Detach from every network and drop the netns. Idempotent. */
int ctr_net_teardown(Engine *e, const char *id, KError **err);
/* The network of a process that has no container row (a RUN step of `kapsel build`): a netns
 * bind-mounted at `netns_path`, attached to `network` (a bridge network: "bridge" or a user
 * network's name) as instance `id`, which peers resolve by that name, and its /etc files.
 * Undone by ctr_net_release, also here on failure. */
int ctr_net_setup_bare(Engine *e, const char *id, const char *network, const char *netns_path, CtrNet *ret,
                       KError **err);
/* Detach instance `id` from every network and drop the netns at `netns_path`. Idempotent. */
int ctr_net_release(Engine *e, const char *id, const char *netns_path, KError **err);
/* Connect a container to one more network with `aliases` (NULL-terminated or NULL), or disconnect
 * it (network connect|disconnect). The connection is kept in its row (HostConfig.ExtraNetworks):
 * a created or stopped container gets it at its next start, a running one at once and again at
 * each start, as docker's. Only containers on a bridge or user network can be connected. */
int ctr_net_connect(Engine *e, const CtrRecord *rec, const char *network, char *const *aliases, KError **err);
int ctr_net_disconnect(Engine *e, const CtrRecord *rec, const char *network, KError **err);
