/* SPDX-License-Identifier: Apache-2.0 */
/* Garbage collection after crashes and removed instances, and the full reset. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net-internal.h"
#include "nft.h"
#include "string-util.h"

static int note(char ***removed, const char *what, const char *name) {
        char *s = NULL;
        if (asprintf(&s, "%s %s", what, name) < 0)
                return -ENOMEM;
        int r = strv_extend(removed, s);
        free(s);
        return r;
}

static bool link_owned(const NetState *s, const char *name) {
        for (size_t i = 0; i < s->n_attach; i++)
                if (streq(s->attach[i].ifname, name))
                        return true;
        for (size_t i = 0; i < s->n_networks; i++)
                if (streq(s->networks[i].bridge, name))
                        return true;
        return false;
}

/* Links this root may delete. Every kernel object is in state.json before it exists (net.h), so
 * what the state names is ours; so is a bridge with our default bridge's name, which carries the
 * root's tag. A veth, tap or bridge shaped like kapsel's that the state does not name may belong to
 * another root in this network namespace and is left alone. Without `all`: ours but not named
 * (crash leftovers); with `all` (reset): every one of ours. */
static int collect_links(NetCtx *ctx, Rtnl *nl, bool all, char ***removed, KError **err) {
        _cleanup_free_ RtnlLink *links = NULL;
        size_t n = 0;
        int r = rtnl_link_list(nl, &links, &n);
        if (r < 0)
                return kerr(err, r, "list links");
        for (size_t i = 0; i < n; i++) {
                const RtnlLink *l = &links[i];
                bool named = link_owned(&ctx->state, l->name);
                bool mine = streq(l->kind, "bridge") && streq(l->name, ctx->default_bridge);
                if (all ? !(named || mine) : (named || !mine))
                        continue;
                r = rtnl_link_del(nl, l->name);
                if (r < 0 && r != -ENODEV)
                        return kerr(err, r, "delete link '%s'", l->name);
                if (note(removed, "link", l->name) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int collect_attachments(NetCtx *ctx, Rtnl *nl, char *const *live, char ***removed, KError **err) {
        NetState *s = &ctx->state;
        for (size_t i = s->n_attach; i-- > 0;) {
                if (strv_contains(live, s->attach[i].instance_id))
                        continue;
                char what[300];
                snprintf(what, sizeof(what), "%s %s (%s)", s->attach[i].instance_id, s->attach[i].network,
                         s->attach[i].ifname);
                int r = ctx_drop_attachment(ctx, nl, i, err);
                if (r < 0)
                        return r;
                if (note(removed, "attachment", what) < 0)
                        return -ENOMEM;
        }
        for (size_t i = s->n_instances; i-- > 0;) {
                if (strv_contains(live, s->instances[i].id))
                        continue;
                if (note(removed, "files", s->instances[i].id) < 0)
                        return -ENOMEM;
                ctx_remove_instance_files(ctx, s->instances[i].id);
                net_instance_done(&s->instances[i]);
                array_remove(s->instances, &s->n_instances, sizeof(NetInstance), i);
        }
        return 0;
}

/* instances/<id> directories without a state entry (a crash between state and files). */
static void collect_instance_dirs(NetCtx *ctx, char ***removed) {
        int fd = openat(ctx->root_fd, "instances", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && !net_state_instance(&ctx->state, de->d_name)) {
                        ctx_remove_instance_files(ctx, de->d_name);
                        (void) note(removed, "files", de->d_name);
                }
        closedir(d);
}

int net_gc(NetCtx *ctx, char *const *live_ids, char ***ret_removed, KError **err) {
        _cleanup_(rtnl_closep) Rtnl *nl = NULL;
        _cleanup_strv_free_ char **removed = NULL;
        int r = ctx_begin(ctx, &nl, err);
        if (r < 0)
                return r;
        r = collect_attachments(ctx, nl, live_ids, &removed, err);
        if (r >= 0)
                r = ctx_save(ctx, err);
        if (r >= 0)
                r = collect_links(ctx, nl, false, &removed, err);
        if (r >= 0)
                collect_instance_dirs(ctx, &removed);
        if (r >= 0)
                r = ctx_apply_rules(ctx, err);
        if (r >= 0)
                r = ctx_refresh_hosts(ctx, err);
        ctx_unlock(ctx);
        if (r >= 0 && ret_removed)
                *ret_removed = removed ? TAKE_PTR(removed) : calloc(1, sizeof(char *));
        return r;
}

int net_reset(NetCtx *ctx, KError **err) {
        _cleanup_(rtnl_closep) Rtnl *nl = NULL;
        _cleanup_strv_free_ char **removed = NULL;
        int r = ctx_begin(ctx, &nl, err);
        if (r < 0)
                return r;
        r = collect_links(ctx, nl, true, &removed, err);
        if (r >= 0)
                r = nft_delete_table(ctx->table, err);
        if (r >= 0) {
                for (size_t i = 0; i < ctx->state.n_instances; i++)
                        ctx_remove_instance_files(ctx, ctx->state.instances[i].id);
                collect_instance_dirs(ctx, &removed);
                net_state_done(&ctx->state);
                r = ctx_save(ctx, err);
        }
        ctx_unlock(ctx);
        return r;
}
