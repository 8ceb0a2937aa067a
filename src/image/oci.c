/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing of image-spec documents: index.md, manifest.md, config.md, descriptor.md. Every field
 * that later names a file (digests) is validated here, so nothing downstream sees a path. */
#include "oci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "digest.h"
#include "json-util.h"
#include "layer.h"
#include "registry-parse.h"
#include "string-util.h"

static int bad(KError **err, const char *what, const char *why) {
        return kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s: %s", what, why);
}

static int dup_str(const json_t *o, const char *key, char **ret) {
        const json_t *v = json_object_get(o, key);
        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return -EBADMSG;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

/* A JSON array of strings -> NULL-terminated vector (NULL for absent/null). */
static int dup_strv(const json_t *o, const char *key, char ***ret) {
        const json_t *v = json_object_get(o, key), *x;
        size_t i;
        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return -EBADMSG;
        _cleanup_strv_free_ char **out = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!out)
                return -ENOMEM;
        json_array_foreach(v, i, x) {
                if (!json_is_string(x))
                        return -EBADMSG;
                if (!(out[i] = strdup(json_string_value(x))))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* {"80/tcp": {}, ...} -> keys (ExposedPorts, Volumes). */
static int dup_keys(const json_t *o, const char *key, char ***ret) {
        const json_t *v = json_object_get(o, key), *x;
        const char *k;
        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return -EBADMSG;
        _cleanup_strv_free_ char **out = NULL;
        json_object_foreach((json_t *) v, k, x)
                if (strv_extend(&out, k) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

void descriptor_done(Descriptor *d) {
        free(d->media_type);
        free(d->digest);
        free(d->os);
        free(d->architecture);
        free(d->variant);
        free(d->ref_name);
        free(d->image_name);
        *d = (Descriptor) {};
}

void oci_index_done(OciIndex *i) {
        for (size_t k = 0; k < i->n; k++)
                descriptor_done(&i->manifests[k]);
        free(i->manifests);
        *i = (OciIndex) {};
}

void oci_manifest_done(OciManifest *m) {
        free(m->media_type);
        descriptor_done(&m->config);
        for (size_t k = 0; k < m->n_layers; k++)
                descriptor_done(&m->layers[k]);
        free(m->layers);
        *m = (OciManifest) {};
}

void image_config_done(ImageConfig *c) {
        strv_free(c->env);
        strv_free(c->entrypoint);
        strv_free(c->cmd);
        free(c->working_dir);
        free(c->user);
        strv_free(c->exposed_ports);
        strv_free(c->volumes);
        free(c->stop_signal);
        *c = (ImageConfig) {};
}

void oci_config_done(OciConfig *c) {
        free(c->os);
        free(c->architecture);
        free(c->created);
        strv_free(c->diff_ids);
        image_config_done(&c->config);
        *c = (OciConfig) {};
}

static int copy_str(const char *s, char **ret) {
        *ret = s ? strdup(s) : NULL;
        return s && !*ret ? -ENOMEM : 0;
}

int image_config_copy(const ImageConfig *from, ImageConfig *to) {
        ImageConfig c = {};
        int r = 0;
        if (strv_copy(from->env, &c.env) < 0 || strv_copy(from->entrypoint, &c.entrypoint) < 0 ||
            strv_copy(from->cmd, &c.cmd) < 0 || strv_copy(from->exposed_ports, &c.exposed_ports) < 0 ||
            strv_copy(from->volumes, &c.volumes) < 0 || copy_str(from->working_dir, &c.working_dir) < 0 ||
            copy_str(from->user, &c.user) < 0 || copy_str(from->stop_signal, &c.stop_signal) < 0)
                r = -ENOMEM;
        if (r < 0) {
                image_config_done(&c);
                return r;
        }
        *to = c;
        return 0;
}

int oci_json_load(const char *text, size_t len, const char *what, json_t **ret, KError **err) {
        if (len > OCI_JSON_MAX)
                return bad(err, what, "document too large");
        json_error_t je;
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "%s: invalid JSON at line %d: %s", what, je.line, je.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return bad(err, what, "not a JSON object");
        }
        *ret = j;
        return 0;
}

static int descriptor_parse(const json_t *j, const char *what, Descriptor *ret, KError **err) {
        Descriptor d = {};
        const json_t *size = json_object_get(j, "size"), *plat = json_object_get(j, "platform");
        const json_t *ann = json_object_get(j, "annotations");
        int r = json_is_object(j) ? 0 : -EBADMSG;
        if (r >= 0)
                r = dup_str(j, "mediaType", &d.media_type);
        if (r >= 0)
                r = dup_str(j, "digest", &d.digest);
        if (r >= 0 && json_is_object(plat)) {
                r = dup_str(plat, "os", &d.os);
                if (r >= 0)
                        r = dup_str(plat, "architecture", &d.architecture);
                if (r >= 0)
                        r = dup_str(plat, "variant", &d.variant);
        }
        if (r >= 0 && json_is_object(ann)) {
                r = dup_str(ann, ANNOTATION_REF_NAME, &d.ref_name);
                if (r >= 0)
                        r = dup_str(ann, ANNOTATION_IMAGE_NAME, &d.image_name);
        }
        if (r == -ENOMEM) {
                descriptor_done(&d);
                return kerr(err, r, "%s", what);
        }
        if (r >= 0 && (!d.digest || digest_parse(d.digest, NULL) < 0))
                r = d.digest && digest_parse(d.digest, NULL) == -EOPNOTSUPP ? -EOPNOTSUPP : -EBADMSG;
        if (r >= 0 && (!json_is_integer(size) || json_integer_value(size) < 0))
                r = -EBADMSG;
        if (r < 0) {
                descriptor_done(&d);
                return bad(err, what, r == -EOPNOTSUPP ? "only sha256 digests are supported"
                                                       : "invalid descriptor (mediaType, digest sha256:<hex>, size)");
        }
        d.size = json_integer_value(size);
        *ret = d;
        return 0;
}

static int descriptors_parse(const json_t *a, const char *what, Descriptor **ret, size_t *ret_n, KError **err) {
        if (!json_is_array(a))
                return bad(err, what, "missing descriptor array");
        size_t n = json_array_size(a), i;
        Descriptor *out = calloc(n + 1, sizeof(Descriptor));
        if (!out)
                return kerr(err, -ENOMEM, "%s", what);
        const json_t *x;
        json_array_foreach(a, i, x) {
                int r = descriptor_parse(x, what, &out[i], err);
                if (r < 0) {
                        for (size_t k = 0; k < i; k++)
                                descriptor_done(&out[k]);
                        free(out);
                        return r;
                }
        }
        *ret = out;
        *ret_n = n;
        return 0;
}

int oci_kind(const json_t *j, const char *what, OciKind *ret, KError **err) {
        const char *mt = json_string_value(json_object_get(j, "mediaType"));
        if (mt && (streq(mt, MT_OCI_INDEX) || streq(mt, MT_DOCKER_LIST)))
                *ret = OCI_KIND_INDEX;
        else if (mt && (streq(mt, MT_OCI_MANIFEST) || streq(mt, MT_DOCKER_MANIFEST)))
                *ret = OCI_KIND_MANIFEST;
        else if (!mt && json_is_array(json_object_get(j, "manifests")))
                *ret = OCI_KIND_INDEX;
        else if (!mt && json_is_array(json_object_get(j, "layers")))
                *ret = OCI_KIND_MANIFEST;
        else
                return kerr_msg(err, KERR_CONFIG, -EMEDIUMTYPE, "%s: unsupported document type '%s'", what,
                                mt ? mt : "(none)");
        return 0;
}

static int check_schema(const json_t *j, const char *what, KError **err) {
        const json_t *v = json_object_get(j, "schemaVersion");
        if (!json_is_integer(v) || json_integer_value(v) != 2)
                return bad(err, what, "schemaVersion must be 2");
        return 0;
}

int oci_index_parse(const json_t *j, const char *what, OciIndex *ret, KError **err) {
        *ret = (OciIndex) {};
        int r = check_schema(j, what, err);
        if (r < 0)
                return r;
        return descriptors_parse(json_object_get(j, "manifests"), what, &ret->manifests, &ret->n, err);
}

static bool is_layer_type(const char *mt) {
        return !mt || strstr(mt, ".tar") || strstr(mt, "rootfs.diff") || strstr(mt, "layer.v1");
}

int oci_manifest_parse(const json_t *j, const char *what, OciManifest *ret, KError **err) {
        OciManifest m = {};
        int r = check_schema(j, what, err);
        if (r >= 0 && dup_str(j, "mediaType", &m.media_type) == -ENOMEM)
                r = kerr(err, -ENOMEM, "%s", what);
        if (r >= 0)
                r = descriptor_parse(json_object_get(j, "config"), what, &m.config, err);
        if (r >= 0)
                r = descriptors_parse(json_object_get(j, "layers"), what, &m.layers, &m.n_layers, err);
        for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
                if (!is_layer_type(m.layers[i].media_type))
                        r = kerr_msg(err, KERR_CONFIG, -EMEDIUMTYPE, "%s: layer %zu has unsupported media type '%s'",
                                     what, i, m.layers[i].media_type);
        if (r < 0) {
                oci_manifest_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

static int config_fields(const json_t *c, ImageConfig *out) {
        int r = 0;
        if (!c || json_is_null(c))
                return 0;
        if (!json_is_object(c))
                return -EBADMSG;
        if ((r = dup_strv(c, "Env", &out->env)) < 0 || (r = dup_strv(c, "Entrypoint", &out->entrypoint)) < 0 ||
            (r = dup_strv(c, "Cmd", &out->cmd)) < 0 || (r = dup_str(c, "WorkingDir", &out->working_dir)) < 0 ||
            (r = dup_str(c, "User", &out->user)) < 0 || (r = dup_keys(c, "ExposedPorts", &out->exposed_ports)) < 0 ||
            (r = dup_keys(c, "Volumes", &out->volumes)) < 0 || (r = dup_str(c, "StopSignal", &out->stop_signal)) < 0)
                return r;
        return 0;
}

int oci_config_parse(const json_t *j, const char *what, OciConfig *ret, KError **err) {
        OciConfig c = {};
        const json_t *rootfs = json_object_get(j, "rootfs");
        int r = dup_str(j, "os", &c.os);
        if (r >= 0)
                r = dup_str(j, "architecture", &c.architecture);
        if (r >= 0)
                r = dup_str(j, "created", &c.created);
        if (r >= 0)
                r = config_fields(json_object_get(j, "config"), &c.config);
        if (r >= 0)
                r = json_is_object(rootfs) ? dup_strv(rootfs, "diff_ids", &c.diff_ids) : -EBADMSG;
        if (r >= 0 && !c.diff_ids)
                r = -EBADMSG;
        c.n_diff_ids = strv_length(c.diff_ids);
        for (size_t i = 0; r >= 0 && i < c.n_diff_ids; i++)
                if (!digest_is_valid(c.diff_ids[i]))
                        r = -EBADMSG;
        if (r < 0) {
                oci_config_done(&c);
                return r == -ENOMEM ? kerr(err, r, "%s", what)
                                    : bad(err, what, "invalid image config (rootfs.diff_ids, config fields)");
        }
        *ret = c;
        return 0;
}

static int set_strv(json_t *o, const char *key, char *const *v) {
        return v ? json_object_set_new(o, key, json_from_strv(v)) : 0;
}

static int set_keys(json_t *o, const char *key, char *const *v) {
        if (!v)
                return 0;
        json_t *m = json_object();
        for (size_t i = 0; m && v[i]; i++)
                json_object_set_new(m, v[i], json_object());
        return json_object_set_new(o, key, m);
}

static int set_str(json_t *o, const char *key, const char *s) {
        return s ? json_object_set_new(o, key, json_string(s)) : 0;
}

json_t *image_config_to_json(const ImageConfig *c) {
        json_t *o = json_object();
        if (!o)
                return NULL;
        if (set_str(o, "User", c->user) < 0 || set_keys(o, "ExposedPorts", c->exposed_ports) < 0 ||
            set_strv(o, "Env", c->env) < 0 || set_strv(o, "Entrypoint", c->entrypoint) < 0 ||
            set_strv(o, "Cmd", c->cmd) < 0 || set_keys(o, "Volumes", c->volumes) < 0 ||
            set_str(o, "WorkingDir", c->working_dir) < 0 || set_str(o, "StopSignal", c->stop_signal) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

const char *oci_host_arch(const char **ret_variant) {
        struct utsname u;
        const char *arch = "amd64", *variant = NULL;
        /* the registry client's table of uname machines (registry-parse.c) */
        if (uname(&u) < 0 || registry_platform_for_machine(u.machine, &arch, &variant) < 0) {
                arch = "amd64";
                variant = NULL;
        }
        if (ret_variant)
                *ret_variant = variant;
        return arch;
}

static bool platform_matches(const Descriptor *d, const char *arch) {
        if (!d->os && !d->architecture)
                return true;
        return streq_ptr(d->os, "linux") && streq_ptr(d->architecture, arch);
}

int oci_index_select(const OciIndex *idx, const char *ref, const char *arch, const char *what, size_t *ret,
                     KError **err) {
        const char *variant = NULL;
        if (!arch)
                arch = oci_host_arch(&variant);
        ssize_t best = -1;
        for (size_t i = 0; i < idx->n; i++) {
                const Descriptor *d = &idx->manifests[i];
                if (ref && !streq_ptr(d->ref_name, ref) && !streq_ptr(d->image_name, ref))
                        continue;
                if (!platform_matches(d, arch))
                        continue;
                /* An exact variant wins over an entry without one (arm64/v8 vs arm64). */
                if (best < 0 || (variant && streq_ptr(d->variant, variant)))
                        best = (ssize_t) i;
        }
        if (best >= 0) {
                *ret = (size_t) best;
                return 0;
        }
        if (ref)
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "%s: no image named '%s' for linux/%s", what, ref, arch);
        return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "%s: no image for linux/%s (%zu entries)", what, arch, idx->n);
}

const char *oci_layer_media_type(int compression) {
        switch (compression) {
        case LAYER_COMPRESSION_GZIP:
                return MT_OCI_LAYER_GZIP;
        case LAYER_COMPRESSION_ZSTD:
                return MT_OCI_LAYER_ZSTD;
        default:
                return MT_OCI_LAYER;
        }
}
