/* SPDX-License-Identifier: Apache-2.0 */
/* Attachments: IPAM and port checks (nothing changed on error), then state.json, then kernel
 * objects (bridge, veth or tap, addresses, routes), then the rule table and peers' hosts files.
 * A failure after state.json was written is rolled back; a crash is collected by net_gc(). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "net-files.h"
#include "net-internal.h"
#include "string-util.h"

/* ---- port checks ---- */

static bool port_clash(const NetPortMap *a, const NetPortMap *b) {
        return a->proto == b->proto && a->host_port == b->host_port &&
               (a->host_ip == 0 || b->host_ip == 0 || a->host_ip == b->host_ip);
}

/* Whether a process of the host holds the port: try to bind it. */
static int port_bindable(const NetPortMap *m) {
        _cleanup_close_ int fd = socket(AF_INET, (m->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int one = 1;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));     /* TIME_WAIT is not "taken" */
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(m->host_port), .sin_addr.s_addr = htonl(m->host_ip) };
        return bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ? -errno : 0;
}

/* The owner of a clashing map among the state's attachments and ports[0..n). */
static const char *port_owner(const NetState *s, const NetPortMap *m, const NetPortMap *ports, size_t n) {
        for (size_t i = 0; i < s->n_attach; i++)
                for (size_t j = 0; j < s->attach[i].n_ports; j++)
                        if (port_clash(m, &s->attach[i].ports[j]))
                                return s->attach[i].instance_name;
        for (size_t j = 0; j < n; j++)
                if (port_clash(m, &ports[j]))
                        return "this request";
        return NULL;
}

static void ephemeral_range(uint16_t *lo, uint16_t *hi) {
        _cleanup_free_ char *t = NULL;
        unsigned a, b;
        *lo = 32768, *hi = 60999;
        if (read_full_file_at(AT_FDCWD, "/proc/sys/net/ipv4/ip_local_port_range", 64, &t, NULL) >= 0 &&
            sscanf(t, "%u %u", &a, &b) == 2 && a > 0 && a <= b && b <= 65535)
                *lo = (uint16_t) a, *hi = (uint16_t) b;
}

static int port_pick(const NetState *s, NetPortMap *m, const NetPortMap *done, size_t n_done, KError **err) {
        uint16_t lo, hi;
        uint32_t start;
        ephemeral_range(&lo, &hi);
        if (getrandom(&start, sizeof(start), 0) != sizeof(start))
                start = 0;
        uint32_t span = (uint32_t) (hi - lo) + 1;
        for (uint32_t i = 0; i < span; i++) {
                m->host_port = (uint16_t) (lo + (start + i) % span);
                if (!port_owner(s, m, done, n_done) && port_bindable(m) >= 0)
                        return 0;
        }
        return kerr_msg(err, KERR_HOST, -EADDRINUSE, "no free host port in %u-%u for container port %u", lo, hi,
                        m->container_port);
}

