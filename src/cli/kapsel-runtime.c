/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-runtime: an OCI runtime with runc's command line. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloned-binary.h"
#include "log.h"
#include "runtime-cli.h"
#include "state.h"
#include "string-util.h"

static const RtVerb verbs[] = {
        { "create",   rt_create,   "[--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] [--no-pivot] [--no-new-keyring] ID", "create a container (it waits for start)", true },
        { "start",    rt_start,    "ID", "start a created container", false },
        { "run",      rt_run,      "[--bundle DIR] [--detach] [--pid-file F] [--console-socket S] [--preserve-fds N] [--no-pivot] [--no-new-keyring] [--keep] ID", "create and start a container", true },
        { "state",    rt_state,    "ID", "print the state of a container (JSON)", false },
        { "kill",     rt_kill,     "[--all] ID [SIGNAL]", "send a signal (default SIGTERM) to the container's init", false },
        { "delete",   rt_delete,   "[--force] ID", "delete a container and its resources", false },
        { "exec",     rt_exec,     "[--process F | --env K=V --cwd D --user U[:G] --cap C --tty] [--console-socket S] [--detach] [--pid-file F] ID [CMD ARGS...]", "run a process in a running container", true },
        { "ps",       rt_ps,       "[--format table|json] ID [PS OPTIONS (default -ef)]", "list the processes of a container", false },
        { "list",     rt_list,     "[--format table|json] [--quiet]", "list containers", false },
        { "pause",    rt_pause,    "ID", "freeze every process of a container", false },
        { "resume",   rt_resume,   "ID", "thaw a paused container", false },
        { "update",   rt_update,   "[--resources F|-] [--memory N] [--memory-swap N] [--memory-reservation N] [--cpu-shares N] [--cpu-quota N] [--cpu-period N] [--cpuset-cpus L] [--cpuset-mems L] [--pids-limit N] [--blkio-weight N] ID", "change the resource limits of a container", false },
        { "features", rt_features, "", "print the features this runtime supports (JSON)", false },
        { "spec",     rt_spec,     "[--bundle DIR] [--rootless]", "write a default config.json", false },
        { "events",   rt_events,   "[--stats] [--interval 5s] ID", "print resource statistics and OOM events (JSON lines)", false },
        { "checkpoint", rt_checkpoint, "ID", "not supported (no CRIU support)", false },
        { "restore",  rt_restore,  "ID", "not supported (no CRIU support)", false },
};

static const RtVerb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

/* Help pages in the NAME/USAGE shape runc's users (and scripts) know; the NAME line names the
 * runc command it stands in for. */
void rt_print_verb_help(const char *verb) {
        const RtVerb *v = find_verb(verb);
        if (v)
                printf("NAME:\n   kapsel-runtime %s - %s (as runc %s)\n\nUSAGE:\n   kapsel-runtime [global options] %s %s\n",
                       v->name, v->summary, v->name, v->name, v->usage);
}

static void print_help(void) {
        printf("NAME:\n   kapsel-runtime - a drop-in for runc - Open Container Initiative runtime\n\n"
               "USAGE:\n   kapsel-runtime [global options] COMMAND [options] [ARGS]\n\n"
               "An OCI runtime (runtime-spec 1.1) with runc's command line.\n\n"
               "Global options:\n"
               "  --root DIR            state root (default /run/kapsel-runtime)\n"
               "  --log FILE            log file (default: stderr)\n"
               "  --log-format FMT      text or json\n"
               "  --debug               debug logging\n"
               "  --systemd-cgroup      not supported: kapsel-runtime manages cgroupfs itself\n"
               "  -v, --version         print the version\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-10s %s\n", verbs[i].name, verbs[i].summary);
        printf("\nExamples:\n"
               "  kapsel-runtime spec && kapsel-runtime run mycontainer\n"
               "  kapsel-runtime create --bundle /srv/b c1 && kapsel-runtime start c1\n"
               "  kapsel-runtime exec c1 ps\n");
}

int rt_usage_error(KError **err, const char *verb, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        return kerr_msg(err, KERR_USAGE, -EINVAL, "%s: %s (see 'kapsel-runtime %s --help')", verb,
                        n >= 0 ? msg : "bad usage", verb);
}

int rt_want_id(int argc, char **argv, int optind_, const char *verb, const char **ret, KError **err) {
        if (argc - optind_ != 1)
                return rt_usage_error(err, verb, argc - optind_ < 1 ? "missing container id" : "too many arguments");
        *ret = argv[optind_];
        return 0;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
                { "log", required_argument, NULL, 'l' },
                { "log-format", required_argument, NULL, 'f' },
                { "debug", no_argument, NULL, 'd' },
                { "systemd-cgroup", no_argument, NULL, 's' },
                { "rootless", required_argument, NULL, 'R' },
                { "criu", required_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'v' },
                {}
        };
        RtGlobals g = { .root = state_default_root() };
        const char *log_path = NULL;
        LogFormat fmt = LOG_FORMAT_TEXT;
        _cleanup_kerr_ KError *err = NULL;
        int c;

        log_set_program("kapsel-runtime");
        while ((c = getopt_long_only(argc, argv, "+hv", opts, NULL)) >= 0) {
                switch (c) {
                case 'r': g.root = optarg; break;
                case 'l': log_path = optarg; break;
                case 'f':
                        if (!streq(optarg, "text") && !streq(optarg, "json")) {
                                log_error("--log-format: unknown format \"%s\" (text or json)", optarg);
                                return 2;
                        }
                        fmt = streq(optarg, "json") ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
                        break;
                case 'd': g.debug = true; break;
                case 's': g.systemd_cgroup = true; break;
                case 'R': case 'C': break;      /* accepted for runc compatibility */
                case 'h': print_help(); return 0;
                case 'v':
                        /* runc's three lines (name version, commit, spec), which engines parse */
                        printf("kapsel-runtime version %s (runc version 1.1.5 compatible)\ncommit: kapsel-%s\n"
                               "spec: 1.1.0\n", KAPSEL_VERSION, KAPSEL_VERSION);
                        return 0;
                default: return 2;
                }
        }
        int r = log_open(log_path, fmt, g.debug ? LOG_LVL_DEBUG : LOG_LVL_WARN);
        if (r < 0) {
                log_error("--log '%s': %s", log_path, strerror(-r));
                return 2;
        }
        if (optind >= argc) {
                print_help();
                return 2;
        }
        const RtVerb *v = find_verb(argv[optind]);
        if (!v) {
                log_error("unknown command \"%s\": No help topic for '%s' (see 'kapsel-runtime --help')",
                          argv[optind], argv[optind]);
                return 2;
        }
        if (g.debug)
                log_set_stderr_fields(true);
        if (g.systemd_cgroup) {
                log_error("--systemd-cgroup is not supported: kapsel-runtime drives cgroupfs directly; "
                          "use the cgroupfs manager (e.g. podman --cgroup-manager cgroupfs)");
                return 2;
        }
        if (v->enters_container && cloned_binary_ensure_zero_copy(argv, &err) < 0) {
                log_error("%s", err->msg);
                return kerr_exit_code(err);
        }
        int vargc = argc - optind;
        char **vargv = argv + optind;
        optind = 0;     /* reset getopt for the verb's own options */
        r = v->run(&g, vargc, vargv, &err);
        if (r < 0) {
                log_error("%s", err ? err->msg : strerror(-r));
                return kerr_exit_code(err);
        }
        return r;       /* a verb may return a positive exit status (run, exec) */
}
