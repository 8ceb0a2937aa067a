/* SPDX-License-Identifier: Apache-2.0 */
/* Apply a planned rule set (net-plan.h) to `table ip kapsel` (and `table bridge kapsel` while a
 * tap translates) with libnftnl, in one nfnetlink batch: add each table (so the delete cannot fail
 * on a missing one), delete it, add it again with its chains and rules. The kernel commits the
 * batch as one transaction, so the tables are always the old or the new rule set. Without
 * translations a second batch deletes the bridge table, ignoring a kernel that has no such family.
 * Nothing outside these tables is touched. */
#include "nft.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_bridge.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "string-util.h"

#define NFT_ANSWER_TIMEOUT_S 30

typedef struct Batch {
        const char *table;      /* the root's table (net_root_names) */
        uint16_t family;        /* of the table being filled: NFPROTO_IPV4 or NFPROTO_BRIDGE */
        struct mnl_nlmsg_batch *b;
        char *buf;
        uint32_t seq;
        size_t n_acked;         /* messages sent with NLM_F_ACK, each answered once */
        uint32_t begin_seq;     /* the batch's begin message */
        uint32_t bridge_seq;    /* the first message of the bridge table (0: none yet) */
} Batch;

static struct nlmsghdr *batch_hdr(Batch *bt, uint16_t type, uint16_t flags) {
        bt->n_acked++;
        return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(bt->b), type, bt->family, flags | NLM_F_ACK,
                                     bt->seq++);
}

static bool batch_next(Batch *bt) {
        return mnl_nlmsg_batch_next(bt->b);
}

static int add_table_msgs(Batch *bt, bool recreate) {
        struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                return -ENOMEM;
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, bt->family);
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, bt->table);
        static const uint16_t types[] = { NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE, NFT_MSG_NEWTABLE };
        for (size_t i = 0; i < (recreate ? 3u : 2u); i++) {
                struct nlmsghdr *nlh = batch_hdr(bt, types[i], types[i] == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
                nftnl_table_nlmsg_build_payload(nlh, t);
                if (!batch_next(bt)) {
                        nftnl_table_free(t);
                        return -ENOBUFS;
                }
        }
        nftnl_table_free(t);
        return 0;
}

static int add_chain_msg(Batch *bt, const NftChainDef *d) {
        struct nftnl_chain *c = nftnl_chain_alloc();
        if (!c)
                return -ENOMEM;
        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, bt->family);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, bt->table);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, d->name);
        if (d->type) {
                nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, d->type);
                nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t) d->hook);
                nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, d->prio);
                nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
        }
        struct nlmsghdr *nlh = batch_hdr(bt, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
        nftnl_chain_nlmsg_build_payload(nlh, c);
        nftnl_chain_free(c);
        return batch_next(bt) ? 0 : -ENOBUFS;
}

/* ---- expressions (see `nft --debug=netlink` for what nft itself emits) ---- */

static struct nftnl_expr *expr_new(struct nftnl_rule *r, const char *name) {
        struct nftnl_expr *e = nftnl_expr_alloc(name);
        if (e)
                nftnl_rule_add_expr(r, e);
        return e;
}

#define EXPR(r, name)                                   \
        ({                                              \
                struct nftnl_expr *_e = expr_new(r, name); \
                if (!_e)                                \
                        return -ENOMEM;                 \
                _e;                                     \
        })

static int expr_cmp(struct nftnl_rule *r, enum nft_cmp_ops op, const void *data, uint32_t len) {
        struct nftnl_expr *e = EXPR(r, "cmp");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
        return 0;
}

static int expr_meta(struct nftnl_rule *r, enum nft_meta_keys key) {
        struct nftnl_expr *e = EXPR(r, "meta");
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
        return 0;
}

static int expr_payload(struct nftnl_rule *r, enum nft_payload_bases base, uint32_t offset, uint32_t len) {
        struct nftnl_expr *e = EXPR(r, "payload");
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        return 0;
}

static int expr_mask(struct nftnl_rule *r, const void *mask, uint32_t len) {
        static const uint8_t zero[16];
        struct nftnl_expr *e = EXPR(r, "bitwise");
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
        return 0;
}

static int match_ifname(struct nftnl_rule *r, enum nft_meta_keys key, const char *name, bool neg) {
        char buf[16] = {};
        strncpy(buf, name, sizeof(buf) - 1);
        int k = expr_meta(r, key);
        return k < 0 ? k : expr_cmp(r, neg ? NFT_CMP_NEQ : NFT_CMP_EQ, buf, sizeof(buf));
}

