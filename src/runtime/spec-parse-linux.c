/* SPDX-License-Identifier: Apache-2.0 */
/* config.json "linux" section -> SpecLinux (runtime-spec config-linux.md): namespaces, id
 * mappings, devices, resources, sysctl, seccomp, propagation, masked/readonly paths,
 * personality, time offsets. Structure and value checks only; nothing touches the host. */
#include <errno.h>
#include <string.h>
#include <sys/personality.h>

#include "path-util.h"
#include "spec-json.h"
#include "spec.h"
#include "string-util.h"

#define ENOMEM_FAIL(c) kerr((c)->err, -ENOMEM, "%s", (c)->origin)

/* Iterate over an optional array member, checking each element is an object.
 * Usage: FOREACH_OBJECT(c, parent, where, key, i, e, fi) { ... }  (returns on errors) */
#define FOREACH_OBJECT_BEGIN(c, parent, where, key, i, e, fi)                          \
        do {                                                                            \
                json_t *_a, *e;                                                         \
                char _f[FIELD_MAX], fi[FIELD_MAX];                                      \
                size_t i;                                                               \
                int _r = sp_array(c, parent, where, key, &_a);                          \
                if (_r < 0)                                                             \
                        return _r;                                                      \
                sp_field(_f, where, key);                                               \
                json_array_foreach(_a, i, e) {                                          \
                        sp_index(fi, _f, i);                                            \
                        if (!json_is_object(e))                                         \
                                return sp_fail(c, fi, "expected an object");
#define FOREACH_OBJECT_END \
                }          \
        } while (0)

static int parse_namespaces(const SpecCtx *c, json_t *o, const char *where, SpecLinux *l) {
        FOREACH_OBJECT_BEGIN(c, o, where, "namespaces", i, e, fi) {
                _cleanup_free_ char *type = NULL;
                int r = sp_string_req(c, e, fi, "type", &type);
                if (r < 0)
                        return r;
                int t = spec_ns_type_from_string(type);
                if (t < 0)
                        return sp_fail(c, fi, "unknown namespace type \"%s\" (expected pid, network, mount, ipc, uts, "
                                       "user, cgroup or time)", type);
                /* The same entry twice (scripts append what a config may have) is one; two
                 * different paths for one type are a conflict. */
                json_t *pj = json_object_get(e, "path");
                const char *path = json_is_string(pj) && *json_string_value(pj) ? json_string_value(pj) : NULL;
                bool dup = false;
                for (size_t j = 0; j < l->n_namespaces && !dup; j++) {
                        if (l->namespaces[j].type != (SpecNsType) t)
                                continue;
                        const char *prev = l->namespaces[j].path;
                        if ((prev == NULL) != (path == NULL) || (prev && !streq(prev, path)))
                                return sp_fail(c, fi, "namespace \"%s\" is listed twice, with different paths", type);
                        dup = true;
                }
                if (dup)
                        continue;
                SpecNamespace *ns = sp_grow((void **) &l->namespaces, &l->n_namespaces, sizeof(*ns));
                if (!ns)
                        return ENOMEM_FAIL(c);
                ns->type = t;
                if ((r = sp_abs_path(c, e, fi, "path", false, &ns->path)) < 0)
                        return r;
        } FOREACH_OBJECT_END;
        return 0;
}

static int parse_idmaps(const SpecCtx *c, json_t *o, const char *where, const char *key, SpecIdMap **maps,
                        size_t *n) {
        FOREACH_OBJECT_BEGIN(c, o, where, key, i, e, fi) {
                uint64_t cid, hid, size;
                bool has_c, has_h, has_s;
                int r;
                if ((r = sp_range(c, e, fi, "containerID", 0, UINT32_MAX, &cid, &has_c)) < 0 ||
                    (r = sp_range(c, e, fi, "hostID", 0, UINT32_MAX, &hid, &has_h)) < 0 ||
                    (r = sp_range(c, e, fi, "size", 1, UINT32_MAX, &size, &has_s)) < 0)
                        return r;
                if (!has_c || !has_h || !has_s)
                        return sp_fail(c, fi, "needs containerID, hostID and size");
                if (cid + size > (uint64_t) UINT32_MAX + 1 || hid + size > (uint64_t) UINT32_MAX + 1)
                        return sp_fail(c, fi, "range overflows 32-bit ids");
                SpecIdMap *m = sp_grow((void **) maps, n, sizeof(*m));
                if (!m)
                        return ENOMEM_FAIL(c);
                *m = (SpecIdMap) { .container_id = cid, .host_id = hid, .size = size };
        } FOREACH_OBJECT_END;
        return 0;
}

