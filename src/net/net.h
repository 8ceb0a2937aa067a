/* SPDX-License-Identifier: Apache-2.0 */
/* The network layer: bridge networks with IPAM, veth (containers) or tap (micro-VMs) attachments,
 * egress NAT, port maps and isolation in one nftables table, and the per-instance /etc/hosts,
 * /etc/resolv.conf and /etc/hostname. Independent of what is attached.
 *
 * State lives under one root (default /var/lib/kapsel/net):
 *
 *   lock                      flock(2) held for the whole of every call that reads or changes state
 *   state.json                networks, attachments (IP, MAC, host ifname, port maps), instances'
 *                             file settings; replaced atomically (temp file + rename)
 *   instances/<id>/{hosts,resolv.conf,hostname}
 *                             the files the engine bind-mounts into the instance; rewritten in place
 *                             (never renamed over) so that bind mounts see later changes
 *
 * Kernel objects are owned by name: bridges (kapsel0, kapsel-<8 hex of the network id>, or a name
 * given at create), host-side veths "kv<8 hex>" and taps "kt<8 hex>", and the nftables table
 * `ip kapsel`. Another root in the same network namespace gets its own table and default bridge
 * (`ip kapsel_<tag>`, kapsel0-<tag>, tag = 6 hex of a hash of its path; net_root_names), and garbage
 * collection deletes only links this root's state names or only it can own, never another root's. The table is always rebuilt from state.json in one nfnetlink transaction, so
 * it is either the old or the new rule set. Every change writes state.json before it creates a
 * kernel object and deletes kernel objects before it drops them from state.json: a crash at any
 * point leaves objects that net_gc() can find and remove.
 *
 * All calls act on the network namespace of the calling thread (the "host"). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define NET_DEFAULT_ROOT "/var/lib/kapsel/net"
#define NET_DEFAULT_NETWORK "bridge"
#define NET_DEFAULT_BRIDGE "kapsel0"

typedef struct NetCtx NetCtx;

/* The nftables table and default bridge of the state root `root` (its real path): "kapsel" and
 * "kapsel0" for NET_DEFAULT_ROOT, else "kapsel_<tag>" and "kapsel0-<tag>". */
void net_root_names(const char *root, char table[static 32], char bridge[static 16]);
/* Open (creating it 0700 if needed) the state root. `root` NULL means NET_DEFAULT_ROOT. */
int net_open(const char *root, NetCtx **ret, KError **err);
void net_close(NetCtx *ctx);
DEFINE_TRIVIAL_CLEANUP_FUNC(NetCtx *, net_close)
/* Where the host's resolv.conf is read from (default /etc/resolv.conf); for tests. */
int net_set_host_resolv(NetCtx *ctx, const char *path);

/* ---- --network modes ---- */

typedef enum NetModeKind {
        NET_MODE_BRIDGE,        /* attach to a kapsel network (`network` names it) */
        NET_MODE_HOST,          /* share the host's netns: nothing to do */
        NET_MODE_NONE,          /* own netns with only lo up (net_netns_create) */
        NET_MODE_CONTAINER,     /* join another instance's netns (`container` names it) */
} NetModeKind;

typedef struct NetMode {
        NetModeKind kind;
        char *network;          /* NET_MODE_BRIDGE: network name ("bridge" for "", "bridge", "default") */
        char *container;        /* NET_MODE_CONTAINER: the name or id after "container:" */
} NetMode;

/* "bridge" / "default" / "" / "host" / "none" / "container:<id>" / <user network name>. */
int net_mode_parse(const char *s, NetMode *ret, KError **err);
void net_mode_done(NetMode *m);

/* Create a new network namespace with lo up and bind-mount it at `path` (as `ip netns add` does;
 * the file is created). Used for --network none and by tests. */
int net_netns_create(const char *path, KError **err);
/* Unmount and unlink a namespace made by net_netns_create (missing is not an error). */
int net_netns_remove(const char *path, KError **err);

/* ---- port maps ---- */

