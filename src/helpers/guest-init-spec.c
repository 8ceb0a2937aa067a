/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-guest-init: process specs for `kapsel exec` (vm-agent.h). Pure (no syscalls), so the
 * unit tests link it on the host: the env merge and how a request overrides the container's
 * process. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest-init.h"
#include "string-util.h"

/* Length of the key of "K=V" (the whole string when there is no '='). */
static size_t env_key_len(const char *e) {
        const char *eq = strchr(e, '=');
        return eq ? (size_t) (eq - e) : strlen(e);
}

static char **env_find(char **v, const char *e) {
        size_t k = env_key_len(e);
        for (; v && *v; v++)
                if (env_key_len(*v) == k && strncmp(*v, e, k) == 0)
                        return v;
        return NULL;
}

int guest_env_merge(char *const *base, char *const *over, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        int r = strv_copy(base, &v);
        if (r < 0)
                return r;
        if (!v && !(v = calloc(1, sizeof(char *))))
                return -ENOMEM;
        for (; over && *over; over++) {
                char **slot = env_find(v, *over);
                if (!slot) {
                        if ((r = strv_extend(&v, *over)) < 0)
                                return r;
                        continue;
                }
                char *c = strdup(*over);
                if (!c)
                        return -ENOMEM;
                free(*slot);
                *slot = c;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int guest_spec_for_exec(const ProcSpec *def, const VmAgentExec *x, ProcSpec *ret) {
        ProcSpec p = *def;
        p.args = p.env = NULL;
        p.cwd = x->cwd ? x->cwd : def->cwd;
        p.terminal = x->tty;
        if (x->has_user) {
                p.uid = x->uid;
                p.gid = x->gid;
                p.n_gids = x->n_gids < GUEST_MAX_GIDS ? x->n_gids : GUEST_MAX_GIDS;
                memcpy(p.gids, x->gids, p.n_gids * sizeof(gid_t));
        }
        int r = strv_copy(x->args, &p.args);
        if (r >= 0)
                r = guest_env_merge(def->env, x->env, &p.env);
        if (r < 0 || !p.args) {
                guest_spec_done(&p);
                return r < 0 ? r : -EINVAL;
        }
        *ret = p;
        return 0;
}

void guest_spec_done(ProcSpec *p) {
        strv_free(p->args);
        strv_free(p->env);
        p->args = p->env = NULL;
}