/* major/minor: required for c/b/u devices, absent (-1) allowed only for fifos. */
static int parse_major_minor(const SpecCtx *c, json_t *e, const char *fi, int64_t *major, int64_t *minor,
                             bool required) {
        bool has_ma, has_mi;
        int r;
        if ((r = sp_int64(c, e, fi, "major", major, &has_ma)) < 0 || (r = sp_int64(c, e, fi, "minor", minor, &has_mi)) < 0)
                return r;
        if (!has_ma)
                *major = -1;
        if (!has_mi)
                *minor = -1;
        if (required && (!has_ma || !has_mi))
                return sp_fail(c, fi, "needs both \"major\" and \"minor\"");
        if (*major < -1 || *minor < -1 || *major > UINT32_MAX || *minor > UINT32_MAX)
                return sp_fail(c, fi, "major/minor out of range");
        return 0;
}

static int parse_devices(const SpecCtx *c, json_t *o, const char *where, SpecLinux *l) {
        FOREACH_OBJECT_BEGIN(c, o, where, "devices", i, e, fi) {
                _cleanup_free_ char *type = NULL;
                uint64_t v;
                int r;
                SpecDevice *d = sp_grow((void **) &l->devices, &l->n_devices, sizeof(*d));
                if (!d)
                        return ENOMEM_FAIL(c);
                if ((r = sp_abs_path(c, e, fi, "path", true, &d->path)) < 0 ||
                    (r = sp_string_req(c, e, fi, "type", &type)) < 0)
                        return r;
                if (strlen(type) != 1 || !strchr("cbup", type[0]))
                        return sp_fail(c, fi, "device type \"%s\" is not one of c, b, u, p", type);
                d->type = type[0];
                if ((r = parse_major_minor(c, e, fi, &d->major, &d->minor, d->type != 'p')) < 0)
                        return r;
                if ((r = sp_range(c, e, fi, "fileMode", 0, 07777, &v, &d->has_mode)) < 0)
                        return r;
                d->file_mode = (mode_t) v;
                if ((r = sp_range(c, e, fi, "uid", 0, UINT32_MAX - 1, &v, &d->has_uid)) < 0)
                        return r;
                d->uid = (uid_t) v;
                if ((r = sp_range(c, e, fi, "gid", 0, UINT32_MAX - 1, &v, &d->has_gid)) < 0)
                        return r;
                d->gid = (gid_t) v;
        } FOREACH_OBJECT_END;
        return 0;
}

static int parse_device_rules(const SpecCtx *c, json_t *o, const char *where, SpecResources *res) {
        FOREACH_OBJECT_BEGIN(c, o, where, "devices", i, e, fi) {
                _cleanup_free_ char *type = NULL, *access = NULL;
                bool has_allow;
                int r;
                SpecDeviceRule *d = sp_grow((void **) &res->devices, &res->n_devices, sizeof(*d));
                if (!d)
                        return ENOMEM_FAIL(c);
                if ((r = sp_bool(c, e, fi, "allow", &d->allow, &has_allow)) < 0 ||
                    (r = sp_string(c, e, fi, "type", &type)) < 0 || (r = sp_string(c, e, fi, "access", &access)) < 0 ||
                    (r = parse_major_minor(c, e, fi, &d->major, &d->minor, false)) < 0)
                        return r;
                if (!has_allow)
                        return sp_fail(c, fi, "\"allow\" is required");
                d->type = type ? type[0] : 'a';
                if (type && (strlen(type) != 1 || !strchr("acb", type[0])))
                        return sp_fail(c, fi, "device rule type \"%s\" is not one of a, c, b", type);
                const char *acc = access ? access : "rwm";
                /* runc takes (and drops) an "a" among the letters: "rwa" is "rw". */
                char kept[4] = "";
                size_t n = 0;
                for (const char *s = acc; *s; s++) {
                        if (*s == 'a')
                                continue;
                        if (!strchr("rwm", *s) || n >= 3 || memchr(kept, *s, n))
                                return sp_fail(c, fi, "access \"%s\" must be a combination of r, w and m", acc);
                        kept[n++] = *s;
                }
                if (n == 0)
                        return sp_fail(c, fi, "access \"%s\" must be a combination of r, w and m", acc);
                snprintf(d->access, sizeof(d->access), "%.*s", (int) n, kept);
        } FOREACH_OBJECT_END;
        return 0;
}

