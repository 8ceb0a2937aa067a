/* SPDX-License-Identifier: Apache-2.0 */
/* config.json -> Spec: the platform-independent sections (runtime-spec config.md):
 * ociVersion, root, process, hostname, domainname, mounts, hooks, annotations.
 * The "linux" section lives in spec-parse-linux.c. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>

#include "fd-util.h"
#include "json-util.h"
#include "log.h"
#include "path-util.h"
#include "spec-json.h"
#include "spec.h"
#include "string-util.h"

#define CONFIG_MAX (4u << 20)   /* a config.json larger than 4 MiB is not a config */

/* process.capabilities.<set>: names -> bit mask. Unknown names are ignored with a warning, as
 * runc does: a capability this build does not know cannot be granted, which fails safe. */
static int parse_cap_set(const SpecCtx *c, json_t *caps, const char *where, const char *key, uint64_t *ret) {
        _cleanup_strv_free_ char **names = NULL;
        char f[FIELD_MAX], fi[FIELD_MAX];
        int r = sp_strv(c, caps, where, key, &names, NULL);
        if (r <= 0)
                return r;
        sp_field(f, where, key);
        for (size_t i = 0; names[i]; i++) {
                int cap = cap_from_name(names[i]);
                if (cap < 0) {
                        if (!startswith(names[i], "CAP_"))
                                return sp_fail(c, sp_index(fi, f, i), "\"%s\" is not a capability name (CAP_*)",
                                               names[i]);
                        log_warn("%s: %s: unknown capability \"%s\" ignored", c->origin, sp_index(fi, f, i),
                                 names[i]);
                        continue;
                }
                *ret |= UINT64_C(1) << cap;
        }
        return 0;
}

static int parse_caps(const SpecCtx *c, json_t *o, const char *where, SpecProcess *p) {
        static const struct {
                const char *key;
                size_t offset;
        } sets[] = {
                { "bounding",    offsetof(SpecCaps, bounding) },
                { "effective",   offsetof(SpecCaps, effective) },
                { "inheritable", offsetof(SpecCaps, inheritable) },
                { "permitted",   offsetof(SpecCaps, permitted) },
                { "ambient",     offsetof(SpecCaps, ambient) },
        };
        json_t *caps;
        char f[FIELD_MAX];
        int r = sp_object(c, o, where, "capabilities", &caps);
        if (r <= 0)
                return r;
        p->has_caps = true;
        sp_field(f, where, "capabilities");
        for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
                r = parse_cap_set(c, caps, f, sets[i].key, (uint64_t *) ((char *) &p->caps + sets[i].offset));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_rlimits(const SpecCtx *c, json_t *o, const char *where, SpecProcess *p) {
        json_t *a, *e;
        char f[FIELD_MAX], fi[FIELD_MAX];
        size_t i;
        int r = sp_array(c, o, where, "rlimits", &a);
        if (r <= 0)
                return r;
        sp_field(f, where, "rlimits");
        json_array_foreach(a, i, e) {
                _cleanup_free_ char *type = NULL;
                bool has_soft, has_hard;
                SpecRlimit rl = {};
                sp_index(fi, f, i);
                if (!json_is_object(e))
                        return sp_fail(c, fi, "expected an object");
                if ((r = sp_string_req(c, e, fi, "type", &type)) < 0 ||
                    (r = sp_uint64(c, e, fi, "soft", &rl.soft, &has_soft)) < 0 ||
                    (r = sp_uint64(c, e, fi, "hard", &rl.hard, &has_hard)) < 0)
                        return r;
                rl.resource = rlimit_from_name(type);
                if (rl.resource < 0)
                        return sp_fail(c, fi, "unknown rlimit type \"%s\" (expected RLIMIT_NOFILE, RLIMIT_NPROC, ...)",
                                       type);
                if (!has_soft || !has_hard)
                        return sp_fail(c, fi, "%s needs both \"soft\" and \"hard\"", type);
                if (rl.soft > rl.hard)
                        return sp_fail(c, fi, "%s soft limit %llu is above its hard limit %llu", type,
                                       (unsigned long long) rl.soft, (unsigned long long) rl.hard);
                for (size_t j = 0; j < p->n_rlimits; j++)
                        if (p->rlimits[j].resource == rl.resource)
                                return sp_fail(c, fi, "%s is given twice", type);
                SpecRlimit *slot = sp_grow((void **) &p->rlimits, &p->n_rlimits, sizeof(*slot));
                if (!slot)
                        return kerr(c->err, -ENOMEM, "%s", c->origin);
                *slot = rl;
        }
        return 0;
}

static int parse_user(const SpecCtx *c, json_t *o, const char *where, SpecUser *u) {
        json_t *user, *gids;
        char f[FIELD_MAX], fg[FIELD_MAX], fi[FIELD_MAX];
        uint64_t v;
        bool has;
        int r = sp_object(c, o, where, "user", &user);
        if (r <= 0)
                return r;
        sp_field(f, where, "user");
        if ((r = sp_range(c, user, f, "uid", 0, UINT32_MAX - 1, &v, &has)) < 0)
                return r;
        u->uid = has ? (uid_t) v : 0;
        if ((r = sp_range(c, user, f, "gid", 0, UINT32_MAX - 1, &v, &has)) < 0)
                return r;
        u->gid = has ? (gid_t) v : 0;
        if ((r = sp_range(c, user, f, "umask", 0, 0777, &v, &u->has_umask)) < 0)
                return r;
        u->umask = (mode_t) v;
        if ((r = sp_string(c, user, f, "username", &u->username)) < 0)
                return r;
        if ((r = sp_array(c, user, f, "additionalGids", &gids)) <= 0)
                return r;
        sp_field(fg, f, "additionalGids");
        u->additional_gids = calloc(json_array_size(gids) + 1, sizeof(gid_t));
        if (!u->additional_gids)
                return kerr(c->err, -ENOMEM, "%s", c->origin);
        size_t i;
        json_t *e;
        json_array_foreach(gids, i, e) {
                if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= UINT32_MAX)
                        return sp_fail(c, sp_index(fi, fg, i), "expected a group id (0..4294967294)");
                u->additional_gids[u->n_additional_gids++] = (gid_t) json_integer_value(e);
        }
        return 0;
}