static int ports_check(const NetState *s, const NetAttachOpts *o, NetPortMap *out, KError **err) {
        char b[IP4_STRLEN];
        for (size_t i = 0; i < o->n_ports; i++) {
                NetPortMap *m = &out[i];
                *m = o->ports[i];
                const char *proto = m->proto == IPPROTO_UDP ? "udp" : "tcp";
                if (m->host_port == 0) {
                        int r = port_pick(s, m, out, i, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                const char *owner = port_owner(s, m, out, i);
                if (owner)
                        return kerr_msg(err, KERR_EXISTS, -EADDRINUSE, "host port %s:%u/%s is already mapped by %s",
                                        ip4_format(m->host_ip, b), m->host_port, proto, owner);
                int r = port_bindable(m);
                if (r == -EADDRINUSE)
                        return kerr_msg(err, KERR_EXISTS, r, "host port %s:%u/%s is in use by a process on the host",
                                        ip4_format(m->host_ip, b), m->host_port, proto);
                if (r < 0)
                        return kerr(err, r, "host address %s:%u/%s cannot be used", ip4_format(m->host_ip, b),
                                    m->host_port, proto);
        }
        return 0;
}

/* ---- preparing the state entry ---- */

/* The addresses taken on network n: attachments', and the addresses translated guests use inside
 * (a new instance with one of those would share it with a guest that still answers for it). */
static uint32_t *used_ips(const NetState *s, const NetNetwork *n, size_t *ret_n) {
        uint32_t *used = calloc(2 * s->n_attach + 1, sizeof(uint32_t));
        size_t k = 0;
        for (size_t i = 0; used && i < s->n_attach; i++)
                if (streq(s->attach[i].network, n->name)) {
                        used[k++] = s->attach[i].ip;
                        if (s->attach[i].guest_ip)
                                used[k++] = s->attach[i].guest_ip;
                }
        *ret_n = k;
        return used;
}

static bool ip_used(const uint32_t *used, size_t n, uint32_t ip) {
        for (size_t i = 0; i < n; i++)
                if (used[i] == ip)
                        return true;
        return false;
}

static bool host_address_of(const NetNetwork *n, uint32_t ip) {
        return cidr_contains(&n->subnet, ip) && ip != n->subnet.addr && ip != cidr_broadcast(&n->subnet) &&
               ip != n->gateway;
}

static int pick_ip(const NetState *s, const NetNetwork *n, const char *want, uint32_t *ret, KError **err) {
        size_t n_used;
        _cleanup_free_ uint32_t *used = used_ips(s, n, &n_used);
        if (!used)
                return -ENOMEM;
        if (!want) {
                int r = ipam_pick(&n->subnet, n->gateway, used, n_used, ret);
                return r < 0 ? kerr_msg(err, KERR_HOST, r, "network '%s' has no free address left", n->name) : 0;
        }
        uint32_t ip;
        char c[19];
        if (ip4_parse(want, &ip) < 0 || !host_address_of(n, ip))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "address '%s' is not a free host address of %s", want,
                                cidr_format(&n->subnet, c));
        if (ip_used(used, n_used, ip))
                return kerr_msg(err, KERR_EXISTS, -EEXIST, "address %s is already in use on network '%s'", want,
                                n->name);
        *ret = ip;
        return 0;
}

/* A resumed guest's own address (opts->guest_ip): the attachment's when it is free, else a free
 * one (or opts->ip) with translation at the tap. */
static int pick_guest_ip(const NetState *s, const NetNetwork *n, const NetAttachOpts *o, NetAttach *a, KError **err) {
        uint32_t g;
        char c[19];
        if (ip4_parse(o->guest_ip, &g) < 0 || !host_address_of(n, g))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "the guest's address '%s' is not a host address of network "
                                "'%s' (%s): the snapshot was taken on another network", o->guest_ip, n->name,
                                cidr_format(&n->subnet, c));
        size_t n_used;
        _cleanup_free_ uint32_t *used = used_ips(s, n, &n_used);
        if (!used)
                return -ENOMEM;
        if (!o->ip && !ip_used(used, n_used, g)) {
                a->ip = g;
                return 0;
        }
        int r = pick_ip(s, n, o->ip, &a->ip, err);
        if (r >= 0 && a->ip != g)
                a->guest_ip = g;
        return r;
}

/* Lowest ethN the instance does not use yet. */
static void pick_guest_ifname(const NetState *s, const char *id, char buf[static 16]) {
        for (unsigned k = 0;; k++) {
                snprintf(buf, 16, "eth%u", k);
                bool used = false;
                for (size_t i = 0; !used && i < s->n_attach; i++)
                        used = streq(s->attach[i].instance_id, id) && streq(s->attach[i].guest_ifname, buf);
                if (!used)
                        return;
        }
}

static int validate_opts(const NetAttachOpts *o, bool tap, KError **err) {
        if (!o->instance_id || !net_name_valid(o->instance_id))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid instance id '%s'", o->instance_id ? o->instance_id : "");
        if (!o->instance_name || !net_name_valid(o->instance_name))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid instance name '%s'",
                                o->instance_name ? o->instance_name : "");
        for (size_t i = 0; o->aliases && o->aliases[i]; i++)
                if (!net_name_valid(o->aliases[i]))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid alias '%s'", o->aliases[i]);
        if (!tap && !o->netns_path)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "no network namespace given for '%s'", o->instance_name);
        if (!tap && o->guest_ip)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "a guest address is for a micro-VM's tap: '%s' gets a veth",
                                o->instance_name);
        return 0;
}

