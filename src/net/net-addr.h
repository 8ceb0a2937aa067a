/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4 address and CIDR math, IPAM, and the names kapsel gives its kernel objects. Pure code.
 * Addresses are uint32_t in host byte order throughout. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define IP4_STRLEN 16

typedef struct Cidr {
        uint32_t addr;          /* network address (host bits zero) */
        unsigned prefix;        /* 0..32 */
} Cidr;

static inline uint32_t ip4_mask(unsigned prefix) {
        return prefix == 0 ? 0 : ~UINT32_C(0) << (32 - prefix);
}

/* Strict dotted quad ("10.0.0.1"; no leading zeros, no shorthand). */
int ip4_parse(const char *s, uint32_t *ret);
/* Into a caller buffer of IP4_STRLEN; returns buf. */
const char *ip4_format(uint32_t ip, char buf[static IP4_STRLEN]);
bool ip4_is_loopback(uint32_t ip);

/* "a.b.c.d/n". Host bits set is an error (-EINVAL) naming the network address to use. */
int cidr_parse(const char *s, Cidr *ret, KError **err);
/* "10.88.0.0/16" into a caller buffer of at least 19 bytes. */
const char *cidr_format(const Cidr *c, char buf[static 19]);
bool cidr_contains(const Cidr *c, uint32_t ip);
bool cidr_overlaps(const Cidr *a, const Cidr *b);
static inline uint32_t cidr_broadcast(const Cidr *c) {
        return c->addr | ~ip4_mask(c->prefix);
}

/* The i-th candidate subnet for automatic choice (false when exhausted). The default network
 * tries 10.88.0.0/16 first; user networks take /24s of 10.89.0.0/16, then 10.90..10.99 /24s,
 * then 172.17..31 /16s. */
bool cidr_candidate(bool default_network, size_t i, Cidr *ret);

/* Lowest free host address of `subnet` that is not the network, broadcast or gateway address and
 * not in used[] (n). -ENOSPC when full. Subnets of /31 and /32 are refused by the caller. */
int ipam_pick(const Cidr *subnet, uint32_t gateway, const uint32_t *used, size_t n, uint32_t *ret);

/* Locally administered unicast MAC derived from the address: 02:4b:<ip bytes>. */
void mac_from_ip(uint32_t ip, char buf[static 18]);
/* "02:4b:0a:58:00:02" to its 6 bytes; -EINVAL unless exactly that form. */
int mac_parse(const char *s, uint8_t out[static 6]);
/* 32-bit FNV-1a of "a/b", for kernel object names that must be stable across crashes. */
uint32_t name_hash(const char *a, const char *b);
/* "kv" (veth) or "kt" (tap) + 8 hex of name_hash(instance_id, network). buf >= 16. */
void link_name(bool tap, const char *instance_id, const char *network, char buf[static 16]);
/* Whether `name` has the shape of one of our veth/tap names. */
bool link_name_is_ours(const char *name);
/* Valid network / instance names: [a-zA-Z0-9][a-zA-Z0-9_.-]* (max 64). */
bool net_name_valid(const char *name);
/* Valid Linux interface names we accept for bridges: 1..15 chars of [a-zA-Z0-9_.-]. */
bool ifname_valid(const char *name);
