/* SPDX-License-Identifier: Apache-2.0 */
/* run and create: docker's flags -> {"Config": ..., "HostConfig": ...}, stored with the container. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr-create.h"
#include "ctr-mounts.h"
#include "ctr-ops.h"
#include "ctr-limits.h"
#include "kapsel-cli.h"
#include "spec-gen.h"
#include "string-util.h"
#include "time-util.h"
#include "vm-config.h"
#include "volume.h"

enum {
        OPT_RM = 1000, OPT_NAME, OPT_ENV_FILE, OPT_TMPFS, OPT_ENTRYPOINT, OPT_MEMORY, OPT_CPUS, OPT_PIDS, OPT_READ_ONLY,
        OPT_CAP_ADD, OPT_CAP_DROP, OPT_RESTART, OPT_INIT, OPT_NETWORK, OPT_DNS, OPT_ADD_HOST, OPT_STOP_SIGNAL,
        OPT_PUBLISH_ALL, OPT_ISOLATION, OPT_KERNEL, OPT_PULL, OPT_NETWORK_ALIAS,
        OPT_MOUNT, OPT_PRIVILEGED, OPT_DEVICE, OPT_PID, OPT_HEALTH_CMD, OPT_HEALTH_INTERVAL, OPT_HEALTH_TIMEOUT,
        OPT_HEALTH_RETRIES, OPT_HEALTH_START, OPT_NO_HEALTHCHECK, OPT_BOOT_TIMEOUT, OPT_DETACH_KEYS,
};

static const struct option run_opts[] = {
        { "detach", no_argument, NULL, 'd' },           { "interactive", no_argument, NULL, 'i' },
        { "tty", no_argument, NULL, 't' },              { "rm", no_argument, NULL, OPT_RM },
        { "name", required_argument, NULL, OPT_NAME },  { "env", required_argument, NULL, 'e' },
        { "env-file", required_argument, NULL, OPT_ENV_FILE }, { "workdir", required_argument, NULL, 'w' },
        { "user", required_argument, NULL, 'u' },       { "volume", required_argument, NULL, 'v' },
        { "tmpfs", required_argument, NULL, OPT_TMPFS }, { "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
        { "hostname", required_argument, NULL, 'h' },   { "memory", required_argument, NULL, 'm' },
        { "cpus", required_argument, NULL, OPT_CPUS },  { "pids-limit", required_argument, NULL, OPT_PIDS },
        { "read-only", no_argument, NULL, OPT_READ_ONLY }, { "cap-add", required_argument, NULL, OPT_CAP_ADD },
        { "cap-drop", required_argument, NULL, OPT_CAP_DROP }, { "restart", required_argument, NULL, OPT_RESTART },
        { "init", no_argument, NULL, OPT_INIT },        { "network", required_argument, NULL, OPT_NETWORK },
        { "net", required_argument, NULL, OPT_NETWORK }, { "dns", required_argument, NULL, OPT_DNS },
        { "add-host", required_argument, NULL, OPT_ADD_HOST }, { "stop-signal", required_argument, NULL, OPT_STOP_SIGNAL },
        { "label", required_argument, NULL, 'l' },      { "publish", required_argument, NULL, 'p' },
        { "publish-all", no_argument, NULL, 'P' },      { "isolation", required_argument, NULL, OPT_ISOLATION },
        { "kernel", required_argument, NULL, OPT_KERNEL },
        { "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
        { "detach-keys", required_argument, NULL, OPT_DETACH_KEYS },
        { "pull", required_argument, NULL, OPT_PULL },
        { "network-alias", required_argument, NULL, OPT_NETWORK_ALIAS },
        { "mount", required_argument, NULL, OPT_MOUNT }, { "privileged", no_argument, NULL, OPT_PRIVILEGED },
        { "device", required_argument, NULL, OPT_DEVICE }, { "pid", required_argument, NULL, OPT_PID },
        { "health-cmd", required_argument, NULL, OPT_HEALTH_CMD },
        { "health-interval", required_argument, NULL, OPT_HEALTH_INTERVAL },
        { "health-timeout", required_argument, NULL, OPT_HEALTH_TIMEOUT },
        { "health-retries", required_argument, NULL, OPT_HEALTH_RETRIES },
        { "health-start-period", required_argument, NULL, OPT_HEALTH_START },
        { "no-healthcheck", no_argument, NULL, OPT_NO_HEALTHCHECK },
        { "help", no_argument, NULL, 1 },
        {}
};

static void arr_add(json_t *section, const char *key, const char *value) {
        json_t *a = json_object_get(section, key);
        if (!a) {
                a = json_array();
                json_object_set_new(section, key, a);
        }
        json_array_append_new(a, json_string(value));
}

/* "--env-file": KEY=VALUE lines, # comments, a bare KEY takes the value from our environment. */
static int read_env_file(const char *verb, const char *path, json_t *cfg, KError **err) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return kerr_kind(err, KERR_USAGE, -errno, "%s: --env-file %s", verb, path);
        char line[8192];
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\r\n")] = 0;
                const char *l = line + strspn(line, " \t");
                if (!*l || *l == '#')
                        continue;
                if (strchr(l, '='))
                        arr_add(cfg, "Env", l);
                else if (getenv(l)) {
                        _cleanup_free_ char *kv = NULL;
                        if (asprintf(&kv, "%s=%s", l, getenv(l)) < 0)
                                return -ENOMEM;
                        arr_add(cfg, "Env", kv);
                }
        }
        return 0;
}

