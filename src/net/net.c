/* SPDX-License-Identifier: Apache-2.0 */
/* Context, state locking, and networks (create/remove/inspect/list/prune). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "fd-util.h"
#include "json-util.h"
#include "net-files.h"
#include "net-internal.h"
#include "net-plan.h"
#include "nft.h"
#include "string-util.h"

#define STATE_FILE "state.json"
#define STATE_MAX (64u << 20)

int net_open(const char *root, NetCtx **ret, KError **err) {
        root = root ? root : NET_DEFAULT_ROOT;
        if (mkdir(root, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create network state directory '%s'", root);
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return kerr(err, -errno, "open network state directory '%s'", root);
        _cleanup_close_ int lock = openat(fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock < 0)
                return kerr(err, -errno, "open '%s/lock'", root);
        NetCtx *c = calloc(1, sizeof(*c));
        if (!c || !(c->root = strdup(root)) || !(c->host_resolv = strdup("/etc/resolv.conf"))) {
                net_close(c);
                return -ENOMEM;
        }
        c->root_fd = TAKE_FD(fd);
        c->lock_fd = TAKE_FD(lock);
        _cleanup_free_ char *real = realpath(root, NULL);
        net_root_names(real ?: root, c->table, c->default_bridge);
        *ret = c;
        return 0;
}

void net_root_names(const char *root, char table[static 32], char bridge[static 16]) {
        if (streq(root, NET_DEFAULT_ROOT)) {
                snprintf(table, 32, "%s", NFT_TABLE);
                snprintf(bridge, 16, "%s", NET_DEFAULT_BRIDGE);
                return;
        }
        uint32_t tag = name_hash(root, "") & 0xffffff;
        snprintf(table, 32, "%s_%06x", NFT_TABLE, tag);
        snprintf(bridge, 16, "%s-%06x", NET_DEFAULT_BRIDGE, tag);
}

void net_close(NetCtx *ctx) {
        if (!ctx)
                return;
        net_state_done(&ctx->state);
        safe_close(ctx->root_fd);
        safe_close(ctx->lock_fd);
        free(ctx->root);
        free(ctx->host_resolv);
        free(ctx);
}

int net_set_host_resolv(NetCtx *ctx, const char *path) {
        char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        free(ctx->host_resolv);
        ctx->host_resolv = p;
        return 0;
}

void crash_point(const char *point) {
        const char *at = getenv("KAPSEL_NET_CRASH_AT");
        if (at && streq(at, point))
                raise(SIGKILL);
}

int ctx_lock(NetCtx *ctx, KError **err) {
        if (flock(ctx->lock_fd, LOCK_EX) < 0)
                return kerr(err, -errno, "lock '%s/lock'", ctx->root);
        _cleanup_free_ char *text = NULL;
        int r = read_full_file_at(ctx->root_fd, STATE_FILE, STATE_MAX, &text, NULL);
        if (r == -ENOENT)
                r = 0;
        else if (r < 0)
                r = kerr(err, r, "read '%s/%s'", ctx->root, STATE_FILE);
        if (r >= 0)
                r = net_state_parse(text ? text : "", &ctx->state, err);
        if (r < 0)
                flock(ctx->lock_fd, LOCK_UN);
        return r;
}

int ctx_begin(NetCtx *ctx, Rtnl **ret_nl, KError **err) {
        int r = rtnl_open(ret_nl);
        if (r < 0)
                return kerr(err, r, "open rtnetlink socket");
        r = ctx_lock(ctx, err);
        if (r < 0)
                *ret_nl = (rtnl_close(*ret_nl), NULL);
        return r;
}

void ctx_unlock(NetCtx *ctx) {
        net_state_done(&ctx->state);
        (void) flock(ctx->lock_fd, LOCK_UN);
}

int ctx_save(NetCtx *ctx, KError **err) {
        _cleanup_free_ char *text = net_state_format(&ctx->state);
        if (!text)
                return kerr(err, -ENOMEM, "serialize network state");
        int r = write_file_atomic_at(ctx->root_fd, STATE_FILE, text, strlen(text), 0600);
        return r < 0 ? kerr(err, r, "write '%s/%s'", ctx->root, STATE_FILE) : 0;
}

int ctx_apply_rules(NetCtx *ctx, KError **err) {
        /* every rule guards or forwards to an attachment: without one the root needs no table (a
         * `system check` of a root that never attached anything must not leave one on the host) */
        if (ctx->state.n_attach == 0)
                return nft_delete_table(ctx->table, err);
        _cleanup_free_ NftRule *rules = NULL;
        _cleanup_free_ NftXlate *xlates = NULL;
        size_t n, n_xlates;
        int r = net_plan_rules(&ctx->state, &rules, &n);
        if (r >= 0)
                r = net_plan_xlates(&ctx->state, &xlates, &n_xlates);
        if (r < 0)
                return kerr(err, r, "plan nftables rules");
        return nft_apply(ctx->table, rules, n, xlates, n_xlates, err);
}

