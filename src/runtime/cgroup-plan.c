/* SPDX-License-Identifier: Apache-2.0 */
/* linux.resources -> the ordered cgroupfs writes for one cgroup version. Pure, so every
 * conversion (shares -> weight, swap -> swap.max, ...) is unit-tested without a cgroup. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "log.h"
#include "string-util.h"

void cgroup_plan_free(CgroupPlan *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_writes; i++) {
                free(p->writes[i].file);
                free(p->writes[i].value);
        }
        free(p->writes);
        free(p);
}

typedef struct Planner {
        CgroupMode mode;
        CgroupPlan *plan;
        KError **err;
} Planner;

_printf_(4, 5)
static int add(Planner *p, const char *controller, const char *file, const char *fmt, ...) {
        CgroupWrite *n = realloc(p->plan->writes, (p->plan->n_writes + 1) * sizeof(*n));
        if (!n)
                return kerr(p->err, -ENOMEM, "cgroup plan");
        p->plan->writes = n;
        CgroupWrite *w = &n[p->plan->n_writes];
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&w->value, fmt, ap);
        va_end(ap);
        w->file = strdup(file);
        w->controller = controller;
        if (k < 0 || !w->file) {
                free(w->file);
                if (k >= 0)
                        free(w->value);
                return kerr(p->err, -ENOMEM, "cgroup plan");
        }
        p->plan->n_writes++;
        return 0;
}

static int unsupported(Planner *p, const char *field) {
        return kerr_msg(p->err, KERR_CONFIG, -EOPNOTSUPP, "invalid configuration: linux.resources.%s: not supported on cgroup %s; remove it",
                        field, p->mode == CGROUP_MODE_V2 ? "v2" : "v1");
}

static void devnum(char buf[static 48], int64_t major, int64_t minor) {
        char ma[24], mi[24];
        snprintf(ma, sizeof(ma), major < 0 ? "*" : "%lld", (long long) major);
        snprintf(mi, sizeof(mi), minor < 0 ? "*" : "%lld", (long long) minor);
        snprintf(buf, 48, "%s:%s", ma, mi);
}

static int plan_devices(Planner *p, const SpecResources *res) {
        if (res->n_devices == 0)
                return 0;
        if (p->mode == CGROUP_MODE_V2) {
                p->plan->needs_device_bpf = true;
                return 0;
        }
        for (size_t i = 0; i < res->n_devices; i++) {
                const SpecDeviceRule *d = &res->devices[i];
                char num[48];
                devnum(num, d->major, d->minor);
                int r = add(p, "devices", d->allow ? "devices.allow" : "devices.deny", "%c %s %s", d->type, num,
                            d->access);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int plan_memory(Planner *p, const SpecResources *res) {
        int r = 0;
        if (p->mode == CGROUP_MODE_V1) {
                if (res->has_memory_limit && (r = add(p, "memory", "memory.limit_in_bytes", "%lld", (long long) res->memory_limit)) < 0)
                        return r;
                /* memsw must stay >= limit: the back-end retries the pair in the other order
                 * when lowering (see cgroup-v1.c). */
                if (res->has_memory_swap &&
                    (r = add(p, "memory", "memory.memsw.limit_in_bytes", "%lld", (long long) res->memory_swap)) < 0)
                        return r;
                if (res->has_memory_reservation &&
                    (r = add(p, "memory", "memory.soft_limit_in_bytes", "%lld", (long long) res->memory_reservation)) < 0)
                        return r;
                if (res->has_memory_kernel &&
                    (r = add(p, "memory", "memory.kmem.limit_in_bytes", "%lld", (long long) res->memory_kernel)) < 0)
                        return r;
                if (res->has_memory_kernel_tcp &&
                    (r = add(p, "memory", "memory.kmem.tcp.limit_in_bytes", "%lld", (long long) res->memory_kernel_tcp)) < 0)
                        return r;
                if (res->has_memory_swappiness &&
                    (r = add(p, "memory", "memory.swappiness", "%llu", (unsigned long long) res->memory_swappiness)) < 0)
                        return r;
                if (res->has_memory_disable_oom_killer &&
                    (r = add(p, "memory", "memory.oom_control", "%d", res->memory_disable_oom_killer)) < 0)
                        return r;
                return 0;
        }
        if (res->has_memory_kernel)
                return unsupported(p, "memory.kernel");
        if (res->has_memory_kernel_tcp)
                return unsupported(p, "memory.kernelTCP");
        if (res->has_memory_swappiness)
                return unsupported(p, "memory.swappiness");
        if (res->has_memory_limit) {
                if (res->memory_limit < 0)
                        r = add(p, "memory", "memory.max", "max");
                else
                        r = add(p, "memory", "memory.max", "%lld", (long long) res->memory_limit);
                if (r < 0)
                        return r;
        }
        if (res->has_memory_swap) {
                /* The spec's swap is memory+swap (v1); v2's swap.max is swap alone. */
                if (res->memory_swap < 0)
                        r = add(p, "memory", "memory.swap.max", "max");
                else if (!res->has_memory_limit || res->memory_limit < 0)
                        return kerr_msg(p->err, KERR_CONFIG, -EINVAL,
                                        "linux.resources.memory.swap: on cgroup v2 a swap limit needs a memory limit too");
                else if (res->memory_swap < res->memory_limit)
                        return kerr_msg(p->err, KERR_CONFIG, -EINVAL,
                                        "linux.resources.memory.swap: %lld is below memory.limit %lld; swap is memory plus swap, "
                                        "so it must be at least the memory limit",
                                        (long long) res->memory_swap, (long long) res->memory_limit);
                else
                        r = add(p, "memory", "memory.swap.max", "%lld",
                                (long long) (res->memory_swap - res->memory_limit));
                if (r < 0)
                        return r;
        }
        if (res->has_memory_reservation &&
            (r = add(p, "memory", "memory.low", "%lld", (long long) res->memory_reservation)) < 0)
                return r;
        return 0;
}

