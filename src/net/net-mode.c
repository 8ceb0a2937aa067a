/* SPDX-License-Identifier: Apache-2.0 */
/* --network modes, and namespaces for --network none. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "net-addr.h"
#include "net.h"
#include "netlink.h"
#include "string-util.h"

void net_mode_done(NetMode *m) {
        free(m->network);
        free(m->container);
        *m = (NetMode) {};
}

int net_mode_parse(const char *s, NetMode *ret, KError **err) {
        static const struct {
                const char *word;
                NetModeKind kind;
        } fixed[] = {
                { "", NET_MODE_BRIDGE }, { "bridge", NET_MODE_BRIDGE }, { "default", NET_MODE_BRIDGE },
                { "host", NET_MODE_HOST }, { "none", NET_MODE_NONE },
        };
        NetMode m = {};
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                if (streq(s, fixed[i].word)) {
                        m.kind = fixed[i].kind;
                        if (m.kind == NET_MODE_BRIDGE && !(m.network = strdup(NET_DEFAULT_NETWORK)))
                                return -ENOMEM;
                        *ret = m;
                        return 0;
                }
        const char *c = startswith(s, "container:");
        if (c) {
                if (!*c)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--network container: needs a container name or id");
                m.kind = NET_MODE_CONTAINER;
                if (!(m.container = strdup(c)))
                        return -ENOMEM;
        } else {
                if (!net_name_valid(s))
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "invalid --network '%s': bridge, host, none, container:<name> or a network name", s);
                m.kind = NET_MODE_BRIDGE;
                if (!(m.network = strdup(s)))
                        return -ENOMEM;
        }
        *ret = m;
        return 0;
}

/* unshare() in this thread, keep the new namespace alive by a bind mount, bring lo up through a
 * socket made inside it, and switch the thread back. No fork: safe in a threaded engine. */
int net_netns_create(const char *path, KError **err) {
        _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return kerr(err, -errno, "open own network namespace");
        _cleanup_close_ int f = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (f < 0)
                return kerr(err, -errno, "create '%s'", path);
        if (unshare(CLONE_NEWNET) < 0) {
                int r = -errno;
                (void) unlink(path);
                return kerr(err, r, "create a network namespace");
        }
        int r = mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
        Rtnl *nl = NULL;
        if (r >= 0 && (r = rtnl_open(&nl)) >= 0) {
                r = rtnl_link_up(nl, "lo", 0);
                rtnl_close(nl);
        }
        if (setns(self, CLONE_NEWNET) < 0)
                abort();        /* never continue in the wrong namespace */
        if (r < 0) {
                (void) umount2(path, MNT_DETACH);
                (void) unlink(path);
                return kerr(err, r, "set up network namespace '%s'", path);
        }
        return 0;
}

int net_netns_remove(const char *path, KError **err) {
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return kerr(err, -errno, "unmount '%s'", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return kerr(err, -errno, "remove '%s'", path);
        return 0;
}
