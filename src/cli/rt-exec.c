/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "container.h"
#include "fd-util.h"
#include "log.h"
#include "rt-tty.h"
#include "runtime-cli.h"
#include "string-util.h"

/* Set KEY=V in a process env, replacing an existing KEY. */
static int env_set(SpecProcess *p, const char *kv) {
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
                return -EINVAL;
        size_t klen = (size_t) (eq - kv) + 1;
        for (size_t i = 0; p->env && p->env[i]; i++)
                if (strncmp(p->env[i], kv, klen) == 0) {
                        char *c = strdup(kv);
                        if (!c)
                                return -ENOMEM;
                        free(p->env[i]);
                        p->env[i] = c;
                        return 0;
                }
        return strv_extend(&p->env, kv);
}

static int parse_user(const char *s, SpecUser *u) {
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        char *colon = strchr(copy, ':');
        if (colon)
                *colon = '\0';
        int64_t uid, gid = 0;
        if (parse_int64(copy, &uid) < 0 || uid < 0 || (colon && (parse_int64(colon + 1, &gid) < 0 || gid < 0)))
                return -EINVAL;
        u->uid = (uid_t) uid;
        u->gid = (gid_t) gid;
        return 0;
}

static int add_gid(SpecUser *u, const char *s) {
        int64_t g;
        if (parse_int64(s, &g) < 0 || g < 0)
                return -EINVAL;
        gid_t *n = realloc(u->additional_gids, (u->n_additional_gids + 1) * sizeof(gid_t));
        if (!n)
                return -ENOMEM;
        u->additional_gids = n;
        n[u->n_additional_gids++] = (gid_t) g;
        return 0;
}

static int load_process_file(const char *path, SpecProcess **ret, KError **err) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_full_file_at(AT_FDCWD, path, 16 << 20, &text, &len);
        if (r < 0)
                return kerr_kind(err, KERR_CONFIG, r, "read --process file '%s'", path);
        return spec_parse_process(text, len, path, ret, err);
}

/* runc's exec exits 255 when the runtime (not the command) fails; callers tell the two apart
 * by it. */
static int exec_failed(KError **err, int r) {
        log_error("%s", err && *err ? (*err)->msg : strerror(-r));
        return 255;
}

