/* SPDX-License-Identifier: Apache-2.0 */
/* registry_push(): distribution spec "Pushing blobs" (HEAD to check, POST to open an upload
 * session, one monolithic PUT ?digest= to finish it) and "Pushing manifests" (PUT with the
 * manifest's own media type). An index is pushed child manifests first, so the registry never
 * holds a manifest that points at something missing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fd-util.h"
#include "registry-client.h"
#include "registry-layout.h"
#include "registry.h"
#include "string-util.h"

static int blob_exists(RegistryClient *c, const char *digest, KError **err) {
        HttpRequest req = HTTP_REQUEST_INIT;
        req.method = "HEAD";
        _cleanup_free_ char *url = NULL;
        _cleanup_(http_response_done) HttpResponse resp = {};
        int r = registry_client_call(c, &req, "blobs", digest, "pull,push", 0, &url, &resp, err);
        if (r < 0)
                return r;
        if (resp.status == 200)
                return 1;
        if (resp.status == 404)
                return 0;
        return registry_client_status_error(c, &resp, url, err);
}

/* POST .../blobs/uploads/ -> 202 + Location: the upload session URL. */
static int upload_start(RegistryClient *c, char **ret_location, KError **err) {
        HttpRequest req = HTTP_REQUEST_INIT;
        req.method = "POST";
        _cleanup_free_ char *url = NULL;
        _cleanup_(http_response_done) HttpResponse resp = {};
        int r = registry_client_call(c, &req, "blobs/uploads/", NULL, "pull,push", 202, &url, &resp, err);
        if (r < 0)
                return r;
        if (!resp.location)
                return kerr_msg(err, KERR_GENERIC, -EPROTO, "no Location in the reply to POST %s", url);
        r = http_url_resolve(url, resp.location, NULL, ret_location);
        if (r < 0)
                return kerr_msg(err, KERR_GENERIC, r, "unusable upload Location from %s", url);
        return 0;
}

static int push_blob(RegistryClient *c, const Layout *l, const RegistryDescriptor *d, KError **err) {
        int r = blob_exists(c, d->digest, err);
        if (r != 0)
                return r < 0 ? kerr_prefix(err, r, "blob %s", d->digest) : 0;
        _cleanup_close_ int fd = -1;
        uint64_t size;
        if ((r = layout_blob_open(l, d->digest, &fd, &size, err)) < 0)
                return r;
        if (size != d->size)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "blob %s in '%s' has %" PRIu64 " bytes, its descriptor says %" PRIu64,
                                d->digest, l->path, size, d->size);
        _cleanup_free_ char *location = NULL, *query = NULL, *url = NULL;
        if ((r = upload_start(c, &location, err)) < 0)
                return kerr_prefix(err, r, "blob %s", d->digest);
        if (asprintf(&query, "digest=%s", d->digest) < 0) {
                query = NULL;   /* undefined after a failed asprintf */
                return kerr(err, -ENOMEM, "upload URL");
        }
        if ((r = http_url_resolve(location, NULL, query, &url)) < 0)
                return kerr_msg(err, KERR_GENERIC, r, "blob %s: unusable upload Location %s", d->digest, location);
        char label[32];
        snprintf(label, sizeof(label), "%.19s", d->digest + STRLEN("sha256:"));
        HttpRequest req = HTTP_REQUEST_INIT;
        req.method = "PUT";
        req.url = url;
        req.content_type = "application/octet-stream";
        req.body_fd = fd;
        req.body_size = size;
        req.progress_label = c->progress ? label : NULL;
        _cleanup_(http_response_done) HttpResponse resp = {};
        if ((r = registry_client_do(c, &req, "pull,push", &resp, err)) < 0)
                return kerr_prefix(err, r, "blob %s", d->digest);
        if (resp.status != 201)
                return kerr_prefix(err, registry_client_status_error(c, &resp, url, err), "blob %s", d->digest);
        return 0;
}

static int put_manifest(RegistryClient *c, const char *reference, const char *media_type, const char *body,
                        size_t len, const char *digest, KError **err) {
        HttpRequest req = HTTP_REQUEST_INIT;
        req.method = "PUT";
        req.content_type = media_type;
        req.body = body;
        req.body_len = len;
        _cleanup_free_ char *url = NULL;
        _cleanup_(http_response_done) HttpResponse resp = {};
        /* distribution spec "Pushing Manifests": 201 Created */
        int r = registry_client_call(c, &req, "manifests", reference, "pull,push", 201, &url, &resp, err);
        if (r < 0)
                return kerr_prefix(err, r, "manifest %s", digest);
        if (resp.docker_content_digest && !streq(resp.docker_content_digest, digest))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "manifest %s: the registry stored it as %s (%s)", digest,
                                resp.docker_content_digest, url);
        return 0;
}