/* cpu.shares (2..262144, default 1024) -> cpu.weight (1..10000, default 100), the mapping
 * runc and crun use, so the same spec means the same thing on either runtime. */
static uint64_t shares_to_weight(uint64_t shares) {
        if (shares < 2)
                shares = 2;
        if (shares > 262144)
                shares = 262144;
        return 1 + ((shares - 2) * 9999) / 262142;
}

static int plan_cpu(Planner *p, const SpecResources *res) {
        int r;
        if (p->mode == CGROUP_MODE_V1) {
                if (res->has_cpu_shares && res->cpu_shares &&
                    (r = add(p, "cpu", "cpu.shares", "%llu", (unsigned long long) res->cpu_shares)) < 0)
                        return r;
                /* period first: a quota is validated against the current period */
                if (res->has_cpu_period && res->cpu_period &&
                    (r = add(p, "cpu", "cpu.cfs_period_us", "%llu", (unsigned long long) res->cpu_period)) < 0)
                        return r;
                if (res->has_cpu_quota && res->cpu_quota &&
                    (r = add(p, "cpu", "cpu.cfs_quota_us", "%lld", (long long) res->cpu_quota)) < 0)
                        return r;
                if (res->has_cpu_realtime_period && res->cpu_realtime_period &&
                    (r = add(p, "cpu", "cpu.rt_period_us", "%llu", (unsigned long long) res->cpu_realtime_period)) < 0)
                        return r;
                if (res->has_cpu_realtime_runtime && res->cpu_realtime_runtime &&
                    (r = add(p, "cpu", "cpu.rt_runtime_us", "%lld", (long long) res->cpu_realtime_runtime)) < 0)
                        return r;
        } else {
                if ((res->has_cpu_realtime_period && res->cpu_realtime_period) ||
                    (res->has_cpu_realtime_runtime && res->cpu_realtime_runtime))
                        return unsupported(p, "cpu.realtimeRuntime/realtimePeriod");
                if (res->has_cpu_shares && res->cpu_shares &&
                    (r = add(p, "cpu", "cpu.weight", "%llu", (unsigned long long) shares_to_weight(res->cpu_shares))) < 0)
                        return r;
                if ((res->has_cpu_quota && res->cpu_quota) || (res->has_cpu_period && res->cpu_period)) {
                        uint64_t period = res->has_cpu_period && res->cpu_period ? res->cpu_period : 100000;
                        if (res->has_cpu_quota && res->cpu_quota > 0)
                                r = add(p, "cpu", "cpu.max", "%lld %llu", (long long) res->cpu_quota,
                                        (unsigned long long) period);
                        else
                                r = add(p, "cpu", "cpu.max", "max %llu", (unsigned long long) period);
                        if (r < 0)
                                return r;
                }
        }
        if (res->has_cpu_idle && (r = add(p, "cpu", "cpu.idle", "%lld", (long long) res->cpu_idle)) < 0)
                return r;
        if (res->cpuset_cpus && (r = add(p, "cpuset", "cpuset.cpus", "%s", res->cpuset_cpus)) < 0)
                return r;
        if (res->cpuset_mems && (r = add(p, "cpuset", "cpuset.mems", "%s", res->cpuset_mems)) < 0)
                return r;
        return 0;
}

