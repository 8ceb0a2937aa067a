/* SPDX-License-Identifier: Apache-2.0 */
/* state.json <-> NetState. The file is written only by kapsel (under the lock), but it is parsed
 * defensively: a malformed entry is an error naming it, never a crash. */
#include "net-state.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <string.h>

#include "json-util.h"
#include "string-util.h"

void net_network_done(NetNetwork *n) {
        free(n->name);
        free(n->id);
        free(n->bridge);
        free(n->created);
        strv_free(n->labels);
        *n = (NetNetwork) {};
}

void net_attach_done(NetAttach *a) {
        free(a->instance_id);
        free(a->instance_name);
        free(a->network);
        strv_free(a->aliases);
        free(a->ports);
        *a = (NetAttach) {};
}

void net_instance_done(NetInstance *i) {
        free(i->id);
        free(i->hostname);
        strv_free(i->dns);
        strv_free(i->dns_search);
        strv_free(i->dns_options);
        strv_free(i->extra_hosts);
        *i = (NetInstance) {};
}

void net_state_done(NetState *s) {
        for (size_t i = 0; i < s->n_networks; i++)
                net_network_done(&s->networks[i]);
        for (size_t i = 0; i < s->n_attach; i++)
                net_attach_done(&s->attach[i]);
        for (size_t i = 0; i < s->n_instances; i++)
                net_instance_done(&s->instances[i]);
        free(s->networks);
        free(s->attach);
        free(s->instances);
        *s = (NetState) {};
}

void array_remove(void *array, size_t *n, size_t size, size_t i) {
        char *a = array;
        memmove(a + i * size, a + (i + 1) * size, (*n - i - 1) * size);
        (*n)--;
}

/* ---- parse ---- */

