/* SPDX-License-Identifier: Apache-2.0 */
/* The OCI runtime configuration (config.json, runtime-spec 1.1) as plain C structs.
 *
 * spec_parse*() turns JSON into a Spec and validates it: every error names the file, the
 * JSON field path (e.g. "linux.namespaces[2].type") and what to do. Nothing here touches
 * the host: validation against the host (rlimits it allows, cgroup controllers it has) is
 * the apply layer's job. Optional scalars carry a `has_*` flag; absent arrays are NULL/0. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

typedef struct SpecUser {
        uid_t uid;
        gid_t gid;
        gid_t *additional_gids;
        size_t n_additional_gids;
        bool has_umask;
        mode_t umask;
        char *username;                 /* informational (Windows-only in the spec) */
} SpecUser;

/* The five capability sets, each a bit mask over CAP_* numbers (0..63). */
typedef struct SpecCaps {
        uint64_t bounding, effective, inheritable, permitted, ambient;
} SpecCaps;

typedef struct SpecRlimit {
        int resource;                   /* RLIMIT_* */
        uint64_t soft, hard;
} SpecRlimit;

typedef struct SpecProcess {
        bool terminal;
        bool has_console_size;
        unsigned console_height, console_width;
        SpecUser user;
        char **args;                    /* NULL-terminated, at least one element */
        char **env;                     /* NULL-terminated "KEY=value" */
        char *cwd;                      /* absolute */
        bool has_caps;                  /* false: no "capabilities" object (all sets empty) */
        SpecCaps caps;
        SpecRlimit *rlimits;
        size_t n_rlimits;
        bool no_new_privileges;
        bool has_oom_score_adj;
        int oom_score_adj;
        char *apparmor_profile;         /* accepted, applied only if AppArmor is enabled */
        char *selinux_label;
} SpecProcess;

typedef struct SpecMount {
        char *destination;              /* absolute path inside the container */
        char *type;                     /* NULL for bind mounts given only by options */
        char *source;
        char **options;                 /* raw option strings, parsed by the plan */
        size_t n_options;
} SpecMount;

typedef enum SpecNsType {
        NS_PID, NS_NETWORK, NS_MOUNT, NS_IPC, NS_UTS, NS_USER, NS_CGROUP, NS_TIME,
        _NS_TYPE_MAX,
} SpecNsType;

typedef struct SpecNamespace {
        SpecNsType type;
        char *path;                     /* NULL: create a new one; else join this one */
} SpecNamespace;

typedef struct SpecIdMap {
        uint32_t container_id, host_id, size;
} SpecIdMap;

typedef struct SpecDevice {
        char *path;                     /* absolute, inside the container */
        char type;                      /* 'c', 'b', 'u' or 'p' */
        int64_t major, minor;           /* -1 when absent (only legal for 'p') */
        bool has_mode;
        mode_t file_mode;
        bool has_uid, has_gid;
        uid_t uid;
        gid_t gid;
} SpecDevice;

/* A device-cgroup rule: linux.resources.devices[]. */
typedef struct SpecDeviceRule {
        bool allow;
        char type;                      /* 'a', 'c' or 'b' */
        int64_t major, minor;           /* -1 = wildcard */
        char access[4];                 /* subset of "rwm" */
} SpecDeviceRule;

typedef struct SpecWeightDevice {
        int64_t major, minor;
        bool has_weight, has_leaf_weight;
        uint16_t weight, leaf_weight;
} SpecWeightDevice;

typedef struct SpecThrottleDevice {
        int64_t major, minor;
        uint64_t rate;
} SpecThrottleDevice;

typedef struct SpecHugepageLimit {
        char *page_size;                /* "2MB", "1GB" */
        uint64_t limit;
} SpecHugepageLimit;

typedef struct SpecNetPriority {
        char *name;                     /* a network interface name */
        uint32_t priority;
} SpecNetPriority;

/* A value that may be absent. */
#define SPEC_OPT(type, name) bool has_##name; type name

