/* SPDX-License-Identifier: Apache-2.0 */
#include "net-addr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ip4_parse(const char *s, uint32_t *ret) {
        uint32_t ip = 0;
        for (int part = 0; part < 4; part++) {
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                unsigned v = 0, digits = 0;
                const char *start = s;
                while (isdigit((unsigned char) *s)) {
                        v = v * 10 + (unsigned) (*s++ - '0');
                        if (++digits > 3)
                                return -EINVAL;
                }
                if (v > 255 || (digits > 1 && *start == '0'))
                        return -EINVAL;
                ip = (ip << 8) | v;
                if (part < 3 && *s++ != '.')
                        return -EINVAL;
        }
        if (*s)
                return -EINVAL;
        *ret = ip;
        return 0;
}

const char *ip4_format(uint32_t ip, char buf[static IP4_STRLEN]) {
        snprintf(buf, IP4_STRLEN, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
        return buf;
}

bool ip4_is_loopback(uint32_t ip) {
        return (ip >> 24) == 127;
}

int cidr_parse(const char *s, Cidr *ret, KError **err) {
        const char *slash = strchr(s, '/');
        char addr[IP4_STRLEN];
        if (!slash || (size_t) (slash - s) >= sizeof(addr))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid subnet '%s': expected a.b.c.d/prefix", s);
        memcpy(addr, s, (size_t) (slash - s));
        addr[slash - s] = 0;

        uint32_t ip;
        unsigned prefix = 0;
        const char *p = slash + 1;
        size_t digits = strspn(p, "0123456789");
        if (ip4_parse(addr, &ip) < 0 || digits == 0 || digits > 2 || p[digits] ||
            (prefix = (unsigned) atoi(p)) > 32)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid subnet '%s': expected a.b.c.d/prefix", s);
        if (ip & ~ip4_mask(prefix)) {
                char b[IP4_STRLEN];
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid subnet '%s': host bits set (use %s/%u)", s,
                                ip4_format(ip & ip4_mask(prefix), b), prefix);
        }
        *ret = (Cidr) { .addr = ip, .prefix = prefix };
        return 0;
}

const char *cidr_format(const Cidr *c, char buf[static 19]) {
        char b[IP4_STRLEN];
        snprintf(buf, 19, "%s/%u", ip4_format(c->addr, b), c->prefix);
        return buf;
}

bool cidr_contains(const Cidr *c, uint32_t ip) {
        return (ip & ip4_mask(c->prefix)) == c->addr;
}

bool cidr_overlaps(const Cidr *a, const Cidr *b) {
        unsigned p = a->prefix < b->prefix ? a->prefix : b->prefix;
        return (a->addr & ip4_mask(p)) == (b->addr & ip4_mask(p));
}

#define IP4(a, b, c, d) ((uint32_t) (a) << 24 | (uint32_t) (b) << 16 | (uint32_t) (c) << 8 | (uint32_t) (d))

bool cidr_candidate(bool default_network, size_t i, Cidr *ret) {
        if (default_network) {
                if (i == 0) {
                        *ret = (Cidr) { IP4(10, 88, 0, 0), 16 };
                        return true;
                }
                i--;
        }
        /* 10.89.0.0/24 .. 10.99.255.0/24: 11 * 256 /24s. */
        if (i < 11 * 256) {
                *ret = (Cidr) { IP4(10, 89 + i / 256, i % 256, 0), 24 };
                return true;
        }
        i -= 11 * 256;
        if (i < 15) {
                *ret = (Cidr) { IP4(172, 17 + i, 0, 0), 16 };
                return true;
        }
        return false;
}

int ipam_pick(const Cidr *subnet, uint32_t gateway, const uint32_t *used, size_t n, uint32_t *ret) {
        uint32_t first = subnet->addr + 1, last = cidr_broadcast(subnet) - 1;
        if (subnet->prefix > 30)
                return -ENOSPC;
        for (uint32_t ip = first; ip <= last; ip++) {
                bool taken = ip == gateway;
                for (size_t i = 0; !taken && i < n; i++)
                        taken = used[i] == ip;
                if (!taken) {
                        *ret = ip;
                        return 0;
                }
        }
        return -ENOSPC;
}

void mac_from_ip(uint32_t ip, char buf[static 18]) {
        snprintf(buf, 18, "02:4b:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

int mac_parse(const char *s, uint8_t out[static 6]) {
        unsigned b[6];
        int end = 0;
        if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6 ||
            end != 17)
                return -EINVAL;
        for (size_t i = 0; i < 6; i++)
                out[i] = (uint8_t) b[i];
        return 0;
}

uint32_t name_hash(const char *a, const char *b) {
        uint32_t h = 2166136261u;
        for (const char *s = a; *s; s++)
                h = (h ^ (unsigned char) *s) * 16777619u;
        h = (h ^ '/') * 16777619u;
        for (const char *s = b; *s; s++)
                h = (h ^ (unsigned char) *s) * 16777619u;
        return h;
}

void link_name(bool tap, const char *instance_id, const char *network, char buf[static 16]) {
        snprintf(buf, 16, "%s%08x", tap ? "kt" : "kv", name_hash(instance_id, network));
}

bool link_name_is_ours(const char *name) {
        if (strlen(name) != 10 || name[0] != 'k' || (name[1] != 'v' && name[1] != 't'))
                return false;
        return strspn(name + 2, "0123456789abcdef") == 8;
}

bool net_name_valid(const char *name) {
        size_t l = strlen(name);
        if (l == 0 || l > 64 || !isalnum((unsigned char) name[0]))
                return false;
        return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == l;
}

bool ifname_valid(const char *name) {
        size_t l = strlen(name);
        if (l == 0 || l > 15 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return false;
        return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == l;
}
