/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the config.json parser: values land in the right fields, and every kind of
 * bad input is refused with a message naming the file, the field path and the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "spec.h"
#include "string-util.h"

#define PRE "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},"
#define PROC "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}"
#define WITH_LINUX(x) PRE PROC ",\"linux\":{" x "}}"
#define WITH_PROCESS(x) PRE "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"," x "}}"

static Spec *parse_ok(const char *json) {
        _cleanup_kerr_ KError *e = NULL;
        Spec *s = NULL;
        int r = spec_parse(json, strlen(json), "config.json", &s, &e);
        if (r < 0)
                fail_msg("unexpected parse error: %s", e ? e->msg : "(none)");
        return s;
}

static void test_default_spec_roundtrip(void **state) {
        _cleanup_free_ char *text = spec_default_json(false, 0, 0);
        assert_non_null(text);
        _cleanup_(spec_freep) Spec *s = parse_ok(text);
        assert_string_equal(s->root_path, "rootfs");
        assert_true(s->root_readonly);
        assert_true(s->process->terminal);
        assert_string_equal(s->process->args[0], "sh");
        assert_true(s->process->no_new_privileges);
        assert_int_equal(s->process->caps.bounding,
                         (1ull << cap_from_name("CAP_AUDIT_WRITE")) | (1ull << cap_from_name("CAP_KILL")) |
                         (1ull << cap_from_name("CAP_NET_BIND_SERVICE")));
        assert_int_equal(s->process->caps.inheritable, 0);
        assert_int_equal(s->process->n_rlimits, 1);
        assert_int_equal(s->process->rlimits[0].resource, RLIMIT_NOFILE);
        assert_int_equal(s->n_mounts, 7);
        assert_non_null(spec_namespace(s, NS_CGROUP));
        assert_null(spec_namespace(s, NS_USER));
        assert_int_equal(s->linux_.resources.n_devices, 1);
        assert_false(s->linux_.resources.devices[0].allow);
        assert_int_equal(s->linux_.resources.devices[0].type, 'a');
        assert_string_equal(s->linux_.resources.devices[0].access, "rwm");
}

static void test_default_spec_rootless(void **state) {
        _cleanup_free_ char *text = spec_default_json(true, 1234, 5678);
        _cleanup_(spec_freep) Spec *s = parse_ok(text);
        assert_non_null(spec_namespace(s, NS_USER));
        assert_null(spec_namespace(s, NS_NETWORK));
        assert_null(spec_namespace(s, NS_CGROUP));
        assert_int_equal(s->linux_.n_uid_mappings, 1);
        assert_int_equal(s->linux_.uid_mappings[0].host_id, 1234);
        assert_int_equal(s->linux_.gid_mappings[0].host_id, 5678);
        assert_false(s->linux_.has_resources);
        for (size_t i = 0; i < s->n_mounts; i++) {
                assert_false(streq(s->mounts[i].destination, "/sys/fs/cgroup"));
                for (size_t j = 0; j < s->mounts[i].n_options; j++)
                        assert_false(streq(s->mounts[i].options[j], "gid=5"));
        }
}

