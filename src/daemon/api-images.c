/* SPDX-License-Identifier: Apache-2.0 */
/* /images: list, inspect, create (pull), tag, delete, in docker's shapes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "daemon.h"
#include "fd-util.h"
#include "engine-pull.h"
#include "oci.h"
#include "prune.h"
#include "json-util.h"
#include "path-util.h"
#include "string-util.h"

static int store(ApiReq *rq, ImageStore **ret, KError **err) {
        Engine *e;
        int r = api_engine(rq, &e, err);
        return r < 0 ? r : engine_images(e, ret, err);
}

/* "busybox:latest" for "docker.io/library/busybox:latest", as docker shows names. */
static json_t *familiar_names(char **names) {
        json_t *a = json_array();
        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *f = image_ref_familiar(*n);
                json_array_append_new(a, json_string(f ?: *n));
        }
        return a;
}

static json_int_t created_unix(const char *rfc3339) {
        struct tm tm = { 0 };
        if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm))
                return 0;
        return (json_int_t) timegm(&tm);
}

/* docker's filters={"key":["v",...]} (or the older {"key":{"v":true}}) as "key=v" strings. */
static int filters_strv(const ApiReq *rq, char ***ret, KError **err) {
        const char *q = api_query(rq, "filters");
        _cleanup_json_ json_t *f = q && *q ? json_loads(q, 0, NULL) : json_object();
        if (!json_is_object(f))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "filters: expected a JSON object of arrays, got %s", q);
        const char *key;
        json_t *vals;
        json_object_foreach(f, key, vals) {
                _cleanup_json_ json_t *list = json_is_array(vals) ? json_incref(vals) : json_array();
                const char *v;
                json_t *on;
                if (json_is_object(vals))
                        json_object_foreach(vals, v, on)
                                if (json_is_true(on))
                                        json_array_append_new(list, json_string(v));
                size_t i;
                json_t *x;
                json_array_foreach(list, i, x) {
                        _cleanup_free_ char *kv = NULL;
                        if (!json_is_string(x) || asprintf(&kv, "%s=%s", key, json_string_value(x)) < 0 || strv_extend(ret, kv) < 0)
                                return kerr_msg(err, KERR_USAGE, -EINVAL, "filters: %s: expected strings", key);
                }
        }
        return 0;
}

/* GET /images/json?all=&filters=: docker's list, with the filters of `kapsel images` (image-filter.h);
 * a reference filter keeps only the matching tags of an image. */
int api_img_list(ApiReq *rq, ApiResp *rs, KError **err) {
        ImageStore *s;
        Image **list = NULL;
        size_t n = 0;
        _cleanup_strv_free_ char **filters = NULL;
        _cleanup_(image_filter_freep) ImageFilter *flt = NULL;
        bool all = api_query_bool(rq, "all");
        int r = filters_strv(rq, &filters, err);
        if (r < 0 || (r = store(rq, &s, err)) < 0 || (r = image_list(s, &list, &n, err)) < 0)
                return r;
        if ((r = image_filter_new(filters, list, n, &flt, err)) < 0) {
                image_list_free(list, n);
                return r;
        }
        json_t *rows = json_array();
        for (size_t i = 0; i < n; i++) {
                Image *img = list[i];
                _cleanup_strv_free_ char **names = NULL;
                bool tagged = img->names && img->names[0];
                for (char **nm = img->names; nm && *nm; nm++)
                        if (image_filter_match(flt, img, *nm))
                                (void) strv_extend(&names, *nm);
                if (tagged ? !names : (!all && image_is_intermediate(img, list, n)) || !image_filter_match(flt, img, NULL))
                        continue;
                json_t *labels = json_object_get(json_object_get(img->config_json, "config"), "Labels");
                json_array_append_new(rows, json_pack("{s:s, s:s, s:o, s:[], s:I, s:I, s:I, s:i, s:O}", "Id", img->id,
                                                      "ParentId", "", "RepoTags", familiar_names(names),
                                                      "RepoDigests", "Created", created_unix(img->created), "Size",
                                                      (json_int_t) img->size, "SharedSize", (json_int_t) -1,
                                                      "Containers", -1, "Labels",
                                                      json_is_object(labels) ? labels : json_null()));
        }
        image_list_free(list, n);
        return api_json(rs, 200, rows);
}

