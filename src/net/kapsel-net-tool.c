/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-net-tool: one subcommand per call of net.h, so the network layer can be tested and
 * benchmarked before (and apart from) the engine. Not installed.
 *
 *   kapsel-net-tool [--root DIR] [--host-resolv FILE] VERB [ARGS]
 *
 * Output is JSON or one item a line; errors go to stderr with exit code 1 + error kind (as the
 * CLI maps them). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "net-files.h"
#include "net-internal.h"
#include "net-plan.h"
#include "net.h"
#include "string-util.h"

typedef struct Args {
        const char *network, *id, *name, *netns, *ip, *guest_ip, *subnet, *gateway, *bridge, *hostname;
        char **aliases, **labels, **dns, **dns_search, **dns_options, **extra_hosts;
        NetPortMap *ports;
        size_t n_ports;
        bool internal, force;
        uid_t owner;
        char **rest;            /* positional arguments after the verb */
} Args;

static void args_done(Args *a) {
        strv_free(a->aliases);
        strv_free(a->labels);
        strv_free(a->dns);
        strv_free(a->dns_search);
        strv_free(a->dns_options);
        strv_free(a->extra_hosts);
        strv_free(a->rest);
        free(a->ports);
}

static int parse_args(int argc, char **argv, Args *a, KError **err) {
        static const struct option opts[] = {
                { "network", required_argument, NULL, 'n' }, { "id", required_argument, NULL, 'i' },
                { "name", required_argument, NULL, 'N' },    { "netns", required_argument, NULL, 's' },
                { "ip", required_argument, NULL, 'a' },      { "subnet", required_argument, NULL, 'S' },
                { "gateway", required_argument, NULL, 'g' }, { "bridge", required_argument, NULL, 'b' },
                { "internal", no_argument, NULL, 'I' },      { "force", no_argument, NULL, 'f' },
                { "alias", required_argument, NULL, 'A' },   { "label", required_argument, NULL, 'l' },
                { "publish", required_argument, NULL, 'p' }, { "expose", required_argument, NULL, 'P' },
                { "owner", required_argument, NULL, 'o' },   { "hostname", required_argument, NULL, 'h' },
                { "dns", required_argument, NULL, 'd' },     { "dns-search", required_argument, NULL, 'D' },
                { "dns-option", required_argument, NULL, 'O' }, { "add-host", required_argument, NULL, 'H' },
                { "guest-ip", required_argument, NULL, 'G' },
                {},
        };
        int c, r = 0;
        optind = 1;
        while (r >= 0 && (c = getopt_long(argc, argv, "p:P:", opts, NULL)) != -1) {
                char *one[] = { optarg, NULL };
                switch (c) {
                case 'n': a->network = optarg; break;
                case 'i': a->id = optarg; break;
                case 'N': a->name = optarg; break;
                case 's': a->netns = optarg; break;
                case 'a': a->ip = optarg; break;
                case 'G': a->guest_ip = optarg; break;
                case 'S': a->subnet = optarg; break;
                case 'g': a->gateway = optarg; break;
                case 'b': a->bridge = optarg; break;
                case 'I': a->internal = true; break;
                case 'f': a->force = true; break;
                case 'h': a->hostname = optarg; break;
                case 'o': a->owner = (uid_t) strtoul(optarg, NULL, 10); break;
                case 'A': r = strv_extend(&a->aliases, optarg); break;
                case 'l': r = strv_extend(&a->labels, optarg); break;
                case 'd': r = strv_extend(&a->dns, optarg); break;
                case 'D': r = strv_extend(&a->dns_search, optarg); break;
                case 'O': r = strv_extend(&a->dns_options, optarg); break;
                case 'H': r = strv_extend(&a->extra_hosts, optarg); break;
                case 'p': r = net_port_parse(optarg, &a->ports, &a->n_ports, err); break;
                case 'P': r = net_port_expose(one, &a->ports, &a->n_ports, err); break;
                default: return kerr_msg(err, KERR_USAGE, -EINVAL, "bad option");
                }
        }
        for (int i = optind; r >= 0 && i < argc; i++)
                r = strv_extend(&a->rest, argv[i]);
        return r;
}

static const char *arg(const Args *a, size_t i) {
        return i < strv_length(a->rest) ? a->rest[i] : NULL;
}

static int print_lines(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                printf("%s\n", v[i]);
        return 0;
}