/* ip saddr/daddr within a prefix: payload, mask (unless /32), compare. */
static int match_addr(struct nftnl_rule *r, uint32_t offset, const Cidr *c) {
        uint32_t mask = htonl(ip4_mask(c->prefix)), addr = htonl(c->addr);
        int k = expr_payload(r, NFT_PAYLOAD_NETWORK_HEADER, offset, 4);
        if (k >= 0 && c->prefix < 32)
                k = expr_mask(r, &mask, 4);
        return k < 0 ? k : expr_cmp(r, NFT_CMP_EQ, &addr, 4);
}

/* ct <key> & bits != 0 */
static int match_ct_bits(struct nftnl_rule *r, enum nft_ct_keys key, uint32_t bits) {
        struct nftnl_expr *e = EXPR(r, "ct");
        uint32_t zero = 0;
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
        int k = expr_mask(r, &bits, 4);
        return k < 0 ? k : expr_cmp(r, NFT_CMP_NEQ, &zero, 4);
}

static int match_fib_local(struct nftnl_rule *r) {
        struct nftnl_expr *e = EXPR(r, "fib");
        uint32_t local = RTN_LOCAL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
        nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
        nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
        return expr_cmp(r, NFT_CMP_EQ, &local, 4);
}

static int match_port(struct nftnl_rule *r, uint8_t proto, uint16_t port) {
        uint16_t p = htons(port);
        int k = expr_meta(r, NFT_META_L4PROTO);
        if (k >= 0)
                k = expr_cmp(r, NFT_CMP_EQ, &proto, 1);
        if (k >= 0)
                k = expr_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
        return k < 0 ? k : expr_cmp(r, NFT_CMP_EQ, &p, 2);
}

static int expr_immediate(struct nftnl_rule *r, enum nft_registers reg, const void *data, uint32_t len) {
        struct nftnl_expr *e = EXPR(r, "immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
        nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
        return 0;
}

static int add_verdict(struct nftnl_rule *r, const NftRule *p) {
        static const int codes[] = { [NFT_V_ACCEPT] = NF_ACCEPT, [NFT_V_DROP] = NF_DROP, [NFT_V_JUMP] = NFT_JUMP };
        if (p->verdict == NFT_V_MASQ)
                return EXPR(r, "masq") ? 0 : -ENOMEM;
        if (p->verdict == NFT_V_DNAT) {
                uint32_t ip = htonl(p->nat_ip);
                uint16_t port = htons(p->nat_port);
                int k = expr_immediate(r, NFT_REG_1, &ip, 4);
                if (k >= 0)
                        k = expr_immediate(r, NFT_REG_2, &port, 2);
                if (k < 0)
                        return k;
                struct nftnl_expr *e = EXPR(r, "nat");
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                return 0;
        }
        struct nftnl_expr *e = EXPR(r, "immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t) codes[p->verdict]);
        if (p->verdict == NFT_V_JUMP)
                nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, p->jump);
        return 0;
}

static int build_rule(struct nftnl_rule *r, const NftRule *p) {
        int k = 0;
        if (p->fib_local)
                k = match_fib_local(r);
        if (k >= 0 && p->iif[0])
                k = match_ifname(r, NFT_META_IIFNAME, p->iif, p->iif_neg);
        if (k >= 0 && p->oif[0])
                k = match_ifname(r, NFT_META_OIFNAME, p->oif, p->oif_neg);
        if (k >= 0 && p->has_saddr && p->saddr.prefix > 0)
                k = match_addr(r, 12, &p->saddr);
        if (k >= 0 && p->has_daddr && p->daddr.prefix > 0)
                k = match_addr(r, 16, &p->daddr);
        if (k >= 0 && p->l4proto)
                k = match_port(r, p->l4proto, p->dport);
        if (k >= 0 && p->ct_established)
                k = match_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
        if (k >= 0 && p->ct_dnat)
                k = match_ct_bits(r, NFT_CT_STATUS, IPS_DST_NAT);
        return k < 0 ? k : add_verdict(r, p);
}

static struct nftnl_rule *rule_new(Batch *bt, const char *chain) {
        struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                return NULL;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, bt->family);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, bt->table);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
        return r;
}

static int rule_msg(Batch *bt, struct nftnl_rule *r) {
        struct nlmsghdr *nlh = batch_hdr(bt, NFT_MSG_NEWRULE, NLM_F_APPEND | NLM_F_CREATE);
        nftnl_rule_nlmsg_build_payload(nlh, r);
        return batch_next(bt) ? 0 : -ENOBUFS;
}

