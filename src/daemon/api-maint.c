/* SPDX-License-Identifier: Apache-2.0 */
/* Upkeep routes: container update, changes and export; /system/df; the prune routes. Each one
 * parses docker's request, calls the engine (ctr-update, ctr-fs, sysinfo, prune, net) and shapes
 * docker's answer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctr-fs.h"
#include "ctr-update.h"
#include "daemon.h"
#include "json-util.h"
#include "logs.h"
#include "net.h"
#include "prune.h"
#include "string-util.h"
#include "sysinfo.h"

/* A JSON integer field that is present and not 0 (docker's clients send 0 for "leave as is"). */
static bool field_set(json_t *body, const char *key, int64_t *ret) {
        json_t *v = json_object_get(body, key);
        if (!json_is_integer(v) || json_integer_value(v) == 0)
                return false;
        *ret = json_integer_value(v);
        return true;
}

int api_ctr_update(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        int r = api_engine(rq, &e, err);
        if (r < 0)
                return r;
        json_t *b = rq->json;
        if (!json_is_object(b))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "update: expected a JSON object like {\"Memory\":67108864}");
        CtrUpdate u = {};
        u.has_memory = field_set(b, "Memory", &u.memory);
        u.has_memory_swap = field_set(b, "MemorySwap", &u.memory_swap);
        u.has_nano_cpus = field_set(b, "NanoCpus", &u.nano_cpus);
        u.has_cpu_shares = field_set(b, "CpuShares", &u.cpu_shares);
        json_t *pids = json_object_get(b, "PidsLimit");
        if (json_is_integer(pids)) {
                u.has_pids_limit = true;
                u.pids_limit = json_integer_value(pids);
        }
        json_t *rp = json_object_get(b, "RestartPolicy");
        const char *rp_name = json_string_value(json_object_get(rp, "Name"));
        if (rp_name && *rp_name)
                u.restart_policy = rp;
        if ((r = ctr_update(e, rq->params[0], &u, err)) < 0)
                return r;
        return api_json(rs, 200, json_pack("{s:[]}", "Warnings"));
}

int api_ctr_changes(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        json_t *j = NULL;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = ctr_diff(e, rq->params[0], &j, err)) < 0)
                return r;
        /* docker answers null, not [], for no changes; its CLI prints nothing either way */
        return api_json(rs, 200, j);
}

int api_ctr_export(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        int r = api_engine(rq, &e, err);
        if (r < 0)
                return r;
        /* an unnamed file in the root (not memory, not /tmp): the client reads it, nothing is left */
        int fd = open(e->root, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return kerr(err, -errno, "export: a temporary file in %s", e->root);
        struct stat st;
        if ((r = ctr_export(e, rq->params[0], fd, err)) < 0 || fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
                int saved = errno;
                close(fd);
                return r < 0 ? r : kerr(err, -saved, "export: the temporary file");
        }
        rs->raw = MHD_create_response_from_fd((size_t) st.st_size, fd);
        if (!rs->raw) {
                close(fd);
                return -ENOMEM;
        }
        rs->status = 200;
        rs->content_type = "application/x-tar";
        return 0;
}

int api_system_df(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        json_t *j = NULL;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = sysinfo_df(e, &j, err)) < 0)
                return r;
        /* the engine's document (what `kapsel system df` prints) in docker's types: Created in unix
         * seconds, Names as "/name" lists, volume sizes under UsageData, and the layers' total */
        int64_t total = 0, now = (int64_t) time(NULL) * 1000000000LL;
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(j, "Images"), i, o) {
                int64_t created = 0;
                const char *c = json_string_value(json_object_get(o, "Created"));
                if (c && *c)
                        (void) logs_parse_time(c, now, &created);
                json_object_set_new(o, "Created", json_integer(created / 1000000000LL));
                json_object_set_new(o, "SharedSize", json_integer(-1));
                json_object_set(o, "VirtualSize", json_object_get(o, "Size"));
                total += json_integer_value(json_object_get(o, "Size"));
        }
        json_array_foreach(json_object_get(j, "Containers"), i, o) {
                const char *name = json_string_value(json_object_get(o, "Names"));
                _cleanup_free_ char *slash = NULL;
                if (asprintf(&slash, "/%s", name ?: "") < 0)
                        return -ENOMEM;
                json_object_set_new(o, "Names", json_pack("[s]", slash));
        }
        json_array_foreach(json_object_get(j, "Volumes"), i, o) {
                json_object_set_new(o, "UsageData", json_pack("{s:O, s:O}", "Size", json_object_get(o, "Size"), "RefCount",
                                                              json_object_get(o, "RefCount")));
                json_object_set_new(o, "Driver", json_string("local"));
                json_object_set_new(o, "Scope", json_string("local"));
        }
        json_object_set_new(j, "LayersSize", json_integer(total));
        return api_json(rs, 200, j);
}

