/* SPDX-License-Identifier: Apache-2.0 */
/* top and stats read the container's cgroup: its processes, and CPU, memory, pids and block I/O
 * counters, as docker top / docker stats (and xentop) show them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "ctr-ops.h"
#include "fd-util.h"
#include "kapsel-cli.h"
#include "proc-util.h"
#include "string-util.h"
#include "time-util.h"
#include "vm-ops.h"

static int open_cgroup(const CtrRecord *r, Cgroup **ret, KError **err) {
        CgroupMode mode;
        _cleanup_free_ char *path = NULL;
        int rr = cgroup_detect("/sys/fs/cgroup", &mode, err);
        if (rr >= 0 && asprintf(&path, "/kapsel/%s", r->id) < 0)
                rr = -ENOMEM;
        return rr < 0 ? rr : cgroup_open("/sys/fs/cgroup", mode, path, ret, err);
}

static int running_record(const KGlobals *g, Engine *e, const char *ref, CtrRecord **ret, KError **err) {
        int r = k_ctr_find(g, e, ref, ret, err);
        if (r >= 0 && (*ret)->state != CTR_RUNNING && (*ret)->state != CTR_PAUSED)
                r = kerr_msg(err, KERR_STATE, -EINVAL, "container %s is not running", (*ret)->name);
        if (r >= 0 && (*ret)->kind == CTR_KIND_VM)
                r = kerr_msg(err, KERR_USAGE, -EOPNOTSUPP,
                             "%s is a micro-VM: its processes are its own kernel's (see them on its console: kapsel "
                             "vm console %s)", (*ret)->name, (*ret)->name);
        return r;
}

/* An --isolation=vm container: its guest agent lists the processes (the host sees only kapsel-vmm). */
static int top_in_guest(Engine *e, const CtrRecord *rec, KError **err) {
        if (rec->state == CTR_PAUSED)
                return kerr_msg(err, KERR_STATE, -EINVAL,
                                "container %s is paused: its micro-VM cannot list its processes until 'kapsel unpause %s'",
                                rec->name, rec->name);
        fputs(PROC_TOP_HEADER, stdout);
        fflush(stdout);
        int code = 0, r = k_top_stream(e, rec, &code, err);
        return r < 0 ? r : code;
}

K_VERB(top) {
        if (argc != 2)
                return k_usage(err, "top", "expected CONTAINER");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r = k_open(g, &e, err);
        if (r >= 0)
                r = running_record(g, e, argv[1], &rec, err);
        if (r >= 0 && ctr_runs_vmm(rec))
                return top_in_guest(e, rec, err);
        if (r >= 0)
                r = open_cgroup(rec, &cg, err);
        if (r >= 0)
                r = cgroup_pids(cg, &pids, &n, err);
        if (r < 0)
                return r;
        fputs(PROC_TOP_HEADER, stdout);
        for (size_t i = 0; i < n; i++) {
                char row[600];
                (void) proc_top_row(pids[i], row, sizeof(row));
                fputs(row, stdout);
        }
        return 0;
}

static void human_bytes(uint64_t b, char buf[static 16]) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) b;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, 16, u ? "%.2f%s" : "%.0f%s", v, units[u]);
}

typedef struct StatRow {
        char *id, *name;
        Cgroup *cg;
        CtrRecord *vm;          /* a micro-VM or --isolation=vm container: sampled from kapsel-vmm */
        uint64_t last_cpu;
} StatRow;

/* A VM's numbers in a container's columns: the guest's RAM is the limit, kapsel-vmm's resident
 * memory the usage, its CPU time (vCPU threads included) the CPU, its vCPUs the PIDS. */
static bool row_sample(Engine *e, const StatRow *row, CgroupStats *st) {
        *st = (CgroupStats) { 0 };
        if (!row->vm)
                return row->cg && cgroup_stats(row->cg, st, NULL) >= 0;
        VmStats v;
        if (vm_stats(e, row->vm, &v, NULL) < 0)
                return false;
        *st = (CgroupStats) { .cpu_usage_ns = v.cpu_ns, .memory_usage = v.rss_bytes, .memory_limit = v.guest_bytes,
                              .pids_current = v.vcpus, .blkio_read_bytes = v.read_bytes, .blkio_write_bytes = v.write_bytes };
        return true;
}

