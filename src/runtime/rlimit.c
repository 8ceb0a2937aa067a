/* SPDX-License-Identifier: Apache-2.0 */
/* process.rlimits (config.md "POSIX process"): setrlimit() each, with a message that says
 * why the host refused and what to change. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "fd-util.h"
#include "security.h"
#include "string-util.h"

static void fmt_limit(char buf[static 24], rlim_t v) {
        if (v == RLIM_INFINITY)
                snprintf(buf, 24, "unlimited");
        else
                snprintf(buf, 24, "%llu", (unsigned long long) v);
}

/* Even CAP_SYS_RESOURCE cannot raise RLIMIT_NOFILE above fs.nr_open. */
static int read_nr_open(uint64_t *ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file_at(AT_FDCWD, "/proc/sys/fs/nr_open", 64, &text, NULL);
        if (r < 0)
                return r;
        text[strcspn(text, "\n")] = '\0';
        return parse_uint64(text, ret);
}

int rlimits_apply(const SpecRlimit *rl, size_t n, KError **err) {
        for (size_t i = 0; i < n; i++) {
                const char *name = rlimit_to_name(rl[i].resource);
                char num[24];
                if (!name) {
                        snprintf(num, sizeof(num), "%d", rl[i].resource);
                        name = num;
                }
                struct rlimit want = { .rlim_cur = rl[i].soft, .rlim_max = rl[i].hard }, cur = {};
                if (setrlimit(rl[i].resource, &want) >= 0)
                        continue;
                int r = -errno;
                char asked[24], have[24], soft[24];
                fmt_limit(asked, want.rlim_max);
                fmt_limit(soft, want.rlim_cur);
                /* EPERM: a hard limit above the current one needs CAP_SYS_RESOURCE (and for
                 * RLIMIT_NOFILE even root cannot go above fs.nr_open). */
                uint64_t nr_open;
                if (r == -EPERM && rl[i].resource == RLIMIT_NOFILE && read_nr_open(&nr_open) >= 0 &&
                    want.rlim_max != RLIM_INFINITY && want.rlim_max > nr_open)
                        return kerr_msg(err, KERR_HOST, r,
                                        "rlimit %s: the host refuses hard limit %s (above the host's fs.nr_open, "
                                        "%llu): lower it in config.json process.rlimits",
                                        name, asked, (unsigned long long) nr_open);
                if (r == -EPERM) {
                        if (getrlimit(rl[i].resource, &cur) < 0)
                                cur.rlim_max = RLIM_INFINITY;
                        fmt_limit(have, cur.rlim_max);
                        return kerr_msg(err, KERR_HOST, r,
                                        "rlimit %s: the host refuses hard limit %s (current hard limit %s; raising "
                                        "needs CAP_SYS_RESOURCE): lower it in config.json process.rlimits",
                                        name, asked, have);
                }
                if (r == -EINVAL)
                        return kerr_msg(err, KERR_CONFIG, r,
                                        "rlimit %s: soft limit %s above hard limit %s, or a limit the kernel does not "
                                        "accept: fix config.json process.rlimits",
                                        name, soft, asked);
                return kerr_kind(err, KERR_HOST, r, "rlimit %s: set soft %s hard %s", name, soft, asked);
        }
        return 0;
}
