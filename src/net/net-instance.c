/* SPDX-License-Identifier: Apache-2.0 */
/* Per-instance generated files under <root>/instances/<id>/ (see net.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "net-files.h"
#include "net-internal.h"
#include "string-util.h"

void net_files_done(NetFiles *f) {
        free(f->hosts);
        free(f->resolv_conf);
        free(f->hostname);
        *f = (NetFiles) {};
}

static char *instance_path(NetCtx *ctx, const char *id, const char *name) {
        char *p = NULL;
        if (asprintf(&p, "%s/instances/%s%s%s", ctx->root, id, name ? "/" : "", name ? name : "") < 0)
                return NULL;
        return p;
}

static int ensure_instance_dir(NetCtx *ctx, const char *id) {
        if (mkdirat(ctx->root_fd, "instances", 0755) < 0 && errno != EEXIST)
                return -errno;
        char rel[300];
        snprintf(rel, sizeof(rel), "instances/%s", id);
        if (mkdirat(ctx->root_fd, rel, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int write_instance_file(NetCtx *ctx, const char *id, const char *name, const char *text, KError **err) {
        _cleanup_free_ char *p = instance_path(ctx, id, name);
        if (!p || !text)
                return -ENOMEM;
        int r = file_write_in_place(p, text);
        return r < 0 ? kerr(err, r, "write '%s'", p) : 0;
}

static int write_hosts(NetCtx *ctx, const NetInstance *inst, KError **err) {
        int r = ensure_instance_dir(ctx, inst->id);
        if (r < 0)
                return kerr(err, r, "create '%s/instances/%s'", ctx->root, inst->id);
        _cleanup_free_ char *hosts = net_hosts_render(&ctx->state, inst, inst->id);
        return write_instance_file(ctx, inst->id, "hosts", hosts, err);
}

int ctx_refresh_hosts(NetCtx *ctx, KError **err) {
        int r = 0;
        for (size_t i = 0; i < ctx->state.n_instances; i++) {
                int k = write_hosts(ctx, &ctx->state.instances[i], err);
                if (k < 0 && r >= 0)
                        r = k;
        }
        return r;
}

static int instance_set(NetInstance *i, const char *id, const NetFilesOpts *o) {
        net_instance_done(i);
        if (!(i->id = strdup(id)) || (o->hostname && !(i->hostname = strdup(o->hostname))) ||
            strv_copy(o->dns, &i->dns) < 0 || strv_copy(o->dns_search, &i->dns_search) < 0 ||
            strv_copy(o->dns_options, &i->dns_options) < 0 || strv_copy(o->extra_hosts, &i->extra_hosts) < 0)
                return -ENOMEM;
        return 0;
}

static int validate_files_opts(const char *id, const NetFilesOpts *o, KError **err) {
        if (!id || !net_name_valid(id))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid instance id '%s'", id ? id : "");
        if (o->hostname && (!*o->hostname || strlen(o->hostname) > 64 || strpbrk(o->hostname, " \t\n/")))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid hostname '%s'", o->hostname);
        for (size_t i = 0; o->extra_hosts && o->extra_hosts[i]; i++) {
                const char *h = o->extra_hosts[i], *colon = strchr(h, ':');
                uint32_t ip;
                if (!colon || colon == h || strpbrk(h, " \t\n") || ip4_parse(colon + 1, &ip) < 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid --add-host '%s': expected name:a.b.c.d", h);
        }
        for (size_t i = 0; o->dns && o->dns[i]; i++) {
                uint32_t ip;
                if (ip4_parse(o->dns[i], &ip) < 0)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid --dns '%s': expected a.b.c.d", o->dns[i]);
        }
        return 0;
}

static int write_all_files(NetCtx *ctx, const NetInstance *inst, KError **err) {
        _cleanup_free_ char *host_text = NULL, *resolv = NULL, *hostname = NULL;
        int r = read_full_file_at(AT_FDCWD, ctx->host_resolv, 1 << 20, &host_text, NULL);
        if (r < 0 && r != -ENOENT)
                return kerr(err, r, "read '%s'", ctx->host_resolv);
        resolv = net_resolv_render(host_text, inst);
        hostname = net_hostname_render(inst, inst->id);
        r = write_hosts(ctx, inst, err);
        if (r >= 0)
                r = write_instance_file(ctx, inst->id, "resolv.conf", resolv, err);
        if (r >= 0)
                r = write_instance_file(ctx, inst->id, "hostname", hostname, err);
        return r;
}

int net_files_setup(NetCtx *ctx, const char *instance_id, const NetFilesOpts *opts, NetFiles *ret, KError **err) {
        static const NetFilesOpts none = {};
        opts = opts ? opts : &none;
        int r = validate_files_opts(instance_id, opts, err);
        if (r < 0)
                return r;
        r = ctx_lock(ctx, err);
        if (r < 0)
                return r;
        NetState *s = &ctx->state;
        NetInstance *inst = net_state_instance(s, instance_id);
        if (!inst) {
                NetInstance *v = reallocarray(s->instances, s->n_instances + 1, sizeof(NetInstance));
                if (v) {
                        s->instances = v;
                        inst = &v[s->n_instances++];
                        *inst = (NetInstance) {};
                }
        }
        r = inst ? instance_set(inst, instance_id, opts) : -ENOMEM;
        if (r >= 0)
                r = ctx_save(ctx, err);
        if (r >= 0)
                r = write_all_files(ctx, inst, err);
        ctx_unlock(ctx);
        if (r >= 0 && ret) {
                *ret = (NetFiles) {
                        .hosts = instance_path(ctx, instance_id, "hosts"),
                        .resolv_conf = instance_path(ctx, instance_id, "resolv.conf"),
                        .hostname = instance_path(ctx, instance_id, "hostname"),
                };
                if (!ret->hosts || !ret->resolv_conf || !ret->hostname) {
                        net_files_done(ret);
                        r = -ENOMEM;
                }
        }
        return r;
}
