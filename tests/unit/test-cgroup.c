/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the cgroup layer: the pure plan (exact writes, order, conversions, errors),
 * the path policy, the eBPF device program shape, and both back-ends against a fake cgroupfs
 * in a temp dir (fs_root is a parameter), so nothing here needs root or touches the host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup-bpf.h"
#include "cgroup-internal.h"
#include "cgroup.h"
#include "fd-util.h"
#include "path-util.h"
#include "string-util.h"

/* --- plan --- */

/* Render a plan as "controller file=value\n" lines so expectations read like the writes. */
static char *render(const CgroupPlan *p) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        assert_non_null(f);
        for (size_t i = 0; i < p->n_writes; i++)
                fprintf(f, "%s %s=%s\n", p->writes[i].controller ? p->writes[i].controller : "-", p->writes[i].file,
                        p->writes[i].value);
        fclose(f);
        return out;
}

static void expect_plan(CgroupMode mode, const SpecResources *res, const char *want, bool want_bpf) {
        _cleanup_(cgroup_plan_freep) CgroupPlan *p = NULL;
        _cleanup_kerr_ KError *e = NULL;
        int r = cgroup_plan_resources(mode, res, &p, &e);
        if (r < 0)
                fail_msg("unexpected plan error: %s", e ? e->msg : "?");
        _cleanup_free_ char *got = render(p);
        assert_string_equal(got, want);
        assert_int_equal(p->needs_device_bpf, want_bpf);
}

static void expect_plan_error(CgroupMode mode, const SpecResources *res, const char *needle) {
        _cleanup_(cgroup_plan_freep) CgroupPlan *p = NULL;
        _cleanup_kerr_ KError *e = NULL;
        assert_true(cgroup_plan_resources(mode, res, &p, &e) < 0);
        assert_null(p);
        assert_non_null(e);
        assert_int_equal(e->kind, KERR_CONFIG);
        if (!strstr(e->msg, needle))
                fail_msg("error \"%s\" does not contain \"%s\"", e->msg, needle);
}

static void test_plan_empty(void **state) {
        SpecResources res = {};
        expect_plan(CGROUP_MODE_V1, &res, "", false);
        expect_plan(CGROUP_MODE_V2, &res, "", false);
        _cleanup_(cgroup_plan_freep) CgroupPlan *p = NULL;
        assert_int_equal(cgroup_plan_resources(CGROUP_MODE_V2, NULL, &p, NULL), 0);
        assert_int_equal(p->n_writes, 0);
}

static void test_plan_v1_memory(void **state) {
        SpecResources res = {
                .has_memory_limit = true, .memory_limit = 1 << 20,
                .has_memory_swap = true, .memory_swap = 2 << 20,
                .has_memory_reservation = true, .memory_reservation = 512 << 10,
                .has_memory_kernel = true, .memory_kernel = 4 << 20,
                .has_memory_kernel_tcp = true, .memory_kernel_tcp = 3 << 20,
                .has_memory_swappiness = true, .memory_swappiness = 60,
                .has_memory_disable_oom_killer = true, .memory_disable_oom_killer = true,
        };
        /* limit then memsw, adjacent: the v1 back-end swaps the pair when raising (see
         * test_v1_fake_memsw_order). */
        expect_plan(CGROUP_MODE_V1, &res,
                    "memory memory.limit_in_bytes=1048576\n"
                    "memory memory.memsw.limit_in_bytes=2097152\n"
                    "memory memory.soft_limit_in_bytes=524288\n"
                    "memory memory.kmem.limit_in_bytes=4194304\n"
                    "memory memory.kmem.tcp.limit_in_bytes=3145728\n"
                    "memory memory.swappiness=60\n"
                    "memory memory.oom_control=1\n",
                    false);
}