static const char full_config[] =
        "{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"/abs/rootfs\",\"readonly\":false},"
        "\"hostname\":\"h\",\"domainname\":\"d\","
        "\"process\":{\"terminal\":true,\"consoleSize\":{\"height\":24,\"width\":80},"
        " \"user\":{\"uid\":1000,\"gid\":100,\"umask\":18,\"additionalGids\":[5,6]},"
        " \"args\":[\"/bin/echo\",\"hi\"],\"env\":[\"A=1\",\"B=\"],\"cwd\":\"/work\","
        " \"capabilities\":{\"bounding\":[\"CAP_SYS_ADMIN\",\"CAP_FUTURE_THING\"],\"ambient\":[\"CAP_KILL\"]},"
        " \"rlimits\":[{\"type\":\"RLIMIT_CORE\",\"soft\":0,\"hard\":1.8446744073709552e19}],"
        " \"oomScoreAdj\":-500},"
        "\"mounts\":[{\"destination\":\"/data\",\"source\":\"/srv\",\"options\":[\"rbind\",\"ro\"]}],"
        "\"hooks\":{\"prestart\":[{\"path\":\"/bin/true\",\"args\":[\"true\"],\"timeout\":5}],"
        " \"poststop\":[{\"path\":\"/bin/false\"}]},"
        "\"annotations\":{\"k\":\"v\"},"
        "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\",\"path\":\"/run/netns/x\"},"
        "  {\"type\":\"user\"},{\"type\":\"time\"}],"
        " \"uidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}],"
        " \"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\",\"major\":10,\"minor\":229,\"fileMode\":438},"
        "  {\"path\":\"/dev/fifo\",\"type\":\"p\"}],"
        " \"cgroupsPath\":\"/my/cg\","
        " \"resources\":{\"memory\":{\"limit\":67108864,\"swap\":134217728,\"swappiness\":10},"
        "  \"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\"},"
        "  \"pids\":{\"limit\":32},"
        "  \"blockIO\":{\"weight\":300,\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,\"rate\":1048576}]},"
        "  \"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":0}],"
        "  \"devices\":[{\"allow\":true,\"type\":\"c\",\"major\":1,\"access\":\"rw\"}],"
        "  \"unified\":{\"memory.high\":\"50M\"}},"
        " \"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},"
        " \"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
        "  \"syscalls\":[{\"names\":[\"mkdir\",\"rmdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":18,"
        "   \"args\":[{\"index\":1,\"value\":448,\"valueTwo\":0,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]},"
        " \"rootfsPropagation\":\"rslave\","
        " \"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"],"
        " \"personality\":{\"domain\":\"LINUX32\"},"
        " \"timeOffsets\":{\"monotonic\":{\"secs\":10,\"nanosecs\":5}}}}";

