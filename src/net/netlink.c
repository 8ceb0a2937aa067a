/* SPDX-License-Identifier: Apache-2.0 */
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/ethernet.h>
#include <netinet/ether.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "fd-util.h"
#include "string-util.h"

/* libmnl's MNL_SOCKET_BUFFER_SIZE is a runtime value (a VLA); these are fixed. */
#define RTNL_MSG_SIZE 4096
#define RTNL_RECV_SIZE 32768

struct Rtnl {
        struct mnl_socket *sock;
        uint32_t portid;
        uint32_t seq;
};

int rtnl_open(Rtnl **ret) {
        Rtnl *nl = calloc(1, sizeof(*nl));
        if (!nl)
                return -ENOMEM;
        nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = -errno;
                rtnl_close(nl);
                return r;
        }
        nl->portid = mnl_socket_get_portid(nl->sock);
        nl->seq = (uint32_t) time(NULL);
        *ret = nl;
        return 0;
}

/* setns() affects only the calling thread; the socket keeps the namespace it was made in. */
int rtnl_open_in(const char *netns_path, Rtnl **ret) {
        _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int target = open(netns_path, O_RDONLY | O_CLOEXEC);
        if (self < 0 || target < 0)
                return -errno;
        if (setns(target, CLONE_NEWNET) < 0)
                return -errno;
        int r = rtnl_open(ret);
        if (setns(self, CLONE_NEWNET) < 0)
                abort();        /* a thread stuck in the wrong netns would configure the wrong host */
        return r;
}

void rtnl_close(Rtnl *nl) {
        if (!nl)
                return;
        if (nl->sock)
                mnl_socket_close(nl->sock);
        free(nl);
}

/* Run one request; dump callbacks get each answer. Returns the kernel's error, or 0. */
static int rtnl_talk(Rtnl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data) {
        nlh->nlmsg_seq = ++nl->seq;
        nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        char buf[RTNL_RECV_SIZE];
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
                if (n < 0)
                        return -errno;
                int r = mnl_cb_run(buf, (size_t) n, nl->seq, nl->portid, cb, data);
                if (r < 0)
                        return -errno;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, int index) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = flags;
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = index;
        return nlh;
}

static int index_cb(const struct nlmsghdr *nlh, void *data) {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        *(int *) data = ifi->ifi_index;
        return MNL_CB_OK;
}

int rtnl_link_index(Rtnl *nl, const char *name) {
        char buf[RTNL_MSG_SIZE];
        struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        int index = 0;
        int r = rtnl_talk(nl, nlh, index_cb, &index);
        if (r < 0)
                return r;
        return index > 0 ? index : -ENODEV;
}

int rtnl_bridge_add(Rtnl *nl, const char *name) {
        char buf[RTNL_MSG_SIZE];
        struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
        mnl_attr_nest_end(nlh, li);
        return rtnl_talk(nl, nlh, NULL, NULL);
}

int rtnl_veth_add(Rtnl *nl, const char *host, const char *peer, int peer_ns_fd, const char *peer_mac) {
        char buf[RTNL_MSG_SIZE];
        struct ether_addr mac;
        if (!ether_aton_r(peer_mac, &mac))
                return -EINVAL;
        struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, host);
        struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
        struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        struct nlattr *p = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
        mnl_attr_put(nlh, IFLA_ADDRESS, ETH_ALEN, &mac);
        mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t) peer_ns_fd);
        mnl_attr_nest_end(nlh, p);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, li);
        return rtnl_talk(nl, nlh, NULL, NULL);
}

int rtnl_link_up(Rtnl *nl, const char *name, int master) {
        char buf[RTNL_MSG_SIZE];
        struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, 0);
        struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        if (master > 0)
                mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t) master);
        return rtnl_talk(nl, nlh, NULL, NULL);
}

int rtnl_link_del(Rtnl *nl, const char *name) {
        char buf[RTNL_MSG_SIZE];
        struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        return rtnl_talk(nl, nlh, NULL, NULL);
}

int rtnl_addr_add(Rtnl *nl, int ifindex, uint32_t ip, unsigned prefix) {
        char buf[RTNL_MSG_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_NEWADDR;
        nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = AF_INET;
        ifa->ifa_prefixlen = (unsigned char) prefix;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = (unsigned) ifindex;
        uint32_t a = htonl(ip), bcast = htonl(ip | ~ip4_mask(prefix));
        mnl_attr_put_u32(nlh, IFA_LOCAL, a);
        mnl_attr_put_u32(nlh, IFA_ADDRESS, a);
        if (prefix < 31)
                mnl_attr_put_u32(nlh, IFA_BROADCAST, bcast);
        return rtnl_talk(nl, nlh, NULL, NULL);
}

int rtnl_route_default(Rtnl *nl, uint32_t gw) {
        char buf[RTNL_MSG_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_NEWROUTE;
        nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
        struct rtmsg *rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
        rt->rtm_family = AF_INET;
        rt->rtm_table = RT_TABLE_MAIN;
        rt->rtm_protocol = RTPROT_BOOT;
        rt->rtm_scope = RT_SCOPE_UNIVERSE;
        rt->rtm_type = RTN_UNICAST;
        mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gw));
        return rtnl_talk(nl, nlh, NULL, NULL);
}

