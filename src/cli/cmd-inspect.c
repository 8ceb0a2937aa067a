/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "ctr-inspect.h"
#include "ctr-ops.h"
#include "json-util.h"
#include "kapsel-cli.h"
#include "log.h"
#include "string-util.h"
#include "template.h"

/* NetworkSettings as docker shows them: the first network's address up front, all in Networks. */
static void add_network_settings(Engine *e, const CtrRecord *rec, json_t *doc) {
        NetCtx *ctx;
        NetAttachment **atts = NULL;
        json_t *nets = json_object(), *ns = json_pack("{s:s, s:s, s:s, s:o}", "IPAddress", "", "Gateway", "", "MacAddress", "",
                                                     "Networks", nets);
        json_object_set_new(doc, "NetworkSettings", ns);
        if (engine_net(e, &ctx, NULL) < 0 || net_attachments(ctx, rec->id, &atts, NULL) < 0)
                return;
        for (NetAttachment **a = atts; a && *a; a++) {
                json_object_set_new(nets, (*a)->network,
                                    json_pack("{s:s, s:i, s:s, s:s}", "IPAddress", (*a)->ip, "IPPrefixLen", (int) (*a)->prefixlen,
                                              "Gateway", (*a)->gateway, "MacAddress", (*a)->mac));
                if (a == atts) {
                        json_object_set_new(ns, "IPAddress", json_string((*a)->ip));
                        json_object_set_new(ns, "Gateway", json_string((*a)->gateway));
                        json_object_set_new(ns, "MacAddress", json_string((*a)->mac));
                }
        }
        net_attachments_free(atts);
}

K_VERB(inspect) {
        static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, {} };
        const char *format = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+f:", opts, NULL)) >= 0)
                switch (c) {
                case 'f': format = optarg; break;
                case 'h': return k_help("inspect");
                default: return k_usage(err, "inspect", "unknown option");
                }
        if (optind >= argc)
                return k_usage(err, "inspect", "missing CONTAINER");
        _cleanup_(engine_freep) Engine *e = NULL;
        int r = k_open(g, &e, err);
        if (r < 0)
                return r;
        json_t *out = json_array();
        int ret = 0;
        for (int i = optind; i < argc; i++) {
                _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
                _cleanup_kerr_ KError *one = NULL;
                if (k_ctr_find(g, e, argv[i], &rec, &one) < 0) {
                        if (ret == 0 && err && !*err) {
                                ret = one->code;
                                *err = TAKE_PTR(one);
                        }
                        continue;
                }
                json_t *doc = ctr_inspect_json(e, rec);
                add_network_settings(e, rec, doc);
                if (format && !streq(format, "json")) {
                        r = template_render(format, doc, stdout, err);
                        json_decref(doc);
                        if (r < 0) {
                                json_decref(out);
                                return r;
                        }
                        putchar('\n');
                } else
                        json_array_append_new(out, doc);
        }
        if (!format || streq(format, "json"))
                json_print(out, true);
        json_decref(out);
        return ret;
}
