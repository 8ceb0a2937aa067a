/* SPDX-License-Identifier: Apache-2.0 */
/* The default config.json written by `kapsel-runtime spec`: the same starting point runc's
 * `spec` gives (so guides written for runc work unchanged), with the rootless transform
 * applied on request: a user namespace mapping the caller, no network or cgroup namespace
 * requirements, /sys bound from the host instead of a new sysfs. */
#include <string.h>

#include "json-util.h"
#include "spec.h"
#include "string-util.h"

static const char default_spec[] =
"{\n"
"  \"ociVersion\": \"1.1.0\",\n"
"  \"process\": {\n"
"    \"terminal\": true,\n"
"    \"user\": {\"uid\": 0, \"gid\": 0},\n"
"    \"args\": [\"sh\"],\n"
"    \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", \"TERM=xterm\"],\n"
"    \"cwd\": \"/\",\n"
"    \"capabilities\": {\n"
"      \"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
"      \"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
"      \"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]\n"
"    },\n"
"    \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],\n"
"    \"noNewPrivileges\": true\n"
"  },\n"
"  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
"  \"hostname\": \"kapsel\",\n"
"  \"mounts\": [\n"
"    {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
"    {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
"     \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},\n"
"    {\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\",\n"
"     \"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\", \"gid=5\"]},\n"
"    {\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\",\n"
"     \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},\n"
"    {\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\",\n"
"     \"options\": [\"nosuid\", \"noexec\", \"nodev\"]},\n"
"    {\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\",\n"
"     \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"]},\n"
"    {\"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\",\n"
"     \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"relatime\", \"ro\"]}\n"
"  ],\n"
"  \"linux\": {\n"
"    \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},\n"
"    \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"}, {\"type\": \"uts\"},\n"
"                   {\"type\": \"mount\"}, {\"type\": \"cgroup\"}],\n"
"    \"maskedPaths\": [\"/proc/acpi\", \"/proc/asound\", \"/proc/kcore\", \"/proc/keys\", \"/proc/latency_stats\",\n"
"                    \"/proc/timer_list\", \"/proc/timer_stats\", \"/proc/sched_debug\", \"/sys/firmware\",\n"
"                    \"/proc/scsi\"],\n"
"    \"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\", \"/proc/sysrq-trigger\"]\n"
"  }\n"
"}\n";

static json_t *idmap(uid_t host) {
        return json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID", (json_int_t) host, "size", 1);
}

static void make_rootless(json_t *spec, uid_t uid, gid_t gid) {
        json_t *lin = json_object_get(spec, "linux");
        json_t *ns = json_object_get(lin, "namespaces");
        json_t *mounts = json_object_get(spec, "mounts");
        size_t i;
        json_t *e;

        /* As runc does: an unprivileged user gets no useful network in a new netns, and
         * cgroup namespace and resources need a delegated cgroup, which we cannot assume. */
        for (i = json_array_size(ns); i-- > 0;)
                if (streq(json_string_value(json_object_get(json_array_get(ns, i), "type")), "cgroup") ||
                    streq(json_string_value(json_object_get(json_array_get(ns, i), "type")), "network"))
                        json_array_remove(ns, i);
        json_array_append_new(ns, json_pack("{s:s}", "type", "user"));
        json_object_set_new(lin, "uidMappings", idmap(uid));
        json_object_set_new(lin, "gidMappings", idmap(gid));
        json_object_del(lin, "resources");

        for (i = json_array_size(mounts); i-- > 0;) {
                e = json_array_get(mounts, i);
                const char *dest = json_string_value(json_object_get(e, "destination"));
                if (streq(dest, "/sys/fs/cgroup"))
                        json_array_remove(mounts, i);
                else if (streq(dest, "/sys"))
                        json_array_set_new(mounts, i,
                                           json_pack("{s:s, s:s, s:s, s:[s,s,s,s,s]}", "destination", "/sys", "type",
                                                     "none", "source", "/sys", "options", "rbind", "nosuid", "noexec",
                                                     "nodev", "ro"));
                else if (streq(dest, "/dev/pts")) {
                        /* gid=5 (tty) does not exist in a single-id mapping. */
                        json_t *opts = json_object_get(e, "options");
                        for (size_t j = json_array_size(opts); j-- > 0;)
                                if (streq(json_string_value(json_array_get(opts, j)), "gid=5"))
                                        json_array_remove(opts, j);
                }
        }
}

static void drop_namespace(json_t *spec, const char *type) {
        json_t *ns = json_object_get(json_object_get(spec, "linux"), "namespaces");
        for (size_t i = json_array_size(ns); i-- > 0;)
                if (streq(json_string_value(json_object_get(json_array_get(ns, i), "type")), type))
                        json_array_remove(ns, i);
}

char *spec_default_json_for(bool rootless, bool cgroup_ns, uid_t uid, gid_t gid) {
        _cleanup_json_ json_t *spec = json_loads(default_spec, 0, NULL);
        if (!spec)
                return NULL;
        if (rootless)
                make_rootless(spec, uid, gid);
        if (!cgroup_ns)
                drop_namespace(spec, "cgroup");
        return json_dump_string(spec, true);
}

char *spec_default_json(bool rootless, uid_t uid, gid_t gid) {
        return spec_default_json_for(rootless, true, uid, gid);
}
