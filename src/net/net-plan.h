/* SPDX-License-Identifier: Apache-2.0 */
/* The nftables rule set of `table ip kapsel`, computed purely from the state. nft.c turns it into
 * netlink messages; net_plan_render() prints it in nft syntax for tests and `kapsel-net-tool plan`.
 *
 * Chains (priorities as nft's dstnat/srcnat/filter):
 *   prerouting  nat hook prerouting -100   fib daddr type local -> jump ports   (from other machines)
 *   output      nat hook output -100       fib daddr type local -> jump ports   (from the host itself)
 *   ports       regular chain: one DNAT rule per mapped port, comment "instance <id>"
 *   postrouting nat hook postrouting 100   egress masquerade per non-internal network; masquerade of
 *                                          127.0.0.0/8 sources into a bridge (port maps on localhost,
 *                                          with route_localnet=1 on the bridge); hairpin
 *   forward     filter hook forward 0      per network: intra-bridge accept, replies and DNATed
 *                                          accept, everything else into the bridge dropped (this is
 *                                          what isolates two networks), egress accept unless internal */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net-addr.h"
#include "net-state.h"

#define NFT_TABLE "kapsel"

typedef enum NftVerdict {
        NFT_V_ACCEPT,
        NFT_V_DROP,
        NFT_V_JUMP,
        NFT_V_DNAT,
        NFT_V_MASQ,
} NftVerdict;

typedef struct NftChainDef {
        const char *name;
        const char *type;       /* "nat", "filter", or NULL for a regular chain */
        int hook;               /* NF_INET_* */
        int prio;
} NftChainDef;

extern const NftChainDef nft_chains[];
extern const size_t nft_n_chains;

/* One rule: the matches present are ANDed in the order of the fields. */
typedef struct NftRule {
        const char *chain;
        bool fib_local;                 /* fib daddr type local */
        char iif[16], oif[16];          /* "" = no match */
        bool iif_neg, oif_neg;
        bool has_saddr, has_daddr;
        Cidr saddr, daddr;
        uint8_t l4proto;                /* 0 = no match; then dport is matched too */
        uint16_t dport;
        bool ct_established;            /* ct state established,related */
        bool ct_dnat;                   /* ct status dnat */
        NftVerdict verdict;
        const char *jump;               /* NFT_V_JUMP */
        uint32_t nat_ip;                /* NFT_V_DNAT */
        uint16_t nat_port;
        char comment[96];
} NftRule;

/* A tap whose guest uses another address than its attachment (NetAttach.guest_ip): `table bridge
 * kapsel` (same name as the ip table) rewrites its frames at the bridge port, as Firecracker's
 * clones are given their own identity outside the guest. One rule of each kind per tap, kind by
 * kind in this order (drops of a chain before its rewrites: they judge a frame as it came):
 *
 *   prerouting  filter hook prerouting -300 (bridge), frames from the tap: all but IPv4 and ARP
 *               dropped (IPv6 would carry the snapshot's link-local address, a VLAN tag would hide
 *               the addresses); ether saddr := mac; ip saddr guest_ip := ip (checksums updated);
 *               ARP sender guest_ip := ip and its MAC := mac; ARP target guest_ip := ip (a
 *               gratuitous ARP announces the outside address)
 *   postrouting filter hook postrouting 300 (bridge), frames to the tap: those for the guest's own
 *               MAC, IPv4 or ARP target (another instance's, once the snapshot's source let it go)
 *               dropped; then ether daddr mac := guest MAC, ip daddr ip := guest_ip, ARP target
 *               ip := guest_ip and MAC := guest MAC. */
typedef struct NftXlate {
        char ifname[16];
        uint32_t ip, guest_ip;
        uint8_t mac[6], guest_mac[6];
} NftXlate;

typedef enum NftXlateKind {
        NFT_X_DROP_OTHER,       /* prerouting: from the tap */
        NFT_X_SET_SMAC,
        NFT_X_SET_SIP,
        NFT_X_SET_SARP,
        NFT_X_SET_GRATUITOUS,
        NFT_X_DROP_GMAC,        /* postrouting: to the tap */
        NFT_X_DROP_GIP,
        NFT_X_DROP_GARP,
        NFT_X_SET_DMAC,
        NFT_X_SET_DIP,
        NFT_X_SET_DARP,
        _NFT_X_MAX,
} NftXlateKind;

#define NFT_X_FROM_TAP(kind) ((kind) < NFT_X_DROP_GMAC)

/* The translations of `s`' attachments. *ret is a new array (NULL when none). */
int net_plan_xlates(const NetState *s, NftXlate **ret, size_t *ret_n);
/* `table bridge kapsel` in nft syntax, "" when n is 0; caller frees. */
char *net_plan_render_xlates(const NftXlate *x, size_t n);

/* Rules for the whole table from `s`. *ret is a new array. */
int net_plan_rules(const NetState *s, NftRule **ret, size_t *ret_n);
/* The table in nft syntax; caller frees. */
char *net_plan_render(const NftRule *rules, size_t n);