/* docker's filters={"label":["a=b"],"until":["24h"]} (or {"label":{"a=b":true}}) as PruneFilter;
 * `dangling` and `all` go to *ret_all (dangling=false / all=true: not only the unnamed). */
static int prune_filters(ApiReq *rq, PruneFilter *f, bool *ret_all, KError **err) {
        const char *q = api_query(rq, "filters");
        if (!q || !*q)
                return 0;
        _cleanup_json_ json_t *filters = json_loads(q, 0, NULL);
        if (!json_is_object(filters))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "filters: expected a JSON object like {\"label\":[\"k=v\"]}");
        const char *key;
        json_t *values;
        json_object_foreach(filters, key, values) {
                _cleanup_strv_free_ char **list = NULL;
                size_t i;
                json_t *v;
                const char *name;
                if (json_is_array(values))
                        json_array_foreach(values, i, v) {
                                if (json_is_string(v) && strv_extend(&list, json_string_value(v)) < 0)
                                        return -ENOMEM;
                        }
                else if (json_is_object(values))
                        json_object_foreach(values, name, v) {
                                if (json_is_true(v) && strv_extend(&list, name) < 0)
                                        return -ENOMEM;
                        }
                for (char **s = list; s && *s; s++) {
                        if (streq(key, "dangling") || streq(key, "all")) {
                                bool t = streq(*s, "true") || streq(*s, "1");
                                if (ret_all)
                                        *ret_all = streq(key, "all") ? t : !t;
                                continue;
                        }
                        _cleanup_free_ char *spec = NULL;
                        if (asprintf(&spec, "%s=%s", key, *s) < 0)
                                return -ENOMEM;
                        int r = prune_filter_add(f, spec, err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static json_t *strv_json(char **l) {
        json_t *a = json_array();
        for (char **s = l; s && *s; s++)
                json_array_append_new(a, json_string(*s));
        return a;
}

int api_ctr_prune(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        PruneFilter f = {};
        _cleanup_strv_free_ char **ids = NULL;
        uint64_t space = 0;
        int r = api_engine(rq, &e, err);
        if (r >= 0 && (r = prune_filters(rq, &f, NULL, err)) >= 0)
                r = prune_containers(e, &f, &ids, &space, err);
        prune_filter_done(&f);
        if (r < 0)
                return r;
        return api_json(rs, 200, json_pack("{s:o, s:I}", "ContainersDeleted", strv_json(ids), "SpaceReclaimed",
                                           (json_int_t) space));
}

int api_vol_prune(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        PruneFilter f = {};
        _cleanup_strv_free_ char **names = NULL;
        uint64_t space = 0;
        /* API 1.41 (what we serve) prunes every unused volume; 1.42 added all=false for anonymous only */
        bool all = true;
        int r = api_engine(rq, &e, err);
        if (r >= 0 && (r = prune_filters(rq, &f, &all, err)) >= 0)
                r = prune_volumes(e, &f, all, &names, &space, err);
        prune_filter_done(&f);
        if (r < 0)
                return r;
        return api_json(rs, 200, json_pack("{s:o, s:I}", "VolumesDeleted", strv_json(names), "SpaceReclaimed",
                                           (json_int_t) space));
}

int api_img_prune(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        PruneFilter f = {};
        bool all = false;
        size_t removed = 0;
        uint64_t space = 0;
        int r = api_engine(rq, &e, err);
        if (r >= 0 && (r = prune_filters(rq, &f, &all, err)) >= 0) {
                if (f.labels || f.not_labels || f.until)
                        r = kerr_msg(err, KERR_USAGE, -EINVAL, "images/prune: only the dangling filter is supported");
                else
                        r = prune_images(e, all, &removed, &space, err);
        }
        prune_filter_done(&f);
        if (r < 0)
                return r;
        /* the engine counts the images it removed but does not name them */
        (void) removed;
        return api_json(rs, 200, json_pack("{s:[], s:I}", "ImagesDeleted", "SpaceReclaimed", (json_int_t) space));
}

int api_net_prune(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        NetCtx *ctx;
        _cleanup_strv_free_ char **nets = NULL;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = engine_net(e, &ctx, err)) < 0 || (r = net_network_prune(ctx, &nets, err)) < 0)
                return r;
        return api_json(rs, 200, json_pack("{s:o}", "NetworksDeleted", strv_json(nets)));
}
