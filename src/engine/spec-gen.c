/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "path-util.h"
#include "spec-gen.h"
#include "spec.h"
#include "string-util.h"

/* Docker's default capability set (moby oci/caps/defaults.go lists the same fourteen). */
static const char *const default_caps[] = {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL", "CAP_AUDIT_WRITE",
};

/* Syscalls a container has no business making; each is a known escape or information-leak path
 * (open_by_handle_at: the 2014 "shocker" escape; keyctl: keyrings are not namespaced; bpf,
 * perf_event_open, userfaultfd: kernel attack surface). The capability set already stops most;
 * this denies them with EPERM even if a capability is added. */
static const char *const denied_syscalls[] = {
        "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "delete_module", "finit_module",
        "fsconfig", "fsmount", "fsopen", "fspick", "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load",
        "kexec_load", "keyctl", "lookup_dcookie", "move_mount", "name_to_handle_at", "open_by_handle_at",
        "open_tree", "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev", "quotactl",
        "reboot", "request_key", "settimeofday", "swapoff", "swapon", "syslog", "uselib", "userfaultfd",
        "vm86", "vm86old",
};

/* Denied too unless the user grants CAP_SYS_ADMIN, which makes them legitimate. */
static const char *const denied_without_sys_admin[] = {
        "mount", "umount2", "unshare", "setns",
};

static json_t *cfg_get(const json_t *cfg, const char *section, const char *key) {
        return json_object_get(json_object_get(cfg, section), key);
}

static const char *cfg_str(const json_t *cfg, const char *section, const char *key) {
        const char *s = json_string_value(cfg_get(cfg, section, key));
        return s && *s ? s : NULL;
}

static int strv_from_json(const json_t *a, char ***ret) {
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e)
                if (json_is_string(e) && strv_extend(&v, json_string_value(e)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

int spec_gen_args(const ImageConfig *image, const json_t *cfg, char ***ret, KError **err) {
        /* Config.Entrypoint given (even empty) replaces the image's and drops its Cmd, as docker does. */
        json_t *ep = cfg_get(cfg, "Config", "Entrypoint");
        json_t *cmd = cfg_get(cfg, "Config", "Cmd");
        _cleanup_strv_free_ char **args = NULL;
        if (strv_from_json(NULL, &args) < 0)
                return kerr(err, -ENOMEM, "arguments");
        char **img_ep = image ? image->entrypoint : NULL, **img_cmd = image ? image->cmd : NULL;
        if (json_is_array(ep)) {
                _cleanup_strv_free_ char **v = NULL;
                if (strv_from_json(ep, &v) < 0)
                        return kerr(err, -ENOMEM, "arguments");
                for (char **p = v; *p; p++)
                        if (strv_extend(&args, *p) < 0)
                                return kerr(err, -ENOMEM, "arguments");
                img_cmd = NULL;
        } else
                for (char **p = img_ep; p && *p; p++)
                        if (strv_extend(&args, *p) < 0)
                                return kerr(err, -ENOMEM, "arguments");
        if (json_array_size(cmd) > 0) {
                _cleanup_strv_free_ char **v = NULL;
                if (strv_from_json(cmd, &v) < 0)
                        return kerr(err, -ENOMEM, "arguments");
                for (char **p = v; *p; p++)
                        if (strv_extend(&args, *p) < 0)
                                return kerr(err, -ENOMEM, "arguments");
        } else
                for (char **p = img_cmd; p && *p; p++)
                        if (strv_extend(&args, *p) < 0)
                                return kerr(err, -ENOMEM, "arguments");
        if (!args[0])
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "no command: the image has no Entrypoint or Cmd; give one after the image name");
        *ret = TAKE_PTR(args);
        return 0;
}

int bind_spec_parse(const char *s, BindSpec *ret, KError **err) {
        _cleanup_strv_free_ char **parts = NULL;
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        size_t n = 0;
        for (char *save = NULL, *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save), n++)
                if (strv_extend(&parts, t) < 0)
                        return -ENOMEM;
        if (n < 2 || n > 3 || strchr(s, ':') == s)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "invalid volume \"%s\": expected SOURCE:DESTINATION[:ro|rw] "
                                "(SOURCE an absolute host path or a volume name)", s);
        BindSpec b = { 0 };
        if (!path_is_absolute(parts[1]))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "invalid volume \"%s\": the destination \"%s\" must be an absolute path", s, parts[1]);
        if (n == 3) {
                _cleanup_free_ char *opts = strdup(parts[2]);
                for (char *save = NULL, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
                        if (streq(o, "ro"))
                                b.readonly = true;
                        else if (!streq(o, "rw") && !streq(o, "z") && !streq(o, "Z") && !streq(o, "nocopy"))
                                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                                "invalid volume \"%s\": unknown option \"%s\" (ro, rw)", s, o);
                }
        }
        b.is_volume = !path_is_absolute(parts[0]);
        if (b.is_volume) {
                for (const char *c = parts[0]; *c; c++)
                        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *c))
                                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                                "invalid volume \"%s\": \"%s\" is neither an absolute host path nor a "
                                                "volume name ([A-Za-z0-9_.-])", s, parts[0]);
        }
        b.source = strdup(parts[0]);
        b.destination = strdup(parts[1]);
        if (!b.source || !b.destination) {
                bind_spec_done(&b);
                return -ENOMEM;
        }
        *ret = b;
        return 0;
}