/* interval_ns == 0: only read the counters (the baseline for the first CPU %). */
static void print_rows(Engine *e, StatRow *rows, size_t n, uint64_t interval_ns, bool clear) {
        if (interval_ns == 0) {
                for (size_t i = 0; i < n; i++) {
                        CgroupStats st;
                        if (row_sample(e, &rows[i], &st))
                                rows[i].last_cpu = st.cpu_usage_ns;
                }
                return;
        }
        if (clear)
                fputs("\033[2J\033[H", stdout);
        printf("%-14s %-22s %-8s %-22s %-7s %-6s %s\n", "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %",
               "PIDS", "BLOCK I/O");
        for (size_t i = 0; i < n; i++) {
                CgroupStats st;
                if (!row_sample(e, &rows[i], &st))
                        continue;
                double cpu = 100.0 * (double) (st.cpu_usage_ns - rows[i].last_cpu) / (double) interval_ns;
                rows[i].last_cpu = st.cpu_usage_ns;
                char mu[16], ml[16], br[16], bw[16], mem[48], blk[40];
                uint64_t limit = st.memory_limit;
                if (limit == UINT64_MAX || limit == 0)
                        limit = (uint64_t) sysconf(_SC_PHYS_PAGES) * (uint64_t) sysconf(_SC_PAGESIZE);
                human_bytes(st.memory_usage, mu);
                human_bytes(limit, ml);
                human_bytes(st.blkio_read_bytes, br);
                human_bytes(st.blkio_write_bytes, bw);
                snprintf(mem, sizeof(mem), "%s / %s", mu, ml);
                snprintf(blk, sizeof(blk), "%s / %s", br, bw);
                printf("%-14.12s %-22s %-8.2f %-22s %-7.2f %-6llu %s\n", rows[i].id, rows[i].name, cpu, mem,
                       100.0 * (double) st.memory_usage / (double) limit, (unsigned long long) st.pids_current, blk);
        }
        fflush(stdout);
}

K_VERB(stats) {
        static const struct option opts[] = { { "no-stream", no_argument, NULL, 'n' }, { "all", no_argument, NULL, 'a' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        bool stream = true;
        int c;
        while ((c = getopt_long(argc, argv, "+a", opts, NULL)) >= 0)
                switch (c) {
                case 'n': stream = false; break;
                case 'a': break;
                case 'h': return k_help("stats");
                default: return k_usage(err, "stats", "unknown option");
                }
        _cleanup_(engine_freep) Engine *e = NULL;
        CtrRecord **list;
        size_t n;
        int r = k_open_list(g, &e, &list, &n, err);
        if (r < 0)
                return r;
        StatRow *rows = calloc(n ? n : 1, sizeof(*rows));
        size_t nr = 0;
        for (size_t i = 0; rows && i < n; i++) {
                bool named = optind >= argc;
                for (int k = optind; k < argc; k++)
                        named |= streq(argv[k], list[i]->name) || startswith(list[i]->id, argv[k]);
                if (!named || (list[i]->state != CTR_RUNNING && list[i]->state != CTR_PAUSED))
                        continue;
                rows[nr] = (StatRow) { .id = strdup(list[i]->id), .name = strdup(list[i]->name) };
                if (ctr_runs_vmm(list[i]))
                        rows[nr].vm = TAKE_PTR(list[i]);
                else
                        (void) open_cgroup(list[i], &rows[nr].cg, NULL);
                nr++;
        }
        ctr_record_list_free(list, n);
        if (optind < argc && nr == 0) {
                free(rows);
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "no running container matches %s", argv[optind]);
        }
        /* the first sample only primes the CPU counters; CPU % is over the interval after it */
        print_rows(e, rows, nr, 0, false);
        uint64_t t0 = now_monotonic_ns();
        do {
                usleep(stream ? 1000000 : 500000);
                uint64_t t1 = now_monotonic_ns();
                print_rows(e, rows, nr, t1 - t0, stream);
                t0 = t1;
        } while (stream);
        for (size_t i = 0; i < nr; i++) {
                free(rows[i].id);
                free(rows[i].name);
                cgroup_free(rows[i].cg);
                ctr_record_free(rows[i].vm);
        }
        free(rows);
        return 0;
}