static void test_full_config_fields(void **state) {
        _cleanup_(spec_freep) Spec *s = parse_ok(full_config);
        SpecProcess *p = s->process;
        assert_string_equal(s->hostname, "h");
        assert_string_equal(s->domainname, "d");
        assert_true(p->has_console_size);
        assert_int_equal(p->console_height, 24);
        assert_int_equal(p->user.uid, 1000);
        assert_int_equal(p->user.gid, 100);
        assert_true(p->user.has_umask);
        assert_int_equal(p->user.umask, 022);
        assert_int_equal(p->user.n_additional_gids, 2);
        assert_int_equal(p->user.additional_gids[1], 6);
        assert_string_equal(p->env[1], "B=");
        assert_int_equal(p->caps.bounding, 1ull << 21);   /* the unknown CAP_ is ignored */
        assert_int_equal(p->caps.ambient, 1ull << 5);
        assert_int_equal(p->rlimits[0].hard, UINT64_MAX);
        assert_int_equal(p->oom_score_adj, -500);
        assert_int_equal(s->n_mounts, 1);
        assert_null(s->mounts[0].type);
        assert_int_equal(s->mounts[0].n_options, 2);
        assert_int_equal(s->n_hooks[HOOK_PRESTART], 1);
        assert_int_equal(s->hooks[HOOK_PRESTART][0].timeout, 5);
        assert_int_equal(s->n_hooks[HOOK_POSTSTOP], 1);
        assert_string_equal(s->annotations[0], "k");
        assert_string_equal(s->annotations[1], "v");

        const SpecLinux *l = &s->linux_;
        assert_string_equal(spec_namespace(s, NS_NETWORK)->path, "/run/netns/x");
        assert_null(spec_namespace(s, NS_PID)->path);
        assert_int_equal(l->uid_mappings[0].host_id, 100000);
        assert_int_equal(l->devices[0].file_mode, 0666);
        assert_int_equal(l->devices[1].major, -1);
        assert_string_equal(l->cgroups_path, "/my/cg");
        const SpecResources *r = &l->resources;
        assert_int_equal(r->memory_limit, 64 << 20);
        assert_int_equal(r->memory_swap, 128 << 20);
        assert_int_equal(r->memory_swappiness, 10);
        assert_false(r->has_memory_reservation);
        assert_int_equal(r->cpu_shares, 512);
        assert_int_equal(r->cpu_quota, 50000);
        assert_string_equal(r->cpuset_cpus, "0-1");
        assert_int_equal(r->pids_limit, 32);
        assert_int_equal(r->blkio_weight, 300);
        assert_int_equal(r->n_blkio_throttle[BLKIO_READ_BPS], 1);
        assert_int_equal(r->blkio_throttle[BLKIO_READ_BPS][0].rate, 1 << 20);
        assert_string_equal(r->hugepage_limits[0].page_size, "2MB");
        assert_true(r->devices[0].allow);
        assert_int_equal(r->devices[0].minor, -1);
        assert_string_equal(r->devices[0].access, "rw");
        assert_string_equal(r->unified[0], "memory.high");
        assert_string_equal(l->sysctl[0].key, "net.ipv4.ip_forward");
        assert_int_equal(l->seccomp->default_action, SECCOMP_ACT_ALLOW);
        assert_int_equal(l->seccomp->rules[0].action, SECCOMP_ACT_ERRNO);
        assert_int_equal(l->seccomp->rules[0].errno_ret, 18);
        assert_string_equal(l->seccomp->rules[0].names[1], "rmdir");
        assert_int_equal(l->seccomp->rules[0].args[0].op, SECCOMP_OP_MASKED_EQ);
        assert_int_equal(l->seccomp->rules[0].args[0].value, 448);
        assert_int_equal(l->rootfs_propagation, PROPAGATION_RSLAVE);
        assert_string_equal(l->masked_paths[0], "/proc/kcore");
        assert_int_equal(l->personality, PER_LINUX32);
        assert_int_equal(l->time_offset_monotonic.secs, 10);
        assert_int_equal(l->time_offset_monotonic.nanosecs, 5);
}