static int add_rule_msg(Batch *bt, const NftRule *p) {
        struct nftnl_rule *r = rule_new(bt, p->chain);
        if (!r)
                return -ENOMEM;
        int k = build_rule(r, p);
        if (k >= 0 && p->comment[0]) {
                struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
                if (!u || !nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, p->comment))
                        k = -ENOMEM;
                else
                        nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u));
                nftnl_udata_buf_free(u);
        }
        if (k >= 0)
                k = rule_msg(bt, r);
        nftnl_rule_free(r);
        return k;
}

static int batch_error(const Batch *bt, int error, uint32_t seq, KError **err) {
        bool bridge = bt->bridge_seq && seq >= bt->bridge_seq;
        /* the kernel finds the bridge family's meta expression in a module of its own, which it
         * loads on demand through modprobe */
        if (bridge && error == -ENOENT)
                return kerr_msg(err, KERR_HOST, error, "nftables table bridge %s (message %u): %s: this kernel has no "
                                "nf_tables bridge support for the tap of a resumed VM (modprobe nft_meta_bridge; "
                                "or a kernel built with CONFIG_NF_TABLES_BRIDGE)", bt->table, seq, strerror(-error));
        return kerr(err, error, "nftables table %s %s (message %u)", bridge ? "bridge" : "ip", bt->table, seq);
}

/* Send the batch and read one answer per acked message; the first error wins. */
static int batch_send(Batch *bt, KError **err) {
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!nl)
                return kerr(err, -errno, "open nfnetlink socket");
        int r = 0;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = kerr(err, -errno, "bind nfnetlink socket");
                goto out;
        }
        int sz = (int) mnl_nlmsg_batch_size(bt->b) * 2;
        (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
        if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(bt->b), mnl_nlmsg_batch_size(bt->b)) < 0) {
                r = kerr(err, -errno, "send nftables batch");
                goto out;
        }
        uint32_t portid = mnl_socket_get_portid(nl);
        /* the kernel answers at once; a bound keeps a lost answer from hanging the caller */
        struct timeval tv = { .tv_sec = NFT_ANSWER_TIMEOUT_S };
        (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char buf[32768];
        size_t answered = 0;
        bool whole = false;     /* the batch was refused as a whole: one answer, to its begin message */
        while (answered < bt->n_acked && !whole) {
                ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                if (len < 0) {
                        r = errno == EAGAIN ? kerr(err, -ETIMEDOUT, "no answer from nftables in %d s",
                                                   NFT_ANSWER_TIMEOUT_S)
                                            : kerr(err, -errno, "read nftables answer");
                        break;
                }
                for (struct nlmsghdr *h = (struct nlmsghdr *) buf; mnl_nlmsg_ok(h, (int) len);
                     h = mnl_nlmsg_next(h, (int *) &len)) {
                        if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_pid != portid)
                                continue;
                        answered++;
                        const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
                        whole = whole || e->msg.nlmsg_seq == bt->begin_seq;
                        if (e->error < 0 && r >= 0)
                                r = batch_error(bt, e->error, e->msg.nlmsg_seq, err);
                }
        }
out:
        mnl_socket_close(nl);
        return r;
}

/* ---- table bridge: translated taps (net-plan.h NftXlate) ---- */

static const NftChainDef bridge_chains[] = {
        { "prerouting", "filter", NF_BR_PRE_ROUTING, -300 },
        { "postrouting", "filter", NF_BR_POST_ROUTING, 300 },
};

/* payload write of register 1; IPv4 addresses fix the header checksum and the L4 pseudo-header's */
static int expr_payload_write(struct nftnl_rule *r, enum nft_payload_bases base, uint32_t offset, uint32_t len,
                              bool inet_csum) {
        struct nftnl_expr *e = EXPR(r, "payload");
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        if (inet_csum) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_CSUM_TYPE, NFT_PAYLOAD_CSUM_INET);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_CSUM_OFFSET, 10);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_FLAGS, NFT_PAYLOAD_L4CSUM_PSEUDOHDR);
        }
        return 0;
}

/* set a field to `data`: immediate into register 1, then write it */
static int set_field(struct nftnl_rule *r, enum nft_payload_bases base, uint32_t offset, const void *data,
                     uint32_t len, bool inet_csum) {
        int k = expr_immediate(r, NFT_REG_1, data, len);
        return k < 0 ? k : expr_payload_write(r, base, offset, len, inet_csum);
}

