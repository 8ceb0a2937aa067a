/* SPDX-License-Identifier: Apache-2.0 */
#include "net-plan.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"

const NftChainDef nft_chains[] = {
        { "prerouting", "nat", NF_INET_PRE_ROUTING, -100 },
        { "output", "nat", NF_INET_LOCAL_OUT, -100 },
        { "ports", NULL, 0, 0 },
        { "postrouting", "nat", NF_INET_POST_ROUTING, 100 },
        { "forward", "filter", NF_INET_FORWARD, 0 },
};
const size_t nft_n_chains = ELEMENTSOF(nft_chains);

typedef struct RuleList {
        NftRule *v;
        size_t n, cap;
} RuleList;

static NftRule *rule_add(RuleList *l, const char *chain, NftVerdict verdict, const char *comment) {
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 32;
                NftRule *v = reallocarray(l->v, cap, sizeof(NftRule));
                if (!v)
                        return NULL;
                l->v = v;
                l->cap = cap;
        }
        NftRule *r = &l->v[l->n++];
        *r = (NftRule) { .chain = chain, .verdict = verdict };
        snprintf(r->comment, sizeof(r->comment), "%s", comment);
        return r;
}

#define ADD(l, chain, verdict, comment)                                 \
        ({                                                              \
                NftRule *_r = rule_add(l, chain, verdict, comment);     \
                if (!_r)                                                \
                        return -ENOMEM;                                 \
                _r;                                                     \
        })

static int entry_rules(RuleList *l) {
        NftRule *r = ADD(l, "prerouting", NFT_V_JUMP, "");
        r->fib_local = true;
        r->jump = "ports";
        r = ADD(l, "output", NFT_V_JUMP, "");
        r->fib_local = true;
        r->jump = "ports";
        return 0;
}

static int network_rules(RuleList *l, const NetNetwork *n) {
        char comment[96];
        snprintf(comment, sizeof(comment), "network %s", n->name);
        const char *br = n->bridge;
        NftRule *r;

        if (!n->internal) {
                r = ADD(l, "postrouting", NFT_V_MASQ, comment);         /* egress */
                r->has_saddr = true, r->saddr = n->subnet;
                strcpy(r->oif, br), r->oif_neg = true;
                r = ADD(l, "postrouting", NFT_V_MASQ, comment);         /* host's 127.0.0.1 to a port map */
                strcpy(r->oif, br);
                r->has_saddr = true, r->saddr = (Cidr) { 0x7f000000, 8 };
                r = ADD(l, "postrouting", NFT_V_MASQ, comment);         /* hairpin through a port map */
                strcpy(r->oif, br);
                r->has_saddr = true, r->saddr = n->subnet;
                r->ct_dnat = true;
        } else {
                r = ADD(l, "forward", NFT_V_DROP, comment);
                strcpy(r->iif, br);
                strcpy(r->oif, br), r->oif_neg = true;
        }
        r = ADD(l, "forward", NFT_V_ACCEPT, comment);
        strcpy(r->iif, br);
        strcpy(r->oif, br);
        r = ADD(l, "forward", NFT_V_ACCEPT, comment);
        strcpy(r->oif, br);
        r->ct_established = true;
        if (!n->internal) {
                r = ADD(l, "forward", NFT_V_ACCEPT, comment);
                strcpy(r->oif, br);
                r->ct_dnat = true;
        }
        r = ADD(l, "forward", NFT_V_DROP, comment);
        strcpy(r->oif, br);
        if (!n->internal) {
                r = ADD(l, "forward", NFT_V_ACCEPT, comment);
                strcpy(r->iif, br);
        }
        return 0;
}

static int port_rules(RuleList *l, const NetAttach *a) {
        char comment[96];
        snprintf(comment, sizeof(comment), "instance %s", a->instance_id);
        for (size_t i = 0; i < a->n_ports; i++) {
                const NetPortMap *m = &a->ports[i];
                NftRule *r = ADD(l, "ports", NFT_V_DNAT, comment);
                if (m->host_ip) {
                        r->has_daddr = true;
                        r->daddr = (Cidr) { m->host_ip, 32 };
                }
                r->l4proto = m->proto;
                r->dport = m->host_port;
                r->nat_ip = a->ip;
                r->nat_port = m->container_port;
        }
        return 0;
}

int net_plan_rules(const NetState *s, NftRule **ret, size_t *ret_n) {
        RuleList l = {};
        int r = entry_rules(&l);
        for (size_t i = 0; r >= 0 && i < s->n_networks; i++)
                r = network_rules(&l, &s->networks[i]);
        for (size_t i = 0; r >= 0 && i < s->n_attach; i++)
                r = port_rules(&l, &s->attach[i]);
        if (r < 0) {
                free(l.v);
                return r;
        }
        *ret = l.v;
        *ret_n = l.n;
        return 0;
}

/* ---- rendering ---- */

