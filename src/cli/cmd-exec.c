/* SPDX-License-Identifier: Apache-2.0 */
/* exec runs in-process through the runtime core: the new process joins the container's
 * namespaces and cgroup, with the container's stored process as the base (env, caps, seccomp). */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"
#include "ctr-ops.h"
#include "fd-util.h"
#include "kapsel-cli.h"
#include "rt-tty.h"
#include "string-util.h"
#include "vm-isolation.h"
#include "vm-ops.h"
#include "user.h"

typedef struct ExecFlags {
        bool tty, interactive, detach;
        char **env;
        const char *user, *cwd;
} ExecFlags;

static int env_set(char ***env, const char *kv) {
        size_t klen = strcspn(kv, "=");
        for (char **p = *env; p && *p; p++)
                if (strncmp(*p, kv, klen) == 0 && (*p)[klen] == '=') {
                        char *n = strdup(kv);
                        if (!n)
                                return -ENOMEM;
                        free(*p);
                        *p = n;
                        return 0;
                }
        return strv_extend(env, kv);
}

static int apply_flags(Engine *e, const CtrRecord *rec, const ExecFlags *f, SpecProcess *p, char **args, KError **err) {
        strv_free(p->args);
        p->args = NULL;
        for (char **a = args; *a; a++)
                if (strv_extend(&p->args, *a) < 0)
                        return -ENOMEM;
        for (char **kv = f->env; kv && *kv; kv++)
                if (env_set(&p->env, *kv) < 0)
                        return -ENOMEM;
        if (f->cwd) {
                free(p->cwd);
                p->cwd = strdup(f->cwd);
        }
        p->terminal = f->tty;
        if (f->user) {
                _cleanup_free_ char *rootfs = engine_ctr_path(e, rec->id, "rootfs");
                _cleanup_close_ int rootfd = rootfs ? open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
                UserIds u;
                int r = user_resolve(rootfd, f->user, &u, err);
                if (r < 0)
                        return r;
                p->user.uid = u.uid;
                p->user.gid = u.gid;
                user_ids_done(&u);
        }
        return 0;
}

/* An --isolation=vm container: through its monitor to the guest agent (vm-agent.h). */
static int exec_in_guest(Engine *e, const CtrRecord *rec, const ExecFlags *f, char **args, KError **err) {
        VmExecInput in = { .args = args, .env = f->env, .cwd = f->cwd, .user = f->user, .tty = f->tty,
                           .detach = f->detach };
        _cleanup_free_ char *req = NULL;
        int r = vm_isolation_exec_request(e, rec, &in, &req, err);
        if (r < 0)
                return r;
        int code = 0;
        if ((r = k_exec_stream(e, rec, req, f->tty, f->interactive, f->detach, &code, err)) < 0)
                return r;
        return code;
}

K_VERB(exec) {
        static const struct option opts[] = {
                { "interactive", no_argument, NULL, 'i' }, { "tty", no_argument, NULL, 't' },
                { "detach", no_argument, NULL, 'd' },      { "env", required_argument, NULL, 'e' },
                { "user", required_argument, NULL, 'u' },  { "workdir", required_argument, NULL, 'w' },
                { "detach-keys", required_argument, NULL, 'K' },
                { "help", no_argument, NULL, 'h' },        {}
        };
        ExecFlags f = { 0 };
        _cleanup_strv_free_ char **env = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+itde:u:w:", opts, NULL)) >= 0)
                switch (c) {
                case 'i': f.interactive = true; break;
                case 't': f.tty = true; break;
                case 'd': f.detach = true; break;
                case 'e':
                        if (strv_extend(&env, optarg) < 0)
                                return -ENOMEM;
                        break;
                case 'u': f.user = optarg; break;
                case 'w': f.cwd = optarg; break;
                case 'K':
                        if (k_set_detach_keys(optarg, err) < 0)
                                return -EINVAL;
                        break;
                case 'h': return k_help("exec");
                default: return k_usage(err, "exec", "unknown option");
                }
        f.env = env;
        if (argc - optind < 2)
                return k_usage(err, "exec", "expected CONTAINER COMMAND [ARG...]");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open_one(g, argv[optind], &e, &rec, err);
        if (r < 0)
                return r;
        if (rec->state != CTR_RUNNING)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container %s is not running (it is %s)", rec->name,
                                ctr_state_to_string(rec->state));
        if (rec->kind == CTR_KIND_CONTAINER && vm_isolation_enabled(rec->config))
                return exec_in_guest(e, rec, &f, argv + optind + 1, err);
        if (ctr_runs_vmm(rec))
                return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP,
                                "%s is a micro-VM with no kapsel agent inside: exec is not supported (use its serial "
                                "console: kapsel vm console %s)", rec->name, rec->name);
        SpecProcess *p = NULL;
        if ((r = container_exec_base_process(e->runtime_root, rec->id, &p, err)) < 0)
                return r;
        if ((r = apply_flags(e, rec, &f, p, argv + optind + 1, err)) < 0) {
                spec_process_free(p);
                return r;
        }
        int sp[2] = { -1, -1 };
        ExecOptions o = { .root = e->runtime_root, .id = rec->id, .process = p, .console_fd = -1, .detach = f.detach };
        if (f.tty) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
                        spec_process_free(p);
                        return kerr(err, -errno, "socketpair");
                }
                o.console_fd = sp[1];
                o.detach = true;        /* we proxy the pty and wait ourselves */
        }
        int status = 0;
        pid_t pid = 0;
        o.ret_pid = &pid;
        r = container_exec(&o, &status, err);
        spec_process_free(p);
        safe_close(sp[1]);
        if (r < 0) {
                safe_close(sp[0]);
                return r;
        }
        if (f.tty) {
                _cleanup_close_ int master = -1;
                char name[16];
                if (recv_fd(sp[0], &master, name, sizeof(name)) < 0 || master < 0) {
                        safe_close(sp[0]);
                        return kerr(err, -EIO, "receive the exec'd process's pty");
                }
                safe_close(sp[0]);
                if (f.detach)
                        return 0;
                bool detached;
                r = k_exec_tty_proxy(master, pid, k_detach_keys(), &status, &detached);
                if (r < 0)
                        return kerr(err, r, "exec in %s", rec->name);
                if (detached) {         /* docker's detach keys: the process runs on */
                        fprintf(stderr, "read escape sequence\n");
                        return 0;
                }
        } else if (f.detach)
                return 0;
        return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