/* Each bad input and the text its message must contain (after "config.json: "). */
static const struct {
        const char *json;
        const char *expect;
} bad[] = {
        { "{\"ociVersion\": ", "line 1" },
        { "[1,2]", "expected a JSON object" },
        { PRE PROC ",\"process\":{}}", "duplicate" },
        { "{\"root\":{\"path\":\"r\"}}", "ociVersion: missing" },
        { "{\"ociVersion\":\"2.0.0\",\"root\":{\"path\":\"r\"}}", "ociVersion: \"2.0.0\" is not supported" },
        { "{\"ociVersion\":\"1.0.0\"}", "root: missing" },
        { PRE "\"process\":{\"cwd\":\"/\"}}", "process.args: must name the program" },
        { PRE "\"process\":{\"args\":[\"sh\"]}}", "process.cwd: missing" },
        { PRE "\"process\":{\"args\":[\"sh\"],\"cwd\":\"tmp\"}}", "process.cwd: \"tmp\" is not an absolute path" },
        { PRE "\"process\":{\"args\":[\"sh\", 3],\"cwd\":\"/\"}}", "process.args[1]: expected a string, got an integer" },
        { WITH_PROCESS("\"terminal\":\"yes\""), "process.terminal: expected a boolean, got a string" },
        { WITH_PROCESS("\"env\":[\"NOVALUE\"]"), "process.env[0]: \"NOVALUE\" is not of the form KEY=value" },
        { WITH_PROCESS("\"rlimits\":[{\"type\":\"RLIMIT_BOGUS\",\"soft\":1,\"hard\":1}]"),
          "process.rlimits[0]: unknown rlimit type \"RLIMIT_BOGUS\"" },
        { WITH_PROCESS("\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,\"hard\":5}]"),
          "soft limit 10 is above its hard limit 5" },
        { WITH_PROCESS("\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":-1,\"hard\":5}]"),
          "process.rlimits[0].soft: must not be negative" },
        { WITH_PROCESS("\"capabilities\":{\"effective\":[\"SYS_ADMIN\"]}"),
          "process.capabilities.effective[0]: \"SYS_ADMIN\" is not a capability name" },
        { WITH_PROCESS("\"oomScoreAdj\":2000"), "process.oomScoreAdj: 2000 is out of range" },
        { WITH_PROCESS("\"user\":{\"uid\":-1}"), "process.user.uid: must not be negative" },
        { PRE PROC ",\"mounts\":[{\"destination\":\"data\"}]}", "mounts[0].destination: \"data\" is not an absolute path" },
        { PRE PROC ",\"mounts\":[{\"source\":\"/x\"}]}", "mounts[0].destination: missing" },
        { PRE PROC ",\"hooks\":{\"prestart\":[{\"path\":\"/bin/true\",\"timeout\":0}]}}",
          "hooks.prestart[0]: timeout must be greater than zero" },
        { PRE PROC ",\"hooks\":{\"poststop\":[{\"path\":\"true\"}]}}", "hooks.poststop[0].path: \"true\" is not an absolute" },
        { WITH_LINUX("\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"foo\"}]"),
          "linux.namespaces[1]: unknown namespace type \"foo\"" },
        { WITH_LINUX("\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"pid\",\"path\":\"/proc/1/ns/pid\"}]"),
          "namespace \"pid\" is listed twice, with different paths" },
        { WITH_LINUX("\"namespaces\":[{\"type\":\"net\",\"path\":\"rel\"}]"), "unknown namespace type \"net\"" },
        { WITH_LINUX("\"uidMappings\":[{\"containerID\":0,\"hostID\":1,\"size\":1}]"), "need a user namespace" },
        { WITH_LINUX("\"namespaces\":[{\"type\":\"user\"}],\"uidMappings\":[{\"containerID\":0,\"hostID\":1}]"),
          "linux.uidMappings[0]: needs containerID, hostID and size" },
        { WITH_LINUX("\"devices\":[{\"path\":\"/dev/x\",\"type\":\"x\",\"major\":1,\"minor\":1}]"),
          "linux.devices[0]: device type \"x\" is not one of c, b, u, p" },
        { WITH_LINUX("\"devices\":[{\"path\":\"/dev/x\",\"type\":\"c\"}]"), "needs both \"major\" and \"minor\"" },
        { WITH_LINUX("\"resources\":{\"devices\":[{\"allow\":true,\"access\":\"rwx\"}]}"),
          "linux.resources.devices[0]: access \"rwx\"" },
        { WITH_LINUX("\"resources\":{\"memory\":{\"limit\":\"64M\"}}"),
          "linux.resources.memory.limit: expected an integer, got a string" },
        { WITH_LINUX("\"resources\":{\"memory\":{\"limit\":100000000,\"swap\":1000}}"), "must not be below limit" },
        { WITH_LINUX("\"resources\":{\"memory\":{\"swappiness\":101}}"), "memory.swappiness: 101 is out of range" },
        { WITH_LINUX("\"resources\":{\"cpu\":{\"cpus\":\"all\"}}"), "cpu.cpus: \"all\" is not a list" },
        { WITH_LINUX("\"resources\":{\"blockIO\":{\"weight\":5}}"), "blockIO.weight: 5 is out of range" },
        { WITH_LINUX("\"resources\":{\"hugepageLimits\":[{\"pageSize\":\"../x\",\"limit\":1}]}"),
          "pageSize \"../x\" is not like" },
        { WITH_LINUX("\"sysctl\":{\"net.ipv4.ip_forward\":1}"), "linux.sysctl.net.ipv4.ip_forward: expected a string" },
        { WITH_LINUX("\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOPE\"}"),
          "linux.seccomp.defaultAction: unknown seccomp action \"SCMP_ACT_NOPE\"" },
        { WITH_LINUX("\"seccomp\":{\"syscalls\":[]}"), "linux.seccomp.defaultAction: missing" },
        { WITH_LINUX("\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[],"
                     "\"action\":\"SCMP_ACT_ERRNO\"}]}"), "linux.seccomp.syscalls[0]: \"names\" must list" },
        { WITH_LINUX("\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
                     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}"),
          "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0..5)" },
        { WITH_LINUX("\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
                     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"EQ\"}]}]}"),
          "unknown operator \"EQ\"" },
        { WITH_LINUX("\"rootfsPropagation\":\"sideways\""), "linux.rootfsPropagation: unknown propagation" },
        { WITH_LINUX("\"resources\":{\"network\":{\"priorities\":[{\"name\":\"lo 1\\neth0\",\"priority\":1}]}}"),
          "linux.resources.network.priorities[0]: name \"lo 1\neth0\" is not a network interface name" },
        { WITH_LINUX("\"resources\":{\"network\":{\"classID\":-1}}"), "linux.resources.network.classID" },
        { WITH_LINUX("\"resources\":{\"network\":{\"priorities\":[{\"name\":\"lo\"}]}}"),
          "\"priority\" is required" },
        { WITH_LINUX("\"maskedPaths\":[\"proc/kcore\"]"), "linux.maskedPaths[0]: \"proc/kcore\" is not an absolute" },
        { WITH_LINUX("\"personality\":{\"domain\":\"BSD\"}"), "linux.personality.domain: \"BSD\" is not LINUX" },
        { WITH_LINUX("\"intelRdt\":{\"closID\":\"x\"}"), "linux.intelRdt: Intel RDT is not supported" },
        { WITH_LINUX("\"timeOffsets\":{\"boottime\":{\"secs\":1,\"nanosecs\":1000000000}}"),
          "linux.timeOffsets.boottime.nanosecs" },
};