static int match_field(struct nftnl_rule *r, enum nft_payload_bases base, uint32_t offset, const void *data,
                       uint32_t len) {
        int k = expr_payload(r, base, offset, len);
        return k < 0 ? k : expr_cmp(r, NFT_CMP_EQ, data, len);
}

static int match_ethertype(struct nftnl_rule *r, uint16_t type) {
        uint16_t t = htons(type);
        return match_field(r, NFT_PAYLOAD_LL_HEADER, 12, &t, 2);
}

/* Offsets: Ethernet daddr 0, saddr 6; IPv4 saddr 12, daddr 16; ARP (Ethernet/IPv4) sender MAC 8,
 * sender IP 14, target MAC 18, target IP 24. */
enum { ETH_D = 0, ETH_S = 6, IP_S = 12, IP_D = 16, ARP_SHA = 8, ARP_SPA = 14, ARP_THA = 18, ARP_TPA = 24 };

/* ether type `type` and the IPv4 address at network header + `offset` is `from` (network order):
 * make it `to`; in an IPv4 header with its checksums */
static int rewrite_addr(struct nftnl_rule *r, uint16_t type, uint32_t offset, uint32_t from, uint32_t to) {
        int k = match_ethertype(r, type);
        if (k >= 0)
                k = match_field(r, NFT_PAYLOAD_NETWORK_HEADER, offset, &from, 4);
        return k < 0 ? k : set_field(r, NFT_PAYLOAD_NETWORK_HEADER, offset, &to, 4, type == ETH_P_IP);
}

static int build_xlate(struct nftnl_rule *r, const NftXlate *x, NftXlateKind kind) {
        uint32_t ip = htonl(x->ip), gip = htonl(x->guest_ip);
        int k = match_ifname(r, NFT_X_FROM_TAP(kind) ? NFT_META_IIFNAME : NFT_META_OIFNAME, x->ifname, false);
        if (k < 0)
                return k;
        switch (kind) {
        case NFT_X_DROP_OTHER: {
                uint16_t v4 = htons(ETH_P_IP), arp = htons(ETH_P_ARP);
                k = expr_payload(r, NFT_PAYLOAD_LL_HEADER, 12, 2);
                if (k >= 0)
                        k = expr_cmp(r, NFT_CMP_NEQ, &v4, 2);
                if (k >= 0)
                        k = expr_cmp(r, NFT_CMP_NEQ, &arp, 2);
                break;
        }
        case NFT_X_SET_SMAC:
                return set_field(r, NFT_PAYLOAD_LL_HEADER, ETH_S, x->mac, 6, false);
        case NFT_X_SET_SIP:
                return rewrite_addr(r, ETH_P_IP, IP_S, gip, ip);
        case NFT_X_SET_SARP:
                k = rewrite_addr(r, ETH_P_ARP, ARP_SPA, gip, ip);
                return k < 0 ? k : set_field(r, NFT_PAYLOAD_NETWORK_HEADER, ARP_SHA, x->mac, 6, false);
        case NFT_X_SET_GRATUITOUS:
                return rewrite_addr(r, ETH_P_ARP, ARP_TPA, gip, ip);
        case NFT_X_DROP_GMAC:
                k = match_field(r, NFT_PAYLOAD_LL_HEADER, ETH_D, x->guest_mac, 6);
                break;
        case NFT_X_DROP_GIP:
        case NFT_X_DROP_GARP:
                k = match_ethertype(r, kind == NFT_X_DROP_GIP ? ETH_P_IP : ETH_P_ARP);
                if (k >= 0)
                        k = match_field(r, NFT_PAYLOAD_NETWORK_HEADER, kind == NFT_X_DROP_GIP ? IP_D : ARP_TPA, &gip,
                                        4);
                break;
        case NFT_X_SET_DMAC:
                k = match_field(r, NFT_PAYLOAD_LL_HEADER, ETH_D, x->mac, 6);
                return k < 0 ? k : set_field(r, NFT_PAYLOAD_LL_HEADER, ETH_D, x->guest_mac, 6, false);
        case NFT_X_SET_DIP:
                return rewrite_addr(r, ETH_P_IP, IP_D, ip, gip);
        case NFT_X_SET_DARP:
                k = rewrite_addr(r, ETH_P_ARP, ARP_TPA, ip, gip);
                return k < 0 ? k : set_field(r, NFT_PAYLOAD_NETWORK_HEADER, ARP_THA, x->guest_mac, 6, false);
        default:
                return -EINVAL;
        }
        if (k < 0)
                return k;
        NftRule drop = { .verdict = NFT_V_DROP };
        return add_verdict(r, &drop);
}

