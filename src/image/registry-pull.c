/* SPDX-License-Identifier: Apache-2.0 */
/* registry_pull(): distribution spec "Pulling manifests" / "Pulling blobs" into an OCI layout.
 * The manifest (and, for an index, the platform's manifest) is fetched and verified in memory
 * before the directory is touched; each blob streams into a staging file while it is hashed and
 * gets its name only after digest and size match its descriptor. Blobs already present and intact
 * are skipped, so a failed pull resumes where it stopped. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "cleanup.h"
#include "registry-client.h"
#include "registry-layout.h"
#include "registry.h"
#include "string-util.h"

/* Without the OCI types distribution answers an OCI-only tag with 404 (TESTING.md). */
static const char manifest_accept[] = MEDIA_TYPE_OCI_MANIFEST ", " MEDIA_TYPE_OCI_INDEX ", " MEDIA_TYPE_DOCKER_MANIFEST
        ", " MEDIA_TYPE_DOCKER_LIST;

typedef struct FetchedManifest {
        char *body;
        size_t len;
        char digest[REGISTRY_DIGEST_LEN + 1];
        RegistryManifest *m;
} FetchedManifest;

static void fetched_done(FetchedManifest *f) {
        free(f->body);
        registry_manifest_free(f->m);
        *f = (FetchedManifest) {};
}

/* GET a manifest; `want` (a descriptor, or NULL for a tag) says which digest and size it must have. */
static int fetch_manifest(RegistryClient *c, const char *reference, const RegistryDescriptor *want,
                          FetchedManifest *ret, KError **err) {
        HttpRequest req = HTTP_REQUEST_INIT;
        req.method = "GET";
        req.accept = manifest_accept;
        req.max_body = REGISTRY_MANIFEST_MAX;
        _cleanup_free_ char *url = NULL;
        _cleanup_(http_response_done) HttpResponse resp = {};
        int r = registry_client_call(c, &req, "manifests", reference, "pull", 200, &url, &resp, err);
        if (r < 0)
                return r;
        char digest[REGISTRY_DIGEST_LEN + 1];
        const char *expect = want ? want->digest : registry_digest_valid(reference) ? reference : NULL;
        r = digest_buffer_matches(resp.body ? resp.body : "", resp.body_len, expect, digest);
        if (r == -EBADMSG)
                return kerr_msg(err, KERR_GENERIC, r, "manifest digest mismatch: expected %s, got %s from %s", expect,
                                digest, url);
        if (r < 0)
                return kerr(err, r, "hash manifest");
        if (want && want->size != resp.body_len)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "manifest %s: %zu bytes from %s, its descriptor says %" PRIu64,
                                digest, resp.body_len, url, want->size);
        if (resp.docker_content_digest && registry_digest_valid(resp.docker_content_digest) &&
            !streq(resp.docker_content_digest, digest))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "manifest from %s hashes to %s, the registry says %s", url,
                                digest, resp.docker_content_digest);
        if ((r = registry_manifest_parse(resp.body, resp.body_len, resp.content_type, &ret->m, err)) < 0)
                return kerr_prefix(err, r, "%s", url);
        ret->body = TAKE_PTR(resp.body);
        ret->len = resp.body_len;
        memcpy(ret->digest, digest, sizeof(digest));
        return 0;
}

static int host_platform(const RegistryOptions *o, RegistryPlatform *ret, KError **err) {
        const char *arch = o ? o->architecture : NULL, *variant = o ? o->variant : NULL;
        if (!arch) {
                struct utsname u;
                if (uname(&u) < 0)
                        return kerr(err, -errno, "uname");
                if (registry_platform_for_machine(u.machine, &arch, &variant) < 0)
                        return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP, "unknown host machine '%s': pass a platform",
                                        u.machine);
        }
        *ret = (RegistryPlatform) { .os = (char *) (o && o->os ? o->os : "linux"), .architecture = (char *) arch,
                                    .variant = (char *) variant };
        return 0;
}

static void platform_done(RegistryPlatform *p) {
        free(p->os);
        free(p->architecture);
        free(p->variant);
        *p = (RegistryPlatform) {};
}

static int platform_copy(const RegistryPlatform *p, RegistryPlatform *ret) {
        *ret = (RegistryPlatform) { .os = strdup(p->os), .architecture = strdup(p->architecture),
                                    .variant = p->variant ? strdup(p->variant) : NULL };
        if (!ret->os || !ret->architecture || (p->variant && !ret->variant)) {
                platform_done(ret);
                return -ENOMEM;
        }
        return 0;
}

/* The image manifest a reference resolves to, and the platform it was chosen for (from an index). */
typedef struct PullTarget {
        FetchedManifest image;
        bool has_platform;
        RegistryPlatform platform;
} PullTarget;