/* Push the manifest `d` (its blobs, or for an index its child manifests, first) under `reference`. */
static int push_manifest(RegistryClient *c, const Layout *l, const RegistryDescriptor *d, const char *reference,
                         bool nested, KError **err) {
        _cleanup_free_ char *body = NULL;
        size_t len;
        int r = layout_blob_read(l, d->digest, REGISTRY_MANIFEST_MAX, &body, &len, err);
        if (r < 0)
                return r;
        if (len != d->size)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "manifest %s in '%s' has %zu bytes, its descriptor says %" PRIu64,
                                d->digest, l->path, len, d->size);
        _cleanup_(registry_manifest_freep) RegistryManifest *m = NULL;
        if ((r = registry_manifest_parse(body, len, d->media_type, &m, err)) < 0)
                return kerr_prefix(err, r, "manifest %s in '%s'", d->digest, l->path);
        if (m->kind == REGISTRY_MANIFEST_INDEX && nested)
                return kerr_msg(err, KERR_GENERIC, -EOPNOTSUPP, "manifest %s: nested indexes are not supported", d->digest);
        if (m->kind == REGISTRY_MANIFEST_IMAGE && (r = push_blob(c, l, &m->config, err)) < 0)
                return r;
        for (size_t i = 0; i < m->n_descs; i++) {
                r = m->kind == REGISTRY_MANIFEST_IMAGE ? push_blob(c, l, &m->descs[i], err)
                                                      : push_manifest(c, l, &m->descs[i], m->descs[i].digest, true, err);
                if (r < 0)
                        return r;
        }
        return put_manifest(c, reference, m->media_type, body, len, d->digest, err);
}

/* The one image of the layout, or the one whose ref.name is the tag we push. */
static int pick_image(const Layout *l, const RegistryRef *ref, RegistryManifest **ret_index, size_t *ret,
                      KError **err) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_full_file_at(l->dirfd, "index.json", REGISTRY_MANIFEST_MAX, &buf, &len);
        if (r < 0)
                return kerr(err, r, "read '%s/index.json'", l->path);
        _cleanup_(registry_manifest_freep) RegistryManifest *index = NULL;
        if ((r = registry_manifest_parse(buf, len, MEDIA_TYPE_OCI_INDEX, &index, err)) < 0)
                return kerr_prefix(err, r, "'%s/index.json'", l->path);
        if (index->kind != REGISTRY_MANIFEST_INDEX || index->n_descs == 0)
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "'%s/index.json' lists no image", l->path);
        size_t pick = index->n_descs;
        if (index->n_descs == 1)
                pick = 0;
        for (size_t i = 0; pick == index->n_descs && i < index->n_descs; i++)
                if (ref->tag && streq_ptr(index->descs[i].ref_name, ref->tag))
                        pick = i;
        if (pick == index->n_descs)
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT,
                                "'%s' holds %zu images and none is named '%s' (org.opencontainers.image.ref.name)", l->path,
                                index->n_descs, ref->tag ? ref->tag : "");
        *ret = pick;
        *ret_index = TAKE_PTR(index);
        return 0;
}

static int push_layout(RegistryClient *c, const char *dir, KError **err) {
        _cleanup_(layout_close) Layout l = { .dirfd = -1, .blobsfd = -1 };
        int r = layout_open(dir, false, &l, err);
        if (r < 0)
                return r;
        _cleanup_(registry_manifest_freep) RegistryManifest *index = NULL;
        size_t i = 0;
        if ((r = pick_image(&l, &c->ref, &index, &i, err)) < 0)
                return r;
        const RegistryDescriptor *d = &index->descs[i];
        if (c->ref.digest && !streq(c->ref.digest, d->digest))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "the image in '%s' is %s, not %s", dir, d->digest, c->ref.digest);
        if ((r = registry_client_ping(c, err)) < 0)
                return r;
        return push_manifest(c, &l, d, c->ref.tag ? c->ref.tag : c->ref.digest, false, err);
}

int registry_push(const char *dir, const char *ref, const RegistryOptions *opts, KError **err) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        int r = registry_client_new(ref, opts, &c, err);
        if (r >= 0)
                r = push_layout(c, dir, err);
        return r < 0 ? kerr_prefix(err, r, "push %s", ref) : 0;
}