static int plan_pids(Planner *p, const SpecResources *res) {
        if (!res->has_pids_limit)
                return 0;
        if (res->pids_limit <= 0)
                return add(p, "pids", "pids.max", "max");
        return add(p, "pids", "pids.max", "%lld", (long long) res->pids_limit);
}

/* blkio weight 10..1000 -> io.weight 1..10000 (runc's conversion). */
static uint64_t blkio_to_io_weight(uint64_t w) {
        return 1 + ((w - 10) * 9999) / 990;
}

static int plan_blkio(Planner *p, const SpecResources *res) {
        static const char *const v1_files[4] = {
                [BLKIO_READ_BPS] = "blkio.throttle.read_bps_device",
                [BLKIO_WRITE_BPS] = "blkio.throttle.write_bps_device",
                [BLKIO_READ_IOPS] = "blkio.throttle.read_iops_device",
                [BLKIO_WRITE_IOPS] = "blkio.throttle.write_iops_device",
        };
        static const char *const v2_keys[4] = {
                [BLKIO_READ_BPS] = "rbps", [BLKIO_WRITE_BPS] = "wbps",
                [BLKIO_READ_IOPS] = "riops", [BLKIO_WRITE_IOPS] = "wiops",
        };
        const bool v1 = p->mode == CGROUP_MODE_V1;
        int r;
        if (res->has_blkio_weight) {
                r = v1 ? add(p, "blkio", "blkio.weight", "%u", res->blkio_weight)
                       : add(p, "io", "io.weight", "default %llu",
                             (unsigned long long) blkio_to_io_weight(res->blkio_weight));
                if (r < 0)
                        return r;
        }
        if (res->has_blkio_leaf_weight && v1 &&
            (r = add(p, "blkio", "blkio.leaf_weight", "%u", res->blkio_leaf_weight)) < 0)
                return r;
        for (size_t i = 0; i < res->n_blkio_weight_devices; i++) {
                const SpecWeightDevice *d = &res->blkio_weight_devices[i];
                if (d->has_weight) {
                        r = v1 ? add(p, "blkio", "blkio.weight_device", "%lld:%lld %u", (long long) d->major,
                                     (long long) d->minor, d->weight)
                               : add(p, "io", "io.weight", "%lld:%lld %llu", (long long) d->major, (long long) d->minor,
                                     (unsigned long long) blkio_to_io_weight(d->weight));
                        if (r < 0)
                                return r;
                }
                if (d->has_leaf_weight && v1 &&
                    (r = add(p, "blkio", "blkio.leaf_weight_device", "%lld:%lld %u", (long long) d->major,
                             (long long) d->minor, d->leaf_weight)) < 0)
                        return r;
        }
        for (size_t k = 0; k < 4; k++)
                for (size_t i = 0; i < res->n_blkio_throttle[k]; i++) {
                        const SpecThrottleDevice *d = &res->blkio_throttle[k][i];
                        r = v1 ? add(p, "blkio", v1_files[k], "%lld:%lld %llu", (long long) d->major, (long long) d->minor,
                                     (unsigned long long) d->rate)
                               : add(p, "io", "io.max", "%lld:%lld %s=%llu", (long long) d->major, (long long) d->minor,
                                     v2_keys[k], (unsigned long long) d->rate);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int plan_hugetlb(Planner *p, const SpecResources *res) {
        for (size_t i = 0; i < res->n_hugepage_limits; i++) {
                const SpecHugepageLimit *h = &res->hugepage_limits[i];
                char file[64];
                snprintf(file, sizeof(file), p->mode == CGROUP_MODE_V1 ? "hugetlb.%s.limit_in_bytes" : "hugetlb.%s.max",
                         h->page_size);
                int r = add(p, "hugetlb", file, "%llu", (unsigned long long) h->limit);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* linux.resources.network: v1's net_cls and net_prio. cgroup v2 has no such controllers (tc and
 * eBPF do that job there): as runc and crun, the fields are ignored there, with a warning. */
static int plan_network(Planner *p, const SpecResources *res) {
        if (!res->has_net_class_id && res->n_net_priorities == 0)
                return 0;
        if (p->mode != CGROUP_MODE_V1) {
                log_warn("linux.resources.network is not applied: cgroup v2 has no net_cls/net_prio controllers");
                return 0;
        }
        int r = res->has_net_class_id ? add(p, "net_cls", "net_cls.classid", "%" PRIu32, res->net_class_id) : 0;
        for (size_t i = 0; r >= 0 && i < res->n_net_priorities; i++)
                r = add(p, "net_prio", "net_prio.ifpriomap", "%s %" PRIu32, res->net_priorities[i].name,
                        res->net_priorities[i].priority);
        return r;
}

/* linux.resources.unified: verbatim v2 files. The key must name a file of this cgroup. */
static int plan_unified(Planner *p, const SpecResources *res) {
        static const char *const controllers[] = { "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc" };
        if (!res->unified || !res->unified[0])
                return 0;
        if (p->mode == CGROUP_MODE_V1)
                return unsupported(p, "unified");
        for (size_t i = 0; res->unified[i]; i += 2) {
                const char *key = res->unified[i];
                const char *dot = strchr(key, '.');
                if (!dot || dot == key || strchr(key, '/') || strstr(key, "..") || key[strlen(key) - 1] == '.')
                        return kerr_msg(p->err, KERR_CONFIG, -EINVAL,
                                        "linux.resources.unified: \"%s\" is not a cgroup file name like \"memory.high\"", key);
                const char *controller = NULL;
                for (size_t k = 0; k < ELEMENTSOF(controllers); k++)
                        if (strlen(controllers[k]) == (size_t) (dot - key) && strncmp(controllers[k], key, dot - key) == 0)
                                controller = controllers[k];
                int r = add(p, controller, key, "%s", res->unified[i + 1]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int cgroup_plan_resources(CgroupMode mode, const SpecResources *res, CgroupPlan **ret, KError **err) {
        static int (*const steps[])(Planner *, const SpecResources *) = {
                plan_devices, plan_memory, plan_cpu, plan_pids, plan_blkio, plan_hugetlb, plan_network, plan_unified,
        };
        _cleanup_(cgroup_plan_freep) CgroupPlan *plan = calloc(1, sizeof(*plan));
        if (!plan)
                return kerr(err, -ENOMEM, "cgroup plan");
        Planner p = { .mode = mode, .plan = plan, .err = err };
        for (size_t i = 0; res && i < ELEMENTSOF(steps); i++) {
                int r = steps[i](&p, res);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(plan);
        return 0;
}