typedef struct SpecResources {
        SpecDeviceRule *devices;
        size_t n_devices;

        /* memory */
        SPEC_OPT(int64_t, memory_limit);        /* -1 = unlimited */
        SPEC_OPT(int64_t, memory_reservation);
        SPEC_OPT(int64_t, memory_swap);         /* memory+swap (v1 semantics, as in the spec) */
        SPEC_OPT(int64_t, memory_kernel);
        SPEC_OPT(int64_t, memory_kernel_tcp);
        SPEC_OPT(uint64_t, memory_swappiness);
        SPEC_OPT(bool, memory_disable_oom_killer);
        SPEC_OPT(bool, memory_use_hierarchy);
        SPEC_OPT(bool, memory_check_before_update);

        /* cpu */
        SPEC_OPT(uint64_t, cpu_shares);
        SPEC_OPT(int64_t, cpu_quota);           /* -1 = unlimited */
        SPEC_OPT(uint64_t, cpu_period);
        SPEC_OPT(int64_t, cpu_realtime_runtime);
        SPEC_OPT(uint64_t, cpu_realtime_period);
        SPEC_OPT(int64_t, cpu_idle);
        char *cpuset_cpus;                      /* "0-3,5" or NULL */
        char *cpuset_mems;

        /* pids */
        SPEC_OPT(int64_t, pids_limit);          /* <= 0 = unlimited */

        /* blockIO */
        SPEC_OPT(uint16_t, blkio_weight);
        SPEC_OPT(uint16_t, blkio_leaf_weight);
        SpecWeightDevice *blkio_weight_devices;
        size_t n_blkio_weight_devices;
        SpecThrottleDevice *blkio_throttle[4];  /* read bps, write bps, read iops, write iops */
        size_t n_blkio_throttle[4];

        SpecHugepageLimit *hugepage_limits;
        size_t n_hugepage_limits;

        /* network: cgroup v1 net_cls and net_prio (cgroup v2 has no such controllers) */
        SPEC_OPT(uint32_t, net_class_id);
        SpecNetPriority *net_priorities;
        size_t n_net_priorities;

        /* linux.resources.unified: cgroup v2 "file" -> "value", applied verbatim on v2 */
        char **unified;                         /* alternating key, value; NULL-terminated */
} SpecResources;

enum { BLKIO_READ_BPS, BLKIO_WRITE_BPS, BLKIO_READ_IOPS, BLKIO_WRITE_IOPS };

typedef enum SpecSeccompAction {
        SECCOMP_ACT_KILL,               /* SCMP_ACT_KILL == SCMP_ACT_KILL_THREAD */
        SECCOMP_ACT_KILL_PROCESS,
        SECCOMP_ACT_KILL_THREAD,
        SECCOMP_ACT_TRAP,
        SECCOMP_ACT_ERRNO,
        SECCOMP_ACT_TRACE,
        SECCOMP_ACT_ALLOW,
        SECCOMP_ACT_LOG,
        SECCOMP_ACT_NOTIFY,
        _SECCOMP_ACT_MAX,
} SpecSeccompAction;

typedef enum SpecSeccompOp {
        SECCOMP_OP_NE, SECCOMP_OP_LT, SECCOMP_OP_LE, SECCOMP_OP_EQ,
        SECCOMP_OP_GE, SECCOMP_OP_GT, SECCOMP_OP_MASKED_EQ,
        _SECCOMP_OP_MAX,
} SpecSeccompOp;

typedef struct SpecSeccompArg {
        unsigned index;                 /* 0..5 */
        uint64_t value, value_two;
        SpecSeccompOp op;
} SpecSeccompArg;

typedef struct SpecSeccompRule {
        char **names;                   /* NULL-terminated syscall names */
        SpecSeccompAction action;
        bool has_errno_ret;
        unsigned errno_ret;
        SpecSeccompArg *args;
        size_t n_args;
} SpecSeccompRule;

typedef struct SpecSeccomp {
        SpecSeccompAction default_action;
        bool has_default_errno_ret;
        unsigned default_errno_ret;
        char **architectures;           /* "SCMP_ARCH_X86_64", ... */
        char **flags;                   /* "SECCOMP_FILTER_FLAG_LOG", ... */
        char *listener_path;
        char *listener_metadata;
        SpecSeccompRule *rules;
        size_t n_rules;
} SpecSeccomp;

typedef enum SpecHookKind {
        HOOK_PRESTART, HOOK_CREATE_RUNTIME, HOOK_CREATE_CONTAINER, HOOK_START_CONTAINER,
        HOOK_POSTSTART, HOOK_POSTSTOP,
        _HOOK_KIND_MAX,
} SpecHookKind;

typedef struct SpecHook {
        char *path;                     /* absolute */
        char **args;
        char **env;
        int timeout;                    /* seconds, 0 = none */
} SpecHook;

