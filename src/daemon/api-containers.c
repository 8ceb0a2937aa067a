/* SPDX-License-Identifier: Apache-2.0 */
/* /containers: list, inspect and the state changes (start, stop, restart, kill, pause, unpause,
 * rename, delete), each one engine call with the CLI's checks and texts. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "ctr-inspect.h"
#include "ctr-ops.h"
#include "ctr-state.h"
#include "daemon.h"
#include "fd-util.h"
#include "json-util.h"
#include "monitor.h"
#include "string-util.h"

/* docker's filters={"status":["exited"],"name":["web"],...}: does the row pass every key? */
static bool filter_value_ok(json_t *values, const char *have) {
        size_t i;
        json_t *v;
        if (json_is_object(values)) {   /* the old {"value": true} form */
                const char *k;
                json_object_foreach(values, k, v)
                        if (have && strstr(have, k))
                                return true;
                return false;
        }
        json_array_foreach(values, i, v) {
                const char *s = json_string_value(v);
                if (s && have && strstr(have, s))
                        return true;
        }
        return false;
}

static bool label_ok(json_t *values, json_t *labels) {
        size_t i;
        json_t *v;
        json_array_foreach(values, i, v) {
                const char *s = json_string_value(v);
                const char *eq = s ? strchr(s, '=') : NULL;
                _cleanup_free_ char *key = s ? strndup(s, eq ? (size_t) (eq - s) : strlen(s)) : NULL;
                const char *have = key ? json_string_value(json_object_get(labels, key)) : NULL;
                if (!have || (eq && !streq(have, eq + 1)))
                        return false;
        }
        return true;
}

static bool filters_pass(json_t *filters, const CtrRecord *r) {
        const char *key;
        json_t *values;
        json_t *cfg = json_object_get(r->config, "Config");
        json_object_foreach(filters, key, values) {
                bool ok = true;
                if (streq(key, "status"))
                        ok = filter_value_ok(values, ctr_state_to_string(r->state));
                else if (streq(key, "name"))
                        ok = filter_value_ok(values, r->name);
                else if (streq(key, "id"))
                        ok = filter_value_ok(values, r->id);
                else if (streq(key, "ancestor"))
                        ok = filter_value_ok(values, r->image);
                else if (streq(key, "label"))
                        ok = label_ok(values, json_object_get(cfg, "Labels"));
                if (!ok)
                        return false;
        }
        return true;
}

/* Published ports of a running container, as the list shows them. */
static json_t *list_ports(NetCtx *ctx, const CtrRecord *r) {
        json_t *out = json_array();
        NetPortMap *maps = NULL;
        size_t n = 0;
        if (!ctx || !ctr_is_live(r) || net_ports(ctx, r->id, &maps, &n, NULL) < 0)
                return out;
        for (size_t i = 0; i < n; i++)
                json_array_append_new(out, json_pack("{s:s, s:i, s:i, s:s}", "IP", "0.0.0.0", "PrivatePort",
                                                     (int) maps[i].container_port, "PublicPort", (int) maps[i].host_port,
                                                     "Type", maps[i].proto == IPPROTO_UDP ? "udp" : "tcp"));
        free(maps);
        return out;
}

static json_t *list_row(NetCtx *ctx, const CtrRecord *r) {
        json_t *cfg = json_object_get(r->config, "Config"), *host = json_object_get(r->config, "HostConfig");
        _cleanup_free_ char *status = ctr_status_text(r);
        _cleanup_free_ char *name = NULL;
        if (asprintf(&name, "/%s", r->name) < 0)
                return NULL;
        _cleanup_json_ json_t *ps = ctr_ps_json(r, true);
        const char *mode = json_string_value(json_object_get(host, "NetworkMode"));
        return json_pack("{s:s, s:[s], s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:O, s:{s:s}, s:{s:{}}, s:[]}", "Id", r->id,
                         "Names", name, "Image", r->image, "ImageID", r->image_id ?: "", "Command",
                         json_string_value(json_object_get(ps, "Command")) ?: "", "Created",
                         (json_int_t) (r->created / 1000000000), "State", ctr_state_to_string(r->state), "Status",
                         status ?: "", "Ports", list_ports(ctx, r), "Labels", json_object_get(cfg, "Labels") ?: json_object(), "HostConfig",
                         "NetworkMode", mode ?: "default", "NetworkSettings", "Networks", "Mounts");
}