static void test_bad_configs(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_kerr_ KError *e = NULL;
                Spec *s = NULL;
                int r = spec_parse(bad[i].json, strlen(bad[i].json), "config.json", &s, &e);
                if (r >= 0)
                        fail_msg("case %zu accepted: %s", i, bad[i].json);
                assert_null(s);
                assert_non_null(e);
                assert_int_equal(e->kind, KERR_CONFIG);
                assert_int_equal(kerr_exit_code(e), 3);
                if (!startswith(e->msg, "config.json: ") || !strstr(e->msg, bad[i].expect))
                        fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, e->msg, bad[i].expect);
        }
}

/* `spec` on a cgroup v1 host: no cgroup namespace, as runc's default spec. */
static void test_default_spec_without_cgroupns(void **state) {
        _cleanup_free_ char *text = spec_default_json_for(false, false, 0, 0);
        assert_non_null(text);
        Spec *s = NULL;
        assert_int_equal(spec_parse(text, strlen(text), "config.json", &s, NULL), 0);
        for (size_t i = 0; i < s->linux_.n_namespaces; i++)
                assert_int_not_equal(s->linux_.namespaces[i].type, NS_CGROUP);
        assert_true(s->linux_.n_namespaces >= 5);
        spec_free(s);
}

/* runc's habits a config may carry: "a" among device access letters (dropped), the same
 * namespace entry listed twice (one), a blkio weight of 0 (unset). */
static void test_runc_tolerances(void **state) {
        static const char json[] = WITH_LINUX("\"namespaces\":[{\"type\":\"uts\"},{\"type\":\"uts\"}],"
                                              "\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwa\"}],"
                                              "\"blockIO\":{\"weight\":0}}");
        _cleanup_kerr_ KError *e = NULL;
        Spec *s = NULL;
        assert_int_equal(spec_parse(json, strlen(json), "config.json", &s, &e), 0);
        assert_int_equal(s->linux_.n_namespaces, 1);
        assert_string_equal(s->linux_.resources.devices[0].access, "rw");
        assert_false(s->linux_.resources.has_blkio_weight);    /* Docker's 0: not set */
        spec_free(s);
}