static json_t *attachment_json(const NetAttachment *at) {
        json_t *ports = json_array();
        for (size_t i = 0; i < at->n_ports; i++) {
                _cleanup_free_ char *s = net_port_format(&at->ports[i]);
                json_array_append_new(ports, json_string(s));
        }
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:o, s:s?}", "network", at->network,
                         "instance_id", at->instance_id, "ifname", at->ifname, "guest_ifname", at->guest_ifname, "ip",
                         at->ip, "prefixlen", at->prefixlen, "gateway", at->gateway, "mac", at->mac, "guest_ip",
                         at->guest_ip, "guest_mac", at->guest_mac, "ports", ports, "kernel_ip_arg", at->kernel_ip_arg);
}

typedef int (*VerbFn)(NetCtx *ctx, Args *a, KError **err);

static int v_network_create(NetCtx *ctx, Args *a, KError **err) {
        NetNetworkOpts o = { .name = arg(a, 0), .subnet = a->subnet, .gateway = a->gateway, .bridge = a->bridge,
                             .internal = a->internal, .labels = a->labels };
        _cleanup_free_ char *id = NULL;
        int r = net_network_create(ctx, &o, &id, err);
        if (r >= 0)
                printf("%s\n", id);
        return r;
}

static int v_network_rm(NetCtx *ctx, Args *a, KError **err) {
        return net_network_remove(ctx, arg(a, 0) ? arg(a, 0) : "", a->force, err);
}

static int v_network_ls(NetCtx *ctx, Args *a, KError **err) {
        _cleanup_json_ json_t *j = NULL;
        int r = net_network_list(ctx, &j, err);
        return r < 0 ? r : json_print(j, true);
}

static int v_network_inspect(NetCtx *ctx, Args *a, KError **err) {
        _cleanup_json_ json_t *j = NULL;
        int r = net_network_inspect(ctx, arg(a, 0) ? arg(a, 0) : "", &j, err);
        return r < 0 ? r : json_print(j, true);
}

static int v_network_prune(NetCtx *ctx, Args *a, KError **err) {
        _cleanup_strv_free_ char **v = NULL;
        int r = net_network_prune(ctx, &v, err);
        return r < 0 ? r : print_lines(v);
}

static int do_attach(NetCtx *ctx, Args *a, bool tap, KError **err) {
        NetAttachOpts o = { .network = a->network, .instance_id = a->id, .instance_name = a->name,
                            .aliases = a->aliases, .netns_path = a->netns, .ports = a->ports, .n_ports = a->n_ports,
                            .ip = a->ip, .guest_ip = a->guest_ip, .tap_owner = a->owner };
        _cleanup_(net_attachment_freep) NetAttachment *at = NULL;
        int r = tap ? net_attach_tap(ctx, &o, &at, err) : net_attach(ctx, &o, &at, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *j = attachment_json(at);
        return json_print(j, true);
}

static int v_attach(NetCtx *ctx, Args *a, KError **err) {
        return do_attach(ctx, a, false, err);
}

static int v_attach_tap(NetCtx *ctx, Args *a, KError **err) {
        return do_attach(ctx, a, true, err);
}

static int v_detach(NetCtx *ctx, Args *a, KError **err) {
        return net_detach(ctx, arg(a, 0) ? arg(a, 0) : "", arg(a, 1), err);
}

static int v_ports(NetCtx *ctx, Args *a, KError **err) {
        _cleanup_free_ NetPortMap *v = NULL;
        size_t n = 0;
        int r = net_ports(ctx, arg(a, 0) ? arg(a, 0) : "", &v, &n, err);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *s = net_port_format(&v[i]);
                printf("%s\n", s);
        }
        return r;
}