int api_img_inspect(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        _cleanup_(image_freep) Image *img = NULL;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = engine_image_lookup(e, rq->params[0], &img, err)) < 0)
                return r;
        json_t *cfg = json_object_get(img->config_json, "config");
        json_t *diffs = json_object_get(json_object_get(img->config_json, "rootfs"), "diff_ids");
        return api_json(rs, 200,
                        json_pack("{s:s, s:o, s:[], s:s, s:s, s:s, s:s, s:I, s:I, s:O, s:O, s:{s:s, s:O}, s:{s:s, s:{}}}",
                                  "Id", img->id, "RepoTags", familiar_names(img->names), "RepoDigests", "Parent", "",
                                  "Created", img->created ?: "", "Os", img->os ?: "linux", "Architecture",
                                  img->architecture ?: "amd64", "Size", (json_int_t) img->size, "VirtualSize",
                                  (json_int_t) img->size, "Config", cfg ?: json_null(), "ContainerConfig",
                                  cfg ?: json_null(), "RootFS", "Type", "layers", "Layers", diffs ?: json_array(),
                                  "GraphDriver", "Name", "overlay2", "Data"));
}

/* The image's name from fromImage + tag (the tag may also be in fromImage). */
static int ref_of(const char *image, const char *tag, char **ret) {
        bool has_tag = strchr(image, '@') || (strrchr(image, ':') && !strchr(strrchr(image, ':'), '/'));
        if (has_tag || !tag || !*tag)
                *ret = strdup(image);
        else if (asprintf(ret, "%s%s%s", image, startswith(tag, "sha256:") ? "@" : ":", tag) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

/* Messages as one buffered answer of JSON lines (docker's stream format, short). Takes `msgs`. */
static int json_lines(ApiResp *rs, json_t *msgs) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0, i;
        json_t *m;
        FILE *f = open_memstream(&text, &len);
        if (!f) {
                json_decref(msgs);
                return -ENOMEM;
        }
        json_array_foreach(msgs, i, m)
                if (json_dumpf(m, f, JSON_COMPACT) == 0)
                        fputs("\r\n", f);
        fclose(f);
        json_decref(msgs);
        rs->status = 200;
        rs->content_type = "application/json";
        rs->raw = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
        return rs->raw ? 0 : -ENOMEM;
}

/* docker import: fromSrc=- (the request body is the rootfs tar), repo + tag name it, changes are
 * Dockerfile lines for its config. */
static int img_import(ApiReq *rq, ApiResp *rs, const char *src, KError **err) {
        if (!streq(src, "-"))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "images/create: fromSrc=%s: only - (the archive in the request body) is supported; "
                                "download the archive and send it", src);
        struct stat st;
        if (rq->body_fd < 0 || fstat(rq->body_fd, &st) < 0 || st.st_size == 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "images/create: send the archive to import as the request body");
        ImageStore *s;
        ImageConfig cfg = { 0 };
        _cleanup_strv_free_ char **changes = api_query_all(rq, "changes");
        _cleanup_free_ char *name = NULL, *id = NULL;
        const char *repo = api_query(rq, "repo");
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", rq->body_fd);
        int r = repo && *repo ? ref_of(repo, api_query(rq, "tag"), &name) : 0;
        if (r >= 0 && (r = api_import_changes(changes, &cfg, err)) >= 0 && (r = store(rq, &s, err)) >= 0)
                r = image_import_rootfs(s, path, name, &cfg, &id, err);
        image_config_done(&cfg);
        if (r < 0)
                return r;
        return json_lines(rs, json_pack("[{s:s}]", "status", id));
}

