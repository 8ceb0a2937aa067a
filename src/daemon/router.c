/* SPDX-License-Identifier: Apache-2.0 */
/* Method + path -> handler: one table, patterns with {} for one path segment and {+} for an image
 * name (slashes allowed: "127.0.0.1:5000/team/app:1") followed by literal text only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "string-util.h"

static const ApiRoute routes[] = {
        { "GET", "/_ping", api_ping },
        { "HEAD", "/_ping", api_ping },
        { "GET", "/version", api_version },
        { "GET", "/info", api_info },
        { "POST", "/containers/create", api_ctr_create },
        { "GET", "/containers/json", api_ctr_list },
        { "GET", "/containers/{}/json", api_ctr_inspect },
        { "POST", "/containers/{}/start", api_ctr_start },
        { "GET", "/containers/{}/checkpoints", api_ctr_checkpoint_list },
        { "POST", "/containers/{}/checkpoints", api_ctr_checkpoint_create },
        { "DELETE", "/containers/{}/checkpoints/{}", api_ctr_checkpoint_delete },
        { "POST", "/containers/{}/stop", api_ctr_stop },
        { "POST", "/containers/{}/restart", api_ctr_restart },
        { "POST", "/containers/{}/kill", api_ctr_kill },
        { "POST", "/containers/{}/wait", api_ctr_wait },
        { "DELETE", "/containers/{}", api_ctr_delete },
        { "POST", "/containers/{}/pause", api_ctr_pause },
        { "POST", "/containers/{}/unpause", api_ctr_unpause },
        { "POST", "/containers/{}/rename", api_ctr_rename },
        { "GET", "/containers/{}/logs", api_ctr_logs },
        { "POST", "/containers/{}/attach", api_ctr_attach },
        { "POST", "/containers/{}/resize", api_ctr_resize },
        { "GET", "/containers/{}/stats", api_ctr_stats },
        { "GET", "/containers/{}/top", api_ctr_top },
        { "POST", "/containers/{}/update", api_ctr_update },
        { "GET", "/containers/{}/changes", api_ctr_changes },
        { "GET", "/containers/{}/export", api_ctr_export },
        { "POST", "/containers/prune", api_ctr_prune },
        { "POST", "/images/prune", api_img_prune },
        { "POST", "/volumes/prune", api_vol_prune },
        { "POST", "/networks/prune", api_net_prune },
        { "GET", "/system/df", api_system_df },
        { "GET", "/events", api_events },
        { "POST", "/auth", api_auth },
        { "HEAD", "/containers/{}/archive", api_ctr_archive_head },
        { "GET", "/containers/{}/archive", api_ctr_archive_get },
        { "PUT", "/containers/{}/archive", api_ctr_archive_put },
        { "POST", "/containers/{}/exec", api_exec_create },
        { "POST", "/exec/{}/start", api_exec_start },
        { "GET", "/exec/{}/json", api_exec_inspect },
        { "POST", "/exec/{}/resize", api_exec_resize },
        { "GET", "/networks", api_net_list },
        { "POST", "/networks/create", api_net_create },
        { "GET", "/networks/{}", api_net_inspect },
        { "DELETE", "/networks/{}", api_net_delete },
        { "POST", "/networks/{}/connect", api_net_connect },
        { "POST", "/networks/{}/disconnect", api_net_disconnect },
        { "GET", "/volumes", api_vol_list },
        { "POST", "/volumes/create", api_vol_create },
        { "GET", "/volumes/{}", api_vol_inspect },
        { "DELETE", "/volumes/{}", api_vol_delete },
        { "GET", "/images/json", api_img_list },
        { "GET", "/images/{+}/json", api_img_inspect },
        { "POST", "/images/create", api_img_create },
        { "POST", "/images/load", api_img_load },
        { "GET", "/images/get", api_img_save },
        { "GET", "/images/{+}/get", api_img_save },
        { "POST", "/images/{+}/tag", api_img_tag },
        { "DELETE", "/images/{+}", api_img_delete },
        { "GET", "/images/{+}/history", api_img_history },
        { "POST", "/images/{+}/push", api_img_push },
        { "POST", "/build", api_build },
        { "POST", "/build/prune", api_build_prune },
};

/* Does `path` match `pattern`? Captures go to params (URL-decoded by the library already). */
static bool match(const char *pattern, const char *path, char *params[API_MAX_PARAMS]) {
        size_t n = 0;
        while (*pattern && *path) {
                if (startswith(pattern, "{+}")) {
                        /* an image name: may hold slashes, so it takes all but the literal rest */
                        const char *rest = pattern + 3;
                        size_t len = strlen(path), rest_len = strlen(rest);
                        if (strchr(rest, '{') || len <= rest_len || !streq(path + len - rest_len, rest) ||
                            n >= API_MAX_PARAMS)
                                return false;
                        free(params[n]);
                        params[n++] = strndup(path, len - rest_len);
                        return true;
                }
                if (startswith(pattern, "{}")) {
                        size_t len = strcspn(path, "/");
                        if (len == 0 || n >= API_MAX_PARAMS)
                                return false;
                        free(params[n]);
                        params[n++] = strndup(path, len);
                        path += len;
                        pattern += 2;
                        continue;
                }
                if (*pattern++ != *path++)
                        return false;
        }
        return !*pattern && (!*path || streq(path, "/"));
}

const ApiRoute *router_match(const char *method, const char *path, ApiReq *rq, bool *ret_path_known) {
        *ret_path_known = false;
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
                bool hit = match(routes[i].pattern, path, rq->params);
                *ret_path_known |= hit;
                if (hit && streq(routes[i].method, method))
                        return &routes[i];
                /* captures of a route that did not match are not the next one's */
                for (size_t k = 0; k < API_MAX_PARAMS; k++)
                        rq->params[k] = mfree(rq->params[k]);
        }
        return NULL;
}

/* Bodies that go to an unnamed file in the root instead of memory, besides image load and
 * archive PUT: build contexts and imports (path without the query, maybe /vN.NN-prefixed). */
bool router_body_to_file(const char *method, const char *url) {
        const char *rest;
        char version[16];
        if (!streq(method, "POST") || router_strip_version(url, &rest, version) < 0)
                return false;
        return streq(rest, "/build") || streq(rest, "/images/create");
}

/* "1.NN" as a comparable number (1.41 -> 141). */
static long version_num(const char *v) {
        char *end;
        long major = strtol(v, &end, 10);
        if (*end != '.')
                return -1;
        long minor = strtol(end + 1, &end, 10);
        return *end || minor < 0 || minor > 99 ? -1 : major * 100 + minor;
}

int router_strip_version(const char *path, const char **ret_rest, char ret_version[static 16]) {
        ret_version[0] = 0;
        *ret_rest = path;
        if (!startswith(path, "/v"))
                return 0;
        size_t len = strcspn(path + 2, "/");
        if (len == 0 || len >= 16)
                return 0;
        memcpy(ret_version, path + 2, len);
        ret_version[len] = 0;
        long v = version_num(ret_version);
        if (v < 0) {
                ret_version[0] = 0;
                return 0;       /* not a version: a path like /volumes */
        }
        if (v < version_num(API_MIN_VERSION) || v > version_num(API_VERSION))
                return -EINVAL;
        *ret_rest = path + 2 + len;
        return 0;
}