static void pull_target_done(PullTarget *t) {
        fetched_done(&t->image);
        platform_done(&t->platform);
}

/* Resolve the reference to one image manifest: through the index when it is one. */
static int resolve_image(RegistryClient *c, const RegistryOptions *opts, PullTarget *ret, KError **err) {
        _cleanup_(fetched_done) FetchedManifest top = {};
        int r = fetch_manifest(c, registry_ref_reference(&c->ref), NULL, &top, err);
        if (r < 0)
                return r;
        if (top.m->kind == REGISTRY_MANIFEST_IMAGE) {
                ret->image = top;
                top = (FetchedManifest) {};
                return 0;
        }
        RegistryPlatform want;
        size_t i = 0;
        if ((r = host_platform(opts, &want, err)) < 0 || (r = registry_index_select(top.m, &want, &i, err)) < 0)
                return r;
        const RegistryDescriptor *d = &top.m->descs[i];
        if ((r = fetch_manifest(c, d->digest, d, &ret->image, err)) < 0)
                return r;
        if (ret->image.m->kind != REGISTRY_MANIFEST_IMAGE)
                return kerr_msg(err, KERR_GENERIC, -EOPNOTSUPP,
                                "manifest %s for %s/%s is itself an index (nested indexes are not supported)", d->digest,
                                want.os, want.architecture);
        if (platform_copy(&d->platform, &ret->platform) < 0)
                return kerr(err, -ENOMEM, "pull");
        ret->has_platform = true;
        return 0;
}

/* GET one blob into the layout unless it is there already. */
static int fetch_blob(RegistryClient *c, const Layout *l, const RegistryDescriptor *d, KError **err) {
        int r = layout_blob_present(l, d->digest, d->size);
        if (r != 0)
                return r < 0 ? kerr(err, r, "blob %s", d->digest) : 0;
        _cleanup_(layout_tmp_done) LayoutTmp tmp = { .fd = -1 };
        if ((r = layout_tmp_open(l, &tmp, err)) < 0)
                return r;
        char label[32];
        snprintf(label, sizeof(label), "%.19s", d->digest + STRLEN("sha256:"));
        HttpRequest req = HTTP_REQUEST_INIT;
        req.method = "GET";
        req.sink_fd = tmp.fd;
        req.max_body = d->size;         /* a byte more aborts the transfer */
        req.follow_redirects = true;    /* registries hand blobs out from elsewhere (S3, CDN) */
        req.progress_label = c->progress ? label : NULL;
        _cleanup_free_ char *url = NULL;
        _cleanup_(http_response_done) HttpResponse resp = {};
        if ((r = registry_client_call(c, &req, "blobs", d->digest, "pull", 200, &url, &resp, err)) < 0)
                return kerr_prefix(err, r, "blob %s", d->digest);
        if (resp.sunk != d->size)
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "blob %s: got %" PRIu64 " bytes from %s, its descriptor says %" PRIu64,
                                d->digest, resp.sunk, url, d->size);
        if (!streq(resp.sink_digest, d->digest))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "blob %s: digest mismatch, the content from %s hashes to %s",
                                d->digest, url, resp.sink_digest);
        return layout_tmp_commit(&tmp, d->digest, err);
}

static int pull_into(RegistryClient *c, const PullTarget *t, const char *dir, KError **err) {
        const RegistryManifest *m = t->image.m;
        _cleanup_(layout_close) Layout l = { .dirfd = -1, .blobsfd = -1 };
        int r = layout_open(dir, true, &l, err);
        if (r < 0)
                return r;
        if ((r = fetch_blob(c, &l, &m->config, err)) < 0)
                return r;
        for (size_t i = 0; i < m->n_descs; i++)
                if ((r = fetch_blob(c, &l, &m->descs[i], err)) < 0)
                        return r;
        /* the manifest last: a layout never names an image whose blobs are missing */
        if ((r = layout_blob_write(&l, t->image.digest, t->image.body, t->image.len, err)) < 0)
                return r;
        RegistryDescriptor desc = {
                .media_type = m->media_type, .digest = (char *) t->image.digest, .size = t->image.len,
                .has_platform = t->has_platform, .platform = t->platform,
        };
        return layout_write_index(&l, &desc, c->ref.tag ? c->ref.tag : c->ref.digest, err);
}

int registry_pull(const char *ref, const RegistryOptions *opts, const char *dir, KError **err) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        int r = registry_client_new(ref, opts, &c, err);
        if (r < 0)
                return r;
        _cleanup_(pull_target_done) PullTarget t = {};
        if ((r = registry_client_ping(c, err)) < 0 || (r = resolve_image(c, opts, &t, err)) < 0 ||
            (r = pull_into(c, &t, dir, err)) < 0)
                return kerr_prefix(err, r, "pull %s", ref);
        return 0;
}