/* ---- network creation ---- */

static int random_id(char **ret) {
        uint8_t b[32];
        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                return -errno;
        char *s = malloc(65);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < sizeof(b); i++)
                sprintf(s + 2 * i, "%02x", b[i]);
        *ret = s;
        return 0;
}

static char *now_rfc3339(void) {
        char buf[32];
        time_t t = time(NULL);
        struct tm tm;
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        return strdup(buf);
}

static bool overlaps_any(const Cidr *c, const Cidr *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (cidr_overlaps(c, &v[i]))
                        return true;
        return false;
}

static const NetNetwork *overlapping_network(const NetState *s, const Cidr *c) {
        for (size_t i = 0; i < s->n_networks; i++)
                if (cidr_overlaps(c, &s->networks[i].subnet))
                        return &s->networks[i];
        return NULL;
}

/* First candidate subnet overlapping neither a kapsel network nor a host route or address. */
static int pick_subnet(NetCtx *ctx, bool default_network, Cidr *ret, KError **err) {
        _cleanup_(rtnl_closep) Rtnl *nl = NULL;
        _cleanup_free_ Cidr *host = NULL;
        size_t n_host = 0;
        int r = rtnl_open(&nl);
        if (r >= 0)
                r = rtnl_host_prefixes(nl, &host, &n_host);
        if (r < 0)
                return kerr(err, r, "list host routes");
        Cidr c;
        for (size_t i = 0; cidr_candidate(default_network, i, &c); i++)
                if (!overlapping_network(&ctx->state, &c) && !overlaps_any(&c, host, n_host)) {
                        *ret = c;
                        return 0;
                }
        return kerr_msg(err, KERR_HOST, -ENOSPC, "no free subnet left for a new network: give one with --subnet");
}

static int validate_create(NetCtx *ctx, const NetNetworkOpts *o, KError **err) {
        if (!o->name || !net_name_valid(o->name))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid network name '%s': use [a-zA-Z0-9][a-zA-Z0-9_.-]*",
                                o->name ? o->name : "");
        if (net_state_network(&ctx->state, o->name))
                return kerr_msg(err, KERR_EXISTS, -EEXIST, "network '%s' already exists", o->name);
        if (o->driver && !streq(o->driver, "bridge"))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "unsupported network driver '%s': only 'bridge'", o->driver);
        if (o->bridge && !ifname_valid(o->bridge))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid bridge name '%s'", o->bridge);
        for (size_t i = 0; o->labels && o->labels[i]; i++)
                if (!strchr(o->labels[i], '='))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid label '%s': expected key=value", o->labels[i]);
        return 0;
}

static int fill_addresses(NetCtx *ctx, const NetNetworkOpts *o, NetNetwork *n, KError **err) {
        bool is_default = streq(o->name, NET_DEFAULT_NETWORK);
        int r = o->subnet ? cidr_parse(o->subnet, &n->subnet, err) : pick_subnet(ctx, is_default, &n->subnet, err);
        if (r < 0)
                return r;
        char c[19];
        if (n->subnet.prefix > 30 || n->subnet.prefix < 8)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "subnet %s: prefix must be between /8 and /30",
                                cidr_format(&n->subnet, c));
        const NetNetwork *other = overlapping_network(&ctx->state, &n->subnet);
        if (other)
                return kerr_msg(err, KERR_EXISTS, -EEXIST, "subnet %s overlaps network '%s' (%s)",
                                cidr_format(&n->subnet, c), other->name, cidr_format(&other->subnet, (char[19]) {}));
        n->gateway = n->subnet.addr + 1;
        if (o->gateway && ip4_parse(o->gateway, &n->gateway) < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid gateway '%s': expected a.b.c.d", o->gateway);
        if (!cidr_contains(&n->subnet, n->gateway) || n->gateway == n->subnet.addr ||
            n->gateway == cidr_broadcast(&n->subnet))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "gateway %s is not a host address of subnet %s",
                                o->gateway, cidr_format(&n->subnet, c));
        return 0;
}