static void test_plan_v2_memory(void **state) {
        SpecResources res = {
                .has_memory_limit = true, .memory_limit = 100 << 20,
                .has_memory_swap = true, .memory_swap = 150 << 20,
                .has_memory_reservation = true, .memory_reservation = 50 << 20,
        };
        /* spec swap is memory+swap; v2 swap.max is swap alone: 150M - 100M */
        expect_plan(CGROUP_MODE_V2, &res,
                    "memory memory.max=104857600\n"
                    "memory memory.swap.max=52428800\n"
                    "memory memory.low=52428800\n",
                    false);

        SpecResources unlimited = { .has_memory_limit = true, .memory_limit = -1,
                                    .has_memory_swap = true, .memory_swap = -1 };
        expect_plan(CGROUP_MODE_V2, &unlimited, "memory memory.max=max\nmemory memory.swap.max=max\n", false);

        SpecResources equal = { .has_memory_limit = true, .memory_limit = 4096,
                                .has_memory_swap = true, .memory_swap = 4096 };
        expect_plan(CGROUP_MODE_V2, &equal, "memory memory.max=4096\nmemory memory.swap.max=0\n", false);
}

static void test_plan_v2_memory_errors(void **state) {
        SpecResources kernel = { .has_memory_kernel = true, .memory_kernel = 1 << 20 };
        expect_plan_error(CGROUP_MODE_V2, &kernel, "linux.resources.memory.kernel: not supported on cgroup v2");
        SpecResources swappiness = { .has_memory_swappiness = true, .memory_swappiness = 10 };
        expect_plan_error(CGROUP_MODE_V2, &swappiness, "linux.resources.memory.swappiness");
        SpecResources swap_alone = { .has_memory_swap = true, .memory_swap = 1 << 20 };
        expect_plan_error(CGROUP_MODE_V2, &swap_alone, "linux.resources.memory.swap");
        SpecResources swap_below = { .has_memory_limit = true, .memory_limit = 2 << 20,
                                     .has_memory_swap = true, .memory_swap = 1 << 20 };
        expect_plan_error(CGROUP_MODE_V2, &swap_below, "linux.resources.memory.swap");
}

static void test_plan_v1_cpu(void **state) {
        SpecResources res = {
                .has_cpu_shares = true, .cpu_shares = 512,
                .has_cpu_quota = true, .cpu_quota = 50000,
                .has_cpu_period = true, .cpu_period = 100000,
                .has_cpu_realtime_runtime = true, .cpu_realtime_runtime = 950000,
                .has_cpu_realtime_period = true, .cpu_realtime_period = 1000000,
                .cpuset_cpus = (char *) "0-1",
                .cpuset_mems = (char *) "0",
        };
        /* period before quota: the kernel validates a quota against the current period */
        expect_plan(CGROUP_MODE_V1, &res,
                    "cpu cpu.shares=512\n"
                    "cpu cpu.cfs_period_us=100000\n"
                    "cpu cpu.cfs_quota_us=50000\n"
                    "cpu cpu.rt_period_us=1000000\n"
                    "cpu cpu.rt_runtime_us=950000\n"
                    "cpuset cpuset.cpus=0-1\n"
                    "cpuset cpuset.mems=0\n",
                    false);
}

static void test_plan_v2_cpu(void **state) {
        SpecResources res = {
                .has_cpu_shares = true, .cpu_shares = 1024,
                .has_cpu_quota = true, .cpu_quota = 50000,
                .has_cpu_period = true, .cpu_period = 200000,
                .cpuset_cpus = (char *) "1",
        };
        /* 1 + ((1024 - 2) * 9999) / 262142 = 39 (runc/crun's mapping) */
        expect_plan(CGROUP_MODE_V2, &res,
                    "cpu cpu.weight=39\n"
                    "cpu cpu.max=50000 200000\n"
                    "cpuset cpuset.cpus=1\n",
                    false);

        SpecResources extremes = { .has_cpu_shares = true, .cpu_shares = 2 };
        expect_plan(CGROUP_MODE_V2, &extremes, "cpu cpu.weight=1\n", false);
        extremes.cpu_shares = 262144;
        expect_plan(CGROUP_MODE_V2, &extremes, "cpu cpu.weight=10000\n", false);

        SpecResources unlimited = { .has_cpu_quota = true, .cpu_quota = -1 };
        expect_plan(CGROUP_MODE_V2, &unlimited, "cpu cpu.max=max 100000\n", false);
        SpecResources period_only = { .has_cpu_period = true, .cpu_period = 250000 };
        expect_plan(CGROUP_MODE_V2, &period_only, "cpu cpu.max=max 250000\n", false);

        SpecResources rt = { .has_cpu_realtime_runtime = true, .cpu_realtime_runtime = 1000 };
        expect_plan_error(CGROUP_MODE_V2, &rt, "linux.resources.cpu.realtime");
}