static int parse_process_obj(const SpecCtx *c, json_t *o, const char *where, SpecProcess *p) {
        char f[FIELD_MAX], fi[FIELD_MAX];
        uint64_t v;
        int64_t oom;
        int r;

        if ((r = sp_bool(c, o, where, "terminal", &p->terminal, NULL)) < 0)
                return r;
        json_t *cs;
        if ((r = sp_object(c, o, where, "consoleSize", &cs)) < 0)
                return r;
        if (cs) {
                sp_field(f, where, "consoleSize");
                p->has_console_size = true;
                if ((r = sp_range(c, cs, f, "height", 0, UINT16_MAX, &v, NULL)) < 0)
                        return r;
                p->console_height = (unsigned) v;
                v = 0;
                if ((r = sp_range(c, cs, f, "width", 0, UINT16_MAX, &v, NULL)) < 0)
                        return r;
                p->console_width = (unsigned) v;
        }
        if ((r = parse_user(c, o, where, &p->user)) < 0)
                return r;

        if ((r = sp_strv(c, o, where, "args", &p->args, NULL)) < 0)
                return r;
        if (!p->args || !p->args[0])
                return sp_fail(c, sp_field(f, where, "args"), "must name the program to run (at least one element)");
        if (!p->args[0][0])
                return sp_fail(c, sp_field(f, where, "args[0]"), "the program to run is an empty string");
        if (json_object_get(o, "commandLine"))
                return sp_fail(c, sp_field(f, where, "commandLine"), "is Windows-only; use \"args\"");

        if ((r = sp_strv(c, o, where, "env", &p->env, NULL)) < 0)
                return r;
        for (size_t i = 0; p->env && p->env[i]; i++)
                if (!strchr(p->env[i], '=') || p->env[i][0] == '=')
                        return sp_fail(c, sp_index(fi, sp_field(f, where, "env"), i),
                                       "\"%s\" is not of the form KEY=value", p->env[i]);

        if ((r = sp_abs_path(c, o, where, "cwd", true, &p->cwd)) < 0)
                return r;
        if ((r = parse_caps(c, o, where, p)) < 0 || (r = parse_rlimits(c, o, where, p)) < 0)
                return r;
        if ((r = sp_bool(c, o, where, "noNewPrivileges", &p->no_new_privileges, NULL)) < 0)
                return r;
        if ((r = sp_int64(c, o, where, "oomScoreAdj", &oom, &p->has_oom_score_adj)) < 0)
                return r;
        if (p->has_oom_score_adj) {
                if (oom < -1000 || oom > 1000)
                        return sp_fail(c, sp_field(f, where, "oomScoreAdj"), "%lld is out of range (-1000..1000)",
                                       (long long) oom);
                p->oom_score_adj = (int) oom;
        }
        if ((r = sp_string(c, o, where, "apparmorProfile", &p->apparmor_profile)) < 0 ||
            (r = sp_string(c, o, where, "selinuxLabel", &p->selinux_label)) < 0)
                return r;
        return 0;
}