static int str_dup(json_t *o, const char *key, bool required, char **ret) {
        json_t *v = json_object_get(o, key);
        if (!v || json_is_null(v)) {
                if (required)
                        return -EINVAL;
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int strv_get(json_t *o, const char *key, char ***ret) {
        json_t *v = json_object_get(o, key), *e;
        size_t i;
        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return -EINVAL;
        json_array_foreach(v, i, e) {
                if (!json_is_string(e))
                        return -EINVAL;
                int r = strv_extend(ret, json_string_value(e));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int ip_get(json_t *o, const char *key, uint32_t *ret) {
        json_t *v = json_object_get(o, key);
        return json_is_string(v) ? ip4_parse(json_string_value(v), ret) : -EINVAL;
}

static int ifname_get(json_t *o, const char *key, char buf[static 16]) {
        json_t *v = json_object_get(o, key);
        if (!json_is_string(v) || !ifname_valid(json_string_value(v)))
                return -EINVAL;
        strcpy(buf, json_string_value(v));
        return 0;
}

static int network_parse(json_t *o, NetNetwork *n) {
        json_t *subnet = json_object_get(o, "subnet");
        int r;
        if ((r = str_dup(o, "name", true, &n->name)) < 0 || (r = str_dup(o, "id", true, &n->id)) < 0 ||
            (r = str_dup(o, "bridge", true, &n->bridge)) < 0 || (r = str_dup(o, "created", false, &n->created)) < 0 ||
            (r = strv_get(o, "labels", &n->labels)) < 0 || (r = ip_get(o, "gateway", &n->gateway)) < 0)
                return r;
        if (!json_is_string(subnet) || cidr_parse(json_string_value(subnet), &n->subnet, NULL) < 0 ||
            !ifname_valid(n->bridge))
                return -EINVAL;
        n->internal = json_is_true(json_object_get(o, "internal"));
        return 0;
}

static int ports_parse(json_t *a, NetAttach *at) {
        json_t *e;
        size_t i;
        if (!a)
                return 0;
        if (!json_is_array(a))
                return -EINVAL;
        at->ports = calloc(json_array_size(a) + 1, sizeof(NetPortMap));
        if (!at->ports)
                return -ENOMEM;
        json_array_foreach(a, i, e) {
                NetPortMap *m = &at->ports[at->n_ports++];
                json_int_t hp = json_integer_value(json_object_get(e, "host_port"));
                json_int_t cp = json_integer_value(json_object_get(e, "container_port"));
                const char *proto = json_string_value(json_object_get(e, "proto"));
                if (ip_get(e, "host_ip", &m->host_ip) < 0 || hp <= 0 || hp > 65535 || cp <= 0 || cp > 65535 || !proto)
                        return -EINVAL;
                m->host_port = (uint16_t) hp;
                m->container_port = (uint16_t) cp;
                m->proto = streq(proto, "udp") ? IPPROTO_UDP : IPPROTO_TCP;
        }
        return 0;
}

static int attach_parse(json_t *o, NetAttach *a) {
        int r;
        json_t *mac = json_object_get(o, "mac");
        if ((r = str_dup(o, "instance_id", true, &a->instance_id)) < 0 ||
            (r = str_dup(o, "instance_name", true, &a->instance_name)) < 0 ||
            (r = str_dup(o, "network", true, &a->network)) < 0 || (r = strv_get(o, "aliases", &a->aliases)) < 0 ||
            (r = ifname_get(o, "ifname", a->ifname)) < 0 || (r = ifname_get(o, "guest_ifname", a->guest_ifname)) < 0 ||
            (r = ip_get(o, "ip", &a->ip)) < 0 || (r = ports_parse(json_object_get(o, "ports"), a)) < 0)
                return r;
        if (!json_is_string(mac) || strlen(json_string_value(mac)) != 17)
                return -EINVAL;
        strcpy(a->mac, json_string_value(mac));
        a->tap = json_is_true(json_object_get(o, "tap"));
        if (json_object_get(o, "guest_ip") && (r = ip_get(o, "guest_ip", &a->guest_ip)) < 0)
                return r;
        if (a->guest_ip && (!a->tap || a->guest_ip == a->ip))
                return -EINVAL;
        return 0;
}

static int instance_parse(json_t *o, NetInstance *i) {
        int r;
        if ((r = str_dup(o, "id", true, &i->id)) < 0 || (r = str_dup(o, "hostname", false, &i->hostname)) < 0 ||
            (r = strv_get(o, "dns", &i->dns)) < 0 || (r = strv_get(o, "dns_search", &i->dns_search)) < 0 ||
            (r = strv_get(o, "dns_options", &i->dns_options)) < 0 ||
            (r = strv_get(o, "extra_hosts", &i->extra_hosts)) < 0)
                return r;
        return 0;
}

/* Parse array `key` of `root` into a freshly allocated array of `size`-byte elements. */
static int array_parse(json_t *root, const char *key, size_t size, int (*parse)(json_t *, void *),
                       void (*done)(void *), void **ret, size_t *ret_n, KError **err) {
        json_t *a = json_object_get(root, key), *e;
        size_t i;
        if (!a)
                return 0;
        if (!json_is_array(a))
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "net state: '%s' is not an array", key);
        char *v = calloc(json_array_size(a) + 1, size);
        if (!v)
                return -ENOMEM;
        json_array_foreach(a, i, e) {
                int r = json_is_object(e) ? parse(e, v + i * size) : -EINVAL;
                if (r < 0) {
                        for (size_t j = 0; j <= i; j++)
                                done(v + j * size);
                        free(v);
                        return kerr_msg(err, KERR_CONFIG, r, "net state: malformed entry %zu of '%s'", i, key);
                }
        }
        *ret = v;
        *ret_n = json_array_size(a);
        return 0;
}

int net_state_parse(const char *text, NetState *ret, KError **err) {
        NetState s = {};
        if (strspn(text, " \t\n") == strlen(text)) {
                *ret = s;
                return 0;
        }
        json_error_t je;
        _cleanup_json_ json_t *root = json_loads(text, 0, &je);
        if (!json_is_object(root))
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "net state: not a JSON object (line %d: %s)", je.line,
                                je.text);
        int r = array_parse(root, "networks", sizeof(NetNetwork), (int (*)(json_t *, void *)) network_parse,
                            (void (*)(void *)) net_network_done, (void **) &s.networks, &s.n_networks, err);
        if (r >= 0)
                r = array_parse(root, "attachments", sizeof(NetAttach), (int (*)(json_t *, void *)) attach_parse,
                                (void (*)(void *)) net_attach_done, (void **) &s.attach, &s.n_attach, err);
        if (r >= 0)
                r = array_parse(root, "instances", sizeof(NetInstance), (int (*)(json_t *, void *)) instance_parse,
                                (void (*)(void *)) net_instance_done, (void **) &s.instances, &s.n_instances, err);
        if (r < 0) {
                net_state_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

/* ---- format ---- */

static json_t *strv_json(char **v) {
        return v ? json_from_strv(v) : json_null();
}

static json_t *network_json(const NetNetwork *n) {
        char b[IP4_STRLEN], c[19];
        return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:b, s:o}", "name", n->name, "id", n->id, "bridge",
                         n->bridge, "created", n->created, "subnet", cidr_format(&n->subnet, c), "gateway",
                         ip4_format(n->gateway, b), "internal", n->internal, "labels", strv_json(n->labels));
}

static json_t *attach_json(const NetAttach *a) {
        char b[IP4_STRLEN];
        json_t *ports = json_array();
        for (size_t i = 0; ports && i < a->n_ports; i++) {
                const NetPortMap *m = &a->ports[i];
                json_array_append_new(ports, json_pack("{s:s, s:i, s:i, s:s}", "host_ip", ip4_format(m->host_ip, b),
                                                       "host_port", m->host_port, "container_port",
                                                       m->container_port, "proto",
                                                       m->proto == IPPROTO_UDP ? "udp" : "tcp"));
        }
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:b, s:s, s:s, s:o}", "instance_id", a->instance_id,
                              "instance_name", a->instance_name, "network", a->network, "aliases",
                              strv_json(a->aliases), "ifname", a->ifname, "guest_ifname", a->guest_ifname, "tap",
                              a->tap, "ip", ip4_format(a->ip, b), "mac", a->mac, "ports", ports);
        if (o && a->guest_ip && json_object_set_new(o, "guest_ip", json_string(ip4_format(a->guest_ip, b))) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *instance_json(const NetInstance *i) {
        return json_pack("{s:s, s:s?, s:o, s:o, s:o, s:o}", "id", i->id, "hostname", i->hostname, "dns",
                         strv_json(i->dns), "dns_search", strv_json(i->dns_search), "dns_options",
                         strv_json(i->dns_options), "extra_hosts", strv_json(i->extra_hosts));
}

char *net_state_format(const NetState *s) {
        _cleanup_json_ json_t *nets = json_array(), *atts = json_array(), *insts = json_array();
        if (!nets || !atts || !insts)
                return NULL;
        for (size_t i = 0; i < s->n_networks; i++)
                if (json_array_append_new(nets, network_json(&s->networks[i])) < 0)
                        return NULL;
        for (size_t i = 0; i < s->n_attach; i++)
                if (json_array_append_new(atts, attach_json(&s->attach[i])) < 0)
                        return NULL;
        for (size_t i = 0; i < s->n_instances; i++)
                if (json_array_append_new(insts, instance_json(&s->instances[i])) < 0)
                        return NULL;
        _cleanup_json_ json_t *root = json_pack("{s:i, s:O, s:O, s:O}", "version", 1, "networks", nets,
                                                "attachments", atts, "instances", insts);
        return root ? json_dump_string(root, true) : NULL;
}

/* ---- lookups ---- */

NetNetwork *net_state_network(const NetState *s, const char *name_or_id) {
        NetNetwork *prefix_match = NULL;
        size_t prefix_hits = 0, l = strlen(name_or_id);
        for (size_t i = 0; i < s->n_networks; i++) {
                NetNetwork *n = &s->networks[i];
                if (streq(n->name, name_or_id) || streq(n->id, name_or_id))
                        return n;
                if (l >= 3 && strncmp(n->id, name_or_id, l) == 0) {
                        prefix_match = n;
                        prefix_hits++;
                }
        }
        return prefix_hits == 1 ? prefix_match : NULL;
}

NetInstance *net_state_instance(const NetState *s, const char *id) {
        for (size_t i = 0; i < s->n_instances; i++)
                if (streq(s->instances[i].id, id))
                        return &s->instances[i];
        return NULL;
}

size_t net_state_count_attached(const NetState *s, const char *network) {
        size_t n = 0;
        for (size_t i = 0; i < s->n_attach; i++)
                n += streq(s->attach[i].network, network);
        return n;
}