void bind_spec_done(BindSpec *b) {
        free(b->source);
        free(b->destination);
        *b = (BindSpec) { 0 };
}

/* "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" name one capability. */
static int cap_normalize(const char *c, char name[static 64]) {
        snprintf(name, 64, "%s%s", strncasecmp(c, "CAP_", 4) == 0 ? "" : "CAP_", c);
        for (char *p = name; *p; p++)
                *p = (char) toupper((unsigned char) *p);
        return cap_from_name(name);
}

static json_t *caps_array(const json_t *cfg, KError **err) {
        json_t *caps = json_array();
        json_t *add = cfg_get(cfg, "HostConfig", "CapAdd"), *drop = cfg_get(cfg, "HostConfig", "CapDrop");
        bool drop_all = false;
        size_t i;
        json_t *e;
        json_array_foreach(drop, i, e)
                if (strcasecmp(json_string_value(e) ?: "", "ALL") == 0)
                        drop_all = true;
        if (!drop_all)
                for (i = 0; i < ELEMENTSOF(default_caps); i++)
                        json_array_append_new(caps, json_string(default_caps[i]));
        /* normalize "net_admin", "NET_ADMIN", "CAP_NET_ADMIN"; ALL adds every known capability */
        json_array_foreach(add, i, e) {
                const char *c = json_string_value(e) ?: "";
                if (strcasecmp(c, "ALL") == 0) {
                        json_array_clear(caps);
                        /* only what we hold: a capability outside our bounding set fails the start */
                        for (int k = 0; k <= cap_last_known(); k++)
                                if (cap_to_name(k) && prctl(PR_CAPBSET_READ, k, 0, 0, 0) == 1)
                                        json_array_append_new(caps, json_string(cap_to_name(k)));
                        continue;
                }
                char name[64];
                if (cap_normalize(c, name) < 0) {
                        json_decref(caps);
                        kerr_msg(err, KERR_USAGE, -EINVAL, "--cap-add: unknown capability \"%s\"", c);
                        return NULL;
                }
                json_array_append_new(caps, json_string(name));
        }
        json_array_foreach(drop, i, e) {
                const char *c = json_string_value(e) ?: "";
                if (strcasecmp(c, "ALL") == 0)
                        continue;
                char name[64];
                if (cap_normalize(c, name) < 0) {
                        json_decref(caps);
                        kerr_msg(err, KERR_USAGE, -EINVAL, "--cap-drop: unknown capability \"%s\"", c);
                        return NULL;
                }
                for (size_t k = json_array_size(caps); k-- > 0;)
                        if (streq(json_string_value(json_array_get(caps, k)), name))
                                json_array_remove(caps, k);
        }
        return caps;
}

