/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>

#include "ctr-inspect.h"
#include "ctr-ops.h"
#include "image.h"
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
                json_t *net = json_pack("{s:s, s:i, s:s, s:s}", "IPAddress", (*a)->ip, "IPPrefixLen", (int) (*a)->prefixlen,
                                        "Gateway", (*a)->gateway, "MacAddress", (*a)->mac);
                /* a VM resumed from a snapshot whose address was taken: its tap translates */
                if (net && !streq((*a)->guest_ip, (*a)->ip)) {
                        json_object_set_new(net, "GuestIPAddress", json_string((*a)->guest_ip));
                        json_object_set_new(net, "GuestMacAddress", json_string((*a)->guest_mac));
                }
                json_object_set_new(nets, (*a)->network, net);
                if (a == atts) {
                        json_object_set_new(ns, "IPAddress", json_string((*a)->ip));
                        json_object_set_new(ns, "Gateway", json_string((*a)->gateway));
                        json_object_set_new(ns, "MacAddress", json_string((*a)->mac));
                }
        }
        net_attachments_free(atts);
}

/* What `inspect NAME` may be, in docker's lookup order. */
typedef enum { OBJ_CONTAINER, OBJ_IMAGE, OBJ_VOLUME, OBJ_NETWORK, _OBJ_MAX } ObjType;
static const char *const obj_types[_OBJ_MAX] = { "container", "image", "volume", "network" };

static json_t *find_container(const KGlobals *g, Engine *e, const char *name, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        if (k_ctr_find(g, e, name, &rec, err) < 0)
                return NULL;
        json_t *doc = ctr_inspect_json(e, rec);
        add_network_settings(e, rec, doc);
        return doc;
}

static json_t *find_image(Engine *e, const char *name) {
        ImageStore *s;
        _cleanup_(image_freep) Image *img = NULL;
        if (engine_images(e, &s, NULL) < 0 || image_lookup(s, name, &img, NULL) < 0)
                return NULL;
        return k_image_doc(img);
}

static json_t *find_volume(Engine *e, const char *name) {
        VolRecord *vols = NULL;
        size_t n = 0;
        json_t *doc = NULL;
        if (db_vol_list(e->db, &vols, &n, NULL) < 0)
                return NULL;
        for (size_t i = 0; i < n && !doc; i++)
                if (streq(vols[i].name, name))
                        doc = k_volume_doc(e, &vols[i]);
        vol_record_list_free(vols, n);
        return doc;
}

static json_t *find_network(Engine *e, const char *name) {
        NetCtx *ctx;
        json_t *doc = NULL;
        if (engine_net(e, &ctx, NULL) < 0 || net_network_inspect(ctx, name, &doc, NULL) < 0)
                return NULL;
        return doc;
}

/* The first object called `name` (only of `type` unless it is _OBJ_MAX), or NULL; with --type
 * container, *err says why the container was not found. */
static json_t *find_object(const KGlobals *g, Engine *e, const char *name, ObjType type, KError **err) {
        json_t *doc = NULL;
        for (ObjType t = 0; t < _OBJ_MAX && !doc; t++) {
                if (type != _OBJ_MAX && t != type)
                        continue;
                switch (t) {
                case OBJ_CONTAINER: doc = find_container(g, e, name, type == OBJ_CONTAINER ? err : NULL); break;
                case OBJ_IMAGE: doc = find_image(e, name); break;
                case OBJ_VOLUME: doc = find_volume(e, name); break;
                case OBJ_NETWORK: doc = find_network(e, name); break;
                case _OBJ_MAX: break;
                }
        }
        return doc;
}

K_VERB(inspect) {
        static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { "type", required_argument, NULL, 'T' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        const char *format = NULL;
        ObjType type = g->vm_verb ? OBJ_CONTAINER : _OBJ_MAX;       /* `vm inspect`: instances only */
        int c;
        while ((c = getopt_long(argc, argv, "f:", opts, NULL)) >= 0)    /* options anywhere, as docker */
                switch (c) {
                case 'f': format = optarg; break;
                case 'T':
                        for (type = 0; type < _OBJ_MAX && !streq(obj_types[type], optarg); type++)
                                ;
                        if (type == _OBJ_MAX)
                                return k_usage(err, "inspect", "--type \"%s\": expected container, image, volume or network",
                                               optarg);
                        break;
                case 'h': return k_help("inspect");
                default: return k_usage(err, "inspect", "unknown option");
                }
        if (optind >= argc)
                return k_usage(err, "inspect", "missing NAME");
        _cleanup_(engine_freep) Engine *e = NULL;
        int r = k_open(g, &e, err);
        if (r < 0)
                return r;
        json_t *out = json_array();
        int ret = 0;
        for (int i = optind; i < argc; i++) {
                _cleanup_kerr_ KError *one = NULL;
                json_t *doc = find_object(g, e, argv[i], type, &one);
                if (!doc) {     /* docker goes on with the others, then fails */
                        if (ret == 0 && one && err && !*err) {
                                ret = one->code;
                                *err = TAKE_PTR(one);
                        } else if (ret == 0 && type == _OBJ_MAX)
                                ret = kerr_msg(err, KERR_NOT_FOUND, -ENOENT,
                                               "no such container or VM: %s (nor an image, volume or network)", argv[i]);
                        else if (ret == 0)
                                ret = kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "no such %s: %s", obj_types[type], argv[i]);
                        continue;
                }
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