static int parse_mounts(const SpecCtx *c, json_t *o, Spec *s) {
        json_t *a, *e;
        char fi[FIELD_MAX];
        size_t i;
        int r = sp_array(c, o, "", "mounts", &a);
        if (r <= 0)
                return r;
        s->mounts = calloc(json_array_size(a) + 1, sizeof(SpecMount));
        if (!s->mounts)
                return kerr(c->err, -ENOMEM, "%s", c->origin);
        json_array_foreach(a, i, e) {
                SpecMount *m = &s->mounts[s->n_mounts++];
                sp_index(fi, "mounts", i);
                if (!json_is_object(e))
                        return sp_fail(c, fi, "expected an object");
                if ((r = sp_abs_path(c, e, fi, "destination", true, &m->destination)) < 0 ||
                    (r = sp_string(c, e, fi, "type", &m->type)) < 0 ||
                    (r = sp_string(c, e, fi, "source", &m->source)) < 0 ||
                    (r = sp_strv(c, e, fi, "options", &m->options, &m->n_options)) < 0)
                        return r;
                if (json_object_get(e, "uidMappings") || json_object_get(e, "gidMappings"))
                        return sp_fail(c, fi, "id-mapped mounts (uidMappings/gidMappings) are not supported");
        }
        return 0;
}

static int parse_hooks(const SpecCtx *c, json_t *o, Spec *s) {
        json_t *hooks;
        char f[FIELD_MAX], fi[FIELD_MAX];
        int r = sp_object(c, o, "", "hooks", &hooks);
        if (r <= 0)
                return r;
        for (SpecHookKind k = 0; k < _HOOK_KIND_MAX; k++) {
                json_t *a, *e;
                size_t i;
                const char *name = spec_hook_kind_to_string(k);
                if ((r = sp_array(c, hooks, "hooks", name, &a)) < 0)
                        return r;
                if (!a)
                        continue;
                sp_field(f, "hooks", name);
                s->hooks[k] = calloc(json_array_size(a) + 1, sizeof(SpecHook));
                if (!s->hooks[k])
                        return kerr(c->err, -ENOMEM, "%s", c->origin);
                json_array_foreach(a, i, e) {
                        SpecHook *h = &s->hooks[k][s->n_hooks[k]++];
                        uint64_t t = 0;
                        bool has_t;
                        sp_index(fi, f, i);
                        if (!json_is_object(e))
                                return sp_fail(c, fi, "expected an object");
                        if ((r = sp_abs_path(c, e, fi, "path", true, &h->path)) < 0 ||
                            (r = sp_strv(c, e, fi, "args", &h->args, NULL)) < 0 ||
                            (r = sp_strv(c, e, fi, "env", &h->env, NULL)) < 0 ||
                            (r = sp_range(c, e, fi, "timeout", 0, INT32_MAX, &t, &has_t)) < 0)
                                return r;
                        if (has_t && t == 0)
                                return sp_fail(c, fi, "timeout must be greater than zero");
                        h->timeout = (int) t;
                }
        }
        return 0;
}

static int parse_root(const SpecCtx *c, json_t *o, Spec *s) {
        json_t *root;
        int r = sp_object(c, o, "", "root", &root);
        if (r < 0)
                return r;
        if (!root)
                return sp_fail(c, "root", "missing: the container needs a root filesystem (\"root\": {\"path\": \"rootfs\"})");
        if ((r = sp_string_req(c, root, "root", "path", &s->root_path)) < 0 ||
            (r = sp_bool(c, root, "root", "readonly", &s->root_readonly, NULL)) < 0)
                return r;
        if (!s->root_path[0])
                return sp_fail(c, "root.path", "is empty");
        return 0;
}

static int parse_document(const SpecCtx *c, json_t *o, Spec *s) {
        json_t *proc, *lin;
        int r;

        if ((r = sp_string_req(c, o, "", "ociVersion", &s->oci_version)) < 0)
                return r;
        if (!startswith(s->oci_version, "1."))
                return sp_fail(c, "ociVersion", "\"%s\" is not supported (this runtime implements 1.x, up to 1.1)",
                               s->oci_version);
        if ((r = parse_root(c, o, s)) < 0)
                return r;
        if ((r = sp_object(c, o, "", "process", &proc)) < 0)
                return r;
        if (proc) {
                s->process = calloc(1, sizeof(*s->process));
                if (!s->process)
                        return kerr(c->err, -ENOMEM, "%s", c->origin);
                if ((r = parse_process_obj(c, proc, "process", s->process)) < 0)
                        return r;
        }
        if ((r = sp_string(c, o, "", "hostname", &s->hostname)) < 0 ||
            (r = sp_string(c, o, "", "domainname", &s->domainname)) < 0 ||
            (r = parse_mounts(c, o, s)) < 0 || (r = parse_hooks(c, o, s)) < 0 ||
            (r = sp_string_map(c, o, "", "annotations", &s->annotations)) < 0)
                return r;
        if ((r = sp_object(c, o, "", "linux", &lin)) < 0)
                return r;
        if (lin) {
                s->has_linux = true;
                if ((r = spec_parse_linux_section(c, lin, "linux", &s->linux_)) < 0)
                        return r;
        }
        return 0;
}