static void render_rule(FILE *f, const NftRule *r) {
        char b[IP4_STRLEN], c[19];
        fputs("\t\t", f);
        if (r->fib_local)
                fputs("fib daddr type local ", f);
        if (r->iif[0])
                fprintf(f, "iifname %s\"%s\" ", r->iif_neg ? "!= " : "", r->iif);
        if (r->oif[0])
                fprintf(f, "oifname %s\"%s\" ", r->oif_neg ? "!= " : "", r->oif);
        if (r->has_saddr)
                fprintf(f, "ip saddr %s ", cidr_format(&r->saddr, c));
        if (r->has_daddr)
                fprintf(f, "ip daddr %s ", cidr_format(&r->daddr, c));
        if (r->l4proto)
                fprintf(f, "meta l4proto %s th dport %u ", r->l4proto == IPPROTO_UDP ? "udp" : "tcp", r->dport);
        if (r->ct_established)
                fputs("ct state established,related ", f);
        if (r->ct_dnat)
                fputs("ct status dnat ", f);
        switch (r->verdict) {
        case NFT_V_ACCEPT:
                fputs("accept", f);
                break;
        case NFT_V_DROP:
                fputs("drop", f);
                break;
        case NFT_V_JUMP:
                fprintf(f, "jump %s", r->jump);
                break;
        case NFT_V_DNAT:
                fprintf(f, "dnat to %s:%u", ip4_format(r->nat_ip, b), r->nat_port);
                break;
        case NFT_V_MASQ:
                fputs("masquerade", f);
                break;
        }
        if (r->comment[0])
                fprintf(f, " comment \"%s\"", r->comment);
        fputc('\n', f);
}

char *net_plan_render(const NftRule *rules, size_t n) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        fprintf(f, "table ip %s {\n", NFT_TABLE);
        for (size_t c = 0; c < nft_n_chains; c++) {
                const NftChainDef *d = &nft_chains[c];
                fprintf(f, "\tchain %s {\n", d->name);
                if (d->type)
                        fprintf(f, "\t\ttype %s hook %s priority %d; policy accept;\n", d->type,
                                d->hook == NF_INET_PRE_ROUTING ? "prerouting" :
                                d->hook == NF_INET_LOCAL_OUT   ? "output" :
                                d->hook == NF_INET_POST_ROUTING ? "postrouting" : "forward",
                                d->prio);
                for (size_t i = 0; i < n; i++)
                        if (streq(rules[i].chain, d->name))
                                render_rule(f, &rules[i]);
                fputs("\t}\n", f);
        }
        fputs("}\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* ---- table bridge: translated taps ---- */

int net_plan_xlates(const NetState *s, NftXlate **ret, size_t *ret_n) {
        NftXlate *v = NULL;
        size_t n = 0;
        for (size_t i = 0; i < s->n_attach; i++) {
                const NetAttach *a = &s->attach[i];
                if (!a->tap || !a->guest_ip)
                        continue;
                NftXlate *nv = reallocarray(v, n + 1, sizeof(*v));
                if (!nv) {
                        free(v);
                        return -ENOMEM;
                }
                v = nv;
                NftXlate *x = &v[n++];
                *x = (NftXlate) { .ip = a->ip, .guest_ip = a->guest_ip };
                snprintf(x->ifname, sizeof(x->ifname), "%s", a->ifname);
                char gm[18];
                mac_from_ip(a->guest_ip, gm);
                if (mac_parse(a->mac, x->mac) < 0 || mac_parse(gm, x->guest_mac) < 0) {
                        free(v);
                        return -EINVAL;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static const char *mac_str(const uint8_t m[6], char buf[static 18]) {
        snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        return buf;
}

static void render_xlate(FILE *f, const NftXlate *x, NftXlateKind kind) {
        char m[18], gm[18], ip[IP4_STRLEN], gip[IP4_STRLEN];
        mac_str(x->mac, m);
        mac_str(x->guest_mac, gm);
        ip4_format(x->ip, ip);
        ip4_format(x->guest_ip, gip);
        fprintf(f, "\t\t%s \"%s\" ", NFT_X_FROM_TAP(kind) ? "iifname" : "oifname", x->ifname);
        switch (kind) {
        case NFT_X_DROP_OTHER:
                fputs("ether type != ip ether type != arp drop\n", f);
                break;
        case NFT_X_SET_SMAC:
                fprintf(f, "ether saddr set %s\n", m);
                break;
        case NFT_X_SET_SIP:
                fprintf(f, "ether type ip ip saddr %s ip saddr set %s\n", gip, ip);
                break;
        case NFT_X_SET_SARP:
                fprintf(f, "ether type arp arp saddr ip %s arp saddr ip set %s arp saddr ether set %s\n", gip, ip, m);
                break;
        case NFT_X_SET_GRATUITOUS:
                fprintf(f, "ether type arp arp daddr ip %s arp daddr ip set %s\n", gip, ip);
                break;
        case NFT_X_DROP_GMAC:
                fprintf(f, "ether daddr %s drop\n", gm);
                break;
        case NFT_X_DROP_GIP:
                fprintf(f, "ether type ip ip daddr %s drop\n", gip);
                break;
        case NFT_X_DROP_GARP:
                fprintf(f, "ether type arp arp daddr ip %s drop\n", gip);
                break;
        case NFT_X_SET_DMAC:
                fprintf(f, "ether daddr %s ether daddr set %s\n", m, gm);
                break;
        case NFT_X_SET_DIP:
                fprintf(f, "ether type ip ip daddr %s ip daddr set %s\n", ip, gip);
                break;
        case NFT_X_SET_DARP:
                fprintf(f, "ether type arp arp daddr ip %s arp daddr ip set %s arp daddr ether set %s\n", ip, gip, gm);
                break;
        default:
                fputs("?\n", f);
                break;
        }
}

char *net_plan_render_xlates(const NftXlate *x, size_t n) {
        if (n == 0)
                return strdup("");
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        fprintf(f, "table bridge %s {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority -300; "
                "policy accept;\n", NFT_TABLE);
        for (NftXlateKind kind = 0; kind < _NFT_X_MAX; kind++) {
                if (kind == NFT_X_DROP_GMAC)
                        fputs("\t}\n\tchain postrouting {\n\t\ttype filter hook postrouting priority 300; policy "
                              "accept;\n", f);
                for (size_t i = 0; i < n; i++)
                        render_xlate(f, &x[i], kind);
        }
        fputs("\t}\n}\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
