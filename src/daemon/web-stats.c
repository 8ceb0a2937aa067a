/* SPDX-License-Identifier: Apache-2.0 */
/* The numbers behind the console's graphs, one snapshot per request: the host's CPU jiffies,
 * memory, the kapsel root's file system and KVM; each running container's cgroup counters (a VM's
 * from its kapsel-vmm), as `kapsel stats` reads them. The page turns counters into rates between
 * two snapshots, so the daemon keeps no history. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "string-util.h"
#include "ctr-state.h"
#include "vm-ops.h"
#include "web.h"

/* /proc/stat's first line: total and idle jiffies of all CPUs. */
static void host_cpu(json_t *h) {
        _cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
        unsigned long long v[8] = { 0 };
        if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                         &v[6], &v[7]) != 8)
                return;
        unsigned long long total = 0;
        for (size_t i = 0; i < 8; i++)
                total += v[i];
        json_object_set_new(h, "cpu_total", json_integer((json_int_t) total));
        json_object_set_new(h, "cpu_idle", json_integer((json_int_t) (v[3] + v[4])));
        json_object_set_new(h, "cpus", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
}

static void host_mem(json_t *h) {
        _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
        char line[256];
        while (f && fgets(line, sizeof(line), f)) {
                unsigned long long kb;
                if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
                        json_object_set_new(h, "mem_total", json_integer((json_int_t) (kb * 1024)));
                else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
                        json_object_set_new(h, "mem_available", json_integer((json_int_t) (kb * 1024)));
        }
}

/* /dev/kvm usable for kapsel-vmm: present, and not the PVM variant (which it does not run on). */
static const char *host_kvm(void) {
        if (access("/dev/kvm", R_OK | W_OK) < 0)
                return "absent";
        if (access("/sys/module/kvm_pvm", F_OK) == 0)
                return "pvm (not usable)";
        return "available";
}

/* The container's network traffic: /proc/PID/net/dev of its init, seen from its own network
 * namespace; every interface but lo. */
static void ctr_net(const CtrRecord *rec, json_t *out) {
        char path[64], line[512];
        snprintf(path, sizeof(path), "/proc/%d/net/dev", (int) rec->pid);
        _cleanup_fclose_ FILE *f = rec->pid > 0 ? fopen(path, "re") : NULL;
        unsigned long long rx = 0, tx = 0;
        while (f && fgets(line, sizeof(line), f)) {
                char name[64];
                unsigned long long v[9];
                if (sscanf(line, " %63[^:]: %llu %llu %llu %llu %llu %llu %llu %llu %llu", name, &v[0], &v[1], &v[2],
                           &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) != 10 || streq(name, "lo"))
                        continue;
                rx += v[0];
                tx += v[8];
        }
        if (!f)
                return;
        json_object_set_new(out, "net_rx", json_integer((json_int_t) rx));
        json_object_set_new(out, "net_tx", json_integer((json_int_t) tx));
}

static json_t *ctr_sample(Engine *e, const CtrRecord *rec) {
        CgroupStats st = { 0 };
        if (ctr_runs_vmm(rec)) {
                VmStats v;
                if (vm_stats(e, rec, &v, NULL) < 0)
                        return NULL;
                st = (CgroupStats) { .cpu_usage_ns = v.cpu_ns, .memory_usage = v.rss_bytes, .memory_limit = v.guest_bytes,
                                     .pids_current = v.vcpus, .blkio_read_bytes = v.read_bytes,
                                     .blkio_write_bytes = v.write_bytes };
        } else {
                CgroupMode mode;
                _cleanup_free_ char *path = NULL;
                _cleanup_(cgroup_freep) Cgroup *cg = NULL;
                if (cgroup_detect("/sys/fs/cgroup", &mode, NULL) < 0 || asprintf(&path, "/kapsel/%s", rec->id) < 0 ||
                    cgroup_open("/sys/fs/cgroup", mode, path, &cg, NULL) < 0 || cgroup_stats(cg, &st, NULL) < 0)
                        return NULL;
        }
        json_t *out = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "cpu_ns", (json_int_t) st.cpu_usage_ns, "mem",
                         (json_int_t) st.memory_usage, "mem_limit",
                         (json_int_t) (st.memory_limit == UINT64_MAX ? 0 : st.memory_limit), "pids",
                         (json_int_t) st.pids_current, "blk_read", (json_int_t) st.blkio_read_bytes, "blk_write",
                         (json_int_t) st.blkio_write_bytes);
        if (out && !ctr_runs_vmm(rec))
                ctr_net(rec, out);
        return out;
}

json_t *web_stats(const DaemonConfig *cfg) {
        json_t *out = json_object(), *h = json_object(), *ctrs = json_object();
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        json_object_set_new(out, "time_ms", json_integer((json_int_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
        host_cpu(h);
        host_mem(h);
        struct statvfs sv;
        if (statvfs(cfg->root, &sv) == 0) {
                json_object_set_new(h, "disk_total", json_integer((json_int_t) (sv.f_blocks * sv.f_frsize)));
                json_object_set_new(h, "disk_free", json_integer((json_int_t) (sv.f_bavail * sv.f_frsize)));
        }
        json_object_set_new(h, "kvm", json_string(host_kvm()));
        json_object_set_new(h, "root", json_string(cfg->root));
        _cleanup_(engine_freep) Engine *e = NULL;
        CtrRecord **l = NULL;
        size_t n = 0;
        if (engine_open(cfg->root, &e, NULL) >= 0 && db_ctr_list(e->db, &l, &n, NULL) >= 0) {
                for (size_t i = 0; i < n; i++) {
                        if (l[i]->state != CTR_RUNNING && l[i]->state != CTR_PAUSED)
                                continue;
                        json_t *s = ctr_sample(e, l[i]);
                        if (s)
                                json_object_set_new(ctrs, l[i]->id, s);
                }
                ctr_record_list_free(l, n);
        }
        json_object_set_new(out, "host", h);
        json_object_set_new(out, "containers", ctrs);
        return out;
}
