/* SPDX-License-Identifier: Apache-2.0 */
/* GET /console/instances: the console's one list of containers and micro-VMs. Docker's
 * /containers/json leaves VMs out (docker clients know only containers) and says nothing of the
 * isolation or the published ports; this list has every row of the root with its kind, as
 * `kapsel ps -a` and `kapsel vm ls` show them together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctr-inspect.h"
#include "ctr-ops.h"
#include "json-util.h"
#include "vm-isolation.h"
#include "web.h"

static const char *kind_of(const CtrRecord *r) {
        if (r->kind == CTR_KIND_VM)
                return "vm";
        return vm_isolation_enabled(r->config) ? "container (vm)" : "container";
}

/* The engine's HostConfig.PortSpecs ["[IP:]8080:80/tcp"] (or docker's PortBindings {"80/tcp":
 * [{"HostIp": "", "HostPort": "8080"}]}) -> "8080->80/tcp, ..." */
static char *ports_text(const json_t *host) {
        json_t *pb = json_object_get(host, "PortBindings");
        const char *key;
        json_t *binds;
        char *out = NULL;
        size_t len = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        bool first = true;
        size_t k;
        json_t *spec;
        json_array_foreach(json_object_get(host, "PortSpecs"), k, spec) {
                const char *sp = json_string_value(spec), *colon = sp ? strrchr(sp, ':') : NULL;
                if (!colon)
                        continue;
                fprintf(f, "%s%.*s->%s%s", first ? "" : ", ", (int) (colon - sp), sp, colon + 1,
                        strchr(colon, '/') ? "" : "/tcp");
                first = false;
        }
        json_object_foreach(pb, key, binds) {
                size_t i;
                json_t *b;
                json_array_foreach(binds, i, b) {
                        const char *ip = json_string_value(json_object_get(b, "HostIp"));
                        const char *hp = json_string_value(json_object_get(b, "HostPort"));
                        fprintf(f, "%s%s%s%s->%s", first ? "" : ", ", ip && *ip ? ip : "", ip && *ip ? ":" : "",
                                hp && *hp ? hp : "?", key);
                        first = false;
                }
        }
        fclose(TAKE_PTR(f));
        return out;
}

static json_t *instance_row(const CtrRecord *r) {
        json_t *host = json_object_get(r->config, "HostConfig");
        _cleanup_free_ char *status = ctr_status_text(r), *ports = ports_text(host);
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "Id", r->id, "Name", r->name, "Kind", kind_of(r),
                         "Image", r->image ?: "", "State", ctr_state_to_string(r->state), "Status", status ?: "",
                         "Ports", ports ?: "", "Created", (json_int_t) (r->created / 1000000000), "Started",
                         (json_int_t) (r->started / 1000000000), "MemoryLimit",
                         (json_int_t) json_integer_value(json_object_get(host, "Memory")));
}

json_t *web_instances(const DaemonConfig *cfg, KError **err) {
        _cleanup_(engine_freep) Engine *e = NULL;
        CtrRecord **l = NULL;
        size_t n = 0;
        if (engine_open(cfg->root, &e, err) < 0 || db_ctr_list(e->db, &l, &n, err) < 0)
                return NULL;
        json_t *rows = json_array();
        for (size_t i = n; i-- > 0;) {
                (void) ctr_repair(e, l[i], NULL);
                json_t *row = instance_row(l[i]);
                if (row)
                        json_array_append_new(rows, row);
        }
        ctr_record_list_free(l, n);
        return rows;
}
