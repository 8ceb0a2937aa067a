/* SPDX-License-Identifier: Apache-2.0 */
/* --mount: docker's key=value list, and the conversion of Mounts objects to Binds/Tmpfs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctr-mounts.h"
#include "json-util.h"
#include "path-util.h"
#include "string-util.h"

/* --mount's keys and the Mounts field each sets (docker's aliases included). */
static const struct {
        const char *key, *field;
} keys[] = {
        { "type", "Type" },           { "source", "Source" }, { "src", "Source" },    { "target", "Target" },
        { "destination", "Target" },  { "dst", "Target" },    { "readonly", "ReadOnly" }, { "ro", "ReadOnly" },
        { "tmpfs-size", "TmpfsSize" }, { "tmpfs-mode", "TmpfsMode" },
};

int ctr_mount_parse(const char *arg, json_t **ret, KError **err) {
        _cleanup_free_ char *copy = strdup(arg);
        _cleanup_json_ json_t *m = json_object();
        if (!copy || !m)
                return -ENOMEM;
        for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(kv, '=');
                if (eq)
                        *eq++ = 0;
                const char *field = NULL;
                for (size_t i = 0; i < ELEMENTSOF(keys) && !field; i++)
                        if (streq(kv, keys[i].key))
                                field = keys[i].field;
                if (!field)
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "--mount \"%s\": unknown key \"%s\" (type, source, target, readonly, tmpfs-size, "
                                        "tmpfs-mode)", arg, kv);
                if (streq(field, "ReadOnly"))
                        json_object_set_new(m, field, json_boolean(!eq || streq(eq, "true") || streq(eq, "1")));
                else if (!eq)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--mount \"%s\": %s needs a value", arg, kv);
                else
                        json_object_set_new(m, field, json_string(eq));
        }
        if (!json_object_get(m, "Type"))
                json_object_set_new(m, "Type", json_string("volume"));
        if (!json_object_get(m, "Target"))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--mount \"%s\": target is required", arg);
        /* tmpfs options in the API's shape */
        const char *size = json_string_value(json_object_get(m, "TmpfsSize"));
        const char *mode = json_string_value(json_object_get(m, "TmpfsMode"));
        if (size || mode) {
                json_t *t = json_object();
                if (size)
                        json_object_set_new(t, "SizeBytes", json_string(size));
                if (mode)
                        json_object_set_new(t, "Mode", json_string(mode));
                json_object_set_new(m, "TmpfsOptions", t);
                json_object_del(m, "TmpfsSize");
                json_object_del(m, "TmpfsMode");
        }
        *ret = TAKE_PTR(m);
        return 0;
}

static void arr_add(json_t *host, const char *key, const char *value) {
        json_t *a = json_object_get(host, key);
        if (!json_is_array(a))
                json_object_set_new(host, key, a = json_array());
        json_array_append_new(a, json_string(value));
}

/* "size=N,mode=M" for HostConfig.Tmpfs from TmpfsOptions (numbers or strings). */
static char *tmpfs_opts(json_t *o) {
        char size[64] = "", mode[32] = "";
        json_t *s = json_object_get(o, "SizeBytes"), *m = json_object_get(o, "Mode");
        if (json_is_integer(s))
                snprintf(size, sizeof(size), "size=%lld", (long long) json_integer_value(s));
        else if (json_is_string(s))
                snprintf(size, sizeof(size), "size=%s", json_string_value(s));
        if (json_is_integer(m))
                snprintf(mode, sizeof(mode), "mode=%llo", (long long) json_integer_value(m));
        else if (json_is_string(m))
                snprintf(mode, sizeof(mode), "mode=%s", json_string_value(m));
        char *r = NULL;
        return asprintf(&r, "%s%s%s", size, *size && *mode ? "," : "", mode) < 0 ? NULL : r;
}

static int one_mount(json_t *host, json_t *m, KError **err) {
        const char *type = json_string_value(json_object_get(m, "Type")) ?: "volume";
        const char *src = json_string_value(json_object_get(m, "Source"));
        const char *dst = json_string_value(json_object_get(m, "Target"));
        bool ro = json_is_true(json_object_get(m, "ReadOnly"));
        if (!dst || !path_is_absolute(dst))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--mount: the target \"%s\" must be an absolute path", dst ?: "");
        if (streq(type, "tmpfs")) {
                _cleanup_free_ char *o = tmpfs_opts(json_object_get(m, "TmpfsOptions"));
                json_t *t = json_object_get(host, "Tmpfs");
                if (!json_is_object(t))
                        json_object_set_new(host, "Tmpfs", t = json_object());
                json_object_set_new(t, dst, json_string(o ?: ""));
                return 0;
        }
        _cleanup_free_ char *anon = NULL, *bind = NULL;
        if (streq(type, "bind")) {
                if (!src || !path_is_absolute(src))
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "--mount type=bind: the source \"%s\" must be an absolute host path", src ?: "");
        } else if (streq(type, "volume")) {
                if (!src || !*src) {
                        /* an anonymous volume, as docker makes for a volume mount without a source:
                         * named now, created with the others once the request is valid */
                        char id[65];
                        int r = engine_new_id(id);
                        if (r < 0 || !(anon = strdup(id)))
                                return kerr(err, r < 0 ? r : -ENOMEM, "a name for an anonymous volume");
                        src = anon;
                } else if (path_is_absolute(src))
                        return kerr_msg(err, KERR_USAGE, -EINVAL,
                                        "--mount type=volume: \"%s\" is a path; use type=bind for host paths", src);
        } else
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--mount type=%s: expected bind, volume or tmpfs", type);
        if (asprintf(&bind, "%s:%s%s", src, dst, ro ? ":ro" : "") < 0)
                return -ENOMEM;
        arr_add(host, "Binds", bind);
        return 0;
}

int ctr_mounts_normalize(json_t *config, KError **err) {
        json_t *host = json_object_get(config, "HostConfig");
        json_t *mounts = json_object_get(host, "Mounts");
        if (!mounts)
                return 0;
        if (!json_is_array(mounts))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "HostConfig.Mounts: expected an array");
        size_t i;
        json_t *m;
        json_array_foreach(mounts, i, m) {
                int r = one_mount(host, m, err);
                if (r < 0)
                        return r;
        }
        json_object_del(host, "Mounts");
        return 0;
}
