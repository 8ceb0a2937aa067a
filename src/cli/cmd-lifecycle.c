/* SPDX-License-Identifier: Apache-2.0 */
/* start, stop, restart, kill, rm, pause, unpause, wait, rename, container prune: each takes
 * containers by name, id or id prefix, acts on each, prints what it acted on, and goes on with
 * the rest after a failure (the first error is reported). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctr-checkpoint.h"
#include "ctr-ops.h"
#include "events.h"
#include "ctr-state.h"
#include "fd-util.h"
#include "kapsel-cli.h"
#include "log.h"
#include "monitor.h"
#include "string-util.h"
#include "vm-ops.h"

typedef int (*CtrAction)(Engine *e, CtrRecord *rec, void *userdata, KError **err);

/* Run `fn` on every container named in argv[first..]; print each ref that succeeded. */
static int each_container(const KGlobals *g, const char *verb, int argc, char **argv, int first, CtrAction fn,
                          void *userdata, bool print, KError **err) {
        if (first >= argc)
                return k_usage(err, verb, "missing CONTAINER");
        _cleanup_(engine_freep) Engine *e = NULL;
        int r = k_open(g, &e, err);
        if (r < 0)
                return r;
        int ret = 0;
        for (int i = first; i < argc; i++) {
                _cleanup_kerr_ KError *one = NULL;
                _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
                r = k_ctr_find(g, e, argv[i], &rec, &one);
                if (r >= 0)
                        r = fn(e, rec, userdata, &one);
                if (r < 0) {
                        if (ret == 0 && err && !*err) {
                                *err = TAKE_PTR(one);
                                ret = r;
                        } else if (one)
                                log_error("%s", one->msg);
                        continue;
                }
                if (print)
                        printf("%s\n", argv[i]);
        }
        return ret;
}