static int parse_memory(const SpecCtx *c, json_t *res, const char *where, SpecResources *r_) {
        json_t *m;
        char f[FIELD_MAX];
        int r = sp_object(c, res, where, "memory", &m);
        if (r <= 0)
                return r;
        sp_field(f, where, "memory");
        static const struct {
                const char *key;
                size_t has, val;
        } signed_fields[] = {
                { "limit",       offsetof(SpecResources, has_memory_limit),       offsetof(SpecResources, memory_limit) },
                { "reservation", offsetof(SpecResources, has_memory_reservation), offsetof(SpecResources, memory_reservation) },
                { "swap",        offsetof(SpecResources, has_memory_swap),        offsetof(SpecResources, memory_swap) },
                { "kernel",      offsetof(SpecResources, has_memory_kernel),      offsetof(SpecResources, memory_kernel) },
                { "kernelTCP",   offsetof(SpecResources, has_memory_kernel_tcp),  offsetof(SpecResources, memory_kernel_tcp) },
        };
        for (size_t i = 0; i < ELEMENTSOF(signed_fields); i++) {
                int64_t *val = (int64_t *) ((char *) r_ + signed_fields[i].val);
                bool *has = (bool *) ((char *) r_ + signed_fields[i].has);
                char fk[FIELD_MAX];
                if ((r = sp_int64(c, m, f, signed_fields[i].key, val, has)) < 0)
                        return r;
                if (*has && *val < -1)
                        return sp_fail(c, sp_field(fk, f, signed_fields[i].key), "%lld is invalid (bytes, or -1 for unlimited)",
                                       (long long) *val);
        }
        if ((r = sp_range(c, m, f, "swappiness", 0, 100, &r_->memory_swappiness, &r_->has_memory_swappiness)) < 0 ||
            (r = sp_bool(c, m, f, "disableOOMKiller", &r_->memory_disable_oom_killer, &r_->has_memory_disable_oom_killer)) < 0 ||
            (r = sp_bool(c, m, f, "useHierarchy", &r_->memory_use_hierarchy, &r_->has_memory_use_hierarchy)) < 0 ||
            (r = sp_bool(c, m, f, "checkBeforeUpdate", &r_->memory_check_before_update,
                         &r_->has_memory_check_before_update)) < 0)
                return r;
        if (r_->has_memory_limit && r_->has_memory_swap && r_->memory_limit > 0 && r_->memory_swap >= 0 &&
            r_->memory_swap < r_->memory_limit)
                return sp_fail(c, f, "swap (%lld, memory+swap) must not be below limit (%lld)",
                               (long long) r_->memory_swap, (long long) r_->memory_limit);
        return 0;
}

static int parse_cpu(const SpecCtx *c, json_t *res, const char *where, SpecResources *x) {
        json_t *o;
        char f[FIELD_MAX];
        int r = sp_object(c, res, where, "cpu", &o);
        if (r <= 0)
                return r;
        sp_field(f, where, "cpu");
        if ((r = sp_uint64(c, o, f, "shares", &x->cpu_shares, &x->has_cpu_shares)) < 0 ||
            (r = sp_int64(c, o, f, "quota", &x->cpu_quota, &x->has_cpu_quota)) < 0 ||
            (r = sp_uint64(c, o, f, "period", &x->cpu_period, &x->has_cpu_period)) < 0 ||
            (r = sp_int64(c, o, f, "realtimeRuntime", &x->cpu_realtime_runtime, &x->has_cpu_realtime_runtime)) < 0 ||
            (r = sp_uint64(c, o, f, "realtimePeriod", &x->cpu_realtime_period, &x->has_cpu_realtime_period)) < 0 ||
            (r = sp_int64(c, o, f, "idle", &x->cpu_idle, &x->has_cpu_idle)) < 0 ||
            (r = sp_string(c, o, f, "cpus", &x->cpuset_cpus)) < 0 || (r = sp_string(c, o, f, "mems", &x->cpuset_mems)) < 0)
                return r;
        char fk[FIELD_MAX];
        /* The period's range (1 ms..1 s today) is the kernel's to judge when it is written: a
         * refusal there fails create with status 1, as with runc. */
        if (x->has_cpu_quota && x->cpu_quota != -1 && x->cpu_quota > 0 && x->cpu_quota < 1000)
                return sp_fail(c, sp_field(fk, f, "quota"), "%lld us is below the kernel's minimum of 1000",
                               (long long) x->cpu_quota);
        if (x->has_cpu_quota && x->cpu_quota < -1)
                return sp_fail(c, sp_field(fk, f, "quota"), "%lld is invalid (microseconds, or -1 for unlimited)",
                               (long long) x->cpu_quota);
        const char *sets[] = { x->cpuset_cpus, x->cpuset_mems };
        const char *names[] = { "cpus", "mems" };
        for (size_t i = 0; i < 2; i++)
                if (sets[i] && strspn(sets[i], "0123456789,-") != strlen(sets[i]))
                        return sp_fail(c, sp_field(fk, f, names[i]), "\"%s\" is not a list like \"0-3,5\"", sets[i]);
        return 0;
}

