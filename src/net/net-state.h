/* SPDX-License-Identifier: Apache-2.0 */
/* The persistent state of the network layer (state.json) and its in-memory form. Loading and
 * saving are pure apart from the file I/O; the plan code (net-plan.c) reads these structs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "net-addr.h"
#include "net.h"

typedef struct NetNetwork {
        char *name;
        char *id;               /* 64 hex */
        char *bridge;
        char *created;          /* RFC 3339 */
        Cidr subnet;
        uint32_t gateway;
        bool internal;
        char **labels;          /* "k=v", NULL-terminated or NULL */
} NetNetwork;

typedef struct NetAttach {
        char *instance_id;
        char *instance_name;
        char *network;          /* network name */
        char **aliases;
        char ifname[16];        /* host side */
        char guest_ifname[16];
        bool tap;
        uint32_t ip;
        char mac[18];
        /* tap only, 0 = none: the address the guest itself uses, when it is not `ip` (a VM resumed
         * from a snapshot whose address was taken): frames are translated at the tap between the
         * guest's address and MAC (mac_from_ip(guest_ip)) and the attachment's (net-plan.h) */
        uint32_t guest_ip;
        NetPortMap *ports;
        size_t n_ports;
} NetAttach;

/* Settings of an instance's generated files (net_files_setup), kept so peers' changes can
 * rewrite its hosts file. */
typedef struct NetInstance {
        char *id;
        char *hostname;
        char **dns, **dns_search, **dns_options, **extra_hosts;
} NetInstance;

typedef struct NetState {
        NetNetwork *networks;
        size_t n_networks;
        NetAttach *attach;
        size_t n_attach;
        NetInstance *instances;
        size_t n_instances;
} NetState;

void net_state_done(NetState *s);
/* Parse state.json text (empty text = empty state). */
int net_state_parse(const char *text, NetState *ret, KError **err);
/* Serialize; caller frees. */
char *net_state_format(const NetState *s);

NetNetwork *net_state_network(const NetState *s, const char *name_or_id);
NetInstance *net_state_instance(const NetState *s, const char *id);
size_t net_state_count_attached(const NetState *s, const char *network);

void net_network_done(NetNetwork *n);
void net_attach_done(NetAttach *a);
void net_instance_done(NetInstance *i);
/* Remove element i from an array of n elements of `size` bytes (caller already freed its fields). */
void array_remove(void *array, size_t *n, size_t size, size_t i);
