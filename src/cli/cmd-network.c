/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel network create|ls|inspect|rm|connect|disconnect|prune, and kapsel port. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "ctr-net.h"
#include "ctr-ops.h"
#include "json-util.h"
#include "kapsel-cli.h"
#include "string-util.h"

static int open_net(const KGlobals *g, Engine **e, NetCtx **ctx, KError **err) {
        int r = k_open(g, e, err);
        return r < 0 ? r : engine_net(*e, ctx, err);
}

K_VERB(network_create) {
        static const struct option opts[] = {
                { "subnet", required_argument, NULL, 's' }, { "gateway", required_argument, NULL, 'g' },
                { "driver", required_argument, NULL, 'd' }, { "internal", no_argument, NULL, 'i' },
                { "label", required_argument, NULL, 'l' },  { "opt", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },         {}
        };
        NetNetworkOpts o = { 0 };
        _cleanup_strv_free_ char **labels = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+d:l:o:", opts, NULL)) >= 0)
                switch (c) {
                case 's': o.subnet = optarg; break;
                case 'g': o.gateway = optarg; break;
                case 'd': o.driver = optarg; break;
                case 'i': o.internal = true; break;
                case 'l': (void) strv_extend(&labels, optarg); break;
                case 'o':
                        /* docker's -o com.docker.network.bridge.name=NAME */
                        if (startswith(optarg, "com.docker.network.bridge.name="))
                                o.bridge = strchr(optarg, '=') + 1;
                        else
                                return k_usage(err, "network create", "unknown -o option \"%s\"", optarg);
                        break;
                case 'h': return k_help("network-create");
                default: return k_usage(err, "network create", "unknown option");
                }
        if (argc - optind != 1)
                return k_usage(err, "network create", "expected exactly one NAME");
        o.name = argv[optind];
        o.labels = labels;
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_free_ char *id = NULL;
        NetCtx *ctx;
        int r = open_net(g, &e, &ctx, err);
        if (r >= 0 && (r = net_network_create(ctx, &o, &id, err)) >= 0) {
                events_emit(e->root, "network", "create", id, json_pack("{s:s, s:s}", "name", o.name, "type", "bridge"));
                printf("%s\n", id);
        }
        return r < 0 ? r : 0;
}

K_VERB(network_ls) {
        static const KColumn cols[] = {
                { "NETWORK ID", "Id", 14, 12 }, { "NAME", "Name", 20 }, { "DRIVER", "Driver", 10 },
                { "SUBNET", "Subnet", 18 }, { "INTERNAL", "Internal" }, {}
        };
        KListFormat f = { .quiet_field = "Name" };
        int r = k_parse_list_opts("network-ls", argc, argv, &f, err);
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_(engine_freep) Engine *e = NULL;
        NetCtx *ctx;
        json_t *list = NULL;
        r = open_net(g, &e, &ctx, err);
        if (r >= 0)
                r = net_network_list(ctx, &list, err);
        if (r >= 0)
                r = k_print_list(list, &f, cols, err);
        json_decref(list);
        return r < 0 ? r : 0;
}

K_VERB(network_inspect) {
        if (argc < 2)
                return k_usage(err, "network inspect", "missing NETWORK");
        _cleanup_(engine_freep) Engine *e = NULL;
        NetCtx *ctx;
        int r = open_net(g, &e, &ctx, err);
        json_t *out = json_array();
        for (int i = 1; i < argc && r >= 0; i++) {
                json_t *one = NULL;
                if ((r = net_network_inspect(ctx, argv[i], &one, err)) >= 0)
                        json_array_append_new(out, one);
        }
        if (r >= 0)
                json_print(out, true);
        json_decref(out);
        return r < 0 ? r : 0;
}

K_VERB(network_rm) {
        static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, {} };
        bool force = false;
        int c;
        while ((c = getopt_long(argc, argv, "+f", opts, NULL)) >= 0) {
                if (c == 'h')
                        return k_help("network-rm");
                if (c != 'f')
                        return k_usage(err, "network rm", "unknown option");
                force = true;
        }
        if (optind >= argc)
                return k_usage(err, "network rm", "missing NETWORK");
        _cleanup_(engine_freep) Engine *e = NULL;
        NetCtx *ctx;
        int r = open_net(g, &e, &ctx, err);
        for (int i = optind; i < argc && r >= 0; i++)
                if ((r = net_network_remove(ctx, argv[i], force, err)) >= 0) {
                        events_emit(e->root, "network", "destroy", argv[i], json_pack("{s:s, s:s}", "name", argv[i], "type", "bridge"));
                        printf("%s\n", argv[i]);
                }
        return r < 0 ? r : 0;
}

K_VERB(network_prune) {
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_strv_free_ char **removed = NULL;
        NetCtx *ctx;
        int r = open_net(g, &e, &ctx, err);
        if (r >= 0)
                r = net_network_prune(ctx, &removed, err);
        for (char **p = removed; r >= 0 && p && *p; p++) {
                events_emit(e->root, "network", "destroy", *p, json_pack("{s:s, s:s}", "name", *p, "type", "bridge"));
                printf("%s\n", *p);
        }
        return r < 0 ? r : 0;
}

static int connect_common(const KGlobals *g, const char *verb, int argc, char **argv, bool connect, KError **err) {
        static const struct option opts[] = { { "alias", required_argument, NULL, 'a' }, { "force", no_argument, NULL, 'f' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        _cleanup_strv_free_ char **aliases = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+f", opts, NULL)) >= 0)
                switch (c) {
                case 'a':
                        if (!connect)
                                return k_usage(err, verb, "--alias is for network connect");
                        if (strv_extend(&aliases, optarg) < 0)
                                return kerr(err, -ENOMEM, "%s", verb);
                        break;
                case 'f': break;        /* docker's disconnect --force: a stopped container is fine anyway */
                case 'h': return k_help(connect ? "network connect" : "network disconnect");
                default: return k_usage(err, verb, "unknown option");
                }
        if (argc - optind != 2)
                return k_usage(err, verb, "expected NETWORK CONTAINER");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        NetCtx *ctx;
        int r = open_net(g, &e, &ctx, err);
        if (r >= 0)
                r = db_ctr_get(e->db, argv[optind + 1], &rec, err);
        if (r >= 0)
                r = ctr_repair(e, rec, err);
        if (r < 0)
                return r;
        return connect ? ctr_net_connect(e, rec, argv[optind], aliases, err) : ctr_net_disconnect(e, rec, argv[optind], err);
}

K_VERB(network_connect) {
        return connect_common(g, "network connect", argc, argv, true, err);
}

K_VERB(network_disconnect) {
        return connect_common(g, "network disconnect", argc, argv, false, err);
}

K_VERB(port) {
        if (argc != 2)
                return k_usage(err, "port", "expected CONTAINER");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        _cleanup_free_ NetPortMap *maps = NULL;
        size_t n = 0;
        NetCtx *ctx;
        int r = open_net(g, &e, &ctx, err);
        if (r >= 0)
                r = db_ctr_get(e->db, argv[1], &rec, err);
        if (r >= 0)
                r = net_ports(ctx, rec->id, &maps, &n, err);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *line = net_port_format(&maps[i]);
                printf("%s\n", line ?: "");
        }
        return r < 0 ? r : 0;
}
