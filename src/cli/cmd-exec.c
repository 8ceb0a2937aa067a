/* SPDX-License-Identifier: Apache-2.0 */
/* exec: the engine's ctr_exec() (ctr-exec.h) for containers, the monitor's agent stream for
 * --isolation=vm ones. The exec'd process never gets our descriptors or terminal. */
#include <stdio.h>
#include <unistd.h>

#include "ctr-exec.h"
#include "kapsel-cli.h"
#include "string-util.h"
#include "vm-isolation.h"

/* An --isolation=vm container: through its monitor to the guest agent (vm-agent.h). */
static int exec_in_guest(Engine *e, const CtrRecord *rec, const CtrExecRequest *f, KError **err) {
        VmExecInput in = { .args = f->args, .env = f->env, .cwd = f->cwd, .user = f->user, .tty = f->tty,
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

static int detach_filter(void *data, const uint8_t *buf, size_t n, uint8_t *out, size_t *ret_len) {
        return k_detach_keys_filter(data, buf, n, out, ret_len);
}

K_VERB(exec) {
        static const struct option opts[] = {
                { "interactive", no_argument, NULL, 'i' }, { "tty", no_argument, NULL, 't' },
                { "detach", no_argument, NULL, 'd' },      { "env", required_argument, NULL, 'e' },
                { "user", required_argument, NULL, 'u' },  { "workdir", required_argument, NULL, 'w' },
                { "detach-keys", required_argument, NULL, 'K' },
                { "help", no_argument, NULL, 'h' },        {}
        };
        CtrExecRequest f = CTR_EXEC_REQUEST_INIT;
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
        f.args = argv + optind + 1;
        if (rec->state == CTR_RUNNING && rec->kind == CTR_KIND_CONTAINER && vm_isolation_enabled(rec->config))
                return exec_in_guest(e, rec, &f, err);
        f.in_fd = STDIN_FILENO;
        f.out_fd = STDOUT_FILENO;
        f.err_fd = STDERR_FILENO;
        if (f.tty && isatty(STDIN_FILENO)) {      /* docker's detach keys apply on a terminal only */
                f.input_filter = detach_filter;
                f.input_filter_data = k_detach_keys();
        }
        int code = 0;
        if ((r = ctr_exec(e, rec, &f, &code, err)) < 0)
                return r;
        if (r == CTR_EXEC_DETACHED) {
                fprintf(stderr, "read escape sequence\n");
                return 0;
        }
        return code;
}
