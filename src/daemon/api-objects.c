/* SPDX-License-Identifier: Apache-2.0 */
/* /networks and /volumes: list, create, inspect, delete, in docker's shapes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctr-net.h"
#include "daemon.h"
#include "json-util.h"
#include "logs.h"
#include "path-util.h"
#include "string-util.h"
#include "volume.h"

static int net(ApiReq *rq, NetCtx **ret, KError **err) {
        Engine *e;
        int r = api_engine(rq, &e, err);
        return r < 0 ? r : engine_net(e, ret, err);
}

/* kapsel's network object -> docker's. */
static json_t *net_docker(json_t *n) {
        json_t *ctrs = json_object();
        const char *id;
        json_t *c;
        json_object_foreach(json_object_get(n, "Containers"), id, c)
                json_object_set_new(ctrs, id, json_pack("{s:O, s:s, s:O, s:O, s:s}", "Name", json_object_get(c, "Name"),
                                                        "EndpointID", id, "MacAddress", json_object_get(c, "MacAddress"),
                                                        "IPv4Address", json_object_get(c, "IPv4Address"),
                                                        "IPv6Address", ""));
        json_t *labels = json_object_get(n, "Labels");
        return json_pack("{s:O, s:O, s:O, s:s, s:s, s:b, s:{s:s, s:[{s:O, s:O}]}, s:O, s:b, s:b, s:o, s:{}, s:O}", "Name",
                         json_object_get(n, "Name"), "Id", json_object_get(n, "Id"), "Created",
                         json_object_get(n, "Created") ?: json_string(""), "Scope", "local", "Driver", "bridge",
                         "EnableIPv6", false, "IPAM", "Driver", "default", "Config", "Subnet",
                         json_object_get(n, "Subnet"), "Gateway", json_object_get(n, "Gateway"), "Internal",
                         json_object_get(n, "Internal") ?: json_false(), "Attachable", true, "Ingress", false,
                         "Containers", ctrs, "Options", "Labels", json_is_object(labels) ? labels : json_object());
}

int api_net_list(ApiReq *rq, ApiResp *rs, KError **err) {
        NetCtx *ctx;
        _cleanup_json_ json_t *list = NULL;
        int r = net(rq, &ctx, err);
        if (r < 0 || (r = net_network_list(ctx, &list, err)) < 0)
                return r;
        const char *f = api_query(rq, "filters");
        _cleanup_json_ json_t *filters = f && *f ? json_loads(f, 0, NULL) : NULL;
        json_t *names = json_object_get(filters, "name");
        json_t *out = json_array();
        size_t i, k;
        json_t *n, *want;
        json_array_foreach(list, i, n) {
                bool ok = !json_array_size(names);
                json_array_foreach(names, k, want)
                        ok |= json_equal(want, json_object_get(n, "Name"));
                if (ok)
                        json_array_append_new(out, net_docker(n));
        }
        return api_json(rs, 200, out);
}

int api_net_inspect(ApiReq *rq, ApiResp *rs, KError **err) {
        NetCtx *ctx;
        _cleanup_json_ json_t *n = NULL;
        int r = net(rq, &ctx, err);
        if (r < 0 || (r = net_network_inspect(ctx, rq->params[0], &n, err)) < 0)
                return r;
        return api_json(rs, 200, net_docker(n));
}

int api_net_create(ApiReq *rq, ApiResp *rs, KError **err) {
        json_t *b = rq->json;
        const char *name = json_string_value(json_object_get(b, "Name"));
        if (!name)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "network create: Name is missing");
        json_t *cfg = json_array_get(json_object_get(json_object_get(b, "IPAM"), "Config"), 0);
        _cleanup_strv_free_ char **labels = NULL;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(b, "Labels"), k, v) {
                _cleanup_free_ char *kv = NULL;
                if (asprintf(&kv, "%s=%s", k, json_string_value(v) ?: "") < 0 || strv_extend(&labels, kv) < 0)
                        return -ENOMEM;
        }
        NetNetworkOpts o = { .name = name, .driver = json_string_value(json_object_get(b, "Driver")),
                             .subnet = json_string_value(json_object_get(cfg, "Subnet")),
                             .gateway = json_string_value(json_object_get(cfg, "Gateway")),
                             .internal = json_is_true(json_object_get(b, "Internal")), .labels = labels };
        if (o.driver && !*o.driver)
                o.driver = NULL;
        NetCtx *ctx;
        _cleanup_free_ char *id = NULL;
        int r = net(rq, &ctx, err);
        if (r < 0 || (r = net_network_create(ctx, &o, &id, err)) < 0)
                return r;
        return api_json(rs, 201, json_pack("{s:s, s:s}", "Id", id, "Warning", ""));
}

