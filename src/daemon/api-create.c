/* SPDX-License-Identifier: Apache-2.0 */
/* POST /containers/create: docker's body (Config at the top level, HostConfig and
 * NetworkingConfig inside) -> the engine's {"Config","HostConfig"}, then ctr_create. Clients send
 * every field with its zero value; those are dropped so that "not set" means what it means for
 * the CLI (Memory 0 is no limit, not a 0-byte limit). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctr-create.h"
#include "daemon.h"
#include "json-util.h"
#include "string-util.h"

static bool is_zero(json_t *v) {
        switch (json_typeof(v)) {
        case JSON_NULL:
        case JSON_FALSE: return true;
        case JSON_STRING: return json_string_length(v) == 0;
        case JSON_INTEGER: return json_integer_value(v) == 0;
        case JSON_REAL: return json_real_value(v) == 0;
        case JSON_ARRAY: return json_array_size(v) == 0;
        case JSON_OBJECT: return json_object_size(v) == 0;
        default: return false;
        }
}

/* Drop zero values; Config keeps false/0/[] (Entrypoint [] resets the image's). */
static void drop_unset(json_t *o, bool host) {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(o, tmp, k, v)
                if (host ? is_zero(v) : (json_is_null(v) || (json_is_string(v) && !json_string_length(v))))
                        json_object_del(o, k);
}

/* PortBindings {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} -> PortSpecs ["8080:80/tcp"]. */
static int port_bindings(json_t *host, KError **err) {
        json_t *pb = json_object_get(host, "PortBindings");
        if (!pb)
                return 0;
        if (!json_is_object(pb))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "HostConfig.PortBindings: expected an object");
        json_t *specs = json_array();
        const char *port;
        json_t *list;
        json_object_foreach(pb, port, list) {
                size_t i;
                json_t *b;
                if (!json_is_array(list) || json_array_size(list) == 0) {
                        json_array_append_new(specs, json_string(port));
                        continue;
                }
                json_array_foreach(list, i, b) {
                        const char *ip = json_string_value(json_object_get(b, "HostIp"));
                        const char *hp = json_string_value(json_object_get(b, "HostPort"));
                        char *s = NULL;
                        if (asprintf(&s, "%s%s%s:%s", ip && *ip ? ip : "", ip && *ip ? ":" : "", hp ?: "", port) < 0) {
                                json_decref(specs);
                                return -ENOMEM;
                        }
                        /* ":80/tcp" (no host port): a free one, as -p 80 */
                        json_array_append_new(specs, json_string(s[0] == ':' ? s + 1 : s));
                        free(s);
                }
        }
        json_object_del(host, "PortBindings");
        json_object_set_new(host, "PortSpecs", specs);
        return 0;
}

int api_create_body(json_t *body, json_t **ret_config, KError **err) {
        if (!json_is_object(body))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "the request body must be a JSON object (docker's container config)");
        json_t *cfg = json_deep_copy(body);
        json_t *host = json_deep_copy(json_object_get(body, "HostConfig"));
        json_t *netcfg = json_object_get(body, "NetworkingConfig");
        if (!cfg)
                return -ENOMEM;
        if (!json_is_object(host)) {
                json_decref(host);
                host = json_object();
        }
        json_object_del(cfg, "HostConfig");
        json_object_del(cfg, "NetworkingConfig");
        drop_unset(cfg, false);
        drop_unset(host, true);
        json_t *rp = json_object_get(host, "RestartPolicy");
        if (rp && is_zero(json_object_get(rp, "Name")))
                json_object_del(host, "RestartPolicy");
        const char *iso = json_string_value(json_object_get(host, "Isolation"));
        if (iso && streq(iso, "default"))
                json_object_del(host, "Isolation");
        if (!json_is_object(json_object_get(cfg, "Labels")))
                json_object_set_new(cfg, "Labels", json_object());
        if (!json_object_get(host, "NetworkMode"))
                json_object_set_new(host, "NetworkMode", json_string("default"));
        /* a user network's aliases: NetworkingConfig.EndpointsConfig.<net>.Aliases */
        json_t *eps = json_object_get(netcfg, "EndpointsConfig");
        const char *net;
        json_t *ep;
        json_object_foreach(eps, net, ep) {
                json_t *aliases = json_object_get(ep, "Aliases");
                if (json_is_array(aliases) && json_array_size(aliases))
                        json_object_set(host, "NetworkAliases", aliases);
        }
        int r = port_bindings(host, err);
        if (r < 0) {
                json_decref(cfg);
                json_decref(host);
                return r;
        }
        *ret_config = json_pack("{s:o, s:o}", "Config", cfg, "HostConfig", host);
        return *ret_config ? 0 : -ENOMEM;
}

int api_ctr_create(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        _cleanup_json_ json_t *config = NULL;
        int r = api_create_body(rq->json, &config, err);
        if (r < 0)
                return r;
        const char *image = json_string_value(json_object_get(json_object_get(config, "Config"), "Image"));
        if (!image || !*image)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "no image given: set Config.Image");
        const char *name = api_query(rq, "name");
        /* docker's API does not pull at create: the client pulls after a 404 and retries */
        CtrCreateRequest req = { .config = config, .image = image, .name = name && *name ? name : NULL,
                                 .pull = CTR_PULL_NEVER };
        char id[65];
        if ((r = api_engine(rq, &e, err)) < 0 || (r = ctr_create(e, &req, id, err)) < 0)
                return r;
        return api_json(rs, 201, json_pack("{s:s, s:[]}", "Id", id, "Warnings"));
}