/* A blkio weight: 10..1000, and 0 means "not set" (Docker writes 0 for every container; runc
 * leaves the cgroup alone then). */
static int sp_weight(const SpecCtx *c, json_t *o, const char *where, const char *key, uint64_t *ret, bool *has) {
        json_t *v = json_object_get(o, key);
        if (json_is_integer(v) && json_integer_value(v) == 0) {
                *ret = 0;
                *has = false;
                return 0;
        }
        return sp_range(c, o, where, key, 10, 1000, ret, has);
}

static int parse_weight_devices(const SpecCtx *c, json_t *o, const char *where, SpecResources *x) {
        FOREACH_OBJECT_BEGIN(c, o, where, "weightDevice", i, e, fi) {
                uint64_t w = 0, lw = 0;
                int r;
                SpecWeightDevice *d = sp_grow((void **) &x->blkio_weight_devices, &x->n_blkio_weight_devices, sizeof(*d));
                if (!d)
                        return ENOMEM_FAIL(c);
                if ((r = parse_major_minor(c, e, fi, &d->major, &d->minor, true)) < 0 ||
                    (r = sp_weight(c, e, fi, "weight", &w, &d->has_weight)) < 0 ||
                    (r = sp_weight(c, e, fi, "leafWeight", &lw, &d->has_leaf_weight)) < 0)
                        return r;
                d->weight = (uint16_t) w;
                d->leaf_weight = (uint16_t) lw;
        } FOREACH_OBJECT_END;
        return 0;
}

static int parse_throttle(const SpecCtx *c, json_t *o, const char *where, const char *key, SpecThrottleDevice **devs,
                          size_t *n) {
        FOREACH_OBJECT_BEGIN(c, o, where, key, i, e, fi) {
                bool has_rate;
                int r;
                SpecThrottleDevice *d = sp_grow((void **) devs, n, sizeof(*d));
                if (!d)
                        return ENOMEM_FAIL(c);
                if ((r = parse_major_minor(c, e, fi, &d->major, &d->minor, true)) < 0 ||
                    (r = sp_uint64(c, e, fi, "rate", &d->rate, &has_rate)) < 0)
                        return r;
                if (!has_rate)
                        return sp_fail(c, fi, "\"rate\" is required");
        } FOREACH_OBJECT_END;
        return 0;
}