int api_net_delete(ApiReq *rq, ApiResp *rs, KError **err) {
        NetCtx *ctx;
        int r = net(rq, &ctx, err);
        if (r < 0 || (r = net_network_remove(ctx, rq->params[0], false, err)) < 0)
                return r;
        return api_empty(rs, 204);
}

static json_t *vol_docker(const Engine *e, const char *name, int64_t created, json_t *labels) {
        _cleanup_free_ char *mp = NULL;
        char t[40];
        logs_format_time(created, t);
        if (asprintf(&mp, "%s/volumes/%s/_data", e->root, name) < 0)
                return NULL;
        return json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:{}}", "Name", name, "Driver", "local", "Mountpoint", mp,
                         "CreatedAt", t, "Labels", json_is_object(labels) ? labels : json_object(), "Scope", "local",
                         "Options");
}

int api_vol_list(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        VolRecord *list = NULL;
        size_t n = 0;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = db_vol_list(e->db, &list, &n, err)) < 0)
                return r;
        json_t *vols = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(vols, vol_docker(e, list[i].name, list[i].created, list[i].labels));
        vol_record_list_free(list, n);
        return api_json(rs, 200, json_pack("{s:o, s:[]}", "Volumes", vols, "Warnings"));
}

static int vol_find(Engine *e, const char *name, json_t **ret, KError **err) {
        VolRecord *list = NULL;
        size_t n = 0;
        int r = db_vol_list(e->db, &list, &n, err);
        if (r < 0)
                return r;
        *ret = NULL;
        for (size_t i = 0; i < n && !*ret; i++)
                if (streq(list[i].name, name))
                        *ret = vol_docker(e, list[i].name, list[i].created, list[i].labels);
        vol_record_list_free(list, n);
        return *ret ? 0 : kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "no such volume: %s", name);
}

int api_vol_inspect(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        json_t *v;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = vol_find(e, rq->params[0], &v, err)) < 0)
                return r;
        return api_json(rs, 200, v);
}

int api_vol_create(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        json_t *v;
        const char *name = json_string_value(json_object_get(rq->json, "Name"));
        json_t *labels = json_object_get(rq->json, "Labels");
        _cleanup_free_ char *made = NULL;
        int r = api_engine(rq, &e, err);
        if (r < 0 ||
            (r = volume_create(e, name && *name ? name : NULL, json_is_object(labels) ? labels : NULL, true, &made, err)) < 0 ||
            (r = vol_find(e, made, &v, err)) < 0)
                return r;
        return api_json(rs, 201, v);
}

int api_vol_delete(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = volume_remove(e, rq->params[0], api_query_bool(rq, "force"), err)) < 0)
                return r;
        return api_empty(rs, 204);
}

/* POST /networks/{id}/connect {"Container", "EndpointConfig": {"Aliases": [...]}} and /disconnect
 * {"Container"}: as the CLI's network connect/disconnect, kept for the container's next starts. */
static int connect_common(ApiReq *rq, ApiResp *rs, bool connect, KError **err) {
        const char *ref = json_string_value(json_object_get(rq->json, "Container"));
        if (!ref)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "network %s: Container is missing",
                                connect ? "connect" : "disconnect");
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        _cleanup_strv_free_ char **aliases = NULL;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(json_object_get(rq->json, "EndpointConfig"), "Aliases"), i, v)
                if (json_is_string(v) && strv_extend(&aliases, json_string_value(v)) < 0)
                        return kerr(err, -ENOMEM, "network connect");
        int r = api_ctr_find(rq, ref, &rec, err);
        if (r < 0)
                return r;
        r = connect ? ctr_net_connect(rq->e, rec, rq->params[0], aliases, err) : ctr_net_disconnect(rq->e, rec, rq->params[0], err);
        return r < 0 ? r : api_empty(rs, 200);
}

int api_net_connect(ApiReq *rq, ApiResp *rs, KError **err) {
        return connect_common(rq, rs, true, err);
}

int api_net_disconnect(ApiReq *rq, ApiResp *rs, KError **err) {
        return connect_common(rq, rs, false, err);
}