/* Kind by kind, as net_plan_render_xlates() prints them (net-plan.h). */
static int add_xlate_msgs(Batch *bt, const NftXlate *x, size_t n) {
        int r = 0;
        for (NftXlateKind kind = 0; r >= 0 && kind < _NFT_X_MAX; kind++)
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        struct nftnl_rule *rule = rule_new(bt, NFT_X_FROM_TAP(kind) ? "prerouting" : "postrouting");
                        if (!rule)
                                return -ENOMEM;
                        r = build_xlate(rule, &x[i], kind);
                        if (r >= 0)
                                r = rule_msg(bt, rule);
                        nftnl_rule_free(rule);
                }
        return r;
}

/* ---- batches ---- */

typedef struct Plan {
        const NftRule *rules;
        size_t n_rules;
        const NftXlate *xlates;
        size_t n_xlates;
} Plan;

static int batch_run(const char *table, const Plan *p, int (*fill)(Batch *, const Plan *), KError **err) {
        size_t size = (p->n_rules + 10 * p->n_xlates + 16) * 1024;
        Batch bt = { .table = table, .family = NFPROTO_IPV4, .buf = malloc(size), .seq = 1 };
        if (!bt.buf)
                return -ENOMEM;
        bt.b = mnl_nlmsg_batch_start(bt.buf, size);
        bt.begin_seq = bt.seq;
        nftnl_batch_begin(mnl_nlmsg_batch_current(bt.b), bt.seq++);
        mnl_nlmsg_batch_next(bt.b);
        int r = fill(&bt, p);
        if (r >= 0) {
                nftnl_batch_end(mnl_nlmsg_batch_current(bt.b), bt.seq++);
                mnl_nlmsg_batch_next(bt.b);
                r = batch_send(&bt, err);
        } else
                r = kerr(err, r, "build nftables batch");
        mnl_nlmsg_batch_stop(bt.b);
        free(bt.buf);
        return r;
}

static int fill_apply(Batch *bt, const Plan *p) {
        bt->family = NFPROTO_IPV4;
        int r = add_table_msgs(bt, true);
        for (size_t i = 0; r >= 0 && i < nft_n_chains; i++)
                r = add_chain_msg(bt, &nft_chains[i]);
        for (size_t i = 0; r >= 0 && i < p->n_rules; i++)
                r = add_rule_msg(bt, &p->rules[i]);
        if (r < 0 || p->n_xlates == 0)
                return r;
        /* in the same transaction: a clone's tap never passes frames untranslated */
        bt->family = NFPROTO_BRIDGE;
        bt->bridge_seq = bt->seq;
        r = add_table_msgs(bt, true);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(bridge_chains); i++)
                r = add_chain_msg(bt, &bridge_chains[i]);
        return r < 0 ? r : add_xlate_msgs(bt, p->xlates, p->n_xlates);
}

static int fill_delete(Batch *bt, const Plan *p) {
        return add_table_msgs(bt, false);
}

/* DELTABLE alone: where there is no table the batch fails and commits nothing (no new generation
 * of the rule set for other nftables users to see) */
static int fill_delete_bridge(Batch *bt, const Plan *p) {
        bt->family = NFPROTO_BRIDGE;
        bt->bridge_seq = bt->seq;
        struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                return -ENOMEM;
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, bt->family);
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, bt->table);
        nftnl_table_nlmsg_build_payload(batch_hdr(bt, NFT_MSG_DELTABLE, 0), t);
        nftnl_table_free(t);
        return batch_next(bt) ? 0 : -ENOBUFS;
}

/* The bridge table goes when no tap translates any more. A batch of its own, whose failure does not
 * matter: mostly there is no such table (or no bridge family in the kernel). */
static void delete_bridge_table(const char *table) {
        Plan none = {};
        (void) batch_run(table, &none, fill_delete_bridge, NULL);
}

int nft_apply(const char *table, const NftRule *rules, size_t n, const NftXlate *xlates, size_t n_xlates,
              KError **err) {
        Plan p = { .rules = rules, .n_rules = n, .xlates = xlates, .n_xlates = n_xlates };
        int r = batch_run(table, &p, fill_apply, err);
        if (r >= 0 && n_xlates == 0)
                delete_bridge_table(table);
        return r;
}

int nft_delete_table(const char *table, KError **err) {
        Plan none = {};
        int r = batch_run(table, &none, fill_delete, err);
        delete_bridge_table(table);
        return r;
}