static int fill_network(NetCtx *ctx, const NetNetworkOpts *o, NetNetwork *n, KError **err) {
        int r = validate_create(ctx, o, err);
        if (r >= 0)
                r = fill_addresses(ctx, o, n, err);
        if (r < 0)
                return r;
        if (random_id(&n->id) < 0 || !(n->name = strdup(o->name)) || !(n->created = now_rfc3339()) ||
            strv_copy(o->labels, &n->labels) < 0)
                return -ENOMEM;
        char br[16];
        if (o->bridge)
                snprintf(br, sizeof(br), "%s", o->bridge);
        else if (streq(o->name, NET_DEFAULT_NETWORK))
                snprintf(br, sizeof(br), "%s", ctx->default_bridge);
        else
                snprintf(br, sizeof(br), "kapsel-%.8s", n->id);
        for (size_t i = 0; i < ctx->state.n_networks; i++)
                if (streq(ctx->state.networks[i].bridge, br))
                        return kerr_msg(err, KERR_EXISTS, -EEXIST, "bridge '%s' is used by network '%s'", br,
                                        ctx->state.networks[i].name);
        n->bridge = strdup(br);
        n->internal = o->internal;
        return n->bridge ? 0 : -ENOMEM;
}

/* Add the network to ctx->state (not saved). */
static int state_add_network(NetCtx *ctx, const NetNetworkOpts *o, const char **ret_id, KError **err) {
        NetNetwork n = {};
        int r = fill_network(ctx, o, &n, err);
        NetNetwork *v = r >= 0 ? reallocarray(ctx->state.networks, ctx->state.n_networks + 1, sizeof(n)) : NULL;
        if (!v) {
                net_network_done(&n);
                return r < 0 ? r : -ENOMEM;
        }
        v[ctx->state.n_networks++] = n;
        ctx->state.networks = v;
        if (ret_id)
                *ret_id = v[ctx->state.n_networks - 1].id;
        return 0;
}

int ctx_ensure_default(NetCtx *ctx, KError **err) {
        if (net_state_network(&ctx->state, NET_DEFAULT_NETWORK))
                return 0;
        NetNetworkOpts o = { .name = NET_DEFAULT_NETWORK };
        int r = state_add_network(ctx, &o, NULL, err);
        return r < 0 ? kerr_prefix(err, r, "create the default network") : ctx_save(ctx, err);
}

int net_network_create(NetCtx *ctx, const NetNetworkOpts *opts, char **ret_id, KError **err) {
        int r = ctx_lock(ctx, err);
        if (r < 0)
                return r;
        const char *id = NULL;
        /* The default network is made first so a user network cannot take its subnet. */
        r = streq_ptr(opts->name, NET_DEFAULT_NETWORK) ? 0 : ctx_ensure_default(ctx, err);
        if (r >= 0)
                r = state_add_network(ctx, opts, &id, err);
        if (r >= 0)
                r = ctx_save(ctx, err);
        if (r >= 0 && ret_id && !(*ret_id = strdup(id)))
                r = -ENOMEM;
        ctx_unlock(ctx);
        return r;
}

/* ---- removal ---- */

static int delete_bridge(Rtnl *nl, const char *name, KError **err) {
        int r = rtnl_link_del(nl, name);
        return r < 0 && r != -ENODEV ? kerr(err, r, "delete bridge '%s'", name) : 0;
}

/* Bridge first, then state: a crash in between leaves a network whose bridge is recreated. */
static int remove_network(NetCtx *ctx, Rtnl *nl, NetNetwork *n, KError **err) {
        for (size_t i = ctx->state.n_attach; i-- > 0;)
                if (streq(ctx->state.attach[i].network, n->name)) {
                        int r = ctx_drop_attachment(ctx, nl, i, err);
                        if (r < 0)
                                return r;
                }
        int r = delete_bridge(nl, n->bridge, err);
        if (r < 0)
                return r;
        size_t idx = (size_t) (n - ctx->state.networks);
        net_network_done(n);
        array_remove(ctx->state.networks, &ctx->state.n_networks, sizeof(NetNetwork), idx);
        return 0;
}

int net_network_remove(NetCtx *ctx, const char *name, bool force, KError **err) {
        _cleanup_(rtnl_closep) Rtnl *nl = NULL;
        int r = ctx_begin(ctx, &nl, err);
        if (r < 0)
                return r;
        NetNetwork *n = net_state_network(&ctx->state, name);
        size_t users = n ? net_state_count_attached(&ctx->state, n->name) : 0;
        if (!n)
                r = kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "network '%s' not found", name);
        else if (streq(n->name, NET_DEFAULT_NETWORK))
                r = kerr_msg(err, KERR_USAGE, -EPERM, "'%s' is the default network and cannot be removed", n->name);
        else if (users > 0 && !force)
                r = kerr_msg(err, KERR_STATE, -EBUSY, "network '%s' has %zu attached instance(s): detach them or force",
                             n->name, users);
        else
                r = remove_network(ctx, nl, n, err);
        if (r >= 0)
                r = ctx_save(ctx, err);
        if (r >= 0)
                r = ctx_apply_rules(ctx, err);
        if (r >= 0 && users > 0)
                r = ctx_refresh_hosts(ctx, err);
        ctx_unlock(ctx);
        return r;
}