static int parse_restart(const char *verb, const char *s, json_t *host, KError **err) {
        _cleanup_free_ char *name = strdup(s);
        if (!name)
                return -ENOMEM;
        char *colon = strchr(name, ':');
        int64_t max = 0;
        if (colon) {
                *colon++ = 0;
                if (parse_int64(colon, &max) < 0 || max < 0)
                        return k_usage(err, verb, "--restart %s: \"%s\" is not a retry count", s, colon);
        }
        if (!streq(name, "no") && !streq(name, "always") && !streq(name, "on-failure") && !streq(name, "unless-stopped"))
                return k_usage(err, verb, "--restart \"%s\": expected no, on-failure[:N], always or unless-stopped", s);
        if (colon && !streq(name, "on-failure"))
                return k_usage(err, verb, "--restart %s: only on-failure takes a retry count", s);
        json_object_set_new(host, "RestartPolicy", json_pack("{s:s, s:I}", "Name", name, "MaximumRetryCount", (json_int_t) max));
        return 0;
}

/* --health-*: docker's Config.Healthcheck (Test, Interval, Timeout, Retries, StartPeriod). */
static int parse_health(const char *verb, int c, const char *arg, json_t *cfg, KError **err) {
        json_t *hc = json_object_get(cfg, "Healthcheck");
        if (!hc)
                json_object_set_new(cfg, "Healthcheck", hc = json_object());
        static const char *const keys[] = { [OPT_HEALTH_INTERVAL - OPT_HEALTH_INTERVAL] = "Interval",
                                            [OPT_HEALTH_TIMEOUT - OPT_HEALTH_INTERVAL] = "Timeout",
                                            [OPT_HEALTH_START - OPT_HEALTH_INTERVAL] = "StartPeriod" };
        int64_t n;
        switch (c) {
        case OPT_HEALTH_CMD: json_object_set_new(hc, "Test", json_pack("[s, s]", "CMD-SHELL", arg)); break;
        case OPT_NO_HEALTHCHECK: json_object_set_new(hc, "Test", json_pack("[s]", "NONE")); break;
        case OPT_HEALTH_RETRIES:
                if (parse_int64(arg, &n) < 0 || n < 1)
                        return k_usage(err, verb, "--health-retries \"%s\": expected a positive number", arg);
                json_object_set_new(hc, "Retries", json_integer(n));
                break;
        default:
                if (parse_duration_ns(arg, &n) < 0 || (n == 0 && c != OPT_HEALTH_START))
                        return k_usage(err, verb, "--%s \"%s\": expected a duration like 30s, 1m30s or 500ms",
                                       c == OPT_HEALTH_INTERVAL ? "health-interval" : c == OPT_HEALTH_TIMEOUT ? "health-timeout"
                                                                                      : "health-start-period", arg);
                json_object_set_new(hc, keys[c - OPT_HEALTH_INTERVAL], json_integer(n));
        }
        return 0;
}