int api_ctr_list(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        CtrRecord **list = NULL;
        size_t n = 0;
        long limit;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = api_query_int(rq, "limit", -1, &limit, err)) < 0 || (r = db_ctr_list(e->db, &list, &n, err)) < 0)
                return r;
        const char *f = api_query(rq, "filters");
        _cleanup_json_ json_t *filters = f && *f ? json_loads(f, 0, NULL) : json_object();
        if (!json_is_object(filters)) {
                ctr_record_list_free(list, n);
                return kerr_msg(err, KERR_USAGE, -EINVAL, "filters: expected a JSON object like {\"status\":[\"running\"]}");
        }
        bool all = api_query_bool(rq, "all") || json_object_get(filters, "status");
        json_t *rows = json_array();
        NetCtx *ctx = NULL;
        if (engine_net(e, &ctx, NULL) < 0)
                ctx = NULL;
        /* newest first, as docker */
        for (size_t i = n; i-- > 0;) {
                CtrRecord *c = list[i];
                (void) ctr_repair(e, c, NULL);
                if (c->kind == CTR_KIND_VM || (!all && !ctr_is_live(c)) || !filters_pass(filters, c))
                        continue;
                if (limit >= 0 && json_array_size(rows) >= (size_t) limit)
                        break;
                json_array_append_new(rows, list_row(ctx, c));
        }
        ctr_record_list_free(list, n);
        return api_json(rs, 200, rows);
}

/* NetworkSettings as docker shows it: the container's networks (addresses while it runs) and
 * published ports. compose reads Networks to decide what to connect. */
static json_t *network_settings(ApiReq *rq, const CtrRecord *rec) {
        json_t *host = json_object_get(rec->config, "HostConfig");
        const char *mode = json_string_value(json_object_get(host, "NetworkMode")) ?: "default";
        if (streq(mode, "default"))
                mode = "bridge";
        json_t *nets = json_object(), *ports = json_object();
        /* docker adds the short id to a container's aliases on a user network; compose checks it */
        json_t *aliases = json_array();
        if (json_is_array(json_object_get(host, "NetworkAliases")))
                json_array_extend(aliases, json_object_get(host, "NetworkAliases"));
        if (!streq(mode, "bridge") && !streq(mode, "host") && !streq(mode, "none"))
                json_array_append_new(aliases, json_pack("s%", rec->id, (size_t) 12));
        json_object_set_new(nets, mode, json_pack("{s:s, s:s, s:s, s:i, s:s, s:O}", "NetworkID", "", "EndpointID", "",
                                                  "IPAddress", "", "IPPrefixLen", 0, "Gateway", "", "Aliases",
                                                  json_is_array(aliases) ? aliases : json_null()));
        NetCtx *ctx;
        NetAttachment **atts = NULL;
        const char *ip = "";
        if (ctr_is_live(rec) && engine_net(rq->e, &ctx, NULL) >= 0 && net_attachments(ctx, rec->id, &atts, NULL) >= 0) {
                for (NetAttachment **a = atts; *a; a++) {
                        json_object_set_new(nets, (*a)->network,
                                            json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:O}", "NetworkID", (*a)->network,
                                                      "EndpointID", (*a)->ifname ?: "", "IPAddress", (*a)->ip,
                                                      "IPPrefixLen", (int) (*a)->prefixlen, "Gateway", (*a)->gateway,
                                                      "MacAddress", (*a)->mac, "Aliases",
                                                      json_is_array(aliases) ? aliases : json_null()));
                        for (size_t i = 0; i < (*a)->n_ports; i++) {
                                const NetPortMap *m = &(*a)->ports[i];
                                char key[32], hp[16];
                                snprintf(key, sizeof(key), "%u/%s", (unsigned) m->container_port, m->proto == IPPROTO_UDP ? "udp" : "tcp");
                                snprintf(hp, sizeof(hp), "%u", (unsigned) m->host_port);
                                json_object_set_new(ports, key, json_pack("[{s:s, s:s}]", "HostIp", "0.0.0.0", "HostPort", hp));
                        }
                }
                if (atts[0])
                        ip = json_string_value(json_object_get(json_object_get(nets, atts[0]->network), "IPAddress")) ?: "";
        }
        json_t *ns = json_pack("{s:o, s:o, s:s, s:s}", "Networks", nets, "Ports", ports, "IPAddress", ip, "Bridge", "");
        net_attachments_free(atts);
        json_decref(aliases);
        return ns;
}