static int parse_timeout(const char *verb, int argc, char **argv, int *timeout, KError **err) {
        static const struct option opts[] = { { "time", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' }, {} };
        int c;
        while ((c = getopt_long(argc, argv, "+t:", opts, NULL)) >= 0) {
                int64_t n;
                if (c == 'h')
                        return k_help(verb);
                if (c != 't' || parse_int64(optarg, &n) < 0 || n < 0)
                        return k_usage(err, verb, c == 't' ? "-t: expected seconds" : "unknown option");
                *timeout = (int) n;
        }
        return 0;
}

typedef struct StartOptions {
        bool attach, interactive;
        const char *checkpoint;         /* --checkpoint NAME, or NULL */
} StartOptions;

static int do_start(Engine *e, CtrRecord *rec, void *userdata, KError **err) {
        const StartOptions *o = userdata;
        int r;
        if (o->checkpoint)
                /* not a no-op when running: the state to resume would be lost, so say so */
                r = ctr_checkpoint_start(e, rec, o->checkpoint, o->attach, err);
        else if (rec->state == CTR_RUNNING || rec->state == CTR_PAUSED || rec->state == CTR_RESTARTING)
                return 0;       /* docker: starting a running container is a no-op */
        else
                r = monitor_spawn(e, rec->id, o->attach, err);
        if (r < 0 || !o->attach)
                return r;
        int code = 0;
        r = k_attach_stream(e, rec, true, o->interactive, &code, err);
        return r < 0 ? r : code;
}

K_VERB(start) {
        enum { OPT_CHECKPOINT = 0x100, OPT_CHECKPOINT_DIR };
        static const struct option opts[] = { { "attach", no_argument, NULL, 'a' }, { "interactive", no_argument, NULL, 'i' },
                                               { "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
                                               { "checkpoint-dir", required_argument, NULL, OPT_CHECKPOINT_DIR },
                                               { "help", no_argument, NULL, 'h' }, {} };
        StartOptions o = { 0 };
        int c;
        while ((c = getopt_long(argc, argv, "+ai", opts, NULL)) >= 0)
                switch (c) {
                case 'a': o.attach = true; break;
                case 'i': o.interactive = true; break;
                case OPT_CHECKPOINT: o.checkpoint = optarg; break;
                case OPT_CHECKPOINT_DIR:
                        return k_usage(err, "start", "--checkpoint-dir is not supported: checkpoints are kept in the "
                                       "container's own directory (leave the option out)");
                case 'h': return k_help("start");
                default: return k_usage(err, "start", "unknown option");
                }
        if (o.attach && argc - optind != 1)
                return k_usage(err, "start", "--attach takes exactly one container");
        if (o.checkpoint && argc - optind != 1)
                return k_usage(err, "start", "--checkpoint takes exactly one container");
        return each_container(g, "start", argc, argv, optind, do_start, &o, !o.attach, err);
}

static int do_stop(Engine *e, CtrRecord *rec, void *userdata, KError **err) {
        return ctr_stop(e, rec->id, *(int *) userdata, err);
}

K_VERB(stop) {
        int timeout = 10;
        int r = parse_timeout("stop", argc, argv, &timeout, err);
        if (r != 0)
                return r < 0 ? r : 0;
        return each_container(g, "stop", argc, argv, optind, do_stop, &timeout, true, err);
}

static int do_restart(Engine *e, CtrRecord *rec, void *userdata, KError **err) {
        return ctr_restart(e, rec, *(int *) userdata, err);
}

K_VERB(restart) {
        int timeout = 10;
        int r = parse_timeout("restart", argc, argv, &timeout, err);
        if (r != 0)
                return r < 0 ? r : 0;
        return each_container(g, "restart", argc, argv, optind, do_restart, &timeout, true, err);
}

static int need_running(const CtrRecord *rec, KError **err) {
        if (rec->state == CTR_RUNNING || rec->state == CTR_PAUSED)
                return 0;
        return kerr_msg(err, KERR_STATE, -EINVAL, "%s %s is not running (it is %s)",
                        rec->kind == CTR_KIND_VM ? "VM" : "container", rec->name, ctr_state_to_string(rec->state));
}

static int do_kill(Engine *e, CtrRecord *rec, void *userdata, KError **err) {
        int r = need_running(rec, err);
        if (r < 0)
                return r;
        return ctr_kill(e, rec, *(int *) userdata, err);
}

K_VERB(kill) {
        static const struct option opts[] = { { "signal", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' }, {} };
        int sig = SIGKILL, c;
        while ((c = getopt_long(argc, argv, "+s:", opts, NULL)) >= 0) {
                if (c == 'h')
                        return k_help("kill");
                if (c != 's' || parse_signal(optarg, &sig) < 0)
                        return k_usage(err, "kill", c == 's' ? "unknown signal \"%s\"" : "unknown option", optarg);
        }
        return each_container(g, "kill", argc, argv, optind, do_kill, &sig, true, err);
}

static int do_rm(Engine *e, CtrRecord *rec, void *userdata, KError **err) {
        return ctr_remove_checked(e, rec, *(bool *) userdata, err);
}

K_VERB(rm) {
        static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { "volumes", no_argument, NULL, 'v' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        bool force = false;
        int c;
        while ((c = getopt_long(argc, argv, "+fv", opts, NULL)) >= 0)
                switch (c) {
                case 'f': force = true; break;
                case 'v': break;        /* anonymous volumes are not created by kapsel */
                case 'h': return k_help("rm");
                default: return k_usage(err, "rm", "unknown option");
                }
        return each_container(g, "rm", argc, argv, optind, do_rm, &force, true, err);
}

static int do_pause(Engine *e, CtrRecord *rec, void *userdata, KError **err) {
        return ctr_pause(e, rec, *(bool *) userdata, err);
}

K_VERB(pause) {
        bool pause = true;
        if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h")))
                return k_help("pause");
        return each_container(g, "pause", argc, argv, 1, do_pause, &pause, true, err);
}

K_VERB(unpause) {
        bool pause = false;
        if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h")))
                return k_help("unpause");
        return each_container(g, "unpause", argc, argv, 1, do_pause, &pause, true, err);
}

static int do_wait(Engine *e, CtrRecord *rec, void *userdata, KError **err) {
        int code;
        int r = ctr_wait(e, rec->id, &code, err);
        if (r >= 0)
                printf("%d\n", code);
        return r;
}

K_VERB(wait) {
        if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h")))
                return k_help("wait");
        return each_container(g, "wait", argc, argv, 1, do_wait, NULL, false, err);
}

K_VERB(rename) {
        if (argc != 3)
                return k_usage(err, "rename", "expected CONTAINER NEW_NAME");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open(g, &e, err);
        if (r >= 0)
                r = db_ctr_get(e->db, argv[1], &rec, err);
        if (r < 0)
                return r;
        return ctr_rename(e, rec, argv[2], err);
}

K_VERB(attach) {
        static const struct option opts[] = { { "no-stdin", no_argument, NULL, 'n' }, { "detach-keys", required_argument, NULL, 'k' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        bool with_stdin = true;
        int c;
        while ((c = getopt_long(argc, argv, "+", opts, NULL)) >= 0)
                switch (c) {
                case 'n': with_stdin = false; break;
                case 'k':
                        if (k_set_detach_keys(optarg, err) < 0)
                                return -EINVAL;
                        break;
                case 'h': return k_help("attach");
                default: return k_usage(err, "attach", "unknown option");
                }
        if (argc - optind != 1)
                return k_usage(err, "attach", "expected exactly one CONTAINER");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open_one(g, argv[optind], &e, &rec, err);
        if (r >= 0 && (r = need_running(rec, err)) >= 0) {
                bool open_stdin = json_is_true(json_object_get(json_object_get(rec->config, "Config"), "OpenStdin"));
                int code = 0;
                r = k_attach_stream(e, rec, false, with_stdin && open_stdin, &code, err);
                if (r >= 0)
                        return code;
        }
        return r;
}