/* --device HOST[:CONTAINER[:PERMS]] -> HostConfig.Devices (docker's shape). */
static int parse_device(const char *verb, const char *arg, json_t *host, KError **err) {
        _cleanup_free_ char *copy = strdup(arg);
        if (!copy)
                return -ENOMEM;
        char *in = strchr(copy, ':'), *perms = NULL;
        if (in) {
                *in++ = 0;
                perms = strchr(in, ':');
                if (perms)
                        *perms++ = 0;
                else if (*in && strspn(in, "rwm") == strlen(in)) {
                        perms = in;     /* /dev/x:rw */
                        in = NULL;
                }
        }
        if (copy[0] != '/')
                return k_usage(err, verb, "--device \"%s\": expected /dev/HOST[:/dev/CONTAINER[:rwm]]", arg);
        json_t *a = json_object_get(host, "Devices");
        if (!a)
                json_object_set_new(host, "Devices", a = json_array());
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "PathOnHost", copy, "PathInContainer", in && *in ? in : copy,
                                           "CgroupPermissions", perms && *perms ? perms : "rwm"));
        return 0;
}

static int parse_one(const char *verb, int c, const char *arg, RunRequest *req, KError **err) {
        json_t *cfg = json_object_get(req->config, "Config"), *host = json_object_get(req->config, "HostConfig");
        uint64_t u;
        int64_t n;
        switch (c) {
        case 'd': req->detach = true; break;
        case 'i': req->interactive = true; json_object_set_new(cfg, "OpenStdin", json_true()); break;
        case 't': req->tty = true; json_object_set_new(cfg, "Tty", json_true()); break;
        case OPT_RM: req->rm = true; json_object_set_new(host, "AutoRemove", json_true()); break;
        case OPT_NAME: req->name = arg; break;
        case 'e':
                if (strchr(arg, '='))
                        arr_add(cfg, "Env", arg);
                else if (getenv(arg)) {
                        _cleanup_free_ char *kv = NULL;
                        if (asprintf(&kv, "%s=%s", arg, getenv(arg)) < 0)
                                return -ENOMEM;
                        arr_add(cfg, "Env", kv);
                }
                break;
        case OPT_ENV_FILE: return read_env_file(verb, arg, cfg, err);
        case 'w': json_object_set_new(cfg, "WorkingDir", json_string(arg)); break;
        case 'u': json_object_set_new(cfg, "User", json_string(arg)); break;
        case 'v': {
                BindSpec b;
                int r = bind_spec_parse(arg, &b, err);
                if (r < 0)
                        return kerr_prefix(err, r, "%s", verb);
                bind_spec_done(&b);
                arr_add(host, "Binds", arg);
                break;
        }
        case OPT_TMPFS: {
                _cleanup_free_ char *dst = strdup(arg);
                char *colon = dst ? strchr(dst, ':') : NULL;
                if (colon)
                        *colon++ = 0;
                if (!dst || dst[0] != '/')
                        return k_usage(err, verb, "--tmpfs \"%s\": the destination must be an absolute path", arg);
                json_t *t = json_object_get(host, "Tmpfs");
                if (!t)
                        json_object_set_new(host, "Tmpfs", t = json_object());
                json_object_set_new(t, dst, json_string(colon ?: ""));
                break;
        }
        case OPT_ENTRYPOINT: json_object_set_new(cfg, "Entrypoint", *arg ? json_pack("[s]", arg) : json_array()); break;
        case 'h': json_object_set_new(cfg, "Hostname", json_string(arg)); break;
        case 'm':
                if (parse_size(arg, &u) < 0 || u == 0)
                        return k_usage(err, verb, "--memory \"%s\": expected a size like 64m or 1g", arg);
                json_object_set_new(host, "Memory", json_integer((json_int_t) u));
                break;
        case OPT_CPUS: {
                int64_t nano;
                int r = ctr_parse_cpus(arg, &nano, err);
                if (r < 0)
                        return r;
                json_object_set_new(host, "NanoCpus", json_integer((json_int_t) nano));
                break;
        }
        case OPT_PIDS:
                if (parse_int64(arg, &n) < 0 || n == 0)
                        return k_usage(err, verb, "--pids-limit \"%s\": expected a positive number (or -1)", arg);
                json_object_set_new(host, "PidsLimit", json_integer(n));
                break;
        case OPT_READ_ONLY: json_object_set_new(host, "ReadonlyRootfs", json_true()); break;
        case OPT_CAP_ADD: arr_add(host, "CapAdd", arg); break;
        case OPT_CAP_DROP: arr_add(host, "CapDrop", arg); break;
        case OPT_RESTART: return parse_restart(verb, arg, host, err);
        case OPT_INIT: json_object_set_new(host, "Init", json_true()); break;
        case OPT_NETWORK: json_object_set_new(host, "NetworkMode", json_string(arg)); break;
        case OPT_DNS: arr_add(host, "Dns", arg); break;
        case OPT_NETWORK_ALIAS: arr_add(host, "NetworkAliases", arg); break;
        case OPT_MOUNT: {
                json_t *m;
                int r = ctr_mount_parse(arg, &m, err);
                if (r < 0)
                        return r;
                json_t *a = json_object_get(host, "Mounts");
                if (!a)
                        json_object_set_new(host, "Mounts", a = json_array());
                json_array_append_new(a, m);
                break;
        }
        case OPT_PRIVILEGED: json_object_set_new(host, "Privileged", json_true()); break;
        case OPT_HEALTH_CMD: case OPT_HEALTH_INTERVAL: case OPT_HEALTH_TIMEOUT: case OPT_HEALTH_RETRIES:
        case OPT_HEALTH_START: case OPT_NO_HEALTHCHECK:
                return parse_health(verb, c, arg, cfg, err);
        case OPT_DEVICE: return parse_device(verb, arg, host, err);
        case OPT_PID:
                if (!streq(arg, "host"))
                        return k_usage(err, verb, "--pid \"%s\": only \"host\" is supported", arg);
                json_object_set_new(host, "PidMode", json_string(arg));
                break;
        case OPT_ADD_HOST:
                if (!strchr(arg, ':') || arg[0] == ':')
                        return k_usage(err, verb, "--add-host \"%s\": expected NAME:IP", arg);
                arr_add(host, "ExtraHosts", arg);
                break;
        case OPT_STOP_SIGNAL: {
                int sig;
                if (parse_signal(arg, &sig) < 0)
                        return k_usage(err, verb, "--stop-signal \"%s\": unknown signal", arg);
                json_object_set_new(cfg, "StopSignal", json_string(arg));
                break;
        }
        case 'l': {
                json_t *labels = json_object_get(cfg, "Labels");
                const char *eq = strchr(arg, '=');
                _cleanup_free_ char *key = strndup(arg, eq ? (size_t) (eq - arg) : strlen(arg));
                if (!key)
                        return -ENOMEM;
                json_object_set_new(labels, key, json_string(eq ? eq + 1 : ""));
                break;
        }
        case 'p': arr_add(host, "PortSpecs", arg); break;
        case 'P': json_object_set_new(host, "PublishAllPorts", json_true()); break;
        case OPT_ISOLATION:
                if (!streq(arg, "container") && !streq(arg, "vm") && !streq(arg, "default"))
                        return k_usage(err, verb, "--isolation \"%s\": expected container or vm", arg);
                /* default: the network's or the image's io.kapsel.isolation label decides (at create) */
                if (streq(arg, "default"))
                        json_object_del(host, "Isolation");
                else
                        json_object_set_new(host, "Isolation", json_string(arg));
                break;
        case OPT_KERNEL: {
                /* the monitor runs elsewhere: keep an absolute path (checked at create) */
                _cleanup_free_ char *abs = arg[0] == '/' ? strdup(arg) : realpath(arg, NULL);
                if (!abs)
                        return k_usage(err, verb, "--kernel %s: %s", arg, strerror(errno));
                json_object_set_new(host, "VmKernel", json_string(abs));
                break;
        }
        case OPT_BOOT_TIMEOUT: {
                /* --isolation=vm: the guest must reach its init within this (vm-config.h) */
                int secs;
                int r = vm_config_parse_boot_timeout(arg, &secs, err);
                if (r < 0)
                        return r;
                json_object_set_new(host, "VmBootTimeout", json_integer(secs));
                break;
        }
        case OPT_DETACH_KEYS:   /* run -it: docker's keys to leave the container running */
                return k_set_detach_keys(arg, err) < 0 ? -EINVAL : 0;
        case OPT_PULL: {
                static const char *const modes[] = { [CTR_PULL_MISSING] = "missing", [CTR_PULL_ALWAYS] = "always",
                                                     [CTR_PULL_NEVER] = "never" };
                for (req->pull = 0; req->pull < (int) ELEMENTSOF(modes); req->pull++)
                        if (streq(arg, modes[req->pull]))
                                return 0;
                return k_usage(err, verb, "--pull \"%s\": expected missing, always or never", arg);
        }
        case 1: return k_help(verb);
        default: return k_usage(err, verb, "unknown option");
        }
        return 0;
}