typedef struct SpecSysctl {
        char *key, *value;
} SpecSysctl;

typedef enum SpecPropagation {
        PROPAGATION_UNSET, PROPAGATION_PRIVATE, PROPAGATION_RPRIVATE, PROPAGATION_SHARED,
        PROPAGATION_RSHARED, PROPAGATION_SLAVE, PROPAGATION_RSLAVE, PROPAGATION_UNBINDABLE,
        PROPAGATION_RUNBINDABLE,
} SpecPropagation;

typedef struct SpecTimeOffset {
        int64_t secs;
        uint32_t nanosecs;
} SpecTimeOffset;

typedef struct SpecLinux {
        SpecNamespace *namespaces;
        size_t n_namespaces;
        SpecIdMap *uid_mappings, *gid_mappings;
        size_t n_uid_mappings, n_gid_mappings;
        SpecDevice *devices;
        size_t n_devices;
        char *cgroups_path;
        bool has_resources;
        SpecResources resources;
        SpecSysctl *sysctl;
        size_t n_sysctl;
        SpecSeccomp *seccomp;           /* NULL: no filter */
        SpecPropagation rootfs_propagation;
        char **masked_paths;
        char **readonly_paths;
        char *mount_label;
        bool has_personality;
        unsigned long personality;      /* PER_LINUX / PER_LINUX32 */
        bool has_time_offsets;
        SpecTimeOffset time_offset_monotonic, time_offset_boottime;
        char *intel_rdt_clos;           /* rejected: not supported */
} SpecLinux;

typedef struct Spec {
        char *oci_version;
        char *root_path;                /* as written: relative to the bundle or absolute */
        bool root_readonly;
        SpecProcess *process;           /* NULL allowed in the spec; create requires it */
        char *hostname;
        char *domainname;
        SpecMount *mounts;
        size_t n_mounts;
        SpecHook *hooks[_HOOK_KIND_MAX];
        size_t n_hooks[_HOOK_KIND_MAX];
        char **annotations;             /* alternating key, value; NULL-terminated */
        bool has_linux;
        SpecLinux linux_;
} Spec;

/* Parse config.json text. `origin` names the file in error messages. Validates structure and
 * values (types, enums, ranges, absolute paths, duplicate namespaces). Errors are KERR_CONFIG. */
int spec_parse(const char *json, size_t len, const char *origin, Spec **ret, KError **err);
/* Read and parse "<bundle>/config.json" (the file name is part of every message). */
int spec_load_bundle(const char *bundle, Spec **ret, KError **err);
/* Parse a process.json (`exec --process`): the "process" object alone. */
int spec_parse_process(const char *json, size_t len, const char *origin, SpecProcess **ret, KError **err);
/* Parse linux.resources alone (`update --resources`). */
int spec_parse_resources(const char *json, size_t len, const char *origin, SpecResources **ret, KError **err);

void spec_free(Spec *s);
void spec_process_free(SpecProcess *p);
void spec_resources_free(SpecResources *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Spec *, spec_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(SpecProcess *, spec_process_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(SpecResources *, spec_resources_free)

/* Lookups used by the plan and the apply layers. */
const SpecNamespace *spec_namespace(const Spec *s, SpecNsType type);
const char *spec_ns_type_to_string(SpecNsType t);      /* "pid", "network", ... */
int spec_ns_type_from_string(const char *s);           /* -EINVAL if unknown */
const char *spec_hook_kind_to_string(SpecHookKind k);  /* "createRuntime", ... */
/* CAP_* name <-> number ("CAP_SYS_ADMIN" <-> 21). Unknown: -EINVAL / NULL. */
int cap_from_name(const char *name);
const char *cap_to_name(int cap);
int cap_last_known(void);
/* RLIMIT_* name <-> number. */
int rlimit_from_name(const char *name);
const char *rlimit_to_name(int resource);

/* The default config.json `kapsel-runtime spec` writes (runc-compatible); rootless variant
 * adds a user namespace mapping the caller and drops network/cgroup settings. JSON text. */
char *spec_default_json(bool rootless, uid_t uid, gid_t gid);
/* The same, with or without a cgroup namespace (`spec` on a cgroup v1 host: without, as runc's
 * default spec, so processes see their cgroup paths as the host names them). */
char *spec_default_json_for(bool rootless, bool cgroup_ns, uid_t uid, gid_t gid);
