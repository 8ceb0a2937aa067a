/* SPDX-License-Identifier: Apache-2.0 */
/* rtnetlink through libmnl: the few link, address and route operations kapsel needs, a netns
 * switch for the current thread, and tap creation. A socket opened while the thread is in a
 * namespace stays bound to it, which is how kapsel configures an instance's netns without forking. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net-addr.h"

typedef struct Rtnl Rtnl;

/* A route-netlink socket in the current thread's netns, or in the netns at `netns_path`. */
int rtnl_open(Rtnl **ret);
int rtnl_open_in(const char *netns_path, Rtnl **ret);
void rtnl_close(Rtnl *nl);
DEFINE_TRIVIAL_CLEANUP_FUNC(Rtnl *, rtnl_close)

/* ifindex of `name`: > 0, or -ENODEV. */
int rtnl_link_index(Rtnl *nl, const char *name);
/* Create a bridge; returns 0, or -EEXIST when a link of that name exists. */
int rtnl_bridge_add(Rtnl *nl, const char *name);
/* Create a veth pair: `host` here, `peer` (with MAC `peer_mac`) directly inside the netns `peer_ns_fd`. */
int rtnl_veth_add(Rtnl *nl, const char *host, const char *peer, int peer_ns_fd, const char *peer_mac);
/* Set master (ifindex, 0 = leave) and bring up. */
int rtnl_link_up(Rtnl *nl, const char *name, int master);
/* Delete; -ENODEV when absent. */
int rtnl_link_del(Rtnl *nl, const char *name);
/* Add ip/prefix to ifindex (-EEXIST when present). */
int rtnl_addr_add(Rtnl *nl, int ifindex, uint32_t ip, unsigned prefix);
/* Default route via gw (-EEXIST when one exists). */
int rtnl_route_default(Rtnl *nl, uint32_t gw);

typedef struct RtnlLink {
        char name[16];
        char kind[16];          /* IFLA_INFO_KIND: "bridge", "veth", "tun", or "" */
} RtnlLink;
/* All links of the netns. */
int rtnl_link_list(Rtnl *nl, RtnlLink **ret, size_t *ret_n);
/* Destination prefixes of the main routing table and of all IPv4 addresses, except the default
 * route: what an automatically chosen subnet must not overlap. */
int rtnl_host_prefixes(Rtnl *nl, Cidr **ret, size_t *ret_n);

/* Create a persistent tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) owned by uid. */
int tap_create(const char *name, uid_t owner);

/* Write a sysctl under /proc/sys/net (path relative to it, e.g. "ipv4/ip_forward"). */
int net_sysctl_write(const char *path, const char *value);