int api_ctr_inspect(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0)
                return r;
        json_t *doc = ctr_inspect_json(rq->e, rec);
        /* fields the SDKs read without checking: docker always has them */
        json_t *host = json_deep_copy(json_object_get(doc, "HostConfig"));
        if (!json_is_object(host)) {
                json_decref(host);
                host = json_object();
        }
        if (!json_object_get(host, "LogConfig"))
                json_object_set_new(host, "LogConfig", json_pack("{s:s, s:{}}", "Type", "json-file", "Config"));
        if (!json_object_get(host, "RestartPolicy"))
                json_object_set_new(host, "RestartPolicy", json_pack("{s:s, s:i}", "Name", "no", "MaximumRetryCount", 0));
        json_object_set_new(doc, "HostConfig", host);
        json_object_set_new(doc, "NetworkSettings", network_settings(rq, rec));
        return api_json(rs, 200, doc);
}

int api_ctr_start(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        const char *checkpoint = api_query(rq, "checkpoint");
        if (checkpoint && *checkpoint)
                return api_ctr_start_checkpoint(rq, checkpoint, rs, err);
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0)
                return r;
        if (ctr_is_live(rec))
                return api_empty(rs, 304);
        /* a hijacked attach waits: the monitor holds the process until that client says go, so
         * it sees all output */
        bool attached = attach_pending(rec->id);
        if ((r = monitor_spawn(rq->e, rec->id, attached, err)) < 0)
                return r;
        if (attached && !attach_release(rec->id)) {
                _cleanup_free_ char *dir = engine_ctr_path(rq->e, rec->id, NULL);
                _cleanup_close_ int fd = dir ? attach_connect(dir) : -1;
                if (fd < 0 || attach_send(fd, ATTACH_START, NULL, 0) < 0)
                        return kerr(err, fd < 0 ? fd : -EPIPE, "start %s", rec->name);
        }
        return api_empty(rs, 204);
}

int api_ctr_stop(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        long t;
        int r = api_query_int(rq, "t", 10, &t, err);
        if (r < 0 || (r = api_ctr_find(rq, rq->params[0], &rec, err)) < 0)
                return r;
        if (!ctr_is_live(rec))
                return api_empty(rs, 304);
        return (r = ctr_stop(rq->e, rec->id, (int) t, err)) < 0 ? r : api_empty(rs, 204);
}

int api_ctr_restart(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        long t;
        int r = api_query_int(rq, "t", 10, &t, err);
        if (r < 0 || (r = api_ctr_find(rq, rq->params[0], &rec, err)) < 0 ||
            (r = ctr_restart(rq->e, rec, (int) t, err)) < 0)
                return r;
        return api_empty(rs, 204);
}

int api_ctr_kill(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        const char *s = api_query(rq, "signal");
        int sig = SIGKILL;
        if (s && *s && parse_signal(s, &sig) < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "unknown signal \"%s\"", s);
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0)
                return r;
        if (rec->state != CTR_RUNNING && rec->state != CTR_PAUSED)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container %s is not running (it is %s)", rec->name,
                                ctr_state_to_string(rec->state));
        return (r = ctr_kill(rq->e, rec, sig, err)) < 0 ? r : api_empty(rs, 204);
}

int api_ctr_delete(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0 || (r = ctr_remove_checked(rq->e, rec, api_query_bool(rq, "force"), err)) < 0)
                return r;
        return api_empty(rs, 204);
}

static int pause_one(ApiReq *rq, ApiResp *rs, bool pause, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0 || (r = ctr_pause(rq->e, rec, pause, err)) < 0)
                return r;
        return api_empty(rs, 204);
}

int api_ctr_pause(ApiReq *rq, ApiResp *rs, KError **err) {
        return pause_one(rq, rs, true, err);
}

int api_ctr_unpause(ApiReq *rq, ApiResp *rs, KError **err) {
        return pause_one(rq, rs, false, err);
}

int api_ctr_rename(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        const char *name = api_query(rq, "name");
        if (!name)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "rename: the query parameter name is missing");
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0 || (r = ctr_rename(rq->e, rec, name, err)) < 0)
                return r;
        return api_empty(rs, 204);
}

int api_ctr_resize(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        return r < 0 ? r : api_empty(rs, 200);
}