int api_img_create(ApiReq *rq, ApiResp *rs, KError **err) {
        const char *from = api_query(rq, "fromImage"), *src = api_query(rq, "fromSrc");
        if (src && *src)
                return img_import(rq, rs, src, err);
        if (!from || !*from)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "images/create: give fromImage (pull) or fromSrc=- (import); use POST /images/load for "
                                "docker save archives");
        Engine *e;
        _cleanup_free_ char *ref = NULL, *id = NULL;
        _cleanup_(image_freep) Image *img = NULL;
        int r = ref_of(from, api_query(rq, "tag"), &ref);
        if (r < 0 || (r = api_engine(rq, &e, err)) < 0)
                return r;
        /* credentials from the client (docker's X-Registry-Auth), as dockerd: none of its own */
        _cleanup_free_ char *user = NULL, *password = NULL, *server = NULL;
        const char *hdr = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Registry-Auth");
        if (hdr && *hdr && (r = auth_header_decode(hdr, &user, &password, &server, err)) < 0)
                return r;
        RegistryOptions o = { .username = user, .password = password };
        /* the built-in busybox comes from the build, never from a registry (no network needed) */
        _cleanup_kerr_ KError *local = NULL;
        if (engine_image_lookup(e, ref, &img, &local) < 0 || !strv_contains(img->names, "docker.io/library/busybox:latest"))
                if ((r = engine_image_pull(e, ref, &o, &id, NULL, err)) < 0)
                        return r;
        _cleanup_free_ char *status = NULL;
        if (asprintf(&status, "{\"status\":\"Pulling from %s\"}\n{\"status\":\"Status: Image is up to date for %s\"}\n",
                     from, ref) < 0)
                return -ENOMEM;
        rs->status = 200;
        rs->content_type = "application/json";
        rs->raw = MHD_create_response_from_buffer(strlen(status), status, MHD_RESPMEM_MUST_COPY);
        return rs->raw ? 0 : -ENOMEM;
}

/* POST /auth (docker login): the credentials are checked against the registry as `kapsel login`
 * does; the client keeps them (its config.json), the daemon stores nothing. */
int api_auth(ApiReq *rq, ApiResp *rs, KError **err) {
        json_t *b = rq->json;
        const char *user = json_string_value(json_object_get(b, "username"));
        const char *password = json_string_value(json_object_get(b, "password"));
        const char *server = json_string_value(json_object_get(b, "serveraddress"));
        if (!user || !*user || !password || !*password)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "login: username and password must not be empty");
        RegistryOptions o = { .username = user, .password = password };
        int r = registry_login(server ?: "", &o, err);
        if (r < 0)
                return r;
        return api_json(rs, 200, json_pack("{s:s, s:s}", "Status", "Login Succeeded", "IdentityToken", ""));
}

int api_img_tag(ApiReq *rq, ApiResp *rs, KError **err) {
        ImageStore *s;
        const char *repo = api_query(rq, "repo");
        _cleanup_free_ char *target = NULL;
        if (!repo || !*repo)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "tag: the query parameter repo is missing");
        int r = ref_of(repo, api_query(rq, "tag"), &target);
        if (r < 0 || (r = store(rq, &s, err)) < 0 || (r = image_tag(s, rq->params[0], target, err)) < 0)
                return r;
        return api_empty(rs, 201);
}

int api_img_delete(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        ImageStore *s;
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *untagged = NULL;
        bool force = api_query_bool(rq, "force");
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = engine_images(e, &s, err)) < 0 || (r = image_lookup(s, rq->params[0], &img, err)) < 0)
                return r;
        CtrRecord **list = NULL;
        size_t n = 0;
        if ((r = db_ctr_list(e->db, &list, &n, err)) < 0)
                return r;
        _cleanup_free_ char *user = NULL;
        for (size_t i = 0; i < n && !user; i++)
                if (streq(list[i]->image_id, img->id))
                        user = strdup(list[i]->name);
        ctr_record_list_free(list, n);
        /* one of several names: only that name goes, as docker untags */
        bool untag_only = strv_length(img->names) > 1 && !startswith(rq->params[0], "sha256:") &&
                          !startswith(img->id + strlen("sha256:"), rq->params[0]);
        if (user && !force && !untag_only)
                return kerr_msg(err, KERR_STATE, -EBUSY,
                                "image %s is used by container %s: remove the container first (or rmi -f)", rq->params[0],
                                user);
        if ((r = image_remove(s, rq->params[0], force, &untagged, err)) < 0)
                return r;
        uint64_t freed = 0;
        (void) image_gc(s, &freed, NULL);
        json_t *out = json_array();
        if (untagged) {
                _cleanup_free_ char *f = image_ref_familiar(untagged);
                json_array_append_new(out, json_pack("{s:s}", "Untagged", f ?: untagged));
        }
        _cleanup_(image_freep) Image *still = NULL;
        if (image_lookup(s, img->id, &still, NULL) < 0)
                json_array_append_new(out, json_pack("{s:s}", "Deleted", img->id));
        return api_json(rs, 200, out);
}