static int parse_blkio(const SpecCtx *c, json_t *res, const char *where, SpecResources *x) {
        static const char *const throttle_keys[] = {
                [BLKIO_READ_BPS] = "throttleReadBpsDevice",   [BLKIO_WRITE_BPS] = "throttleWriteBpsDevice",
                [BLKIO_READ_IOPS] = "throttleReadIOPSDevice", [BLKIO_WRITE_IOPS] = "throttleWriteIOPSDevice",
        };
        json_t *o;
        char f[FIELD_MAX];
        uint64_t v;
        int r = sp_object(c, res, where, "blockIO", &o);
        if (r <= 0)
                return r;
        sp_field(f, where, "blockIO");
        if ((r = sp_weight(c, o, f, "weight", &v, &x->has_blkio_weight)) < 0)
                return r;
        x->blkio_weight = (uint16_t) v;
        if ((r = sp_weight(c, o, f, "leafWeight", &v, &x->has_blkio_leaf_weight)) < 0)
                return r;
        x->blkio_leaf_weight = (uint16_t) v;
        if ((r = parse_weight_devices(c, o, f, x)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(throttle_keys); i++)
                if ((r = parse_throttle(c, o, f, throttle_keys[i], &x->blkio_throttle[i], &x->n_blkio_throttle[i])) < 0)
                        return r;
        return 0;
}

static int parse_hugepages(const SpecCtx *c, json_t *o, const char *where, SpecResources *x) {
        FOREACH_OBJECT_BEGIN(c, o, where, "hugepageLimits", i, e, fi) {
                bool has_limit;
                int r;
                SpecHugepageLimit *h = sp_grow((void **) &x->hugepage_limits, &x->n_hugepage_limits, sizeof(*h));
                if (!h)
                        return ENOMEM_FAIL(c);
                if ((r = sp_string_req(c, e, fi, "pageSize", &h->page_size)) < 0 ||
                    (r = sp_uint64(c, e, fi, "limit", &h->limit, &has_limit)) < 0)
                        return r;
                if (!has_limit)
                        return sp_fail(c, fi, "\"limit\" is required");
                /* The page size becomes part of a cgroup file name: keep it to "2MB"-like words. */
                size_t digits = strspn(h->page_size, "0123456789");
                if (digits == 0 || !strv_contains((char *[]) { "KB", "MB", "GB", NULL }, h->page_size + digits))
                        return sp_fail(c, fi, "pageSize \"%s\" is not like \"2MB\" or \"1GB\"", h->page_size);
        } FOREACH_OBJECT_END;
        return 0;
}

/* resources.network: classID and interface priorities (net_cls, net_prio). The interface name
 * becomes a line of net_prio.ifpriomap: an interface name, nothing else. */
static int parse_network(const SpecCtx *c, json_t *o, const char *where, SpecResources *x) {
        json_t *net;
        char f[FIELD_MAX];
        uint64_t v;
        int r = sp_object(c, o, where, "network", &net);
        if (r < 0 || !net)
                return r;
        const char *nw = sp_field(f, where, "network");
        if ((r = sp_range(c, net, nw, "classID", 0, UINT32_MAX, &v, &x->has_net_class_id)) < 0)
                return r;
        x->net_class_id = (uint32_t) v;
        FOREACH_OBJECT_BEGIN(c, net, nw, "priorities", i, e, fi) {
                bool has_prio;
                SpecNetPriority *np = sp_grow((void **) &x->net_priorities, &x->n_net_priorities, sizeof(*np));
                if (!np)
                        return ENOMEM_FAIL(c);
                if ((r = sp_string_req(c, e, fi, "name", &np->name)) < 0 ||
                    (r = sp_range(c, e, fi, "priority", 0, UINT32_MAX, &v, &has_prio)) < 0)
                        return r;
                np->priority = (uint32_t) v;
                if (!has_prio)
                        return sp_fail(c, fi, "\"priority\" is required");
                size_t len = strlen(np->name);
                if (len == 0 || len >= 16 /* IFNAMSIZ */ || np->name[strcspn(np->name, " \t\n/")] != '\0')
                        return sp_fail(c, fi, "name \"%s\" is not a network interface name", np->name);
        } FOREACH_OBJECT_END;
        return 0;
}

int spec_parse_resources_section(const SpecCtx *c, json_t *o, const char *where, SpecResources *x) {
        json_t *pids;
        char f[FIELD_MAX];
        int r;
        if ((r = parse_device_rules(c, o, where, x)) < 0 || (r = parse_memory(c, o, where, x)) < 0 ||
            (r = parse_cpu(c, o, where, x)) < 0 || (r = parse_blkio(c, o, where, x)) < 0 ||
            (r = parse_hugepages(c, o, where, x)) < 0 || (r = parse_network(c, o, where, x)) < 0)
                return r;
        if ((r = sp_object(c, o, where, "pids", &pids)) < 0)
                return r;
        if (pids && (r = sp_int64(c, pids, sp_field(f, where, "pids"), "limit", &x->pids_limit, &x->has_pids_limit)) < 0)
                return r;
        if ((r = sp_string_map(c, o, where, "unified", &x->unified)) < 0)
                return r;
        /* "rdma" is accepted and not applied. */
        return 0;
}

static const struct {
        const char *name;
        SpecSeccompAction action;
} seccomp_actions[] = {
        { "SCMP_ACT_KILL",         SECCOMP_ACT_KILL },
        { "SCMP_ACT_KILL_PROCESS", SECCOMP_ACT_KILL_PROCESS },
        { "SCMP_ACT_KILL_THREAD",  SECCOMP_ACT_KILL_THREAD },
        { "SCMP_ACT_TRAP",         SECCOMP_ACT_TRAP },
        { "SCMP_ACT_ERRNO",        SECCOMP_ACT_ERRNO },
        { "SCMP_ACT_TRACE",        SECCOMP_ACT_TRACE },
        { "SCMP_ACT_ALLOW",        SECCOMP_ACT_ALLOW },
        { "SCMP_ACT_LOG",          SECCOMP_ACT_LOG },
        { "SCMP_ACT_NOTIFY",       SECCOMP_ACT_NOTIFY },
};

static const char *const seccomp_ops[_SECCOMP_OP_MAX] = {
        [SECCOMP_OP_NE] = "SCMP_CMP_NE", [SECCOMP_OP_LT] = "SCMP_CMP_LT", [SECCOMP_OP_LE] = "SCMP_CMP_LE",
        [SECCOMP_OP_EQ] = "SCMP_CMP_EQ", [SECCOMP_OP_GE] = "SCMP_CMP_GE", [SECCOMP_OP_GT] = "SCMP_CMP_GT",
        [SECCOMP_OP_MASKED_EQ] = "SCMP_CMP_MASKED_EQ",
};

static int parse_action(const SpecCtx *c, json_t *o, const char *where, const char *key, SpecSeccompAction *ret) {
        _cleanup_free_ char *name = NULL;
        char f[FIELD_MAX];
        int r = sp_string_req(c, o, where, key, &name);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(seccomp_actions); i++)
                if (streq(seccomp_actions[i].name, name)) {
                        *ret = seccomp_actions[i].action;
                        return 0;
                }
        return sp_fail(c, sp_field(f, where, key), "unknown seccomp action \"%s\" (expected SCMP_ACT_ERRNO, "
                       "SCMP_ACT_ALLOW, SCMP_ACT_KILL_PROCESS, ...)", name);
}