/* Image env first, then flags; a later K= replaces an earlier one, as docker merges them. */
static json_t *env_array(const ImageConfig *image, const json_t *cfg, const char *hostname) {
        json_t *env = json_array();
        json_t *flags = cfg_get(cfg, "Config", "Env");
        if (!(image && image->env && image->env[0]))
                json_array_append_new(env, json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        for (char **p = image ? image->env : NULL; p && *p; p++)
                json_array_append_new(env, json_string(*p));
        size_t i;
        json_t *e;
        json_array_foreach(flags, i, e) {
                const char *kv = json_string_value(e);
                if (!kv)
                        continue;
                size_t klen = strcspn(kv, "=");
                for (size_t k = json_array_size(env); k-- > 0;) {
                        const char *old = json_string_value(json_array_get(env, k));
                        if (strncmp(old, kv, klen) == 0 && (old[klen] == '=' || old[klen] == 0))
                                json_array_remove(env, k);
                }
                json_array_append_new(env, json_string(kv));
        }
        if (json_is_true(cfg_get(cfg, "Config", "Tty")))
                json_array_append_new(env, json_string("TERM=xterm"));
        if (hostname)
                json_array_append_new(env, json_pack("s+", "HOSTNAME=", hostname));
        return env;
}

/* --hostname, else the short id (docker's), else "kapsel" (no id given) */
static void default_hostname(const SpecGenInput *in, char buf[static 65]) {
        const char *h = cfg_str(in->config, "Config", "Hostname");
        if (h && *h)
                snprintf(buf, 65, "%s", h);
        else if (in->instance_id && *in->instance_id)
                snprintf(buf, 65, "%.12s", in->instance_id);
        else
                snprintf(buf, 65, "kapsel");
}

static void add_mount(json_t *mounts, const char *dst, const char *type, const char *src, const char *const *opts) {
        json_t *o = json_array();
        for (; opts && *opts; opts++)
                json_array_append_new(o, json_string(*opts));
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type", type, "source", src,
                                                "options", o));
}

static int add_binds(const SpecGenInput *in, json_t *mounts, KError **err) {
        size_t i;
        json_t *e;
        json_array_foreach(cfg_get(in->config, "HostConfig", "Binds"), i, e) {
                BindSpec b;
                int r = bind_spec_parse(json_string_value(e) ?: "", &b, err);
                if (r < 0)
                        return r;
                _cleanup_free_ char *src = NULL;
                if (b.is_volume) {
                        _cleanup_free_ char *vol = path_join(in->volumes_dir, b.source);
                        src = vol ? path_join(vol, "_data") : NULL;
                } else
                        src = strdup(b.source);
                const char *opts[] = { "rbind", b.readonly ? "ro" : "rw", "rprivate", NULL };
                if (src)
                        add_mount(mounts, b.destination, "bind", src, opts);
                bind_spec_done(&b);
                if (!src)
                        return -ENOMEM;
        }
        const char *key;
        json_t *v;
        json_object_foreach(cfg_get(in->config, "HostConfig", "Tmpfs"), key, v) {
                json_t *o = json_array();
                json_array_append_new(o, json_string("nosuid"));
                json_array_append_new(o, json_string("nodev"));
                const char *extra = json_string_value(v);
                _cleanup_free_ char *copy = extra ? strdup(extra) : NULL;
                for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
                        json_array_append_new(o, json_string(t));
                json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:o}", "destination", key, "type", "tmpfs",
                                                        "source", "tmpfs", "options", o));
        }
        return 0;
}