static void test_process_and_resources_documents(void **state) {
        _cleanup_kerr_ KError *e = NULL;
        _cleanup_(spec_process_freep) SpecProcess *p = NULL;
        const char *proc = "{\"args\":[\"ls\"],\"cwd\":\"/tmp\",\"user\":{\"uid\":7,\"gid\":8}}";
        assert_int_equal(spec_parse_process(proc, strlen(proc), "process.json", &p, &e), 0);
        assert_int_equal(p->user.uid, 7);
        const char *bad_proc = "{\"args\":[\"ls\"]}";
        SpecProcess *q = NULL;
        assert_true(spec_parse_process(bad_proc, strlen(bad_proc), "process.json", &q, &e) < 0);
        assert_string_equal(e->msg, "process.json: cwd: missing (required)");

        _cleanup_(spec_resources_freep) SpecResources *r = NULL;
        const char *res = "{\"memory\":{\"limit\":-1},\"pids\":{\"limit\":10}}";
        assert_int_equal(spec_parse_resources(res, strlen(res), "<stdin>", &r, NULL), 0);
        assert_true(r->has_memory_limit);
        assert_int_equal(r->memory_limit, -1);
        assert_int_equal(r->pids_limit, 10);
}

static void test_load_bundle_names_file(void **state) {
        char dir[] = "/tmp/kapsel-spec-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_kerr_ KError *e = NULL;
        Spec *s = NULL;
        assert_true(spec_load_bundle(dir, &s, &e) < 0);
        assert_non_null(strstr(e->msg, "no config.json in the bundle"));
        assert_int_equal(kerr_exit_code(e), 3);
        kerr_free(e);
        e = NULL;

        char path[128];
        snprintf(path, sizeof(path), "%s/config.json", dir);
        const char *text = WITH_PROCESS("\"cwd\":\"x\"");
        assert_int_equal(write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0644), 0);
        assert_true(spec_load_bundle(dir, &s, &e) < 0);
        assert_non_null(strstr(e->msg, path));
        assert_non_null(strstr(e->msg, "duplicate"));
        unlink(path);
        rmdir(dir);
}

static void test_name_tables(void **state) {
        for (int i = 0; i < _NS_TYPE_MAX; i++)
                assert_int_equal(spec_ns_type_from_string(spec_ns_type_to_string(i)), i);
        assert_int_equal(spec_ns_type_from_string("net"), -EINVAL);
        for (int i = 0; i <= cap_last_known(); i++)
                assert_int_equal(cap_from_name(cap_to_name(i)), i);
        assert_int_equal(cap_from_name("CAP_SYS_ADMIN"), 21);
        assert_int_equal(cap_last_known(), 40);
        assert_null(cap_to_name(41));
        assert_int_equal(rlimit_from_name("RLIMIT_NOFILE"), RLIMIT_NOFILE);
        assert_string_equal(rlimit_to_name(RLIMIT_NPROC), "RLIMIT_NPROC");
        assert_string_equal(spec_hook_kind_to_string(HOOK_CREATE_RUNTIME), "createRuntime");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_spec_roundtrip),
                cmocka_unit_test(test_default_spec_rootless),
                cmocka_unit_test(test_full_config_fields),
                cmocka_unit_test(test_bad_configs),
                cmocka_unit_test(test_runc_tolerances),
                cmocka_unit_test(test_default_spec_without_cgroupns),
                cmocka_unit_test(test_process_and_resources_documents),
                cmocka_unit_test(test_load_bundle_names_file),
                cmocka_unit_test(test_name_tables),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
