/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/wait.h>

#include "container.h"
#include "log.h"
#include "rt-create-opts.h"
#include "runtime-cli.h"

RT_VERB(run) {
        CreateOptions o = { .root = g->root };
        RunExtras x = { 0 };
        int r = rt_parse_create_opts("run", argc, argv, &o, &x, err);
        if (r != 0)
                return r < 0 ? r : 0;
        pid_t pid;
        r = container_create(&o, &pid, err);
        if (r < 0)
                return r;
        r = container_start(o.root, o.id, err);
        if (r < 0 || x.detach) {
                if (r < 0)
                        (void) container_delete(o.root, o.id, true, NULL);
                return r;
        }
        int status = 0;
        r = container_wait_forwarding(pid, &status);
        if (!x.keep) {
                _cleanup_kerr_ KError *derr = NULL;
                if (container_delete(o.root, o.id, true, &derr) < 0)
                        log_warn("%s", derr->msg);
        }
        if (r < 0)
                return kerr(err, r, "wait for container \"%s\"", o.id);
        return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