typedef struct NetPortMap {
        uint32_t host_ip;       /* host byte order; 0 = every local address */
        uint16_t host_port;     /* 0 = pick a free one from the ephemeral range at attach time */
        uint16_t container_port;
        uint8_t proto;          /* IPPROTO_TCP or IPPROTO_UDP */
} NetPortMap;

/* Parse one `-p [ip:]hostport[-end]:containerport[-end][/tcp|udp]` (also `containerport` alone and
 * `ip::containerport`: host port picked at attach) and append the expanded single-port maps to
 * (*maps, *n). Host and container ranges must have equal length; at most 1024 ports. */
int net_port_parse(const char *spec, NetPortMap **maps, size_t *n, KError **err);
/* -P: append one map with host_port 0 per exposed port of the image ("80/tcp", "53/udp", "8080"). */
int net_port_expose(char *const *exposed, NetPortMap **maps, size_t *n, KError **err);
/* "80/tcp -> 0.0.0.0:8080", as `kapsel port` prints it. Caller frees; NULL on ENOMEM. */
char *net_port_format(const NetPortMap *m);

/* ---- networks ---- */

typedef struct NetNetworkOpts {
        const char *name;       /* required: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,63} */
        const char *driver;     /* NULL or "bridge" (the only driver) */
        const char *subnet;     /* "10.1.0.0/24" or NULL: pick one free of kapsel networks and host routes */
        const char *gateway;    /* NULL: first address of the subnet */
        const char *bridge;     /* NULL: kapsel-<8 hex of id> (kapsel0 for the default network) */
        bool internal;          /* no egress NAT or forwarding out of the bridge */
        char *const *labels;    /* "key=value", NULL-terminated, or NULL */
} NetNetworkOpts;

/* Create a network (state only: its bridge comes up with the first attachment). Errors, with
 * nothing changed: duplicate name (KERR_EXISTS), bad CIDR / gateway outside the subnet
 * (KERR_USAGE), subnet overlapping another kapsel network (KERR_EXISTS). Returns its 64-hex id. */
int net_network_create(NetCtx *ctx, const NetNetworkOpts *opts, char **ret_id, KError **err);
/* Remove by name, id or unique id prefix. Refuses (KERR_STATE) while instances are attached
 * unless `force`, which detaches them first. The default network cannot be removed. */
int net_network_remove(NetCtx *ctx, const char *name, bool force, KError **err);
/* docker-style inspect object: Name, Id, Created, Driver, Subnet, Gateway, Bridge, Internal,
 * Labels, Containers {id: {Name, IPv4Address ("ip/prefix"), MacAddress, Interface}}. */
int net_network_inspect(NetCtx *ctx, const char *name, json_t **ret, KError **err);
/* Array of inspect objects, default network first (created implicitly). */
int net_network_list(NetCtx *ctx, json_t **ret, KError **err);
/* Remove user networks without attachments; *ret_removed (NULL-terminated, may be empty) names them. */
int net_network_prune(NetCtx *ctx, char ***ret_removed, KError **err);

/* ---- attachments ---- */

typedef struct NetAttachOpts {
        const char *network;            /* NULL: the default network */
        const char *instance_id;        /* required */
        const char *instance_name;      /* required: the name peers resolve */
        char *const *aliases;           /* more names on this network, NULL-terminated, or NULL */
        const char *netns_path;         /* net_attach: the instance's netns (/proc/PID/ns/net, bind mount) */
        const NetPortMap *ports;        /* may be NULL */
        size_t n_ports;
        const char *ip;                 /* NULL: next free address; else this one (must be free, in the subnet) */
        /* net_attach_tap of a guest resumed from a snapshot: the address it already uses (its MAC is
         * mac_from_ip of it, as at its boot). Taken when free; when another instance holds it (a clone
         * of a running VM), the tap gets a free address and MAC and translates between the two, so
         * several clones of one snapshot share a network, each reached at its own address (by all but
         * the instance holding the guest's: to each other the two look like one address). Not for
         * net_attach (a veth). */
        const char *guest_ip;
        uid_t tap_owner;                /* net_attach_tap: uid allowed to open the tap (0 = root) */
} NetAttachOpts;

