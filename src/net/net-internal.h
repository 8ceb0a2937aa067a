/* SPDX-License-Identifier: Apache-2.0 */
/* What net.c (context, networks, gc) and net-attach.c (attachments, files) share. */
#pragma once

#include "net-state.h"
#include "net.h"
#include "netlink.h"

struct NetCtx {
        char *root;
        int root_fd;
        int lock_fd;
        char *host_resolv;
        NetState state;         /* valid between ctx_lock() and ctx_unlock() */
        /* Kernel names of this root (net_root_names): several roots may share a network namespace,
         * so each has its own nftables table and default bridge. */
        char table[32];
        char default_bridge[16];
};

/* Take the flock and load state.json into ctx->state. */
int ctx_lock(NetCtx *ctx, KError **err);
/* rtnl_open() then ctx_lock(): the prologue of every call that changes kernel objects. */
int ctx_begin(NetCtx *ctx, Rtnl **ret_nl, KError **err);
/* Drop the in-memory state and the flock. */
void ctx_unlock(NetCtx *ctx);
/* Write ctx->state atomically. */
int ctx_save(NetCtx *ctx, KError **err);
/* Create the default network in state when missing (and save). */
int ctx_ensure_default(NetCtx *ctx, KError **err);
/* Rebuild `table ip kapsel` from ctx->state. */
int ctx_apply_rules(NetCtx *ctx, KError **err);
/* Rewrite the hosts file of every instance that has generated files. */
int ctx_refresh_hosts(NetCtx *ctx, KError **err);
/* Delete the kernel link of attachment i and drop it from state (not saved). */
int ctx_drop_attachment(NetCtx *ctx, Rtnl *nl, size_t i, KError **err);
/* Remove <root>/instances/<id> and its files. */
void ctx_remove_instance_files(NetCtx *ctx, const char *id);

/* Test hook: when $KAPSEL_NET_CRASH_AT equals `point`, die with SIGKILL (a kill -9 at that step). */
void crash_point(const char *point);
