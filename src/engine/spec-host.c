/* SPDX-License-Identifier: Apache-2.0 */
/* What a container may see of the host beyond the defaults: --privileged (every capability, no
 * seccomp filter, no masked or read-only /proc paths, /sys writable, every host device), --device
 * (one host device node, with its cgroup rule), --pid host (no pid namespace). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cleanup.h"
#include "path-util.h"
#include "spec-gen.h"
#include "spec.h"
#include "string-util.h"

static json_t *host_get(const json_t *cfg, const char *key) {
        return json_object_get(json_object_get(cfg, "HostConfig"), key);
}

/* linux.devices entry + its allow rule for the host node `host`, named `path` inside. */
static int add_device(json_t *lin, const char *host, const char *path, const char *perms, KError **err) {
        struct stat st;
        if (stat(host, &st) < 0)
                return kerr_msg(err, KERR_USAGE, -errno, "--device %s: %s", host, strerror(errno));
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--device %s: not a character or block device", host);
        if (strspn(perms, "rwm") != strlen(perms) || !*perms || strlen(perms) > 3)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--device %s: permissions \"%s\" must be a subset of rwm", host,
                                perms);
        const char *type = S_ISCHR(st.st_mode) ? "c" : "b";
        json_t *devs = json_object_get(lin, "devices");
        if (!devs)
                json_object_set_new(lin, "devices", devs = json_array());
        json_array_append_new(devs, json_pack("{s:s, s:s, s:I, s:I, s:i, s:i, s:i}", "path", path, "type", type, "major",
                                              (json_int_t) major(st.st_rdev), "minor", (json_int_t) minor(st.st_rdev),
                                              "fileMode", (int) (st.st_mode & 07777), "uid", 0, "gid", 0));
        json_t *res = json_object_get(lin, "resources");
        json_t *rules = json_object_get(res, "devices");
        if (!rules)
                json_object_set_new(res, "devices", rules = json_array());
        json_array_append_new(rules, json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", true, "type", type, "major",
                                               (json_int_t) major(st.st_rdev), "minor", (json_int_t) minor(st.st_rdev),
                                               "access", perms));
        return 0;
}

/* "--device /dev/x[:/dev/y[:rwm]]" in docker's HostConfig.Devices shape. */
static int add_devices(const json_t *cfg, json_t *lin, KError **err) {
        size_t i;
        json_t *d;
        json_array_foreach(host_get(cfg, "Devices"), i, d) {
                const char *host = json_string_value(json_object_get(d, "PathOnHost"));
                const char *in = json_string_value(json_object_get(d, "PathInContainer"));
                const char *perms = json_string_value(json_object_get(d, "CgroupPermissions"));
                if (!host || !path_is_absolute(host))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--device: PathOnHost must be an absolute path");
                if (in && *in && !path_is_absolute(in))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--device %s: \"%s\" must be an absolute path", host, in);
                int r = add_device(lin, host, in && *in ? in : host, perms && *perms ? perms : "rwm", err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Every device node directly under the host's /dev, as docker's --privileged gives. */
static void add_host_devices(json_t *lin) {
        _cleanup_(closedirp) DIR *d = opendir("/dev");
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (de->d_type != DT_CHR && de->d_type != DT_BLK)
                        continue;
                /* the runtime makes these itself; /dev/console and the ptys belong to the container */
                static const char *const own[] = { "null", "zero", "full", "random", "urandom", "tty", "console",
                                                   "ptmx", NULL };
                if (strv_contains((char **) own, de->d_name))
                        continue;
                _cleanup_free_ char *p = path_join("/dev", de->d_name);
                if (p)
                        (void) add_device(lin, p, p, "rwm", NULL);
        }
}

static void privileged(json_t *spec, json_t *lin) {
        json_t *all = json_array();
        /* every capability we hold: one outside our own bounding set cannot be given (a nested
         * sandbox), and asking for it would fail the start */
        for (int k = 0; k <= cap_last_known(); k++)
                if (cap_to_name(k) && prctl(PR_CAPBSET_READ, k, 0, 0, 0) == 1)
                        json_array_append_new(all, json_string(cap_to_name(k)));
        json_t *caps = json_object_get(json_object_get(spec, "process"), "capabilities");
        json_object_set(caps, "bounding", all);
        json_object_set(caps, "effective", all);
        json_object_set(caps, "permitted", all);
        json_decref(all);
        json_object_del(lin, "seccomp");
        json_object_del(lin, "maskedPaths");
        json_object_del(lin, "readonlyPaths");
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(spec, "mounts"), i, m) {
                if (!streq(json_string_value(json_object_get(m, "type")) ?: "", "sysfs"))
                        continue;
                json_t *opts = json_object_get(m, "options");
                for (size_t k = json_array_size(opts); k-- > 0;)
                        if (streq(json_string_value(json_array_get(opts, k)) ?: "", "ro"))
                                json_array_remove(opts, k);
        }
        json_object_set_new(json_object_get(lin, "resources"), "devices",
                            json_pack("[{s:b, s:s}]", "allow", true, "access", "rwm"));
        add_host_devices(lin);
}

int spec_gen_host(const json_t *cfg, json_t *spec, KError **err) {
        json_t *lin = json_object_get(spec, "linux");
        const char *pid = json_string_value(host_get(cfg, "PidMode"));
        if (pid && *pid) {
                if (!streq(pid, "host"))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--pid \"%s\": only \"host\" is supported", pid);
                json_t *ns = json_object_get(lin, "namespaces");
                for (size_t i = json_array_size(ns); i-- > 0;)
                        if (streq(json_string_value(json_object_get(json_array_get(ns, i), "type")) ?: "", "pid"))
                                json_array_remove(ns, i);
        }
        if (json_is_true(host_get(cfg, "Privileged")))
                privileged(spec, lin);
        return add_devices(cfg, lin, err);
}
