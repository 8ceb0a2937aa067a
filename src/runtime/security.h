/* SPDX-License-Identifier: Apache-2.0 */
/* Process-level confinement applied by the container's init right before execve():
 * rlimits, capabilities, no_new_privs, seccomp, personality, OOM score, sysctl. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "spec.h"

/* setrlimit() each; a host refusal (EPERM: a hard limit above what this host allows) is a
 * KERR_HOST error naming the limit, the asked value and the host's current hard limit. */
int rlimits_apply(const SpecRlimit *rl, size_t n, KError **err);

/* Drop every capability not in caps->bounding from the bounding set (PR_CAPBSET_DROP). */
int caps_apply_bounding(const SpecCaps *caps, KError **err);
/* Set effective/permitted/inheritable (capset v3) and raise the ambient set. Called after
 * the uid/gid switch (with PR_SET_KEEPCAPS set before it). */
int caps_apply_sets(const SpecCaps *caps, KError **err);

/* Build a libseccomp filter from the spec and export it as a classic-BPF program
 * (struct sock_filter[]) in *ret / *ret_len bytes. Pure: no filter is loaded. Errors are
 * KERR_CONFIG naming the rule ("linux.seccomp.syscalls[3]: unknown syscall 'foo'"): unknown
 * syscall names are skipped with a debug log as runc does, unknown arches/actions/flags fail. */
int seccomp_compile(const SpecSeccomp *s, void **ret, size_t *ret_len, KError **err);
/* Compile and load the filter for the calling thread (process). */
int seccomp_apply(const SpecSeccomp *s, KError **err);

/* SCMP_ACT_NOTIFY: the agent at linux.seccomp.listenerPath gets the notify fd. */
typedef struct SeccompAgent {
        int fd;                         /* connected to listenerPath (seccomp_listener_connect) */
        const char *state_json;         /* the container's state, for the agent's message */
        pid_t pid;                      /* the process, as the runtime sees it */
} SeccompAgent;
/* Does the filter notify any syscall (so an agent must be connected)? */
bool seccomp_wants_listener(const SpecSeccomp *s);
/* Connect to the agent from the host's mount namespace: *ret_fd is the socket, or -1 when the
 * filter notifies nothing. Negative errno: "failed to connect with seccomp agent ...". */
int seccomp_listener_connect(const SpecSeccomp *s, int *ret_fd, KError **err);
/* seccomp_apply, then (with NOTIFY rules) send the notify fd and state to agent->fd. */
int seccomp_apply_notify(const SpecSeccomp *s, const SeccompAgent *agent, KError **err);

int personality_apply(unsigned long persona, KError **err);
int oom_score_adj_apply(int adj, KError **err);

/* Write one sysctl inside the container: `procfd` is an fd of the container's /proc (verified
 * to be procfs); the key ("net.ipv4.ip_forward" or "net/ipv4/ip_forward") is resolved beneath
 * procfd/sys with no symlinks, the target verified to be on procfs, then written. */
int sysctl_apply(int procfd, const char *key, const char *value, KError **err);
/* Pure check of a key against the namespaces the container has (runc's rules: kernel.msg*,
 * kernel.sem, kernel.shm*, fs.mqueue.* need ipc; net.* needs network; kernel.hostname and
 * kernel.domainname need uts). KERR_CONFIG error otherwise. */
int sysctl_validate(const char *key, bool has_ipc, bool has_net, bool has_uts, KError **err);