/* ---- dumps ---- */

typedef struct Vec {
        void *v;
        size_t n, size;
        int error;
} Vec;

static void *vec_push(Vec *vec) {
        void *v = reallocarray(vec->v, vec->n + 1, vec->size);
        if (!v) {
                vec->error = -ENOMEM;
                return NULL;
        }
        vec->v = v;
        return memset((char *) v + vec->n++ * vec->size, 0, vec->size);
}

/* Hand the collected array over on success (r >= 0 and no allocation failure), free it otherwise. */
static int vec_take(Vec *vec, int r, void **ret, size_t *ret_n) {
        if (r >= 0)
                r = vec->error;
        if (r < 0) {
                free(vec->v);
                return r;
        }
        *ret = vec->v;
        *ret_n = vec->n;
        return 0;
}

static int link_attr_cb(const struct nlattr *a, void *data) {
        RtnlLink *l = data;
        if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
                snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(a));
        if (mnl_attr_get_type(a) == IFLA_LINKINFO) {
                struct nlattr *i;
                mnl_attr_for_each_nested(i, a)
                        if (mnl_attr_get_type(i) == IFLA_INFO_KIND && mnl_attr_validate(i, MNL_TYPE_STRING) >= 0)
                                snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(i));
        }
        return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data) {
        RtnlLink *l = vec_push(data);
        if (l)
                mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr_cb, l);
        return MNL_CB_OK;
}

int rtnl_link_list(Rtnl *nl, RtnlLink **ret, size_t *ret_n) {
        char buf[RTNL_MSG_SIZE];
        struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, NLM_F_DUMP, 0);
        Vec vec = { .size = sizeof(RtnlLink) };
        int r = rtnl_talk(nl, nlh, link_cb, &vec);
        return vec_take(&vec, r, (void **) ret, ret_n);
}

typedef struct PrefixAttr {
        uint32_t addr;
        bool has;
        uint32_t table;
} PrefixAttr;

static int prefix_attr_cb(const struct nlattr *a, void *data) {
        PrefixAttr *p = data;
        uint16_t t = mnl_attr_get_type(a);
        bool is_addr = t == RTA_DST;    /* == IFA_ADDRESS (1) for address messages */
        if (is_addr && mnl_attr_validate(a, MNL_TYPE_U32) >= 0) {
                p->addr = ntohl(mnl_attr_get_u32(a));
                p->has = true;
        }
        return MNL_CB_OK;
}

static int prefix_cb(const struct nlmsghdr *nlh, void *data) {
        PrefixAttr pa = {};
        unsigned prefix;
        if (nlh->nlmsg_type == RTM_NEWROUTE) {
                const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
                if (rt->rtm_table != RT_TABLE_MAIN || rt->rtm_dst_len == 0)
                        return MNL_CB_OK;
                prefix = rt->rtm_dst_len;
                mnl_attr_parse(nlh, sizeof(*rt), prefix_attr_cb, &pa);
        } else {
                const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
                prefix = ifa->ifa_prefixlen;
                mnl_attr_parse(nlh, sizeof(*ifa), prefix_attr_cb, &pa);
        }
        Cidr *c = pa.has ? vec_push(data) : NULL;
        if (c)
                *c = (Cidr) { pa.addr & ip4_mask(prefix), prefix };
        return MNL_CB_OK;
}

int rtnl_host_prefixes(Rtnl *nl, Cidr **ret, size_t *ret_n) {
        static const uint16_t types[] = { RTM_GETROUTE, RTM_GETADDR };
        Vec vec = { .size = sizeof(Cidr) };
        int r = 0;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(types); i++) {
                char buf[RTNL_MSG_SIZE];
                struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
                nlh->nlmsg_type = types[i];
                nlh->nlmsg_flags = NLM_F_DUMP;
                struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(struct rtmsg));
                g->rtgen_family = AF_INET;
                r = rtnl_talk(nl, nlh, prefix_cb, &vec);
        }
        return vec_take(&vec, r, (void **) ret, ret_n);
}

/* ---- tap, sysctl ---- */

int tap_create(const char *name, uid_t owner) {
        _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct ifreq ifr = {};
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;
        if (ioctl(fd, TUNSETOWNER, (unsigned long) owner) < 0 || ioctl(fd, TUNSETPERSIST, 1UL) < 0)
                return -errno;
        return 0;
}

int net_sysctl_write(const char *path, const char *value) {
        char full[256];
        if (snprintf(full, sizeof(full), "/proc/sys/net/%s", path) >= (int) sizeof(full))
                return -ENAMETOOLONG;
        return write_string_file_at(AT_FDCWD, full, value);
}
