/* SPDX-License-Identifier: Apache-2.0 */
/* Small per-process attributes: execution domain and OOM score. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/personality.h>

#include "fd-util.h"
#include "security.h"

int personality_apply(unsigned long persona, KError **err) {
        if (personality(persona) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "linux.personality: set execution domain 0x%lx", persona);
        return 0;
}

int oom_score_adj_apply(int adj, KError **err) {
        char buf[16];
        snprintf(buf, sizeof(buf), "%d", adj);
        /* Lowering below the current value needs CAP_SYS_RESOURCE: the kernel says EACCES. */
        int r = write_string_file_at(AT_FDCWD, "/proc/self/oom_score_adj", buf);
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "process.oomScoreAdj: set %d (lowering it needs CAP_SYS_RESOURCE)",
                                 adj);
        return 0;
}
