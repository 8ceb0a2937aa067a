/* SPDX-License-Identifier: Apache-2.0 */
/* Capabilities with the raw syscalls (capset v3, prctl), no library: five sets as bit masks.
 * Order matters and is the caller's (process.c): bounding set first while still privileged,
 * then the uid switch with KEEPCAPS, then caps_apply_sets(). */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "security.h"
#include "string-util.h"

/* The kernel's highest capability; ours may be newer or older than the running kernel. */
static int kernel_last_cap(void) {
        static int cached = -1;
        if (cached >= 0)
                return cached;
        _cleanup_free_ char *text = NULL;
        int64_t v;
        if (read_full_file_at(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", 64, &text, NULL) >= 0) {
                text[strcspn(text, "\n")] = '\0';
                if (parse_int64(text, &v) >= 0 && v >= 0 && v < 64)
                        return cached = (int) v;
        }
        return cached = CAP_LAST_CAP;
}

static uint64_t known_mask(void) {
        int last = kernel_last_cap();
        return last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
}

static const char *cap_name(int cap, char buf[static 24]) {
        const char *n = cap_to_name(cap);
        if (n)
                return n;
        snprintf(buf, 24, "capability %d", cap);
        return buf;
}

int caps_apply_bounding(const SpecCaps *caps, KError **err) {
        int last = kernel_last_cap();
        if (caps->bounding & ~known_mask())
                log_debug("bounding capabilities above the kernel's last (%d) ignored", last);
        for (int cap = 0; cap <= last; cap++) {
                if (caps->bounding & (UINT64_C(1) << cap))
                        continue;
                /* EINVAL: the kernel does not know this capability, nothing to drop. */
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
                        char buf[24];
                        return kerr_kind(err, KERR_HOST, -errno, "drop %s from the bounding set (needs CAP_SETPCAP)",
                                         cap_name(cap, buf));
                }
        }
        return 0;
}

int caps_apply_sets(const SpecCaps *caps, KError **err) {
        uint64_t mask = known_mask();
        uint64_t all = caps->bounding | caps->effective | caps->inheritable | caps->permitted | caps->ambient;
        if (all & ~mask)
                log_debug("capabilities above the kernel's last (%d) ignored", kernel_last_cap());

        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};
        uint64_t eff = caps->effective & mask, prm = caps->permitted & mask, inh = caps->inheritable & mask;
        long rc = -1;
        for (int attempt = 0; attempt < 2; attempt++) {
                for (int i = 0; i < 2; i++) {
                        data[i].effective = (uint32_t) (eff >> (32 * i));
                        data[i].permitted = (uint32_t) (prm >> (32 * i));
                        data[i].inheritable = (uint32_t) (inh >> (32 * i));
                }
                if ((rc = syscall(SYS_capset, &hdr, data)) == 0 || errno != EPERM || attempt > 0)
                        break;
                /* The runtime itself may run without some capability (a sandbox that dropped
                 * it): what it does not have it cannot give, so those are left out, as with
                 * runc; only checked after a refusal, so the usual path pays nothing. */
                uint64_t have = 0;
                for (int cap = 0; cap <= kernel_last_cap(); cap++)
                        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
                                have |= UINT64_C(1) << cap;
                if (((eff | prm | inh) & ~have) == 0) {
                        errno = EPERM;
                        break;
                }
                log_debug("capabilities 0x%llx are not in the runtime's bounding set: left out",
                          (unsigned long long) ((eff | prm | inh) & ~have));
                eff &= have;
                prm &= have;
                inh &= have;
        }
        if (rc < 0)
                return kerr_kind(err, KERR_CONFIG, -errno,
                                 "process.capabilities: set capabilities (effective 0x%llx, permitted 0x%llx, "
                                 "inheritable 0x%llx): effective and inheritable must be subsets of permitted and "
                                 "of the bounding set",
                                 (unsigned long long) eff, (unsigned long long) prm, (unsigned long long) inh);

        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return kerr_kind(err, KERR_HOST, -errno, "clear the ambient capability set");
        for (int cap = 0; cap <= kernel_last_cap(); cap++) {
                if (!(caps->ambient & (UINT64_C(1) << cap)))
                        continue;
                /* An ambient capability must also be permitted and inheritable. runc's default
                 * spec lists ambient capabilities its inheritable set lacks, and runc (like crun)
                 * runs it, leaving those out: do the same, and say so in the debug log. */
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
                        char buf[24];
                        log_debug("process.capabilities.ambient: %s not raised (%s): it is not in both the "
                                  "permitted and inheritable sets", cap_name(cap, buf), strerror(errno));
                }
        }
        return 0;
}
