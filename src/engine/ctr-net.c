/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctr-net.h"
#include "ctr-ops.h"
#include "json-util.h"
#include "string-util.h"

void ctr_net_done(CtrNet *n) {
        free(n->netns_path);
        net_files_done(&n->files);
        *n = (CtrNet) { 0 };
}

static const json_t *host_cfg(const json_t *config, const char *key) {
        return json_object_get(json_object_get(config, "HostConfig"), key);
}

static char **strv_of(const json_t *a) {
        char **v = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e)
                if (json_is_string(e))
                        (void) strv_extend(&v, json_string_value(e));
        return v;
}

/* -p specs and -P (the image's exposed ports) as port maps. */
int ctr_net_port_maps(const json_t *config, const ImageConfig *img, NetPortMap **ret, size_t *ret_n, KError **err) {
        NetPortMap *maps = NULL;
        size_t n = 0, i;
        json_t *e;
        int r = 0;
        json_array_foreach(host_cfg(config, "PortSpecs"), i, e)
                if ((r = net_port_parse(json_string_value(e) ?: "", &maps, &n, err)) < 0)
                        break;
        if (r >= 0 && json_is_true(host_cfg(config, "PublishAllPorts"))) {
                /* -P: the image's EXPOSE and the container's own (docker's --expose, Config.ExposedPorts) */
                _cleanup_strv_free_ char **ports = NULL;
                for (char **p = img ? img->exposed_ports : NULL; p && *p; p++)
                        (void) strv_extend(&ports, *p);
                const char *key;
                json_t *v;
                json_object_foreach(json_object_get(json_object_get(config, "Config"), "ExposedPorts"), key, v)
                        if (!strv_contains(ports, key))
                                (void) strv_extend(&ports, key);
                if (ports)
                        r = net_port_expose(ports, &maps, &n, err);
        }
        if (r < 0) {
                free(maps);
                return r;
        }
        *ret = maps;
        *ret_n = n;
        return 0;
}

int ctr_net_validate(Engine *e, const json_t *config, KError **err) {
        NetMode mode;
        int r = net_mode_parse(json_string_value(host_cfg(config, "NetworkMode")) ?: "", &mode, err);
        if (r < 0)
                return r;
        NetCtx *ctx;
        if (mode.kind == NET_MODE_BRIDGE && !streq(mode.network, NET_DEFAULT_NETWORK)) {
                json_t *info = NULL;
                if ((r = engine_net(e, &ctx, err)) >= 0)
                        r = net_network_inspect(ctx, mode.network, &info, err);
                json_decref(info);
        } else if (mode.kind == NET_MODE_CONTAINER) {
                _cleanup_(ctr_record_freep) CtrRecord *other = NULL;
                r = db_ctr_get(e->db, mode.container, &other, err);
        }
        if (r >= 0 && mode.kind != NET_MODE_BRIDGE && json_array_size(host_cfg(config, "PortSpecs")) > 0)
                r = kerr_msg(err, KERR_USAGE, -EINVAL, "-p needs a bridge network; --network %s has no port maps",
                             json_string_value(host_cfg(config, "NetworkMode")));
        NetPortMap *maps = NULL;
        size_t n = 0;
        if (r >= 0 && (r = ctr_net_port_maps(config, NULL, &maps, &n, err)) >= 0)
                free(maps);
        net_mode_done(&mode);
        return r;
}

static int files(NetCtx *ctx, const CtrRecord *rec, CtrNet *ret, KError **err) {
        _cleanup_strv_free_ char **dns = strv_of(host_cfg(rec->config, "Dns")),
                                **hosts = strv_of(host_cfg(rec->config, "ExtraHosts"));
        const char *hostname = json_string_value(json_object_get(json_object_get(rec->config, "Config"), "Hostname"));
        NetFilesOpts fo = { .hostname = hostname && *hostname ? hostname : NULL, .dns = dns, .extra_hosts = hosts };
        return net_files_setup(ctx, rec->id, &fo, &ret->files, err);
}

/* HostConfig.ExtraNetworks: [{"Name": NETWORK, "Aliases": [...]}], the networks `network connect`
 * added; each start attaches them again, as docker keeps a container's connections. */
static const json_t *extra_networks(const json_t *config) {
        return host_cfg(config, "ExtraNetworks");
}

