/* SPDX-License-Identifier: Apache-2.0 */
/* Name tables of the runtime spec: namespace types, hook kinds, capabilities, rlimits.
 * One table per vocabulary; lookups in both directions go through the same table. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "spec.h"
#include "string-util.h"

static const char *const ns_names[_NS_TYPE_MAX] = {
        [NS_PID] = "pid",     [NS_NETWORK] = "network", [NS_MOUNT] = "mount",   [NS_IPC] = "ipc",
        [NS_UTS] = "uts",     [NS_USER] = "user",       [NS_CGROUP] = "cgroup", [NS_TIME] = "time",
};

const char *spec_ns_type_to_string(SpecNsType t) {
        return (unsigned) t < _NS_TYPE_MAX ? ns_names[t] : NULL;
}

int spec_ns_type_from_string(const char *s) {
        for (int i = 0; i < _NS_TYPE_MAX; i++)
                if (streq(ns_names[i], s))
                        return i;
        return -EINVAL;
}

static const char *const hook_names[_HOOK_KIND_MAX] = {
        [HOOK_PRESTART] = "prestart",
        [HOOK_CREATE_RUNTIME] = "createRuntime",
        [HOOK_CREATE_CONTAINER] = "createContainer",
        [HOOK_START_CONTAINER] = "startContainer",
        [HOOK_POSTSTART] = "poststart",
        [HOOK_POSTSTOP] = "poststop",
};

const char *spec_hook_kind_to_string(SpecHookKind k) {
        return (unsigned) k < _HOOK_KIND_MAX ? hook_names[k] : NULL;
}

/* capability(7) numbers; fixed kernel ABI. */
static const char *const cap_names[] = {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
        "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
};

int cap_from_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(cap_names); i++)
                if (strcasecmp(cap_names[i], name) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *cap_to_name(int cap) {
        return cap >= 0 && (size_t) cap < ELEMENTSOF(cap_names) ? cap_names[cap] : NULL;
}

int cap_last_known(void) {
        return (int) ELEMENTSOF(cap_names) - 1;
}

static const char *const rlimit_names[RLIM_NLIMITS] = {
        [RLIMIT_CPU] = "RLIMIT_CPU",           [RLIMIT_FSIZE] = "RLIMIT_FSIZE",
        [RLIMIT_DATA] = "RLIMIT_DATA",         [RLIMIT_STACK] = "RLIMIT_STACK",
        [RLIMIT_CORE] = "RLIMIT_CORE",         [RLIMIT_RSS] = "RLIMIT_RSS",
        [RLIMIT_NPROC] = "RLIMIT_NPROC",       [RLIMIT_NOFILE] = "RLIMIT_NOFILE",
        [RLIMIT_MEMLOCK] = "RLIMIT_MEMLOCK",   [RLIMIT_AS] = "RLIMIT_AS",
        [RLIMIT_LOCKS] = "RLIMIT_LOCKS",       [RLIMIT_SIGPENDING] = "RLIMIT_SIGPENDING",
        [RLIMIT_MSGQUEUE] = "RLIMIT_MSGQUEUE", [RLIMIT_NICE] = "RLIMIT_NICE",
        [RLIMIT_RTPRIO] = "RLIMIT_RTPRIO",     [RLIMIT_RTTIME] = "RLIMIT_RTTIME",
};

int rlimit_from_name(const char *name) {
        for (int i = 0; i < RLIM_NLIMITS; i++)
                if (rlimit_names[i] && streq(rlimit_names[i], name))
                        return i;
        return -EINVAL;
}

const char *rlimit_to_name(int resource) {
        return resource >= 0 && resource < RLIM_NLIMITS ? rlimit_names[resource] : NULL;
}

const SpecNamespace *spec_namespace(const Spec *s, SpecNsType type) {
        if (!s->has_linux)
                return NULL;
        for (size_t i = 0; i < s->linux_.n_namespaces; i++)
                if (s->linux_.namespaces[i].type == type)
                        return &s->linux_.namespaces[i];
        return NULL;
}