int api_img_load(ApiReq *rq, ApiResp *rs, KError **err) {
        ImageStore *s;
        _cleanup_strv_free_ char **names = NULL;
        char path[64];
        if (rq->body_fd < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "images/load: send the archive as the request body");
        snprintf(path, sizeof(path), "/proc/self/fd/%d", rq->body_fd);
        int r = store(rq, &s, err);
        if (r < 0 || (r = image_load(s, path, &names, err)) < 0)
                return r;
        json_t *out = json_array();
        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *f = image_ref_familiar(*n), *line = NULL;
                if (asprintf(&line, "Loaded image: %s\n", f ?: *n) >= 0)
                        json_array_append_new(out, json_pack("{s:s}", "stream", line));
        }
        /* one JSON message per line, as docker streams them */
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        size_t i;
        json_t *m;
        json_array_foreach(out, i, m)
                if (json_dumpf(m, f, JSON_COMPACT) == 0)
                        fputc('\n', f);
        fclose(f);
        json_decref(out);
        rs->status = 200;
        rs->content_type = "application/json";
        rs->raw = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
        return rs->raw ? 0 : -ENOMEM;
}

static enum MHD_Result collect_names(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        (void) kind;
        if (key && value && strcmp(key, "names") == 0)
                (void) strv_extend(cls, value);
        return MHD_YES;
}

int api_img_save(ApiReq *rq, ApiResp *rs, KError **err) {
        ImageStore *s;
        _cleanup_strv_free_ char **refs = NULL;
        if (rq->params[0])
                (void) strv_extend(&refs, rq->params[0]);
        else
                MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, collect_names, &refs);
        if (!refs)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "images/get: name the images (names=...)");
        int r = store(rq, &s, err);
        if (r < 0)
                return r;
        /* written in a directory of the store (the save renames into place), opened, unlinked: the
         * client reads the open file and nothing is left behind */
        _cleanup_free_ char *dir = NULL, *path = NULL;
        if (asprintf(&dir, "%s/tmp/save-XXXXXX", image_store_root(s)) < 0 || !mkdtemp(dir))
                return kerr(err, -errno, "a temporary directory in %s", image_store_root(s));
        path = path_join(dir, "archive.tar");
        r = path ? image_save(s, refs, path, err) : -ENOMEM;
        int fd = r >= 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (path)
                (void) unlink(path);
        (void) rmdir(dir);
        struct stat st;
        if (r < 0 || fd < 0 || fstat(fd, &st) < 0) {
                if (fd >= 0)
                        close(fd);
                return r < 0 ? r : kerr(err, -errno, "save");
        }
        rs->raw = MHD_create_response_from_fd((size_t) st.st_size, fd);
        if (!rs->raw) {
                close(fd);
                return -ENOMEM;
        }
        rs->status = 200;
        rs->content_type = "application/x-tar";
        return 0;
}

/* The local image whose history is the first `n` entries of `hist` (a build's intermediate image,
 * or a base image), or NULL. */
static Image *image_at(Image **list, size_t n_list, const json_t *hist, size_t n) {
        for (size_t k = 0; k < n_list; k++) {
                json_t *h = json_object_get(list[k]->config_json, "history");
                if (json_array_size(h) != n)
                        continue;
                bool same = true;
                for (size_t i = 0; i < n && same; i++)
                        same = json_equal(json_array_get(h, i), json_array_get(hist, i));
                if (same)
                        return list[k];
        }
        return NULL;
}

/* docker history: newest first, each row with the id and names of the local image it made (the
 * build's intermediate images, the base), "<missing>" when there is none, and each layer step with
 * its unpacked size. */
