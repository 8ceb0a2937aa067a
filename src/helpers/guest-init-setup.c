/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-guest-init: the config's mounts (tmpfs, volume disks) and the network (lo, eth0 with an
 * address, MTU and default route through the classic SIOC* ioctls: no netlink code needed). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest-init.h"
#include "string-util.h"

/* mount(8)-style option words that are flags; anything else goes to the filesystem as data. */
static const struct {
        const char *name;
        unsigned long set, clear;
} mount_flags[] = {
        { "ro", MS_RDONLY, 0 },          { "rw", 0, MS_RDONLY },       { "nosuid", MS_NOSUID, 0 },
        { "suid", 0, MS_NOSUID },        { "nodev", MS_NODEV, 0 },     { "dev", 0, MS_NODEV },
        { "noexec", MS_NOEXEC, 0 },      { "exec", 0, MS_NOEXEC },     { "noatime", MS_NOATIME, 0 },
        { "relatime", MS_RELATIME, 0 },  { "strictatime", MS_STRICTATIME, 0 },
        { "nodiratime", MS_NODIRATIME, 0 }, { "sync", MS_SYNCHRONOUS, 0 },
};

static void parse_mount_options(json_t *opts, unsigned long *flags, char *data, size_t size) {
        size_t i, used = 0;
        json_t *o;
        *flags = 0;
        data[0] = 0;
        json_array_foreach(opts, i, o) {
                const char *s = json_string_value(o);
                if (!s)
                        guest_fail(125, "config: mount options must be strings");
                size_t k;
                for (k = 0; k < ELEMENTSOF(mount_flags) && !streq(mount_flags[k].name, s); k++)
                        ;
                if (k < ELEMENTSOF(mount_flags)) {
                        *flags = (*flags | mount_flags[k].set) & ~mount_flags[k].clear;
                        continue;
                }
                int n = snprintf(data + used, size - used, "%s%s", used ? "," : "", s);
                if (n < 0 || (size_t) n >= size - used)
                        guest_fail(125, "config: mount options too long");
                used += (size_t) n;
        }
}

static void mount_tmpfs(int rootfd, json_t *m) {
        const char *dst = json_string_value(json_object_get(m, "destination"));
        const char *type = json_string_value(json_object_get(m, "type"));
        if (!dst || !type || !streq(type, "tmpfs"))
                guest_fail(125, "config: mounts must be tmpfs with a destination");
        unsigned long flags;
        char data[1024];
        parse_mount_options(json_object_get(m, "options"), &flags, data, sizeof(data));
        guest_mount_in_root(rootfd, "tmpfs", dst, "tmpfs", flags, data);
}

static bool volume_device_valid(const char *d) {
        /* vda..vdc are the root, writable and config disks */
        return d && strlen(d) == 3 && startswith(d, "vd") && d[2] >= 'd' && d[2] <= 'z';
}

static void mount_volume(int rootfd, json_t *v) {
        const char *dev = json_string_value(json_object_get(v, "device"));
        const char *dst = json_string_value(json_object_get(v, "destination"));
        bool ro = json_is_true(json_object_get(v, "readonly"));
        if (!volume_device_valid(dev) || !dst)
                guest_fail(125, "config: a volume needs a device vdd..vdz and a destination");
        char path[16];
        snprintf(path, sizeof(path), "/dev/%s", dev);
        guest_wait_for(path);
        guest_mount_in_root(rootfd, path, dst, "ext4", MS_NODEV | (ro ? MS_RDONLY : 0),
                            ro ? NULL : "noinit_itable");
}

void guest_mount_config(int rootfd, json_t *cfg) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(cfg, "mounts"), i, m)
                mount_tmpfs(rootfd, m);
        json_array_foreach(json_object_get(cfg, "volumes"), i, m)
                mount_volume(rootfd, m);
}

/* ---- network ---- */

