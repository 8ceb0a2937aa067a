/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/socket.h>
#include <sys/wait.h>

#include "container.h"
#include "fd-util.h"
#include "log.h"
#include "rt-create-opts.h"
#include "rt-tty.h"
#include "runtime-cli.h"

RT_VERB(run) {
        CreateOptions o = { .root = g->root };
        RunExtras x = { 0 };
        int r = rt_parse_create_opts("run", argc, argv, &o, &x, err);
        if (r != 0)
                return r < 0 ? r : 0;
        /* In the foreground without --console-socket, a terminal container's pty comes to us. */
        _cleanup_close_ int tty_ours = -1, tty_theirs = -1, master = -1;
        if (!x.detach && !o.console_socket) {
                int sp[2];
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                        return kerr(err, -errno, "socketpair");
                tty_ours = sp[0];
                tty_theirs = o.console_fd = sp[1];
        }
        pid_t pid;
        r = container_create(&o, &pid, err);
        if (r < 0)
                return r;
        tty_theirs = safe_close(tty_theirs);    /* the init has its copy or no use for it */
        if (tty_ours >= 0) {
                if (recv_fd(tty_ours, &master, NULL, 0) < 0)
                        master = -1;    /* EOF: not a terminal container */
        }
        r = container_start(o.root, o.id, err);
        if (r < 0 || x.detach) {
                if (r < 0)
                        (void) container_delete(o.root, o.id, true, NULL);
                return r;
        }
        int status = 0;
        r = master >= 0 ? rt_tty_proxy(master, pid, &status) : container_wait_forwarding(pid, &status);
        if (!x.keep) {
                _cleanup_kerr_ KError *derr = NULL;
                if (container_delete(o.root, o.id, true, &derr) < 0)
                        log_warn("%s", derr->msg);
        }
        if (r < 0)
                return kerr(err, r, "wait for container \"%s\"", o.id);
        return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