static int parse_seccomp_args(const SpecCtx *c, json_t *o, const char *where, SpecSeccompRule *rule) {
        FOREACH_OBJECT_BEGIN(c, o, where, "args", i, e, fi) {
                _cleanup_free_ char *op = NULL;
                uint64_t idx;
                bool has_idx;
                int r;
                SpecSeccompArg *a = sp_grow((void **) &rule->args, &rule->n_args, sizeof(*a));
                if (!a)
                        return ENOMEM_FAIL(c);
                if ((r = sp_range(c, e, fi, "index", 0, 5, &idx, &has_idx)) < 0 ||
                    (r = sp_uint64(c, e, fi, "value", &a->value, NULL)) < 0 ||
                    (r = sp_uint64(c, e, fi, "valueTwo", &a->value_two, NULL)) < 0 ||
                    (r = sp_string_req(c, e, fi, "op", &op)) < 0)
                        return r;
                if (!has_idx)
                        return sp_fail(c, fi, "\"index\" is required");
                a->index = (unsigned) idx;
                int k;
                for (k = 0; k < _SECCOMP_OP_MAX; k++)
                        if (streq(seccomp_ops[k], op))
                                break;
                if (k == _SECCOMP_OP_MAX)
                        return sp_fail(c, fi, "unknown operator \"%s\" (expected SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ, ...)", op);
                a->op = k;
        } FOREACH_OBJECT_END;
        return 0;
}

static int parse_seccomp(const SpecCtx *c, json_t *o, const char *where, SpecLinux *l) {
        json_t *sc;
        char f[FIELD_MAX];
        uint64_t v;
        int r = sp_object(c, o, where, "seccomp", &sc);
        if (r <= 0)
                return r;
        sp_field(f, where, "seccomp");
        SpecSeccomp *s = l->seccomp = calloc(1, sizeof(*s));
        if (!s)
                return ENOMEM_FAIL(c);
        if ((r = parse_action(c, sc, f, "defaultAction", &s->default_action)) < 0 ||
            (r = sp_range(c, sc, f, "defaultErrnoRet", 0, 4095, &v, &s->has_default_errno_ret)) < 0)
                return r;
        s->default_errno_ret = (unsigned) v;
        if ((r = sp_strv(c, sc, f, "architectures", &s->architectures, NULL)) < 0 ||
            (r = sp_strv(c, sc, f, "flags", &s->flags, NULL)) < 0 ||
            (r = sp_string(c, sc, f, "listenerPath", &s->listener_path)) < 0 ||
            (r = sp_string(c, sc, f, "listenerMetadata", &s->listener_metadata)) < 0)
                return r;
        FOREACH_OBJECT_BEGIN(c, sc, f, "syscalls", i, e, fi) {
                SpecSeccompRule *rule = sp_grow((void **) &s->rules, &s->n_rules, sizeof(*rule));
                if (!rule)
                        return ENOMEM_FAIL(c);
                if ((r = sp_strv(c, e, fi, "names", &rule->names, NULL)) < 0 ||
                    (r = parse_action(c, e, fi, "action", &rule->action)) < 0 ||
                    (r = sp_range(c, e, fi, "errnoRet", 0, 4095, &v, &rule->has_errno_ret)) < 0)
                        return r;
                rule->errno_ret = (unsigned) v;
                if (!rule->names || !rule->names[0])
                        return sp_fail(c, fi, "\"names\" must list at least one syscall");
                if ((r = parse_seccomp_args(c, e, fi, rule)) < 0)
                        return r;
        } FOREACH_OBJECT_END;
        return 0;
}