static int prepare(NetCtx *ctx, const NetAttachOpts *o, bool tap, NetAttach *a, KError **err) {
        NetState *s = &ctx->state;
        const char *netname = o->network ? o->network : NET_DEFAULT_NETWORK;
        int r = validate_opts(o, tap, err);
        if (r >= 0 && streq(netname, NET_DEFAULT_NETWORK))
                r = ctx_ensure_default(ctx, err);
        if (r < 0)
                return r;
        const NetNetwork *n = net_state_network(s, netname);
        if (!n)
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "network '%s' not found", netname);
        for (size_t i = 0; i < s->n_attach; i++)
                if (streq(s->attach[i].instance_id, o->instance_id) && streq(s->attach[i].network, n->name))
                        return kerr_msg(err, KERR_EXISTS, -EEXIST, "'%s' is already attached to network '%s'",
                                        o->instance_name, n->name);
        if (o->n_ports > 0 && n->internal)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "network '%s' is internal: it cannot publish ports", n->name);

        if (!(a->ports = calloc(o->n_ports + 1, sizeof(NetPortMap))))
                return -ENOMEM;
        a->n_ports = o->n_ports;
        r = ports_check(s, o, a->ports, err);
        if (r >= 0)
                r = tap && o->guest_ip ? pick_guest_ip(s, n, o, a, err) : pick_ip(s, n, o->ip, &a->ip, err);
        if (r < 0)
                return r;
        if (!(a->instance_id = strdup(o->instance_id)) || !(a->instance_name = strdup(o->instance_name)) ||
            !(a->network = strdup(n->name)) || strv_copy(o->aliases, &a->aliases) < 0)
                return -ENOMEM;
        a->tap = tap;
        mac_from_ip(a->ip, a->mac);
        link_name(tap, o->instance_id, n->name, a->ifname);
        if (tap)
                strcpy(a->guest_ifname, "eth0");
        else
                pick_guest_ifname(s, o->instance_id, a->guest_ifname);
        return 0;
}

/* ---- kernel objects ---- */

static int setup_bridge(Rtnl *nl, const NetNetwork *n, int *ret_index, KError **err) {
        int r = rtnl_bridge_add(nl, n->bridge);
        if (r < 0 && r != -EEXIST)
                return kerr(err, r, "create bridge '%s'", n->bridge);
        int idx = rtnl_link_index(nl, n->bridge);
        if (idx < 0)
                return kerr(err, idx, "find bridge '%s'", n->bridge);
        r = rtnl_addr_add(nl, idx, n->gateway, n->subnet.prefix);
        if (r < 0 && r != -EEXIST)
                return kerr(err, r, "add the gateway address to bridge '%s'", n->bridge);
        r = rtnl_link_up(nl, n->bridge, 0);
        if (r < 0)
                return kerr(err, r, "bring up bridge '%s'", n->bridge);
        if (!n->internal) {
                /* Port maps on 127.0.0.1: DNATed loopback sources must be routable into the bridge. */
                char key[64];
                snprintf(key, sizeof(key), "ipv4/conf/%s/route_localnet", n->bridge);
                if ((r = net_sysctl_write(key, "1")) < 0 || (r = net_sysctl_write("ipv4/ip_forward", "1")) < 0)
                        return kerr(err, r, "enable forwarding for bridge '%s'", n->bridge);
        }
        *ret_index = idx;
        return 0;
}

static int create_link(Rtnl *nl, const NetAttach *a, int ns_fd, uid_t owner) {
        return a->tap ? tap_create(a->ifname, owner) : rtnl_veth_add(nl, a->ifname, a->guest_ifname, ns_fd, a->mac);
}

/* The host-side name is derived from (instance, network) and the state says it is not attached:
 * a link of that name is left over from a crash, so it is replaced. */
static int setup_link(Rtnl *nl, const NetNetwork *n, const NetAttach *a, const NetAttachOpts *o, int br, KError **err) {
        _cleanup_close_ int ns_fd = -1;
        if (!a->tap && (ns_fd = open(o->netns_path, O_RDONLY | O_CLOEXEC)) < 0)
                return kerr(err, -errno, "open network namespace '%s'", o->netns_path);
        int r = create_link(nl, a, ns_fd, o->tap_owner);
        if (r == -EEXIST && rtnl_link_del(nl, a->ifname) >= 0)
                r = create_link(nl, a, ns_fd, o->tap_owner);
        if (r < 0)
                return kerr(err, r, "create %s '%s' for '%s'", a->tap ? "tap" : "veth pair", a->ifname, a->instance_name);
        crash_point("veth");
        r = rtnl_link_up(nl, a->ifname, br);
        return r < 0 ? kerr(err, r, "attach '%s' to bridge '%s'", a->ifname, n->bridge) : 0;
}

static int setup_inside(const NetNetwork *n, const NetAttach *a, const char *netns_path, KError **err) {
        _cleanup_(rtnl_closep) Rtnl *in = NULL;
        int r = rtnl_open_in(netns_path, &in);
        if (r < 0)
                return kerr(err, r, "enter network namespace '%s'", netns_path);
        int idx = rtnl_link_index(in, a->guest_ifname);
        if (idx < 0)
                return kerr(err, idx, "find '%s' in '%s'", a->guest_ifname, netns_path);
        if ((r = rtnl_addr_add(in, idx, a->ip, n->subnet.prefix)) < 0 ||
            (r = rtnl_link_up(in, a->guest_ifname, 0)) < 0 || (r = rtnl_link_up(in, "lo", 0)) < 0)
                return kerr(err, r, "configure '%s' in '%s'", a->guest_ifname, netns_path);
        r = rtnl_route_default(in, n->gateway);
        return r < 0 && r != -EEXIST ? kerr(err, r, "add default route in '%s'", netns_path) : 0;
}