int k_parse_run(const char *verb, int argc, char **argv, RunRequest *req, KError **err) {
        *req = (RunRequest) { .config = json_pack("{s:{s:{}}, s:{s:s}}", "Config", "Labels", "HostConfig", "NetworkMode",
                                                  "default") };
        int c;
        while ((c = getopt_long(argc, argv, "+dite:w:u:v:h:m:l:p:P", run_opts, NULL)) >= 0) {
                int r = parse_one(verb, c, optarg, req, err);
                if (r != 0)
                        return r;
        }
        if (optind >= argc)
                return k_usage(err, verb, "missing IMAGE");
        req->image = argv[optind];
        req->args = argv + optind + 1;
        req->n_args = argc - optind - 1;
        json_t *cfg = json_object_get(req->config, "Config");
        json_object_set_new(cfg, "Image", json_string(req->image));
        if (req->n_args > 0) {
                json_t *cmd = json_array();
                for (int i = 0; i < req->n_args; i++)
                        json_array_append_new(cmd, json_string(req->args[i]));
                json_object_set_new(cfg, "Cmd", cmd);
        }
        if (req->rm && json_object_get(json_object_get(req->config, "HostConfig"), "RestartPolicy") &&
            !streq(json_string_value(json_object_get(json_object_get(json_object_get(req->config, "HostConfig"),
                                                                     "RestartPolicy"), "Name")), "no"))
                return k_usage(err, verb, "--rm and --restart cannot be combined");
        return 0;
}

