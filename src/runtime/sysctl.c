/* SPDX-License-Identifier: Apache-2.0 */
/* linux.sysctl: only namespaced keys, written through a verified fd of the container's /proc.
 *
 * The write goes to <procfd>/sys/<key> resolved beneath procfd with no symlinks at all, and
 * the opened file must be on procfs: a rootfs that over-mounts or symlinks /proc/sys cannot
 * redirect the write to a host file (CVE-2019-16884 / CVE-2025-31133 class). */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "security.h"
#include "string-util.h"

/* Which namespace makes a key safe to set (runc's list; config-linux.md "Sysctl"). */
static const struct {
        const char *key;
        bool prefix;
        SpecNsType ns;
} sysctl_rules[] = {
        { "kernel.msg",             true,  NS_IPC },     /* msgmax, msgmnb, msgmni, msg_next_id */
        { "kernel.sem",             false, NS_IPC },
        { "kernel.sem_next_id",     false, NS_IPC },
        { "kernel.shm",             true,  NS_IPC },     /* shmall, shmmax, shmmni, shm_rmid_forced, ... */
        { "fs.mqueue.",             true,  NS_IPC },
        { "net.",                   true,  NS_NETWORK },
        { "kernel.hostname",        false, NS_UTS },
        { "kernel.domainname",      false, NS_UTS },
};

/* "net/ipv4/ip_forward" and "net.ipv4.ip_forward" name the same key. A key given with
 * slashes keeps the dots inside its components ("net/ipv4/conf/eth0.100/forwarding"). */
static int key_to_path(const char *key, char **ret) {
        char *p = strdup(key);
        if (!p)
                return -ENOMEM;
        if (!strchr(p, '/'))
                for (char *c = p; *c; c++)
                        if (*c == '.')
                                *c = '/';
        *ret = p;
        return 0;
}

static int key_to_dotted(const char *key, char **ret) {
        char *p = strdup(key);
        if (!p)
                return -ENOMEM;
        if (strchr(p, '/'))
                for (char *c = p; *c; c++)
                        if (*c == '/')
                                *c = '.';
        *ret = p;
        return 0;
}

static bool path_is_sane(const char *p) {
        if (!*p || p[0] == '/')
                return false;
        for (const char *s = p; *s;) {
                size_t l = strcspn(s, "/");
                if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                s += l;
                if (*s == '/')
                        s++;
                else
                        break;
        }
        return p[strlen(p) - 1] != '/';
}

int sysctl_validate(const char *key, bool has_ipc, bool has_net, bool has_uts, KError **err) {
        _cleanup_free_ char *dotted = NULL;
        if (key_to_dotted(key, &dotted) < 0)
                return kerr(err, -ENOMEM, "sysctl %s", key);
        const bool have[_NS_TYPE_MAX] = { [NS_IPC] = has_ipc, [NS_NETWORK] = has_net, [NS_UTS] = has_uts };
        for (size_t i = 0; i < ELEMENTSOF(sysctl_rules); i++) {
                bool match = sysctl_rules[i].prefix ? !!startswith(dotted, sysctl_rules[i].key)
                                                    : streq(dotted, sysctl_rules[i].key);
                if (!match)
                        continue;
                if (!have[sysctl_rules[i].ns])
                        return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                        "linux.sysctl: \"%s\" needs a new %s namespace (add {\"type\": \"%s\"} to "
                                        "linux.namespaces), or it would change the host",
                                        key, spec_ns_type_to_string(sysctl_rules[i].ns),
                                        spec_ns_type_to_string(sysctl_rules[i].ns));
                return 0;
        }
        return kerr_msg(err, KERR_CONFIG, -EINVAL,
                        "linux.sysctl: \"%s\" is not namespaced: setting it would change the host; remove it", key);
}

int sysctl_apply(int procfd, const char *key, const char *value, KError **err) {
        _cleanup_free_ char *rel = NULL, *path = NULL;
        if (key_to_path(key, &rel) < 0)
                return kerr(err, -ENOMEM, "linux.sysctl \"%s\"", key);
        if (!path_is_sane(rel))
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "linux.sysctl: \"%s\" is not a valid key (empty, absolute or \"..\" components)", key);
        if (asprintf(&path, "sys/%s", rel) < 0)
                return kerr(err, -ENOMEM, "linux.sysctl \"%s\"", key);

        struct statfs sfs;
        if (fstatfs(procfd, &sfs) < 0)
                return kerr(err, -errno, "linux.sysctl \"%s\": fstatfs the container's /proc", key);
        if (sfs.f_type != PROC_SUPER_MAGIC)
                return kerr_msg(err, KERR_ROOTFS, -EXDEV,
                                "linux.sysctl \"%s\": the container's /proc is not on procfs: refusing to write it",
                                key);

        /* No symlink, no magic link, no mount crossing: the file must be the container's own
         * procfs entry, not something the rootfs placed over it. */
        struct open_how how = {
                .flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        _cleanup_close_ int fd = (int) syscall(SYS_openat2, procfd, path, &how, sizeof(how));
        if (fd < 0) {
                if (errno == ENOENT)
                        return kerr_kind(err, KERR_CONFIG, -errno,
                                         "linux.sysctl \"%s\": no /proc/%s in the container (unknown key, or not "
                                         "available in this kernel)", key, path);
                return kerr_kind(err, KERR_HOST, -errno, "linux.sysctl \"%s\": open /proc/%s in the container", key,
                                 path);
        }
        if (fstatfs(fd, &sfs) < 0)
                return kerr(err, -errno, "linux.sysctl \"%s\": fstatfs /proc/%s", key, path);
        if (sfs.f_type != PROC_SUPER_MAGIC)
                return kerr_msg(err, KERR_ROOTFS, -EXDEV,
                                "linux.sysctl \"%s\": /proc/%s is not on procfs: refusing to write it", key, path);
        size_t n = strlen(value);
        ssize_t w = write(fd, value, n);
        if (w < 0)
                return kerr_kind(err, errno == EINVAL ? KERR_CONFIG : KERR_HOST, -errno,
                                 "linux.sysctl \"%s\": write \"%s\"", key, value);
        if ((size_t) w != n)
                return kerr_kind(err, KERR_HOST, -EIO, "linux.sysctl \"%s\": short write of \"%s\"", key, value);
        return 0;
}