static void test_plan_pids(void **state) {
        SpecResources res = { .has_pids_limit = true, .pids_limit = 64 };
        expect_plan(CGROUP_MODE_V1, &res, "pids pids.max=64\n", false);
        expect_plan(CGROUP_MODE_V2, &res, "pids pids.max=64\n", false);
        res.pids_limit = 0;
        expect_plan(CGROUP_MODE_V2, &res, "pids pids.max=max\n", false);
        res.pids_limit = -1;
        expect_plan(CGROUP_MODE_V1, &res, "pids pids.max=max\n", false);
}

static void test_plan_blkio(void **state) {
        SpecWeightDevice wd[] = { { .major = 8, .minor = 0, .has_weight = true, .weight = 500,
                                    .has_leaf_weight = true, .leaf_weight = 300 } };
        SpecThrottleDevice rbps[] = { { .major = 8, .minor = 0, .rate = 1048576 } };
        SpecThrottleDevice wiops[] = { { .major = 8, .minor = 16, .rate = 100 } };
        SpecResources res = {
                .has_blkio_weight = true, .blkio_weight = 10,
                .has_blkio_leaf_weight = true, .blkio_leaf_weight = 20,
                .blkio_weight_devices = wd, .n_blkio_weight_devices = 1,
                .blkio_throttle = { [BLKIO_READ_BPS] = rbps, [BLKIO_WRITE_IOPS] = wiops },
                .n_blkio_throttle = { [BLKIO_READ_BPS] = 1, [BLKIO_WRITE_IOPS] = 1 },
        };
        expect_plan(CGROUP_MODE_V1, &res,
                    "blkio blkio.weight=10\n"
                    "blkio blkio.leaf_weight=20\n"
                    "blkio blkio.weight_device=8:0 500\n"
                    "blkio blkio.leaf_weight_device=8:0 300\n"
                    "blkio blkio.throttle.read_bps_device=8:0 1048576\n"
                    "blkio blkio.throttle.write_iops_device=8:16 100\n",
                    false);
        /* blkio weight 10..1000 -> io.weight 1..10000: 10 -> 1, 500 -> 1 + 490*9999/990 = 4950 */
        expect_plan(CGROUP_MODE_V2, &res,
                    "io io.weight=default 1\n"
                    "io io.weight=8:0 4950\n"
                    "io io.max=8:0 rbps=1048576\n"
                    "io io.max=8:16 wiops=100\n",
                    false);
}

static void test_plan_hugetlb(void **state) {
        SpecHugepageLimit h[] = { { .page_size = (char *) "2MB", .limit = 4194304 },
                                  { .page_size = (char *) "1GB", .limit = 0 } };
        SpecResources res = { .hugepage_limits = h, .n_hugepage_limits = 2 };
        expect_plan(CGROUP_MODE_V1, &res,
                    "hugetlb hugetlb.2MB.limit_in_bytes=4194304\nhugetlb hugetlb.1GB.limit_in_bytes=0\n", false);
        expect_plan(CGROUP_MODE_V2, &res, "hugetlb hugetlb.2MB.max=4194304\nhugetlb hugetlb.1GB.max=0\n", false);
}

static void test_plan_network(void **state) {
        SpecNetPriority np[] = { { .name = (char *) "lo", .priority = 7 }, { .name = (char *) "eth0", .priority = 2 } };
        SpecResources res = { .has_net_class_id = true, .net_class_id = 0x100001, .net_priorities = np,
                              .n_net_priorities = 2 };
        expect_plan(CGROUP_MODE_V1, &res,
                    "net_cls net_cls.classid=1048577\nnet_prio net_prio.ifpriomap=lo 7\n"
                    "net_prio net_prio.ifpriomap=eth0 2\n", false);
        /* cgroup v2 has no such controllers: nothing to write (runc and crun ignore it too) */
        expect_plan(CGROUP_MODE_V2, &res, "", false);
}