/* The engine's request of a parsed run/create command line. */
static int create_from(Engine *e, const RunRequest *req, char ret_id[static 65], KError **err) {
        CtrCreateRequest c = { .config = req->config, .image = req->image, .name = req->name, .pull = req->pull };
        return ctr_create(e, &c, ret_id, err);
}

K_VERB(create) {
        RunRequest req;
        int r = k_parse_run("create", argc, argv, &req, err);
        if (r != 0) {
                json_decref(req.config);
                return r < 0 ? r : 0;
        }
        _cleanup_(engine_freep) Engine *e = NULL;
        char id[65];
        if ((r = k_open(g, &e, err)) >= 0 && (r = create_from(e, &req, id, err)) >= 0)
                printf("%s\n", id);
        json_decref(req.config);
        return r < 0 ? r : 0;
}

K_VERB(run) {
        RunRequest req;
        int r = k_parse_run("run", argc, argv, &req, err);
        if (r != 0) {
                json_decref(req.config);
                return r < 0 ? r : 0;
        }
        _cleanup_(engine_freep) Engine *e = NULL;
        char id[65];
        r = k_open(g, &e, err);
        if (r >= 0)
                r = create_from(e, &req, id, err);
        json_decref(req.config);
        if (r < 0)
                return r;
        int code;
        if ((r = k_start_new(e, id, req.detach, req.rm, req.interactive, &code, err)) < 0)
                return r;
        if (req.rm && !req.detach) {
                /* docker returns after the removal: wait for the monitor to finish it */
                for (int i = 0; i < 200; i++) {
                        _cleanup_(ctr_record_freep) CtrRecord *gone = NULL;
                        if (db_ctr_get(e->db, id, &gone, NULL) < 0 || !ctr_monitor_alive(gone))
                                break;
                        usleep(10000);
                }
        }
        return code;
}