/* Decode text into a JSON object. Duplicate keys are rejected: two "uid" members would
 * otherwise mean whichever one a given parser happens to keep. */
static int load_object(const SpecCtx *c, const char *text, size_t len, json_t **ret) {
        json_error_t jerr;
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return kerr_msg(c->err, KERR_CONFIG, -EINVAL, "%s: line %d, column %d: invalid JSON: %s", c->origin,
                                jerr.line, jerr.column, jerr.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return kerr_msg(c->err, KERR_CONFIG, -EINVAL, "%s: expected a JSON object at the top level",
                                c->origin);
        }
        *ret = j;
        return 0;
}

int spec_parse(const char *json, size_t len, const char *origin, Spec **ret, KError **err) {
        SpecCtx c = { .origin = origin, .err = err };
        _cleanup_json_ json_t *o = NULL;
        int r = load_object(&c, json, len, &o);
        if (r < 0)
                return r;
        _cleanup_(spec_freep) Spec *s = calloc(1, sizeof(*s));
        if (!s)
                return kerr(err, -ENOMEM, "%s", origin);
        if ((r = parse_document(&c, o, s)) < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int spec_load_bundle(const char *bundle, Spec **ret, KError **err) {
        _cleanup_free_ char *path = path_join(bundle, "config.json");
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (!path)
                return kerr(err, -ENOMEM, "bundle %s", bundle);
        int r = read_full_file_at(AT_FDCWD, path, CONFIG_MAX, &text, &len);
        if (r == -ENOENT)
                return kerr_kind(err, KERR_CONFIG, r, "%s: no config.json in the bundle (create one with `kapsel-runtime spec`)",
                                 path);
        if (r < 0)
                return kerr_kind(err, KERR_CONFIG, r, "read %s", path);
        return spec_parse(text, len, path, ret, err);
}

int spec_parse_process(const char *json, size_t len, const char *origin, SpecProcess **ret, KError **err) {
        SpecCtx c = { .origin = origin, .err = err };
        _cleanup_json_ json_t *o = NULL;
        int r = load_object(&c, json, len, &o);
        if (r < 0)
                return r;
        _cleanup_(spec_process_freep) SpecProcess *p = calloc(1, sizeof(*p));
        if (!p)
                return kerr(err, -ENOMEM, "%s", origin);
        if ((r = parse_process_obj(&c, o, "", p)) < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int spec_parse_resources(const char *json, size_t len, const char *origin, SpecResources **ret, KError **err) {
        SpecCtx c = { .origin = origin, .err = err };
        _cleanup_json_ json_t *o = NULL;
        int r = load_object(&c, json, len, &o);
        if (r < 0)
                return r;
        _cleanup_(spec_resources_freep) SpecResources *res = calloc(1, sizeof(*res));
        if (!res)
                return kerr(err, -ENOMEM, "%s", origin);
        if ((r = spec_parse_resources_section(&c, o, "", res)) < 0)
                return r;
        *ret = TAKE_PTR(res);
        return 0;
}

void spec_process_free(SpecProcess *p) {
        if (!p)
                return;
        free(p->user.additional_gids);
        free(p->user.username);
        strv_free(p->args);
        strv_free(p->env);
        free(p->cwd);
        free(p->rlimits);
        free(p->apparmor_profile);
        free(p->selinux_label);
        free(p);
}

void spec_free(Spec *s) {
        if (!s)
                return;
        free(s->oci_version);
        free(s->root_path);
        spec_process_free(s->process);
        free(s->hostname);
        free(s->domainname);
        for (size_t i = 0; i < s->n_mounts; i++) {
                free(s->mounts[i].destination);
                free(s->mounts[i].type);
                free(s->mounts[i].source);
                strv_free(s->mounts[i].options);
        }
        free(s->mounts);
        for (int k = 0; k < _HOOK_KIND_MAX; k++) {
                for (size_t i = 0; i < s->n_hooks[k]; i++) {
                        free(s->hooks[k][i].path);
                        strv_free(s->hooks[k][i].args);
                        strv_free(s->hooks[k][i].env);
                }
                free(s->hooks[k]);
        }
        strv_free(s->annotations);
        spec_linux_clear(&s->linux_);
        free(s);
}