static void test_plan_devices(void **state) {
        SpecDeviceRule d[] = {
                { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
                { .allow = true, .type = 'c', .major = 136, .minor = -1, .access = "rwm" },
                { .allow = true, .type = 'b', .major = -1, .minor = 5, .access = "m" },
        };
        SpecResources res = { .devices = d, .n_devices = ELEMENTSOF(d) };
        expect_plan(CGROUP_MODE_V1, &res,
                    "devices devices.deny=a *:* rwm\n"
                    "devices devices.allow=c 1:3 rw\n"
                    "devices devices.allow=c 136:* rwm\n"
                    "devices devices.allow=b *:5 m\n",
                    false);
        /* v2 has no devices files: the rules become an eBPF program */
        expect_plan(CGROUP_MODE_V2, &res, "", true);
}

static void test_plan_unified(void **state) {
        char *kv[] = { (char *) "memory.high", (char *) "1000000", (char *) "pids.max", (char *) "10",
                       (char *) "cgroup.type", (char *) "threaded", NULL };
        SpecResources res = { .unified = kv };
        /* verbatim, in order; the controller is derived from the prefix when it is one */
        expect_plan(CGROUP_MODE_V2, &res,
                    "memory memory.high=1000000\npids pids.max=10\n- cgroup.type=threaded\n", false);
        expect_plan_error(CGROUP_MODE_V1, &res, "linux.resources.unified: not supported on cgroup v1");

        static const char *const bad[] = { "../memory.max", "memory/x.max", "..", "nodot", ".hidden", "memory..max" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *one[] = { (char *) bad[i], (char *) "1", NULL };
                SpecResources r1 = { .unified = one };
                expect_plan_error(CGROUP_MODE_V2, &r1, "linux.resources.unified");
        }
}

static void test_plan_order_across_controllers(void **state) {
        SpecDeviceRule d[] = { { .allow = true, .type = 'c', .major = 1, .minor = 5, .access = "rwm" } };
        SpecResources res = {
                .devices = d, .n_devices = 1,
                .has_memory_limit = true, .memory_limit = 4096,
                .has_cpu_shares = true, .cpu_shares = 100,
                .has_pids_limit = true, .pids_limit = 5,
        };
        /* devices first (v1: the container must never run with too wide access), then memory, cpu, pids */
        expect_plan(CGROUP_MODE_V1, &res,
                    "devices devices.allow=c 1:5 rwm\n"
                    "memory memory.limit_in_bytes=4096\n"
                    "cpu cpu.shares=100\n"
                    "pids pids.max=5\n",
                    false);
}

/* --- path policy --- */

static void expect_path(const char *cgroups_path, const char *id, const char *want) {
        _cleanup_free_ char *got = NULL;
        _cleanup_kerr_ KError *e = NULL;
        if (cgroup_resolve_path(cgroups_path, id, &got, &e) < 0)
                fail_msg("resolve \"%s\": %s", cgroups_path ? cgroups_path : "(null)", e->msg);
        assert_string_equal(got, want);
}

static void expect_path_error(const char *cgroups_path, const char *needle) {
        _cleanup_free_ char *got = NULL;
        _cleanup_kerr_ KError *e = NULL;
        assert_true(cgroup_resolve_path(cgroups_path, "c1", &got, &e) < 0);
        assert_null(got);
        assert_int_equal(e->kind, KERR_CONFIG);
        if (!strstr(e->msg, needle))
                fail_msg("error \"%s\" does not contain \"%s\"", e->msg, needle);
}

static void test_resolve_path(void **state) {
        expect_path(NULL, "c1", "/kapsel/c1");
        expect_path("", "c1", "/kapsel/c1");
        expect_path("/mygroup/c1", "c1", "/mygroup/c1");
        expect_path("/a//b/./c/", "c1", "/a/b/c");
        expect_path("pods/c1", "c1", "/kapsel/pods/c1");
        expect_path_error("system.slice:kapsel:c1", "--systemd-cgroup");
        expect_path_error("/", "linux.cgroupsPath");
        expect_path_error("/a/../..", "linux.cgroupsPath");
        expect_path_error("../escape", "linux.cgroupsPath");
}

/* --- eBPF device program (shape only; loading needs root and is covered by integration) --- */

static void test_bpf_build(void **state) {
        SpecDeviceRule d[] = {
                { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
        };
        _cleanup_free_ struct bpf_insn *prog = NULL;
        size_t n = 0;
        assert_int_equal(cgroup_bpf_devices_build(d, 2, &prog, &n), 0);
        /* prologue 5; rule c 1:3 rw: type, major, load minor, minor, 3 access insns, mov, exit = 9;
         * the unconditional "deny all" rule ends the program with mov + exit */
        assert_int_equal(n, 5 + 9 + 2);
        assert_int_equal(prog[n - 1].code, BPF_JMP | BPF_EXIT);
        assert_int_equal(prog[n - 2].imm, 0);           /* r0 = 0: deny */
        assert_int_equal(prog[n - 3].code, BPF_JMP | BPF_EXIT);
        assert_int_equal(prog[n - 4].imm, 1);           /* r0 = 1: allow */
        /* every jump lands inside the program */
        for (size_t i = 0; i < n; i++)
                if (BPF_CLASS(prog[i].code) == BPF_JMP && BPF_OP(prog[i].code) != BPF_EXIT)
                        assert_true(i + 1 + (size_t) prog[i].off < n);

        _cleanup_free_ struct bpf_insn *empty = NULL;
        assert_int_equal(cgroup_bpf_devices_build(NULL, 0, &empty, &n), 0);
        assert_int_equal(n, 5 + 2);                     /* no rule: deny everything */
}

/* --- back-ends against a fake cgroupfs --- */

static char *tmp_root(void) {
        char *t = strdup("/tmp/kapsel-test-cgroup-XXXXXX");
        assert_non_null(t);
        assert_non_null(mkdtemp(t));
        return t;
}

static void rm_rf(const char *p) {
        char *cmd;
        assert_true(asprintf(&cmd, "rm -rf '%s'", p) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

static void mkdirs(const char *root, const char *rel) {
        _cleanup_free_ char *p = path_join(root, rel);
        char *cmd;
        assert_true(asprintf(&cmd, "mkdir -p '%s'", p) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

/* The kernel creates control files with the directory; a fake tree needs them made. */
static void put(const char *root, const char *rel, const char *content) {
        _cleanup_free_ char *p = path_join(root, rel);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, content, strlen(content)), 0);
}

/* cgroupfs drops a directory's control files with it; a fake tree must drop them first. */
static void forget_files(const char *root, const char *path) {
        char *cmd;
        assert_true(asprintf(&cmd, "find '%s' -path '*/%s/*' -type f -delete", root, path) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

static char *get(const char *root, const char *rel) {
        _cleanup_free_ char *p = path_join(root, rel);
        char *text = NULL;
        if (read_full_file_at(AT_FDCWD, p, 1 << 16, &text, NULL) < 0)
                return NULL;
        return text;
}

static bool exists(const char *root, const char *rel) {
        _cleanup_free_ char *p = path_join(root, rel);
        return access(p, F_OK) == 0;
}

static void expect_file(const char *root, const char *rel, const char *want) {
        _cleanup_free_ char *got = get(root, rel);
        if (!got)
                fail_msg("%s missing", rel);
        assert_string_equal(got, want);
}

/* v1: "cpu,cpuacct" with the "cpu" and "cpuacct" symlinks, as systemd mounts them. */
static const char *const v1_hiers[] = { "cpu,cpuacct", "cpuset", "memory", "pids", "freezer", "devices", "blkio", "systemd" };

static char *fake_v1(void) {
        char *root = tmp_root();
        for (size_t i = 0; i < ELEMENTSOF(v1_hiers); i++)
                mkdirs(root, v1_hiers[i]);
        mkdirs(root, "unified");                        /* hybrid: empty v2 tree, not used */
        _cleanup_free_ char *l1 = path_join(root, "cpu"), *l2 = path_join(root, "cpuacct");
        assert_int_equal(symlink("cpu,cpuacct", l1), 0);
        assert_int_equal(symlink("cpu,cpuacct", l2), 0);
        put(root, "cpuset/cpuset.cpus", "0-1\n");
        put(root, "cpuset/cpuset.mems", "0\n");
        return root;
}

static void populate_v1(const char *root, const char *path) {
        static const char *const files[][2] = {
                { "cpu,cpuacct", "cpu.shares" }, { "cpu,cpuacct", "cpu.cfs_period_us" },
                { "cpu,cpuacct", "cpu.cfs_quota_us" }, { "cpu,cpuacct", "cpuacct.usage" },
                { "memory", "memory.limit_in_bytes" }, { "memory", "memory.memsw.limit_in_bytes" },
                { "memory", "memory.usage_in_bytes" }, { "pids", "pids.max" }, { "pids", "pids.current" },
                { "freezer", "freezer.state" }, { "devices", "devices.allow" }, { "devices", "devices.deny" },
                { "blkio", "blkio.throttle.io_service_bytes" },
        };
        for (size_t i = 0; i < ELEMENTSOF(v1_hiers); i++) {
                _cleanup_free_ char *d = path_join(v1_hiers[i], path), *procs = path_join(d, "cgroup.procs");
                put(root, procs, "");
        }
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *d = path_join(files[i][0], path), *f = path_join(d, files[i][1]);
                put(root, f, "");
        }
}

static void test_detect(void **state) {
        _cleanup_free_ char *root = tmp_root();
        CgroupMode m;
        _cleanup_kerr_ KError *e = NULL;
        /* /tmp is whatever the host has; only a tmpfs or cgroup2 is accepted */
        int r = cgroup_detect(root, &m, &e);
        if (r < 0)
                assert_int_equal(e->kind, KERR_HOST);
        _cleanup_kerr_ KError *e2 = NULL;
        assert_true(cgroup_detect("/nonexistent-kapsel", &m, &e2) < 0);
        assert_non_null(strstr(e2->msg, "/nonexistent-kapsel"));
        _cleanup_kerr_ KError *e3 = NULL;
        assert_true(cgroup_detect("/proc", &m, &e3) < 0);          /* procfs: neither */
        assert_non_null(strstr(e3->msg, "/proc"));
        rm_rf(root);
}

static void test_v1_fake_lifecycle(void **state) {
        _cleanup_free_ char *root = fake_v1();
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_kerr_ KError *e = NULL;
        /* a pre-existing parent with empty cpuset files, as the kernel makes them */
        mkdirs(root, "cpuset/kapsel/c1");
        put(root, "cpuset/kapsel/cpuset.cpus", "");
        put(root, "cpuset/kapsel/cpuset.mems", "");
        put(root, "cpuset/kapsel/c1/cpuset.cpus", "\n");
        put(root, "cpuset/kapsel/c1/cpuset.mems", "\n");

        if (cgroup_create(root, CGROUP_MODE_V1, "/kapsel/c1", NULL, &cg, &e) < 0)
                fail_msg("create: %s", e->msg);
        assert_string_equal(cgroup_path(cg), "/kapsel/c1");
        assert_int_equal(cgroup_mode(cg), CGROUP_MODE_V1);
        for (size_t i = 0; i < ELEMENTSOF(v1_hiers); i++) {
                _cleanup_free_ char *d = path_join(v1_hiers[i], "kapsel/c1");
                assert_true(exists(root, d));
        }
        assert_false(exists(root, "unified/kapsel"));
        /* cpuset copied down level by level, from the hierarchy root */
        expect_file(root, "cpuset/kapsel/cpuset.cpus", "0-1");
        expect_file(root, "cpuset/kapsel/c1/cpuset.cpus", "0-1");
        expect_file(root, "cpuset/kapsel/c1/cpuset.mems", "0");

        populate_v1(root, "kapsel/c1");
        SpecDeviceRule rules[] = { { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" } };
        SpecResources res = { .devices = rules, .n_devices = 1, .has_cpu_shares = true, .cpu_shares = 256,
                              .has_pids_limit = true, .pids_limit = 7 };
        if (cgroup_apply(cg, &res, &e) < 0)
                fail_msg("apply: %s", e->msg);
        /* the "cpu" symlink is not a second hierarchy: the write lands once, in cpu,cpuacct */
        expect_file(root, "cpu,cpuacct/kapsel/c1/cpu.shares", "256");
        expect_file(root, "pids/kapsel/c1/pids.max", "7");
        expect_file(root, "devices/kapsel/c1/devices.deny", "a *:* rwm");

        if (cgroup_enter(cg, 4242, &e) < 0)
                fail_msg("enter: %s", e->msg);
        for (size_t i = 0; i < ELEMENTSOF(v1_hiers); i++) {
                _cleanup_free_ char *d = path_join(v1_hiers[i], "kapsel/c1/cgroup.procs");
                expect_file(root, d, "4242");
        }

        put(root, "pids/kapsel/c1/cgroup.procs", "11\n12\n");
        mkdirs(root, "pids/kapsel/c1/sub");
        put(root, "pids/kapsel/c1/sub/cgroup.procs", "13\n");
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        assert_int_equal(cgroup_pids(cg, &pids, &n, &e), 0);
        assert_int_equal(n, 3);
        assert_int_equal(pids[0] + pids[1] + pids[2], 11 + 12 + 13);

        put(root, "cpu,cpuacct/kapsel/c1/cpuacct.usage", "123456789\n");
        put(root, "memory/kapsel/c1/memory.usage_in_bytes", "4096\n");
        put(root, "memory/kapsel/c1/memory.limit_in_bytes", "9223372036854771712\n");
        put(root, "pids/kapsel/c1/pids.current", "3\n");
        put(root, "pids/kapsel/c1/pids.max", "max\n");
        put(root, "blkio/kapsel/c1/blkio.throttle.io_service_bytes",
            "8:0 Read 100\n8:0 Write 200\n8:16 Read 1\n8:0 Total 301\nTotal 301\n");
        CgroupStats st;
        assert_int_equal(cgroup_stats(cg, &st, &e), 0);
        assert_int_equal(st.cpu_usage_ns, 123456789);
        assert_int_equal(st.memory_usage, 4096);
        assert_true(st.memory_limit == UINT64_MAX);
        assert_int_equal(st.pids_current, 3);
        assert_true(st.pids_limit == UINT64_MAX);
        assert_int_equal(st.blkio_read_bytes, 101);
        assert_int_equal(st.blkio_write_bytes, 200);

        /* the kernel forgets exited tasks; the fake lists none, so destroy need not kill */
        for (size_t i = 0; i < ELEMENTSOF(v1_hiers); i++) {
                _cleanup_free_ char *f = path_join(v1_hiers[i], "kapsel/c1/cgroup.procs");
                put(root, f, "");
        }
        put(root, "pids/kapsel/c1/sub/cgroup.procs", "");
        forget_files(root, "kapsel/c1");
        if (cgroup_destroy(cg, &e) < 0)
                fail_msg("destroy: %s", e->msg);
        for (size_t i = 0; i < ELEMENTSOF(v1_hiers); i++) {
                _cleanup_free_ char *d = path_join(v1_hiers[i], "kapsel/c1");
                assert_false(exists(root, d));
        }
        /* missing = success */
        assert_int_equal(cgroup_destroy(cg, &e), 0);
        assert_null(e);
        rm_rf(root);
}

static void test_v1_fake_create_failure_cleans_up(void **state) {
        _cleanup_free_ char *root = fake_v1();
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_kerr_ KError *e = NULL;
        /* a resource write that cannot land (no control files in a fake tree) undoes the mkdirs */
        SpecResources res = { .has_pids_limit = true, .pids_limit = 3 };
        assert_true(cgroup_create(root, CGROUP_MODE_V1, "/kapsel/c2", &res, &cg, &e) < 0);
        assert_null(cg);
        assert_non_null(strstr(e->msg, "pids.max"));
        for (size_t i = 0; i < ELEMENTSOF(v1_hiers); i++) {
                _cleanup_free_ char *d = path_join(v1_hiers[i], "kapsel/c2");
                assert_false(exists(root, d));
        }
        /* a plan error fails before anything is made */
        kerr_free(e);
        e = NULL;
        char *kv[] = { (char *) "memory.high", (char *) "1", NULL };
        SpecResources uni = { .unified = kv };
        assert_true(cgroup_create(root, CGROUP_MODE_V1, "/kapsel/c3", &uni, &cg, &e) < 0);
        assert_int_equal(e->kind, KERR_CONFIG);
        assert_false(exists(root, "memory/kapsel/c3"));
        rm_rf(root);
}

static void test_v1_fake_memsw_order(void **state) {
        _cleanup_free_ char *root = fake_v1();
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_kerr_ KError *e = NULL;
        assert_int_equal(cgroup_create(root, CGROUP_MODE_V1, "/k/m", NULL, &cg, &e), 0);
        populate_v1(root, "k/m");
        SpecResources res = { .has_memory_limit = true, .memory_limit = 8192,
                              .has_memory_swap = true, .memory_swap = 16384 };
        if (cgroup_apply(cg, &res, &e) < 0)
                fail_msg("apply: %s", e->msg);
        expect_file(root, "memory/k/m/memory.limit_in_bytes", "8192");
        expect_file(root, "memory/k/m/memory.memsw.limit_in_bytes", "16384");
        /* memsw missing (swap accounting off): a clear error naming the file */
        _cleanup_free_ char *memsw = path_join(root, "memory/k/m/memory.memsw.limit_in_bytes");
        assert_int_equal(unlink(memsw), 0);
        assert_true(cgroup_apply(cg, &res, &e) < 0);
        assert_non_null(strstr(e->msg, "memory.memsw.limit_in_bytes"));
        rm_rf(root);
}

static void test_v1_fake_freeze_timeout(void **state) {
        _cleanup_free_ char *root = fake_v1();
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_kerr_ KError *e = NULL;
        assert_int_equal(cgroup_create(root, CGROUP_MODE_V1, "/k/f", NULL, &cg, &e), 0);
        populate_v1(root, "k/f");
        /* a regular file reads back what was written: FROZEN at once */
        assert_int_equal(cgroup_freeze(cg, true, &e), 0);
        bool frozen = false;
        assert_int_equal(cgroup_is_frozen(cg, &frozen), 0);
        assert_true(frozen);
        assert_int_equal(cgroup_freeze(cg, false, &e), 0);
        assert_int_equal(cgroup_is_frozen(cg, &frozen), 0);
        assert_false(frozen);
        rm_rf(root);
}


/* v1 hierarchies come from mountinfo: a plain directory (hugetlb below) is no hierarchy, a
 * hierarchy mounted twice is used once, escapes are undone, other trees are ignored. */
static void test_v1_mountinfo(void **state) {
        (void) state;
        static const char text[] =
                "25 1 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
                "26 25 0:24 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw\n"
                "27 25 0:25 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd\n"
                "30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw shared:14 - cgroup cgroup rw,cpu,cpuacct\n"
                "31 25 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                "32 25 0:29 / /sys/fs/cgroup/memory2 rw - cgroup cgroup rw,memory\n"
                "33 25 0:30 / /sys/fs/cgroup/net\\040cls rw - cgroup cgroup rw,net_cls\n"
                "34 1 0:31 / /other/cgroup/pids rw - cgroup cgroup rw,pids\n"
                "35 25 0:32 / /sys/fs/cgroupx/pids rw - cgroup cgroup rw,pids\n";
        Cgroup cg = { .fs_root = (char *) "/sys/fs/cgroup/", .path = (char *) "/kapsel/c1" };
        assert_int_equal(cgroup_v1_parse_mountinfo(&cg, text), 0);
        assert_int_equal(cg.n_hier, 4);
        assert_string_equal(cg.hier[0].name, "rw,xattr,name=systemd");
        assert_string_equal(cg.hier[1].name, "rw,cpu,cpuacct");
        assert_string_equal(cg.hier[1].dir, "/sys/fs/cgroup/cpu,cpuacct/kapsel/c1");
        assert_string_equal(cg.hier[2].root, "/sys/fs/cgroup/memory");
        assert_string_equal(cg.hier[3].dir, "/sys/fs/cgroup/net cls/kapsel/c1");
        for (size_t i = 0; i < cg.n_hier; i++)
                cgroup_hier_clear(&cg.hier[i]);
        free(cg.hier);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_empty),
                cmocka_unit_test(test_plan_v1_memory),
                cmocka_unit_test(test_plan_v2_memory),
                cmocka_unit_test(test_plan_v2_memory_errors),
                cmocka_unit_test(test_plan_v1_cpu),
                cmocka_unit_test(test_plan_v2_cpu),
                cmocka_unit_test(test_plan_pids),
                cmocka_unit_test(test_plan_blkio),
                cmocka_unit_test(test_plan_hugetlb),
                cmocka_unit_test(test_plan_network),
                cmocka_unit_test(test_plan_devices),
                cmocka_unit_test(test_plan_unified),
                cmocka_unit_test(test_plan_order_across_controllers),
                cmocka_unit_test(test_resolve_path),
                cmocka_unit_test(test_bpf_build),
                cmocka_unit_test(test_detect),
                cmocka_unit_test(test_v1_mountinfo),
                cmocka_unit_test(test_v1_fake_lifecycle),
                cmocka_unit_test(test_v1_fake_create_failure_cleans_up),
                cmocka_unit_test(test_v1_fake_memsw_order),
                cmocka_unit_test(test_v1_fake_freeze_timeout),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