static int parse_sysctl(const SpecCtx *c, json_t *o, const char *where, SpecLinux *l) {
        _cleanup_strv_free_ char **kv = NULL;
        int r = sp_string_map(c, o, where, "sysctl", &kv);
        if (r <= 0)
                return r;
        size_t n = strv_length(kv) / 2;
        l->sysctl = calloc(n + 1, sizeof(SpecSysctl));
        if (!l->sysctl)
                return ENOMEM_FAIL(c);
        for (size_t i = 0; i < n; i++) {
                l->sysctl[i].key = TAKE_PTR(kv[2 * i]);
                l->sysctl[i].value = TAKE_PTR(kv[2 * i + 1]);
        }
        l->n_sysctl = n;
        return 0;
}

static int parse_propagation(const SpecCtx *c, json_t *o, const char *where, SpecLinux *l) {
        static const char *const names[] = {
                [PROPAGATION_PRIVATE] = "private",       [PROPAGATION_RPRIVATE] = "rprivate",
                [PROPAGATION_SHARED] = "shared",         [PROPAGATION_RSHARED] = "rshared",
                [PROPAGATION_SLAVE] = "slave",           [PROPAGATION_RSLAVE] = "rslave",
                [PROPAGATION_UNBINDABLE] = "unbindable", [PROPAGATION_RUNBINDABLE] = "runbindable",
        };
        _cleanup_free_ char *p = NULL;
        char f[FIELD_MAX];
        int r = sp_string(c, o, where, "rootfsPropagation", &p);
        if (r <= 0)
                return r;
        for (size_t i = PROPAGATION_PRIVATE; i < ELEMENTSOF(names); i++)
                if (streq(names[i], p)) {
                        l->rootfs_propagation = i;
                        return 0;
                }
        return sp_fail(c, sp_field(f, where, "rootfsPropagation"), "unknown propagation \"%s\" (expected private, "
                       "rprivate, shared, rshared, slave, rslave, unbindable or runbindable)", p);
}

static int parse_path_list(const SpecCtx *c, json_t *o, const char *where, const char *key, char ***ret) {
        char f[FIELD_MAX], fi[FIELD_MAX];
        int r = sp_strv(c, o, where, key, ret, NULL);
        if (r <= 0)
                return r;
        for (size_t i = 0; (*ret)[i]; i++)
                if (!path_is_absolute((*ret)[i]))
                        return sp_fail(c, sp_index(fi, sp_field(f, where, key), i), "\"%s\" is not an absolute path",
                                       (*ret)[i]);
        return 0;
}

static int parse_personality(const SpecCtx *c, json_t *o, const char *where, SpecLinux *l) {
        json_t *p;
        char f[FIELD_MAX];
        _cleanup_free_ char *domain = NULL;
        int r = sp_object(c, o, where, "personality", &p);
        if (r <= 0)
                return r;
        sp_field(f, where, "personality");
        if ((r = sp_string_req(c, p, f, "domain", &domain)) < 0)
                return r;
        if (streq(domain, "LINUX"))
                l->personality = PER_LINUX;
        else if (streq(domain, "LINUX32"))
                l->personality = PER_LINUX32;
        else {
                char fk[FIELD_MAX];
                return sp_fail(c, sp_field(fk, f, "domain"), "\"%s\" is not LINUX or LINUX32", domain);
        }
        l->has_personality = true;
        return 0;
}

static int parse_time_offsets(const SpecCtx *c, json_t *o, const char *where, SpecLinux *l) {
        static const struct {
                const char *key;
                size_t offset;
        } clocks[] = {
                { "monotonic", offsetof(SpecLinux, time_offset_monotonic) },
                { "boottime",  offsetof(SpecLinux, time_offset_boottime) },
        };
        json_t *t;
        char f[FIELD_MAX];
        int r = sp_object(c, o, where, "timeOffsets", &t);
        if (r <= 0)
                return r;
        sp_field(f, where, "timeOffsets");
        l->has_time_offsets = true;
        for (size_t i = 0; i < ELEMENTSOF(clocks); i++) {
                SpecTimeOffset *off = (SpecTimeOffset *) ((char *) l + clocks[i].offset);
                json_t *clk;
                char fc[FIELD_MAX];
                uint64_t ns = 0;
                if ((r = sp_object(c, t, f, clocks[i].key, &clk)) < 0)
                        return r;
                if (!clk)
                        continue;
                sp_field(fc, f, clocks[i].key);
                if ((r = sp_int64(c, clk, fc, "secs", &off->secs, NULL)) < 0 ||
                    (r = sp_range(c, clk, fc, "nanosecs", 0, 999999999, &ns, NULL)) < 0)
                        return r;
                off->nanosecs = (uint32_t) ns;
        }
        return 0;
}