static int apply_attach(NetCtx *ctx, Rtnl *nl, const NetAttach *a, const NetAttachOpts *o, KError **err) {
        const NetNetwork *n = net_state_network(&ctx->state, a->network);
        int br = 0;
        int r = setup_bridge(nl, n, &br, err);
        if (r >= 0)
                r = setup_link(nl, n, a, o, br, err);
        if (r >= 0 && !a->tap)
                r = setup_inside(n, a, o->netns_path, err);
        if (r >= 0)
                r = ctx_apply_rules(ctx, err);
        if (r >= 0)
                r = ctx_refresh_hosts(ctx, err);
        return r;
}

/* ---- results ---- */

static int attachment_new(const NetState *s, const NetAttach *a, NetAttachment **ret) {
        const NetNetwork *n = net_state_network(s, a->network);
        _cleanup_(net_attachment_freep) NetAttachment *r = calloc(1, sizeof(*r));
        if (!r || !(r->network = strdup(a->network)) || !(r->instance_id = strdup(a->instance_id)) ||
            !(r->ifname = strdup(a->ifname)) || !(r->guest_ifname = strdup(a->guest_ifname)) ||
            !(r->ports = calloc(a->n_ports + 1, sizeof(NetPortMap))))
                return -ENOMEM;
        ip4_format(a->ip, r->ip);
        ip4_format(n ? n->gateway : 0, r->gateway);
        r->prefixlen = n ? n->subnet.prefix : 32;
        strcpy(r->mac, a->mac);
        ip4_format(a->guest_ip ?: a->ip, r->guest_ip);
        mac_from_ip(a->guest_ip ?: a->ip, r->guest_mac);
        memcpy(r->ports, a->ports, a->n_ports * sizeof(NetPortMap));
        r->n_ports = a->n_ports;
        if (a->tap) {
                char mask[IP4_STRLEN];
                if (asprintf(&r->kernel_ip_arg, "ip=%s::%s:%s::eth0:off", r->ip, r->gateway,
                             ip4_format(ip4_mask(r->prefixlen), mask)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

void net_attachment_free(NetAttachment *a) {
        if (!a)
                return;
        free(a->network);
        free(a->instance_id);
        free(a->ifname);
        free(a->guest_ifname);
        free(a->ports);
        free(a->kernel_ip_arg);
        free(a);
}

void net_attachments_free(NetAttachment **v) {
        for (size_t i = 0; v && v[i]; i++)
                net_attachment_free(v[i]);
        free(v);
}

static ssize_t find_attach(const NetState *s, const char *id, const char *network) {
        for (size_t i = 0; i < s->n_attach; i++)
                if (streq(s->attach[i].instance_id, id) && (!network || streq(s->attach[i].network, network)))
                        return (ssize_t) i;
        return -1;
}

/* ---- attach / detach ---- */

static int attach(NetCtx *ctx, const NetAttachOpts *o, bool tap, NetAttachment **ret, KError **err) {
        _cleanup_(rtnl_closep) Rtnl *nl = NULL;
        int r = ctx_begin(ctx, &nl, err);
        if (r < 0)
                return r;
        NetAttach a = {};
        NetAttach *v = NULL;
        r = prepare(ctx, o, tap, &a, err);
        if (r >= 0 && !(v = reallocarray(ctx->state.attach, ctx->state.n_attach + 1, sizeof(a))))
                r = -ENOMEM;
        if (r < 0) {
                net_attach_done(&a);
                ctx_unlock(ctx);
                return r;
        }
        ctx->state.attach = v;
        v[ctx->state.n_attach++] = a;
        r = ctx_save(ctx, err);
        if (r >= 0)
                r = apply_attach(ctx, nl, &v[ctx->state.n_attach - 1], o, err);
        ssize_t i = find_attach(&ctx->state, o->instance_id, a.network);
        if (r >= 0 && ret)
                r = attachment_new(&ctx->state, &ctx->state.attach[i], ret);
        if (r < 0 && i >= 0) {
                (void) ctx_drop_attachment(ctx, nl, (size_t) i, NULL);
                (void) ctx_save(ctx, NULL);
                (void) ctx_apply_rules(ctx, NULL);
                (void) ctx_refresh_hosts(ctx, NULL);
        }
        ctx_unlock(ctx);
        return r;
}

int net_attach(NetCtx *ctx, const NetAttachOpts *opts, NetAttachment **ret, KError **err) {
        return attach(ctx, opts, false, ret, err);
}

int net_attach_tap(NetCtx *ctx, const NetAttachOpts *opts, NetAttachment **ret, KError **err) {
        return attach(ctx, opts, true, ret, err);
}

int ctx_drop_attachment(NetCtx *ctx, Rtnl *nl, size_t i, KError **err) {
        NetAttach *a = &ctx->state.attach[i];
        int r = rtnl_link_del(nl, a->ifname);
        if (r < 0 && r != -ENODEV)
                return kerr(err, r, "delete link '%s' of '%s'", a->ifname, a->instance_name);
        net_attach_done(a);
        array_remove(ctx->state.attach, &ctx->state.n_attach, sizeof(NetAttach), i);
        return 0;
}

void ctx_remove_instance_files(NetCtx *ctx, const char *id) {
        static const char *const names[] = { "hosts", "resolv.conf", "hostname" };
        char path[512];
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(path, sizeof(path), "instances/%s/%s", id, names[i]);
                (void) unlinkat(ctx->root_fd, path, 0);
        }
        snprintf(path, sizeof(path), "instances/%s", id);
        (void) unlinkat(ctx->root_fd, path, AT_REMOVEDIR);
}

static void drop_instance(NetCtx *ctx, const char *id) {
        NetInstance *inst = net_state_instance(&ctx->state, id);
        if (!inst)
                return;
        ctx_remove_instance_files(ctx, id);
        net_instance_done(inst);
        array_remove(ctx->state.instances, &ctx->state.n_instances, sizeof(NetInstance),
                     (size_t) (inst - ctx->state.instances));
}

int net_detach(NetCtx *ctx, const char *instance_id, const char *network, KError **err) {
        _cleanup_(rtnl_closep) Rtnl *nl = NULL;
        int r = ctx_begin(ctx, &nl, err);
        if (r < 0)
                return r;
        const NetNetwork *n = network ? net_state_network(&ctx->state, network) : NULL;
        /* the rules and the peers' hosts files follow the attachments only: an instance without
         * any (--network none: just its /etc files) changes neither, and an nftables commit costs
         * milliseconds */
        bool detached = false, dropped = false;
        for (ssize_t i; r >= 0 && (i = find_attach(&ctx->state, instance_id, n ? n->name : network)) >= 0;) {
                r = ctx_drop_attachment(ctx, nl, (size_t) i, err);
                detached = true;
        }
        if (r >= 0 && !network && net_state_instance(&ctx->state, instance_id)) {
                drop_instance(ctx, instance_id);
                dropped = true;
        }
        if (r >= 0 && (detached || dropped))
                r = ctx_save(ctx, err);
        if (r >= 0 && detached)
                r = ctx_apply_rules(ctx, err);
        if (r >= 0 && detached)
                r = ctx_refresh_hosts(ctx, err);
        ctx_unlock(ctx);
        return r;
}

int net_attachments(NetCtx *ctx, const char *instance_id, NetAttachment ***ret, KError **err) {
        int r = ctx_lock(ctx, err);
        if (r < 0)
                return r;
        NetAttachment **v = calloc(ctx->state.n_attach + 1, sizeof(*v));
        size_t n = 0;
        r = v ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < ctx->state.n_attach; i++)
                if (streq(ctx->state.attach[i].instance_id, instance_id))
                        r = attachment_new(&ctx->state, &ctx->state.attach[i], &v[n++]);
        ctx_unlock(ctx);
        if (r < 0) {
                net_attachments_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

int net_ports(NetCtx *ctx, const char *instance_id, NetPortMap **ret, size_t *ret_n, KError **err) {
        int r = ctx_lock(ctx, err);
        if (r < 0)
                return r;
        size_t n = 0;
        NetPortMap *v = NULL;
        for (size_t i = 0; r >= 0 && i < ctx->state.n_attach; i++) {
                const NetAttach *a = &ctx->state.attach[i];
                if (!streq(a->instance_id, instance_id) || a->n_ports == 0)
                        continue;
                NetPortMap *nv = reallocarray(v, n + a->n_ports, sizeof(NetPortMap));
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                v = nv;
                memcpy(v + n, a->ports, a->n_ports * sizeof(NetPortMap));
                n += a->n_ports;
        }
        ctx_unlock(ctx);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