static void add_etc_files(const SpecGenInput *in, json_t *mounts) {
        const char *bind_ro[] = { "rbind", "rprivate", NULL };
        if (in->hosts_path)
                add_mount(mounts, "/etc/hosts", "bind", in->hosts_path, bind_ro);
        if (in->hostname_path)
                add_mount(mounts, "/etc/hostname", "bind", in->hostname_path, bind_ro);
        if (in->resolv_path)
                add_mount(mounts, "/etc/resolv.conf", "bind", in->resolv_path, bind_ro);
        if (in->init_path) {
                const char *init_opts[] = { "bind", "ro", "nosuid", "nodev", NULL };
                add_mount(mounts, "/sbin/kapsel-init", "bind", in->init_path, init_opts);
        }
}

static json_t *seccomp_profile(const json_t *caps) {
        json_t *names = json_array();
        for (size_t i = 0; i < ELEMENTSOF(denied_syscalls); i++)
                json_array_append_new(names, json_string(denied_syscalls[i]));
        bool sys_admin = false;
        size_t i;
        json_t *e;
        json_array_foreach(caps, i, e)
                sys_admin |= streq(json_string_value(e), "CAP_SYS_ADMIN");
        for (i = 0; !sys_admin && i < ELEMENTSOF(denied_without_sys_admin); i++)
                json_array_append_new(names, json_string(denied_without_sys_admin[i]));
        return json_pack("{s:s, s:[s,s,s], s:[{s:o, s:s, s:i}]}", "defaultAction", "SCMP_ACT_ALLOW", "architectures",
                         "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "syscalls", "names", names, "action",
                         "SCMP_ACT_ERRNO", "errnoRet", 1);
}

static int set_resources(const SpecGenInput *in, json_t *lin, KError **err) {
        json_t *res = json_object_get(lin, "resources");
        json_int_t mem = json_integer_value(cfg_get(in->config, "HostConfig", "Memory"));
        json_int_t nano = json_integer_value(cfg_get(in->config, "HostConfig", "NanoCpus"));
        json_int_t pids = json_integer_value(cfg_get(in->config, "HostConfig", "PidsLimit"));
        json_int_t swap = json_integer_value(cfg_get(in->config, "HostConfig", "MemorySwap"));
        json_int_t shares = json_integer_value(cfg_get(in->config, "HostConfig", "CpuShares"));
        if (mem > 0) {
                if (mem < 6 * 1024 * 1024)
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "--memory %lld bytes is below the minimum of 6 MiB a container needs",
                                        (long long) mem);
                json_object_set_new(res, "memory", json_pack("{s:I}", "limit", mem));
                if (swap == -1 || swap >= mem)  /* memory + swap, as `update --memory-swap` stored it */
                        json_object_set_new(json_object_get(res, "memory"), "swap", json_integer(swap));
        }
        if (nano > 0)
                json_object_set_new(res, "cpu", json_pack("{s:I, s:I}", "quota", nano / 10000, "period", (json_int_t) 100000));
        if (pids > 0)
                json_object_set_new(res, "pids", json_pack("{s:I}", "limit", pids));
        if (shares > 0) {
                json_t *cpu = json_object_get(res, "cpu");
                if (!cpu)
                        json_object_set_new(res, "cpu", cpu = json_object());
                json_object_set_new(cpu, "shares", json_integer(shares));
        }
        if (in->cgroups_path)
                json_object_set_new(lin, "cgroupsPath", json_string(in->cgroups_path));
        return 0;
}

static void set_namespaces(const SpecGenInput *in, json_t *lin) {
        json_t *ns = json_object_get(lin, "namespaces");
        for (size_t i = json_array_size(ns); i-- > 0;) {
                json_t *e = json_array_get(ns, i);
                if (!streq(json_string_value(json_object_get(e, "type")), "network"))
                        continue;
                if (in->host_network)
                        json_array_remove(ns, i);
                else if (in->netns_path)
                        json_object_set_new(e, "path", json_string(in->netns_path));
        }
}