int spec_parse_linux_section(const SpecCtx *c, json_t *o, const char *where, SpecLinux *l) {
        json_t *res;
        char f[FIELD_MAX];
        int r;
        if ((r = parse_namespaces(c, o, where, l)) < 0 ||
            (r = parse_idmaps(c, o, where, "uidMappings", &l->uid_mappings, &l->n_uid_mappings)) < 0 ||
            (r = parse_idmaps(c, o, where, "gidMappings", &l->gid_mappings, &l->n_gid_mappings)) < 0 ||
            (r = parse_devices(c, o, where, l)) < 0 ||
            (r = sp_string(c, o, where, "cgroupsPath", &l->cgroups_path)) < 0)
                return r;
        if ((r = sp_object(c, o, where, "resources", &res)) < 0)
                return r;
        if (res) {
                l->has_resources = true;
                if ((r = spec_parse_resources_section(c, res, sp_field(f, where, "resources"), &l->resources)) < 0)
                        return r;
        }
        if ((r = parse_sysctl(c, o, where, l)) < 0 || (r = parse_seccomp(c, o, where, l)) < 0 ||
            (r = parse_propagation(c, o, where, l)) < 0 ||
            (r = parse_path_list(c, o, where, "maskedPaths", &l->masked_paths)) < 0 ||
            (r = parse_path_list(c, o, where, "readonlyPaths", &l->readonly_paths)) < 0 ||
            (r = sp_string(c, o, where, "mountLabel", &l->mount_label)) < 0 ||
            (r = parse_personality(c, o, where, l)) < 0 || (r = parse_time_offsets(c, o, where, l)) < 0)
                return r;
        if (json_object_get(o, "intelRdt"))
                return sp_fail(c, sp_field(f, where, "intelRdt"), "Intel RDT is not supported by this runtime; remove it");
        bool has_userns = false;
        for (size_t i = 0; i < l->n_namespaces; i++)
                has_userns |= l->namespaces[i].type == NS_USER;
        if ((l->n_uid_mappings || l->n_gid_mappings) && !has_userns)
                return sp_fail(c, sp_field(f, where, "uidMappings"), "id mappings need a user namespace "
                               "(add {\"type\": \"user\"} to linux.namespaces)");
        return 0;
}

void spec_resources_clear(SpecResources *r) {
        free(r->devices);
        free(r->cpuset_cpus);
        free(r->cpuset_mems);
        free(r->blkio_weight_devices);
        for (size_t i = 0; i < ELEMENTSOF(r->blkio_throttle); i++)
                free(r->blkio_throttle[i]);
        for (size_t i = 0; i < r->n_hugepage_limits; i++)
                free(r->hugepage_limits[i].page_size);
        free(r->hugepage_limits);
        for (size_t i = 0; i < r->n_net_priorities; i++)
                free(r->net_priorities[i].name);
        free(r->net_priorities);
        strv_free(r->unified);
        *r = (SpecResources) {};
}

void spec_resources_free(SpecResources *r) {
        if (!r)
                return;
        spec_resources_clear(r);
        free(r);
}

static void seccomp_free(SpecSeccomp *s) {
        if (!s)
                return;
        strv_free(s->architectures);
        strv_free(s->flags);
        free(s->listener_path);
        free(s->listener_metadata);
        for (size_t i = 0; i < s->n_rules; i++) {
                strv_free(s->rules[i].names);
                free(s->rules[i].args);
        }
        free(s->rules);
        free(s);
}

void spec_linux_clear(SpecLinux *l) {
        for (size_t i = 0; i < l->n_namespaces; i++)
                free(l->namespaces[i].path);
        free(l->namespaces);
        free(l->uid_mappings);
        free(l->gid_mappings);
        for (size_t i = 0; i < l->n_devices; i++)
                free(l->devices[i].path);
        free(l->devices);
        free(l->cgroups_path);
        spec_resources_clear(&l->resources);
        for (size_t i = 0; i < l->n_sysctl; i++) {
                free(l->sysctl[i].key);
                free(l->sysctl[i].value);
        }
        free(l->sysctl);
        seccomp_free(l->seccomp);
        strv_free(l->masked_paths);
        strv_free(l->readonly_paths);
        free(l->mount_label);
        free(l->intel_rdt_clos);
        *l = (SpecLinux) {};
}