int net_network_prune(NetCtx *ctx, char ***ret_removed, KError **err) {
        _cleanup_(rtnl_closep) Rtnl *nl = NULL;
        _cleanup_strv_free_ char **removed = NULL;
        int r = ctx_begin(ctx, &nl, err);
        if (r < 0)
                return r;
        for (size_t i = ctx->state.n_networks; r >= 0 && i-- > 0;) {
                NetNetwork *n = &ctx->state.networks[i];
                if (streq(n->name, NET_DEFAULT_NETWORK) || net_state_count_attached(&ctx->state, n->name) > 0)
                        continue;
                r = strv_extend(&removed, n->name);
                if (r >= 0)
                        r = remove_network(ctx, nl, n, err);
        }
        if (r >= 0)
                r = ctx_save(ctx, err);
        if (r >= 0)
                r = ctx_apply_rules(ctx, err);
        ctx_unlock(ctx);
        if (r >= 0 && ret_removed)
                *ret_removed = removed ? TAKE_PTR(removed) : calloc(1, sizeof(char *));
        return r;
}

/* ---- inspect / list ---- */

static json_t *labels_json(char **labels) {
        json_t *o = json_object();
        for (size_t i = 0; o && labels && labels[i]; i++) {
                const char *eq = strchr(labels[i], '=');
                _cleanup_free_ char *k = strndup(labels[i], (size_t) (eq - labels[i]));
                if (k)
                        json_object_set_new(o, k, json_string(eq + 1));
        }
        return o;
}

static json_t *inspect_json(const NetState *s, const NetNetwork *n) {
        char sub[19], gw[IP4_STRLEN], ip[IP4_STRLEN + 3];
        json_t *containers = json_object();
        for (size_t i = 0; containers && i < s->n_attach; i++) {
                const NetAttach *a = &s->attach[i];
                if (!streq(a->network, n->name))
                        continue;
                snprintf(ip, sizeof(ip), "%s/%u", ip4_format(a->ip, gw), n->subnet.prefix);
                json_object_set_new(containers, a->instance_id,
                                    json_pack("{s:s, s:s, s:s, s:s, s:s}", "Name", a->instance_name, "IPv4Address",
                                              ip, "MacAddress", a->mac, "Interface", a->ifname, "Kind",
                                              a->tap ? "tap" : "veth"));
        }
        return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "Name", n->name, "Id", n->id,
                         "Created", n->created, "Driver", "bridge", "Subnet", cidr_format(&n->subnet, sub), "Gateway",
                         ip4_format(n->gateway, gw), "Bridge", n->bridge, "Internal", n->internal, "Labels",
                         labels_json(n->labels), "Containers", containers);
}

int net_network_inspect(NetCtx *ctx, const char *name, json_t **ret, KError **err) {
        int r = ctx_lock(ctx, err);
        if (r < 0)
                return r;
        if (streq(name, NET_DEFAULT_NETWORK))
                r = ctx_ensure_default(ctx, err);
        const NetNetwork *n = r >= 0 ? net_state_network(&ctx->state, name) : NULL;
        if (r >= 0 && !n)
                r = kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "network '%s' not found", name);
        if (n && !(*ret = inspect_json(&ctx->state, n)))
                r = -ENOMEM;
        ctx_unlock(ctx);
        return r;
}

int net_network_list(NetCtx *ctx, json_t **ret, KError **err) {
        int r = ctx_lock(ctx, err);
        if (r < 0)
                return r;
        r = ctx_ensure_default(ctx, err);
        json_t *a = r >= 0 ? json_array() : NULL;
        for (size_t i = 0; a && i < ctx->state.n_networks; i++)
                if (json_array_append_new(a, inspect_json(&ctx->state, &ctx->state.networks[i])) < 0)
                        r = -ENOMEM;
        if (r >= 0 && !a)
                r = -ENOMEM;
        ctx_unlock(ctx);
        if (r < 0) {
                json_decref(a);
                return r;
        }
        *ret = a;
        return 0;
}