int api_img_history(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        ImageStore *s;
        Image **list = NULL;
        size_t n_list = 0;
        _cleanup_(image_freep) Image *img = NULL;
        int r = api_engine(rq, &e, err);
        if (r < 0 || (r = engine_image_lookup(e, rq->params[0], &img, err)) < 0 || (r = engine_images(e, &s, err)) < 0)
                return r;
        (void) image_list(s, &list, &n_list, NULL);
        json_t *hist = json_object_get(img->config_json, "history"), *out = json_array();
        size_t layer = img->n_layers;
        for (size_t i = json_array_size(hist); out && i-- > 0;) {
                json_t *h = json_array_get(hist, i);
                uint64_t size = 0;
                /* the layers belong to the non-empty steps, in order: count down from the top */
                if (!json_is_true(json_object_get(h, "empty_layer")) && layer > 0)
                        (void) disk_usage(img->layer_dirs[--layer], &size, NULL);
                bool top = i + 1 == json_array_size(hist);
                const Image *at = top ? img : image_at(list, n_list, hist, i + 1);
                json_array_append_new(out, json_pack("{s:s, s:I, s:s, s:o, s:I, s:s}", "Id", at ? at->id : "<missing>",
                                                     "Created", created_unix(json_string_value(json_object_get(h, "created"))),
                                                     "CreatedBy", json_string_value(json_object_get(h, "created_by")) ?: "",
                                                     "Tags", at && at->names ? familiar_names(at->names) : json_null(),
                                                     "Size", (json_int_t) size, "Comment",
                                                     json_string_value(json_object_get(h, "comment")) ?: ""));
        }
        image_list_free(list, n_list);
        return api_json(rs, 200, out);
}

typedef struct PushJob {
        char *root, *image, *ref, *user, *password;
} PushJob;

static void push_job_free(void *p) {
        PushJob *j = p;
        if (!j)
                return;
        free(j->root);
        free(j->image);
        free(j->ref);
        free(j->user);
        free(j->password);
        free(j);
}

static void push_line(int fd, json_t *m) {
        _cleanup_free_ char *t = m ? api_json_line(m) : NULL;
        json_decref(m);
        if (t)
                (void) write_all(fd, t, strlen(t));
}

static void push_run(int fd, void *data) {
        PushJob *j = data;
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_kerr_ KError *err = NULL;
        _cleanup_free_ char *pushed = NULL;
        ImageRef ir = { 0 };
        if (image_ref_parse(j->ref, &ir, NULL) >= 0) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "The push refers to repository [%s/%s]", ir.domain, ir.path) >= 0)
                        push_line(fd, json_pack("{s:s}", "status", msg));
        }
        RegistryOptions o = { .username = j->user, .password = j->password };
        int r = engine_open(j->root, &e, &err);
        if (r >= 0)
                r = engine_image_push(e, j->image, j->ref, &o, &pushed, &err);
        if (r < 0) {
                const char *msg = err ? err->msg : strerror(-r);
                push_line(fd, json_pack("{s:{s:s}, s:s}", "errorDetail", "message", msg, "error", msg));
        } else {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "%s: pushed %s", ir.tag ?: "latest", pushed) >= 0)
                        push_line(fd, json_pack("{s:s}", "status", msg));
                push_line(fd, json_pack("{s:{}, s:{s:s}}", "progressDetail", "aux", "Tag", ir.tag ?: "latest"));
        }
        image_ref_done(&ir);
}

/* POST /images/{name}/push?tag=: the engine's push (the CLI's), credentials from X-Registry-Auth
 * only (as dockerd); progress and errors as docker's JSON lines. */
int api_img_push(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *ref = NULL, *norm = NULL;
        int r = ref_of(rq->params[0], api_query(rq, "tag"), &ref);
        if (r < 0 || (r = image_ref_normalize(ref, &norm, err)) < 0 || (r = api_engine(rq, &e, err)) < 0 ||
            (r = engine_image_lookup(e, ref, &img, err)) < 0)
                return r;
        PushJob *j = calloc(1, sizeof(*j));
        const char *hdr = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Registry-Auth");
        _cleanup_free_ char *server = NULL;
        if (!j)
                return -ENOMEM;
        if (hdr && *hdr && (r = auth_header_decode(hdr, &j->user, &j->password, &server, err)) < 0) {
                push_job_free(j);
                return r;
        }
        if (!(j->root = strdup(rq->cfg->root)) || !(j->image = strdup(ref)) || !(j->ref = strdup(ref))) {
                push_job_free(j);
                return -ENOMEM;
        }
        api_no_idle_timeout(rq);       /* a large layer uploads without a word to the client */
        return api_stream(rs, "application/json", push_run, j, push_job_free, err);
}
