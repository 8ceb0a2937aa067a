/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-monitor: the per-container monitor (src/engine/monitor.h), a binary of its own so that
 * it stays small: it links the runtime core, the state store and the network layer, not the
 * image store, the registry client or the archive library. Started only by kapsel itself:
 *
 *   kapsel-monitor --root ROOT ID SYNC_FD [attach-wait] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloned-binary.h"
#include "fd-util.h"
#include "log.h"
#include "monitor.h"
#include "string-util.h"

int main(int argc, char **argv) {
        _cleanup_kerr_ KError *err = NULL;
        int64_t fd;
        log_set_program("kapsel-monitor");
        if (argc < 5 || !streq(argv[1], "--root") || parse_int64(argv[4], &fd) < 0 || fd < 3) {
                fprintf(stderr, "kapsel-monitor: started by kapsel only (--root ROOT ID SYNC_FD [attach-wait])\n");
                return 2;
        }
        /* The container's init is our child: first move to a sealed copy of ourselves, so nothing
         * in the container can ever open this binary for writing (CVE-2019-5736). */
        _cleanup_(engine_freep) Engine *e = NULL;
        if (cloned_binary_ensure(argv, &err) < 0 || engine_open(argv[2], &e, &err) < 0) {
                (void) write_all((int) fd, "E", 1);
                (void) kerr_send((int) fd, err);
                return 1;
        }
        return monitor_main(e, argv[3], argc > 5 && streq(argv[5], "attach-wait"), (int) fd);
}
