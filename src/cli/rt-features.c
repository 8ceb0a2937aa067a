/* SPDX-License-Identifier: Apache-2.0 */
/* `features` (runtime-spec features.md): what this runtime implements. */
#include <seccomp.h>
#include <stdio.h>

#include "json-util.h"
#include "runtime-cli.h"
#include "spec.h"

RT_VERB(features) {
        static const char *const mount_opts[] = {
                "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "dirsync",
                "mand", "nomand", "noatime", "atime", "nodiratime", "diratime", "relatime", "norelatime",
                "strictatime", "nostrictatime", "shared", "rshared", "slave", "rslave", "private", "rprivate",
                "unbindable", "runbindable", "bind", "rbind", "tmpcopyup", NULL,
        };
        static const char *const hooks[] = {
                "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop", NULL,
        };
        static const char *const actions[] = {
                "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP", NULL,
        };
        static const char *const ops[] = {
                "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                "SCMP_CMP_MASKED_EQ", NULL,
        };
        static const char *const arches[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL };
        (void) g; (void) argc; (void) argv; (void) err;

        json_t *ns = json_array();
        for (int i = 0; i < _NS_TYPE_MAX; i++)
                json_array_append_new(ns, json_string(spec_ns_type_to_string(i)));
        json_t *caps = json_array();
        for (int i = 0; i <= cap_last_known(); i++)
                json_array_append_new(caps, json_string(cap_to_name(i)));
        const struct scmp_version *v = seccomp_version();
        char ver[32];
        snprintf(ver, sizeof(ver), "%u.%u.%u", v->major, v->minor, v->micro);

        _cleanup_json_ json_t *j = json_pack(
                "{s:s, s:s, s:o, s:o, s:{s:o, s:o, s:{s:b, s:b}, s:{s:b}, s:{s:b, s:o, s:o, s:o, s:o, s:{s:s}}, s:{s:b}, s:{s:b}}, s:{s:s}}",
                "ociVersionMin", "1.0.0", "ociVersionMax", "1.1.0",
                "hooks", json_from_strv((char **) hooks), "mountOptions", json_from_strv((char **) mount_opts),
                "linux",
                "namespaces", ns, "capabilities", caps,
                "cgroup", "v1", 1, "v2", 1,
                "cgroups2Devices", "enabled", 1,
                "seccomp", "enabled", 1, "actions", json_from_strv((char **) actions),
                "operators", json_from_strv((char **) ops), "archs", json_from_strv((char **) arches),
                "knownFlags", json_array(), "lib", "version", ver,
                "apparmor", "enabled", 0,
                "selinux", "enabled", 0,
                "annotations", "org.opencontainers.runtime-spec.features.runtime", "kapsel-runtime " KAPSEL_VERSION);
        if (!j)
                return -ENOMEM;
        return json_print(j, true);
}