RT_VERB(exec) {
        static const struct option opts[] = {
                { "process", required_argument, NULL, 'p' },    { "console-socket", required_argument, NULL, 'c' },
                { "cwd", required_argument, NULL, 'w' },        { "env", required_argument, NULL, 'e' },
                { "tty", no_argument, NULL, 't' },              { "user", required_argument, NULL, 'u' },
                { "additional-gids", required_argument, NULL, 'g' },
                { "detach", no_argument, NULL, 'd' },           { "pid-file", required_argument, NULL, 'P' },
                { "cap", required_argument, NULL, 'C' },        { "no-new-privs", no_argument, NULL, 'n' },
                { "preserve-fds", required_argument, NULL, 'F' }, { "process-label", required_argument, NULL, 'L' },
                { "apparmor", required_argument, NULL, 'A' },   { "ignore-paused", no_argument, NULL, 'I' },
                { "cgroup", required_argument, NULL, 'G' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        ExecOptions o = { .root = g->root, .console_fd = -1 };
        const char *process_file = NULL, *cwd = NULL, *user = NULL;
        _cleanup_strv_free_ char **envs = NULL, **caps = NULL, **gids = NULL, **cgroup_subs = NULL;
        bool tty = false, nnp = false, nnp_set = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+p:w:e:tu:g:dc:h", opts, NULL)) >= 0) {
                int64_t n;
                switch (c) {
                case 'p': process_file = optarg; break;
                case 'c': o.console_socket = optarg; break;
                case 'w': cwd = optarg; break;
                case 'e': if (strv_extend(&envs, optarg) < 0) return -ENOMEM; break;
                case 't': tty = true; break;
                case 'u': user = optarg; break;
                case 'g': if (strv_extend(&gids, optarg) < 0) return -ENOMEM; break;
                case 'd': o.detach = true; break;
                case 'P': o.pid_file = optarg; break;
                case 'C': if (strv_extend(&caps, optarg) < 0) return -ENOMEM; break;
                case 'n': nnp = nnp_set = true; break;
                case 'F':
                        if (parse_int64(optarg, &n) < 0 || n < 0 || n > 1024)
                                return rt_usage_error(err, "exec", "--preserve-fds: \"%s\" is not a count", optarg);
                        o.preserve_fds = (int) n;
                        break;
                case 'I': o.ignore_paused = true; break;
                case 'G': if (strv_extend(&cgroup_subs, optarg) < 0) return -ENOMEM; break;
                case 'L': case 'A': break;
                case 'h': rt_print_verb_help("exec"); return 0;
                default: return rt_usage_error(err, "exec", "unknown option");
                }
        }
        if (argc - optind < 1)
                return rt_usage_error(err, "exec", "missing container id");
        o.id = argv[optind];
        char **cmd = argv + optind + 1;
        if (!process_file && !*cmd)
                return rt_usage_error(err, "exec", "give a command or --process FILE");

        _cleanup_(spec_process_freep) SpecProcess *p = NULL;
        int r = process_file ? load_process_file(process_file, &p, err)
                             : container_exec_base_process(g->root, o.id, &p, err);
        if (r < 0)
                return exec_failed(err, r);
        if (!process_file) {
                strv_free(p->args);
                p->args = NULL;
                if (strv_copy(cmd, &p->args) < 0)
                        return -ENOMEM;
                p->terminal = tty;
                p->has_console_size = false;
        } else if (tty)
                p->terminal = true;
        for (size_t i = 0; envs && envs[i]; i++)
                if (env_set(p, envs[i]) < 0)
                        return rt_usage_error(err, "exec", "--env \"%s\": expected KEY=VALUE", envs[i]);
        if (cwd) {
                if (!(cwd[0] == '/'))
                        return rt_usage_error(err, "exec", "--cwd \"%s\": must be an absolute path", cwd);
                free(p->cwd);
                if (!(p->cwd = strdup(cwd)))
                        return -ENOMEM;
        }
        if (user && parse_user(user, &p->user) < 0)
                return rt_usage_error(err, "exec", "--user \"%s\": expected UID[:GID]", user);
        for (size_t i = 0; gids && gids[i]; i++)
                if (add_gid(&p->user, gids[i]) < 0)
                        return rt_usage_error(err, "exec", "--additional-gids \"%s\": not a gid", gids[i]);
        for (size_t i = 0; caps && caps[i]; i++) {
                int cap = cap_from_name(caps[i]);
                if (cap < 0)
                        return rt_usage_error(err, "exec", "--cap \"%s\": unknown capability", caps[i]);
                uint64_t bit = UINT64_C(1) << cap;
                p->has_caps = true;
                p->caps.bounding |= bit;
                p->caps.effective |= bit;
                p->caps.permitted |= bit;
        }
        /* As runc: an exec'd command gets no_new_privs from --no-new-privs (or its --process
         * file), not from the container's process. */
        if (!process_file || nnp_set)
                p->no_new_privileges = nnp;
        o.process = p;
        o.cgroup_subs = cgroup_subs;
        int status = 0;
        /* In the foreground without --console-socket, the pty master comes to us (as for run). */
        _cleanup_close_ int tty_ours = -1, tty_theirs = -1, master = -1;
        pid_t pid = -1;
        bool proxy = p->terminal && !o.detach && !o.console_socket;
        if (proxy) {
                int sp[2];
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                        return kerr(err, -errno, "socketpair");
                tty_ours = sp[0];
                tty_theirs = o.console_fd = sp[1];
                o.detach = true;
                o.ret_pid = &pid;
        }
        r = container_exec(&o, &status, err);
        if (r < 0)
                return exec_failed(err, r);
        if (proxy) {
                tty_theirs = safe_close(tty_theirs);
                if (recv_fd(tty_ours, &master, NULL, 0) < 0)
                        return kerr(err, -EPROTO, "exec in \"%s\": no terminal came back from the container", o.id);
                r = rt_tty_proxy(master, pid, &status);
                if (r < 0)
                        return kerr(err, r, "wait for the exec'd process");
        } else if (o.detach)
                return 0;
        return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