static void ifreq_for(struct ifreq *ifr, const char *name) {
        memset(ifr, 0, sizeof(*ifr));
        snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
}

static void link_up(int sock, const char *name) {
        struct ifreq ifr;
        ifreq_for(&ifr, name);
        if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
                guest_fail(125, "interface %s: %s", name, strerror(errno));
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
                guest_fail(125, "bring %s up: %s", name, strerror(errno));
}

static void set_in_addr(struct sockaddr *sa, struct in_addr a) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = a };
        memcpy(sa, &sin, sizeof(sin));
}

/* "10.88.0.2/16" -> address and netmask */
static void parse_cidr(const char *cidr, struct in_addr *addr, struct in_addr *mask) {
        char buf[INET_ADDRSTRLEN + 4];
        snprintf(buf, sizeof(buf), "%s", cidr);
        char *slash = strchr(buf, '/');
        char *end = NULL;
        long len = slash ? strtol(slash + 1, &end, 10) : -1;
        if (!slash || !end || *end || len < 0 || len > 32)
                guest_fail(125, "config: bad address %s (want a.b.c.d/len)", cidr);
        *slash = 0;
        if (inet_pton(AF_INET, buf, addr) != 1)
                guest_fail(125, "config: bad address %s", cidr);
        mask->s_addr = htonl(len == 0 ? 0 : 0xffffffffu << (32 - len));
}

static void add_default_route(int sock, const char *ifname, const char *gateway) {
        struct in_addr gw, any = { 0 };
        if (inet_pton(AF_INET, gateway, &gw) != 1)
                guest_fail(125, "config: bad gateway %s", gateway);
        struct rtentry rt = { .rt_flags = RTF_UP | RTF_GATEWAY, .rt_dev = (char *) ifname };
        set_in_addr(&rt.rt_dst, any);
        set_in_addr(&rt.rt_genmask, any);
        set_in_addr(&rt.rt_gateway, gw);
        if (ioctl(sock, SIOCADDRT, &rt) < 0)
                guest_fail(125, "default route via %s: %s", gateway, strerror(errno));
}

static void configure_interface(int sock, json_t *net) {
        const char *name = json_string_value(json_object_get(net, "interface"));
        const char *cidr = json_string_value(json_object_get(net, "address"));
        const char *gateway = json_string_value(json_object_get(net, "gateway"));
        json_int_t mtu = json_integer_value(json_object_get(net, "mtu"));
        if (!name || strlen(name) >= IFNAMSIZ || strchr(name, '/') || !cidr)
                guest_fail(125, "config: network needs an interface and an address");
        char sys[64];
        snprintf(sys, sizeof(sys), "/sys/class/net/%s", name);
        guest_wait_for(sys);
        struct in_addr addr, mask;
        parse_cidr(cidr, &addr, &mask);
        struct ifreq ifr;
        ifreq_for(&ifr, name);
        set_in_addr(&ifr.ifr_addr, addr);
        if (ioctl(sock, SIOCSIFADDR, &ifr) < 0)
                guest_fail(125, "address %s on %s: %s", cidr, name, strerror(errno));
        set_in_addr(&ifr.ifr_netmask, mask);
        if (ioctl(sock, SIOCSIFNETMASK, &ifr) < 0)
                guest_fail(125, "netmask of %s: %s", name, strerror(errno));
        if (mtu > 0) {
                ifr.ifr_mtu = (int) mtu;
                if (ioctl(sock, SIOCSIFMTU, &ifr) < 0)
                        guest_fail(125, "mtu %d on %s: %s", (int) mtu, name, strerror(errno));
        }
        link_up(sock, name);
        if (gateway)
                add_default_route(sock, name, gateway);
}

void guest_network(json_t *net) {
        int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
                guest_fail(125, "socket: %s", strerror(errno));
        link_up(sock, "lo");
        if (json_is_object(net))
                configure_interface(sock, net);
        close(sock);
}
