/* SPDX-License-Identifier: Apache-2.0 */
/* Port-map specs from the command line and the image config (untrusted: fuzzed by fuzz-net-port).
 * Syntax as docker run -p: [ip:][hostport[-end]:]containerport[-end][/tcp|/udp]. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net-addr.h"
#include "net.h"
#include "string-util.h"

#define PORT_RANGE_MAX 1024

typedef struct PortRange {
        uint16_t first, last;
} PortRange;

/* "80" or "8000-8010"; empty gives {0,0} when `allow_empty`. */
static int range_parse(const char *s, size_t len, bool allow_empty, PortRange *ret) {
        char buf[16];
        if (len == 0 && allow_empty) {
                *ret = (PortRange) { 0, 0 };
                return 0;
        }
        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = 0;

        unsigned long v[2];
        char *dash = strchr(buf, '-');
        if (dash)
                *dash = 0;
        const char *parts[2] = { buf, dash ? dash + 1 : buf };
        for (int i = 0; i < 2; i++) {
                size_t l = strlen(parts[i]);
                if (l == 0 || l > 5 || strspn(parts[i], "0123456789") != l)
                        return -EINVAL;
                v[i] = strtoul(parts[i], NULL, 10);
                if (v[i] == 0 || v[i] > 65535)
                        return -EINVAL;
        }
        if (v[1] < v[0] || v[1] - v[0] >= PORT_RANGE_MAX)
                return -EINVAL;
        *ret = (PortRange) { (uint16_t) v[0], (uint16_t) v[1] };
        return 0;
}

static int proto_parse(const char *s, uint8_t *ret) {
        static const struct {
                const char *name;
                uint8_t proto;
        } table[] = { { "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP } };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(s, table[i].name)) {
                        *ret = table[i].proto;
                        return 0;
                }
        return -EINVAL;
}

static int append_maps(NetPortMap **maps, size_t *n, uint32_t ip, PortRange host, PortRange ctr, uint8_t proto) {
        size_t count = (size_t) (ctr.last - ctr.first) + 1;
        NetPortMap *m = reallocarray(*maps, *n + count, sizeof(NetPortMap));
        if (!m)
                return -ENOMEM;
        *maps = m;
        for (size_t i = 0; i < count; i++)
                m[(*n)++] = (NetPortMap) {
                        .host_ip = ip,
                        .host_port = host.first ? (uint16_t) (host.first + i) : 0,
                        .container_port = (uint16_t) (ctr.first + i),
                        .proto = proto,
                };
        return 0;
}

int net_port_parse(const char *spec, NetPortMap **maps, size_t *n, KError **err) {
        _cleanup_free_ char *s = strdup(spec);
        if (!s)
                return -ENOMEM;

        uint8_t proto = IPPROTO_TCP;
        char *slash = strchr(s, '/');
        if (slash) {
                *slash = 0;
                if (proto_parse(slash + 1, &proto) < 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "invalid port map '%s': protocol must be tcp or udp", spec);
        }

        /* Split at the last two colons: [ip:][host:]container. */
        char *c2 = strrchr(s, ':'), *c1 = NULL;
        if (c2) {
                *c2 = 0;
                c1 = strrchr(s, ':');
                *c2 = ':';
        }
        const char *ctr_s = c2 ? c2 + 1 : s;
        const char *host_s = c1 ? c1 + 1 : s;
        size_t host_len = c2 ? (size_t) (c2 - host_s) : 0;

        uint32_t ip = 0;
        if (c1) {
                *c1 = 0;
                if (ip4_parse(s, &ip) < 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "invalid port map '%s': '%s' is not an IPv4 address", spec, s);
        }

        PortRange host, ctr;
        if (range_parse(ctr_s, strlen(ctr_s), false, &ctr) < 0 ||
            range_parse(host_s, host_len, true, &host) < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "invalid port map '%s': expected [ip:][hostport[-end]:]port[-end][/tcp|udp] "
                                "with ports 1-65535 and ranges of at most %d", spec, PORT_RANGE_MAX);
        if (host.first && host.last - host.first != ctr.last - ctr.first)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "invalid port map '%s': host and container ranges differ in length", spec);
        return append_maps(maps, n, ip, host, ctr, proto);
}

int net_port_expose(char *const *exposed, NetPortMap **maps, size_t *n, KError **err) {
        for (size_t i = 0; exposed && exposed[i]; i++) {
                /* Exposed ports carry no host part: refuse ':' so the image cannot pick host ports. */
                if (strchr(exposed[i], ':'))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid exposed port '%s'", exposed[i]);
                int r = net_port_parse(exposed[i], maps, n, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

char *net_port_format(const NetPortMap *m) {
        char b[IP4_STRLEN];
        char *s = NULL;
        if (asprintf(&s, "%u/%s -> %s:%u", m->container_port, m->proto == IPPROTO_UDP ? "udp" : "tcp",
                     ip4_format(m->host_ip, b), m->host_port) < 0)
                return NULL;
        return s;
}