static int attach_one(NetCtx *ctx, const CtrRecord *rec, const char *ns, const char *network, const json_t *aliases,
                      KError **err) {
        _cleanup_strv_free_ char **names = NULL;
        size_t i;
        json_t *v;
        json_array_foreach(aliases, i, v)
                if (json_is_string(v) && strv_extend(&names, json_string_value(v)) < 0)
                        return kerr(err, -ENOMEM, "connect");
        NetAttachOpts o = { .network = network, .instance_id = rec->id, .instance_name = rec->name, .aliases = names,
                            .netns_path = ns };
        NetAttachment *a = NULL;
        int r = net_attach(ctx, &o, &a, err);
        net_attachment_free(a);
        return r;
}

static int attach_extra(NetCtx *ctx, const CtrRecord *rec, const char *ns, KError **err) {
        size_t i;
        json_t *n;
        json_array_foreach(extra_networks(rec->config), i, n) {
                int r = attach_one(ctx, rec, ns, json_string_value(json_object_get(n, "Name")), json_object_get(n, "Aliases"),
                                   err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ctr_net_setup(Engine *e, const CtrRecord *rec, const ImageConfig *img, CtrNet *ret, KError **err) {
        NetMode mode;
        NetCtx *ctx;
        *ret = (CtrNet) { 0 };
        int r = net_mode_parse(json_string_value(host_cfg(rec->config, "NetworkMode")) ?: "", &mode, err);
        if (r < 0)
                return r;
        if (mode.kind == NET_MODE_HOST) {
                ret->host = true;
                net_mode_done(&mode);
                return 0;
        }
        if ((r = engine_net(e, &ctx, err)) < 0)
                goto out;
        if (mode.kind == NET_MODE_CONTAINER) {
                _cleanup_(ctr_record_freep) CtrRecord *other = NULL;
                if ((r = db_ctr_get(e->db, mode.container, &other, err)) < 0)
                        goto out;
                ret->netns_path = engine_ctr_path(e, other->id, "netns");
                if (other->state != CTR_RUNNING || access(ret->netns_path, F_OK) < 0) {
                        r = kerr_msg(err, KERR_STATE, -EINVAL, "--network container:%s: that container is not running",
                                     mode.container);
                        goto out;
                }
        } else {
                ret->netns_path = engine_ctr_path(e, rec->id, "netns");
                if (!ret->netns_path || (r = net_netns_create(ret->netns_path, err)) < 0)
                        goto out;
        }
        if (mode.kind == NET_MODE_BRIDGE) {
                NetPortMap *maps = NULL;
                size_t n = 0;
                if ((r = ctr_net_port_maps(rec->config, img, &maps, &n, err)) < 0)
                        goto out;
                /* --network-alias (docker's NetworkingConfig aliases): more names peers resolve */
                _cleanup_strv_free_ char **aliases = NULL;
                size_t i;
                json_t *v;
                json_array_foreach(host_cfg(rec->config, "NetworkAliases"), i, v)
                        if (json_is_string(v))
                                (void) strv_extend(&aliases, json_string_value(v));
                NetAttachOpts o = { .network = mode.network, .instance_id = rec->id, .instance_name = rec->name,
                                    .aliases = aliases, .netns_path = ret->netns_path, .ports = maps, .n_ports = n };
                NetAttachment *a = NULL;
                r = net_attach(ctx, &o, &a, err);
                free(maps);
                net_attachment_free(a);
                if (r < 0 || (r = attach_extra(ctx, rec, ret->netns_path, err)) < 0)
                        goto out;
        }
        r = files(ctx, rec, ret, err);
out:
        net_mode_done(&mode);
        if (r < 0) {
                (void) ctr_net_teardown(e, rec->id, NULL);
                ctr_net_done(ret);
        }
        return r;
}

int ctr_net_release(Engine *e, const char *id, const char *netns_path, KError **err) {
        NetCtx *ctx;
        int r = engine_net(e, &ctx, err);
        if (r < 0)
                return r;
        r = net_detach(ctx, id, NULL, err);
        int r2 = netns_path ? net_netns_remove(netns_path, r < 0 ? NULL : err) : -ENOMEM;
        return r < 0 ? r : r2;
}

int ctr_net_teardown(Engine *e, const char *id, KError **err) {
        _cleanup_free_ char *ns = engine_ctr_path(e, id, "netns");
        return ctr_net_release(e, id, ns, err);
}

int ctr_net_setup_bare(Engine *e, const char *id, const char *network, const char *netns_path, CtrNet *ret,
                       KError **err) {
        NetMode mode;
        NetCtx *ctx;
        *ret = (CtrNet) { 0 };
        int r = net_mode_parse(network, &mode, err);
        if (r < 0)
                return r;
        if (mode.kind != NET_MODE_BRIDGE)
                r = kerr_msg(err, KERR_USAGE, -EINVAL, "--network %s: a bridge or user network is expected", network);
        else if ((r = engine_net(e, &ctx, err)) >= 0 && !(ret->netns_path = strdup(netns_path)))
                r = kerr(err, -ENOMEM, "network");
        if (r >= 0 && (r = net_netns_create(netns_path, err)) >= 0) {
                NetAttachOpts o = { .network = mode.network, .instance_id = id, .instance_name = id,
                                    .netns_path = netns_path };
                NetAttachment *a = NULL;
                r = net_attach(ctx, &o, &a, err);
                net_attachment_free(a);
        }
        if (r >= 0)
                r = net_files_setup(ctx, id, &(NetFilesOpts) { 0 }, &ret->files, err);
        bool created = mode.kind == NET_MODE_BRIDGE;
        net_mode_done(&mode);
        if (r < 0) {
                if (created)
                        (void) ctr_net_release(e, id, netns_path, NULL);
                ctr_net_done(ret);
        }
        return r;
}

typedef struct Conn {
        const char *network;
        json_t *aliases;
        bool connect;
} Conn;

static void record_conn(CtrRecord *r, void *userdata) {
        const Conn *c = userdata;
        json_t *host = json_object_get(r->config, "HostConfig");
        if (!json_is_object(host))
                json_object_set_new(r->config, "HostConfig", host = json_object());
        json_t *list = json_object_get(host, "ExtraNetworks");
        if (!json_is_array(list))
                json_object_set_new(host, "ExtraNetworks", list = json_array());
        size_t i;
        json_t *n;
        json_array_foreach(list, i, n)
                if (streq_ptr(json_string_value(json_object_get(n, "Name")), c->network)) {
                        json_array_remove(list, i);
                        break;
                }
        if (c->connect)
                json_array_append_new(list, json_pack("{s:s, s:O}", "Name", c->network,
                                                      "Aliases", c->aliases ? c->aliases : json_array()));
}

static bool is_live(const CtrRecord *rec) {
        return rec->state == CTR_RUNNING || rec->state == CTR_PAUSED || rec->state == CTR_RESTARTING;
}

int ctr_net_connect(Engine *e, const CtrRecord *rec, const char *network, char *const *aliases, KError **err) {
        NetCtx *ctx;
        _cleanup_json_ json_t *info = NULL;
        NetMode mode;
        int r = engine_net(e, &ctx, err);
        if (r < 0 || (r = net_network_inspect(ctx, network, &info, err)) < 0)
                return r;
        if ((r = net_mode_parse(json_string_value(host_cfg(rec->config, "NetworkMode")) ?: "", &mode, err)) < 0)
                return r;
        bool bridged = mode.kind == NET_MODE_BRIDGE;
        net_mode_done(&mode);
        if (!bridged)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container %s uses --network %s: only a container on a bridge or "
                                "user network can be connected to another", rec->name,
                                json_string_value(host_cfg(rec->config, "NetworkMode")));
        _cleanup_json_ json_t *al = json_array();
        for (char *const *a = aliases; a && *a; a++)
                json_array_append_new(al, json_string(*a));
        /* the name as the network layer knows it (an id prefix may have been given) */
        const char *name = json_string_value(json_object_get(info, "Name")) ?: network;
        if (is_live(rec)) {
                _cleanup_free_ char *ns = engine_ctr_path(e, rec->id, "netns");
                if (!ns || access(ns, F_OK) < 0)
                        return kerr_msg(err, KERR_STATE, -EINVAL, "container %s has no network namespace of its own",
                                        rec->name);
                if ((r = attach_one(ctx, rec, ns, name, al, err)) < 0)
                        return r;
        }
        return ctr_modify(e, rec->id, record_conn, &(Conn) { .network = name, .aliases = al, .connect = true }, err);
}

int ctr_net_disconnect(Engine *e, const CtrRecord *rec, const char *network, KError **err) {
        NetCtx *ctx;
        _cleanup_json_ json_t *info = NULL;
        int r = engine_net(e, &ctx, err);
        if (r < 0 || (r = net_network_inspect(ctx, network, &info, err)) < 0)
                return r;
        const char *name = json_string_value(json_object_get(info, "Name")) ?: network;
        if (is_live(rec) && (r = net_detach(ctx, rec->id, name, err)) < 0)
                return r;
        return ctr_modify(e, rec->id, record_conn, &(Conn) { .network = name, .connect = false }, err);
}