static int v_files(NetCtx *ctx, Args *a, KError **err) {
        NetFilesOpts o = { .hostname = a->hostname, .dns = a->dns, .dns_search = a->dns_search,
                           .dns_options = a->dns_options, .extra_hosts = a->extra_hosts };
        NetFiles f = {};
        int r = net_files_setup(ctx, arg(a, 0) ? arg(a, 0) : "", &o, &f, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *j = json_pack("{s:s, s:s, s:s}", "hosts", f.hosts, "resolv_conf", f.resolv_conf,
                                             "hostname", f.hostname);
        net_files_done(&f);
        return json_print(j, true);
}

static int v_gc(NetCtx *ctx, Args *a, KError **err) {
        _cleanup_strv_free_ char **v = NULL;
        int r = net_gc(ctx, a->rest, &v, err);
        return r < 0 ? r : print_lines(v);
}

static int v_reset(NetCtx *ctx, Args *a, KError **err) {
        return net_reset(ctx, err);
}

static int v_plan(NetCtx *ctx, Args *a, KError **err) {
        int r = ctx_lock(ctx, err);
        if (r < 0)
                return r;
        _cleanup_free_ NftRule *rules = NULL;
        _cleanup_free_ NftXlate *xlates = NULL;
        size_t n = 0, n_xlates = 0;
        r = net_plan_rules(&ctx->state, &rules, &n);
        if (r >= 0)
                r = net_plan_xlates(&ctx->state, &xlates, &n_xlates);
        _cleanup_free_ char *text = r >= 0 ? net_plan_render(rules, n) : NULL;
        _cleanup_free_ char *bridge = text ? net_plan_render_xlates(xlates, n_xlates) : NULL;
        ctx_unlock(ctx);
        if (!bridge)
                return r < 0 ? kerr(err, r, "plan") : -ENOMEM;
        fputs(text, stdout);
        fputs(bridge, stdout);
        return 0;
}

static int v_mode(NetCtx *ctx, Args *a, KError **err) {
        static const char *const kinds[] = { "bridge", "host", "none", "container" };
        NetMode m = {};
        int r = net_mode_parse(arg(a, 0) ? arg(a, 0) : "", &m, err);
        if (r >= 0)
                printf("%s %s\n", kinds[m.kind], m.network ? m.network : m.container ? m.container : "");
        net_mode_done(&m);
        return r;
}

static int v_netns_create(NetCtx *ctx, Args *a, KError **err) {
        return net_netns_create(arg(a, 0) ? arg(a, 0) : "", err);
}

static int v_netns_rm(NetCtx *ctx, Args *a, KError **err) {
        return net_netns_remove(arg(a, 0) ? arg(a, 0) : "", err);
}

static int v_port_parse(NetCtx *ctx, Args *a, KError **err) {
        for (size_t i = 0; i < a->n_ports; i++) {
                _cleanup_free_ char *s = net_port_format(&a->ports[i]);
                printf("%s\n", s);
        }
        return 0;
}

static const struct {
        const char *verb;
        VerbFn fn;
        bool needs_ctx;
} verbs[] = {
        { "network-create", v_network_create, true }, { "network-rm", v_network_rm, true },
        { "network-ls", v_network_ls, true },         { "network-inspect", v_network_inspect, true },
        { "network-prune", v_network_prune, true },   { "attach", v_attach, true },
        { "attach-tap", v_attach_tap, true },         { "detach", v_detach, true },
        { "ports", v_ports, true },                   { "files", v_files, true },
        { "gc", v_gc, true },                         { "reset", v_reset, true },
        { "plan", v_plan, true },                     { "mode", v_mode, false },
        { "netns-create", v_netns_create, false },    { "netns-rm", v_netns_rm, false },
        { "port-parse", v_port_parse, false },
};

static int run(int argc, char **argv, KError **err) {
        const char *root = getenv("KAPSEL_NET_ROOT"), *resolv = NULL;
        int i = 1;
        for (; i + 1 < argc && startswith(argv[i], "--"); i += 2) {
                if (streq(argv[i], "--root"))
                        root = argv[i + 1];
                else if (streq(argv[i], "--host-resolv"))
                        resolv = argv[i + 1];
                else
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "unknown global option '%s'", argv[i]);
        }
        if (i >= argc)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "usage: kapsel-net-tool [--root DIR] VERB [ARGS]");
        for (size_t v = 0; v < ELEMENTSOF(verbs); v++) {
                if (!streq(argv[i], verbs[v].verb))
                        continue;
                _cleanup_(args_done) Args a = {};
                int r = parse_args(argc - i, argv + i, &a, err);
                if (r < 0)
                        return r;
                _cleanup_(net_closep) NetCtx *ctx = NULL;
                if (verbs[v].needs_ctx && (r = net_open(root, &ctx, err)) < 0)
                        return r;
                if (ctx && resolv && (r = net_set_host_resolv(ctx, resolv)) < 0)
                        return r;
                return verbs[v].fn(ctx, &a, err);
        }
        return kerr_msg(err, KERR_USAGE, -EINVAL, "unknown verb '%s'", argv[i]);
}

int main(int argc, char **argv) {
        _cleanup_kerr_ KError *err = NULL;
        int r = run(argc, argv, &err);
        if (r >= 0)
                return 0;
        fprintf(stderr, "kapsel-net-tool: %s\n", err && err->msg ? err->msg : strerror(-r));
        return err ? kerr_exit_code(err) : 1;
}