typedef struct NetAttachment {
        char *network;
        char *instance_id;
        char *ifname;           /* host side: "kv<hex>" veth or "kt<hex>" tap */
        char *guest_ifname;     /* veth: name inside the netns ("eth0", "eth1", ...); tap: "eth0" */
        char ip[16];            /* dotted quad */
        unsigned prefixlen;
        char gateway[16];
        char mac[18];           /* "02:4b:0a:58:00:02" */
        char guest_ip[16];      /* tap: the address and MAC inside the guest: ip and mac unless translated */
        char guest_mac[18];
        NetPortMap *ports;      /* as mapped (host ports filled in) */
        size_t n_ports;
        char *kernel_ip_arg;    /* tap only: "ip=<client>::<gw>:<netmask>::eth0:off" for the guest cmdline */
} NetAttachment;

void net_attachment_free(NetAttachment *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(NetAttachment *, net_attachment_free)

/* Attach a container's netns to a network: bridge up with its gateway address, an address from
 * IPAM, a veth pair (host side on the bridge, the peer created directly inside the netns as
 * eth<N> with address, default route and lo up), egress NAT + ip_forward for non-internal
 * networks, and the port maps. A taken host port (bound by a process, or mapped by another
 * attachment), an unknown network (KERR_NOT_FOUND) or an instance already on that network
 * (KERR_EXISTS) is an error that changes nothing. */
int net_attach(NetCtx *ctx, const NetAttachOpts *opts, NetAttachment **ret, KError **err);
/* The same for a micro-VM: a persistent tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, owned by
 * opts->tap_owner) on the bridge. kapsel-vmm opens it by name; the guest configures itself from
 * ret->kernel_ip_arg. */
int net_attach_tap(NetCtx *ctx, const NetAttachOpts *opts, NetAttachment **ret, KError **err);
/* Detach an instance from `network`, or from every network when NULL (then also drop its
 * generated files). Idempotent: not attached is success. Peers' hosts files are rewritten. */
int net_detach(NetCtx *ctx, const char *instance_id, const char *network, KError **err);
/* All attachments of an instance (array of NetAttachment*, NULL-terminated). */
int net_attachments(NetCtx *ctx, const char *instance_id, NetAttachment ***ret, KError **err);
void net_attachments_free(NetAttachment **v);
/* The instance's port maps across its networks, host ports filled in (for `kapsel port`). */
int net_ports(NetCtx *ctx, const char *instance_id, NetPortMap **ret, size_t *ret_n, KError **err);

/* ---- /etc files ---- */

typedef struct NetFilesOpts {
        const char *hostname;           /* NULL: first 12 characters of the instance id */
        char *const *dns;               /* --dns servers; NULL: the host's non-loopback nameservers */
        char *const *dns_search;        /* NULL: the host's search line */
        char *const *dns_options;       /* NULL: the host's options line */
        char *const *extra_hosts;       /* --add-host "name:ip" */
} NetFilesOpts;

typedef struct NetFiles {
        char *hosts;            /* absolute paths under <root>/instances/<id>/ */
        char *resolv_conf;
        char *hostname;
} NetFiles;

void net_files_done(NetFiles *f);
/* Write (or rewrite) the instance's hosts, resolv.conf and hostname and remember the settings,
 * so that later attachments of peers update its hosts file. Call before or after net_attach. */
int net_files_setup(NetCtx *ctx, const char *instance_id, const NetFilesOpts *opts, NetFiles *ret,
                    KError **err);

/* ---- collection ---- */

/* Remove everything of instances not in `live_ids` (NULL-terminated; NULL = none live):
 * attachments and their links, files, and their rules; this root's default bridge when no state
 * entry names it. Links other roots may own (any kv/kt/kapsel-* name the state does not list) are
 * left alone. Then rebuild the root's nftables table.
 * *ret_removed (optional) lists what went: "attachment <id> <network>", "link <name>", ... */
int net_gc(NetCtx *ctx, char *const *live_ids, char ***ret_removed, KError **err);
/* Delete every link of this root (named in its state, and its default bridge), its nftables table
 * and all state (networks too). */
int net_reset(NetCtx *ctx, KError **err);