static int set_process(const SpecGenInput *in, json_t *spec, KError **err) {
        json_t *proc = json_object_get(spec, "process");
        _cleanup_strv_free_ char **args = NULL;
        int r = spec_gen_args(in->image, in->config, &args, err);
        if (r < 0)
                return r;
        json_t *a = json_array();
        if (in->init_path) {
                json_array_append_new(a, json_string("/sbin/kapsel-init"));
                json_array_append_new(a, json_string("--"));
        }
        for (char **p = args; *p; p++)
                json_array_append_new(a, json_string(*p));
        json_object_set_new(proc, "args", a);
        char hostname[65];
        default_hostname(in, hostname);
        json_object_set_new(proc, "env", env_array(in->image, in->config, in->host_network ? NULL : hostname));
        const char *cwd = cfg_str(in->config, "Config", "WorkingDir") ?: (in->image ? in->image->working_dir : NULL);
        if (cwd && !path_is_absolute(cwd))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--workdir \"%s\": must be an absolute path", cwd);
        json_object_set_new(proc, "cwd", json_string(cwd ?: "/"));
        json_object_set_new(proc, "terminal", json_boolean(json_is_true(cfg_get(in->config, "Config", "Tty"))));
        json_t *gids = json_array();
        for (size_t i = 0; i < in->n_additional_gids; i++)
                json_array_append_new(gids, json_integer(in->additional_gids[i]));
        json_object_set_new(proc, "user", json_pack("{s:I, s:I, s:o}", "uid", (json_int_t) in->uid, "gid",
                                                     (json_int_t) in->gid, "additionalGids", gids));
        json_t *caps = caps_array(in->config, err);
        if (!caps)
                return -EINVAL;
        json_object_set_new(proc, "capabilities",
                            json_pack("{s:O, s:O, s:O}", "bounding", caps, "effective", caps, "permitted", caps));
        json_decref(caps);
        json_object_del(proc, "rlimits");         /* inherit the host's, as docker does without --ulimit */
        json_object_set_new(proc, "noNewPrivileges", json_false());
        return 0;
}

int spec_gen(const SpecGenInput *in, json_t **ret, KError **err) {
        _cleanup_free_ char *base = spec_default_json(false, 0, 0);
        json_t *spec = base ? json_loads(base, 0, NULL) : NULL;
        if (!spec)
                return kerr(err, -ENOMEM, "default spec");
        json_t *lin = json_object_get(spec, "linux");
        int r = set_process(in, spec, err);
        if (r >= 0)
                r = set_resources(in, lin, err);
        if (r < 0) {
                json_decref(spec);
                return r;
        }
        json_object_set_new(spec, "root", json_pack("{s:s, s:b}", "path", in->rootfs, "readonly",
                                                    json_is_true(cfg_get(in->config, "HostConfig", "ReadonlyRootfs"))));
        char hostname[65];
        default_hostname(in, hostname);
        if (in->host_network)
                json_object_del(spec, "hostname");
        else
                json_object_set_new(spec, "hostname", json_string(hostname));
        set_namespaces(in, lin);
        json_object_set_new(lin, "seccomp",
                            seccomp_profile(json_object_get(json_object_get(json_object_get(spec, "process"), "capabilities"),
                                                            "bounding")));
        json_t *mounts = json_object_get(spec, "mounts");
        add_etc_files(in, mounts);
        if ((r = add_binds(in, mounts, err)) < 0 || (r = spec_gen_host(in->config, spec, err)) < 0) {
                json_decref(spec);
                return r;
        }
        *ret = spec;
        return 0;
}

int spec_write_bundle(const char *bundle, json_t *spec, KError **err) {
        _cleanup_free_ char *text = json_dump_string(spec, true);
        json_decref(spec);
        if (mkdir(bundle, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s", bundle);
        _cleanup_close_ int bfd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (!text || bfd < 0)
                return kerr(err, bfd < 0 ? -errno : -ENOMEM, "bundle %s", bundle);
        int r = write_file_atomic_at(bfd, "config.json", text, strlen(text), 0600);
        return r < 0 ? kerr(err, r, "write %s/config.json", bundle) : 0;
}
