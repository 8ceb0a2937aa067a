/* SPDX-License-Identifier: Apache-2.0 */
/* linux.seccomp -> a libseccomp filter (config-linux.md "Seccomp").
 *
 * Semantics follow runc so profiles written for it (docker's default) behave the same:
 * unknown syscall names are skipped (a profile lists syscalls of many kernels), rules whose
 * action equals the default are dropped (libseccomp refuses them), and several conditions on
 * the same argument index become separate rules (OR) while distinct indices combine (AND). */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "log.h"
#include "security.h"
#include "string-util.h"

static void seccomp_releasep(scmp_filter_ctx *ctx) {
        if (*ctx)
                seccomp_release(*ctx);
}

/* The kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO; anything above is not an errno. */
#define SECCOMP_MAX_ERRNO 4095

static const char *const action_names[_SECCOMP_ACT_MAX] = {
        [SECCOMP_ACT_KILL] = "SCMP_ACT_KILL",           [SECCOMP_ACT_KILL_PROCESS] = "SCMP_ACT_KILL_PROCESS",
        [SECCOMP_ACT_KILL_THREAD] = "SCMP_ACT_KILL_THREAD", [SECCOMP_ACT_TRAP] = "SCMP_ACT_TRAP",
        [SECCOMP_ACT_ERRNO] = "SCMP_ACT_ERRNO",         [SECCOMP_ACT_TRACE] = "SCMP_ACT_TRACE",
        [SECCOMP_ACT_ALLOW] = "SCMP_ACT_ALLOW",         [SECCOMP_ACT_LOG] = "SCMP_ACT_LOG",
        [SECCOMP_ACT_NOTIFY] = "SCMP_ACT_NOTIFY",
};

/* `field` names the JSON object in messages ("linux.seccomp.syscalls[3]"); `act_key` and
 * `errno_key` the members ("action"/"defaultAction", "errnoRet"/"defaultErrnoRet"). */
static int action_value(SpecSeccompAction a, bool has_errno, unsigned errno_ret, const char *field,
                        const char *act_key, const char *errno_key, uint32_t *ret, KError **err) {
        if (has_errno && errno_ret > SECCOMP_MAX_ERRNO)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s.%s: %u is not an errno (0..%d)", field, errno_key,
                                errno_ret, SECCOMP_MAX_ERRNO);
        /* errnoRet is meaningful for SCMP_ACT_ERRNO and SCMP_ACT_TRACE only (runc rejects it elsewhere). */
        if (has_errno && a != SECCOMP_ACT_ERRNO && a != SECCOMP_ACT_TRACE)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s.%s: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, "
                                "not %s", field, errno_key, (unsigned) a < _SECCOMP_ACT_MAX ? action_names[a] : "?");
        switch (a) {
        case SECCOMP_ACT_KILL:
        case SECCOMP_ACT_KILL_THREAD:  *ret = SCMP_ACT_KILL_THREAD; return 0;
        case SECCOMP_ACT_KILL_PROCESS: *ret = SCMP_ACT_KILL_PROCESS; return 0;
        case SECCOMP_ACT_TRAP:         *ret = SCMP_ACT_TRAP; return 0;
        case SECCOMP_ACT_ERRNO:        *ret = SCMP_ACT_ERRNO(has_errno ? errno_ret : EPERM); return 0;
        case SECCOMP_ACT_TRACE:        *ret = SCMP_ACT_TRACE(has_errno ? errno_ret : EPERM); return 0;
        case SECCOMP_ACT_ALLOW:        *ret = SCMP_ACT_ALLOW; return 0;
        case SECCOMP_ACT_LOG:          *ret = SCMP_ACT_LOG; return 0;
        case SECCOMP_ACT_NOTIFY:
                /* User notification hands the syscalls to the agent at linux.seccomp.listenerPath
                 * (seccomp_apply_notify). As the default action it would stop every syscall of
                 * our own setup before the agent has the fd: refused, as runc does. */
                if (streq(act_key, "defaultAction"))
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s.%s: SCMP_ACT_NOTIFY is not supported as the "
                                        "default action: list the syscalls to notify in linux.seccomp.syscalls",
                                        field, act_key);
                *ret = SCMP_ACT_NOTIFY;
                return 0;
        default:
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s.%s: unknown action %d", field, act_key, (int) a);
        }
}

static const enum scmp_compare cmp_ops[_SECCOMP_OP_MAX] = {
        [SECCOMP_OP_NE] = SCMP_CMP_NE, [SECCOMP_OP_LT] = SCMP_CMP_LT, [SECCOMP_OP_LE] = SCMP_CMP_LE,
        [SECCOMP_OP_EQ] = SCMP_CMP_EQ, [SECCOMP_OP_GE] = SCMP_CMP_GE, [SECCOMP_OP_GT] = SCMP_CMP_GT,
        [SECCOMP_OP_MASKED_EQ] = SCMP_CMP_MASKED_EQ,
};

static struct scmp_arg_cmp arg_cmp(const SpecSeccompArg *a) {
        /* MASKED_EQ: (arg & value) == valueTwo; libseccomp takes (mask, datum) in that order. */
        return (struct scmp_arg_cmp) {
                .arg = a->index, .op = cmp_ops[a->op], .datum_a = a->value, .datum_b = a->value_two,
        };
}

/* The spec's SCMP_ARCH_* names and libseccomp's names for them. Unknown here: a config
 * error. Known but unknown to the installed libseccomp (a newer arch): skipped, since it
 * cannot be the native one and syscalls of a missing arch are killed (the safe side). */
static const struct {
        const char *oci, *scmp;
} arch_names[] = {
        { "SCMP_ARCH_X86",         "x86" },         { "SCMP_ARCH_X86_64",      "x86_64" },
        { "SCMP_ARCH_X32",         "x32" },         { "SCMP_ARCH_ARM",         "arm" },
        { "SCMP_ARCH_AARCH64",     "aarch64" },     { "SCMP_ARCH_MIPS",        "mips" },
        { "SCMP_ARCH_MIPS64",      "mips64" },      { "SCMP_ARCH_MIPS64N32",   "mips64n32" },
        { "SCMP_ARCH_MIPSEL",      "mipsel" },      { "SCMP_ARCH_MIPSEL64",    "mipsel64" },
        { "SCMP_ARCH_MIPSEL64N32", "mipsel64n32" }, { "SCMP_ARCH_PPC",         "ppc" },
        { "SCMP_ARCH_PPC64",       "ppc64" },       { "SCMP_ARCH_PPC64LE",     "ppc64le" },
        { "SCMP_ARCH_S390",        "s390" },        { "SCMP_ARCH_S390X",       "s390x" },
        { "SCMP_ARCH_PARISC",      "parisc" },      { "SCMP_ARCH_PARISC64",    "parisc64" },
        { "SCMP_ARCH_RISCV64",     "riscv64" },     { "SCMP_ARCH_LOONGARCH64", "loongarch64" },
        { "SCMP_ARCH_M68K",        "m68k" },        { "SCMP_ARCH_SH",          "sh" },
        { "SCMP_ARCH_SHEB",        "sheb" },
};

static int add_arches(scmp_filter_ctx ctx, char **arches, KError **err) {
        for (size_t i = 0; arches && arches[i]; i++) {
                const char *scmp = NULL;
                for (size_t k = 0; k < ELEMENTSOF(arch_names) && !scmp; k++)
                        if (streq(arch_names[k].oci, arches[i]))
                                scmp = arch_names[k].scmp;
                if (!scmp)
                        return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                        "linux.seccomp.architectures[%zu]: unknown architecture \"%s\" (expected "
                                        "SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_AARCH64, ...)", i, arches[i]);
                uint32_t arch = seccomp_arch_resolve_name(scmp);
                if (arch == 0) {
                        log_debug("seccomp: architecture %s unknown to this libseccomp, skipped", arches[i]);
                        continue;
                }
                int r = seccomp_arch_add(ctx, arch);
                if (r < 0 && r != -EEXIST)
                        return kerr_kind(err, KERR_CONFIG, r, "linux.seccomp.architectures[%zu]: add %s", i, arches[i]);
        }
        return 0;
}

static const struct {
        const char *name;
        enum scmp_filter_attr attr;     /* 0: accepted, nothing to do */
} filter_flags[] = {
        { "SECCOMP_FILTER_FLAG_TSYNC",      0 },        /* the init is single-threaded */
        { "SECCOMP_FILTER_FLAG_LOG",        SCMP_FLTATR_CTL_LOG },
        { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB },
        { "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 0 }, /* only affects notification, rejected anyway */
};

static int set_flags(scmp_filter_ctx ctx, char **flags, KError **err) {
        for (size_t i = 0; flags && flags[i]; i++) {
                size_t k;
                for (k = 0; k < ELEMENTSOF(filter_flags); k++)
                        if (streq(filter_flags[k].name, flags[i]))
                                break;
                if (k == ELEMENTSOF(filter_flags))
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "linux.seccomp.flags[%zu]: unknown flag \"%s\"", i,
                                        flags[i]);
                if (filter_flags[k].attr == 0)
                        continue;
                int r = seccomp_attr_set(ctx, filter_flags[k].attr, 1);
                if (r < 0)
                        return kerr_kind(err, KERR_HOST, r, "linux.seccomp.flags[%zu]: %s", i, flags[i]);
        }
        return 0;
}

static bool args_share_index(const SpecSeccompRule *rule) {
        for (size_t i = 0; i < rule->n_args; i++)
                for (size_t j = i + 1; j < rule->n_args; j++)
                        if (rule->args[i].index == rule->args[j].index)
                                return true;
        return false;
}

/* The runtime writes to report errors between loading the filter and exec. */
static int check_notify_rule(const SpecSeccompRule *rule, const char *field, KError **err) {
        for (size_t i = 0; rule->names && rule->names[i]; i++)
                if (streq(rule->names[i], "write"))
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s: SCMP_ACT_NOTIFY cannot be used for the write "
                                        "syscall (the runtime needs it until exec)", field);
        return 0;
}

static int add_rule(scmp_filter_ctx ctx, size_t idx, const SpecSeccompRule *rule, uint32_t def, KError **err) {
        char field[48];
        snprintf(field, sizeof(field), "linux.seccomp.syscalls[%zu]", idx);
        uint32_t action;
        int r = action_value(rule->action, rule->has_errno_ret, rule->errno_ret, field, "action", "errnoRet",
                             &action, err);
        if (r < 0)
                return r;
        if (rule->n_args > 6)
                return kerr_msg(err, KERR_CONFIG, -E2BIG, "%s.args: %zu conditions, at most 6 are supported", field,
                                rule->n_args);
        struct scmp_arg_cmp cmps[6];
        for (size_t i = 0; i < rule->n_args; i++) {
                if (rule->args[i].index > 5)
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s.args[%zu].index: %u is out of range (0..5)",
                                        field, i, rule->args[i].index);
                if ((unsigned) rule->args[i].op >= _SECCOMP_OP_MAX)
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s.args[%zu].op: unknown operator", field, i);
                cmps[i] = arg_cmp(&rule->args[i]);
        }
        /* libseccomp refuses a rule whose action is the default one; it would be a no-op anyway. */
        if (action == def) {
                log_debug("seccomp: %s has the default action, skipped", field);
                return 0;
        }
        bool split = args_share_index(rule);
        if (action == SCMP_ACT_NOTIFY && (r = check_notify_rule(rule, field, err)) < 0)
                return r;

        for (size_t i = 0; rule->names && rule->names[i]; i++) {
                int nr = seccomp_syscall_resolve_name(rule->names[i]);
                if (nr == __NR_SCMP_ERROR) {
                        log_debug("seccomp: unknown syscall \"%s\" in %s skipped", rule->names[i], field);
                        continue;
                }
                if (!split)
                        r = seccomp_rule_add_array(ctx, action, nr, (unsigned) rule->n_args, cmps);
                else
                        for (size_t a = 0; a < rule->n_args && r >= 0; a++)
                                r = seccomp_rule_add_array(ctx, action, nr, 1, &cmps[a]);
                if (r < 0)
                        return kerr_kind(err, KERR_CONFIG, r, "%s: add rule for \"%s\"", field, rule->names[i]);
        }
        return 0;
}

static int build_filter(const SpecSeccomp *s, scmp_filter_ctx *ret, KError **err) {
        uint32_t def;
        int r = action_value(s->default_action, s->has_default_errno_ret, s->default_errno_ret, "linux.seccomp",
                             "defaultAction", "defaultErrnoRet", &def, err);
        if (r < 0)
                return r;
        if (seccomp_wants_listener(s) && (!s->listener_path || s->listener_path[0] != '/'))
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "linux.seccomp.listenerPath: \"%s\": SCMP_ACT_NOTIFY needs "
                                "the absolute path of the seccomp agent's unix socket",
                                s->listener_path ? s->listener_path : "");
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(def);
        if (!ctx)
                return kerr(err, -ENOMEM, "seccomp: initialize filter");
        /* The runtime decides about no_new_privs itself (process.noNewPrivileges), and wants
         * the kernel's errno on a load failure, not libseccomp's generic -ECANCELED. */
        if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0)
                return kerr(err, r, "seccomp: clear the NNP attribute");
        if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1)) < 0)
                return kerr(err, r, "seccomp: set the SYSRAWRC attribute");
        if ((r = add_arches(ctx, s->architectures, err)) < 0 || (r = set_flags(ctx, s->flags, err)) < 0)
                return r;
        for (size_t i = 0; i < s->n_rules; i++)
                if ((r = add_rule(ctx, i, &s->rules[i], def, err)) < 0)
                        return r;
        *ret = TAKE_PTR(ctx);
        return 0;
}

int seccomp_compile(const SpecSeccomp *s, void **ret, size_t *ret_len, KError **err) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r = build_filter(s, &ctx, err);
        if (r < 0)
                return r;
        /* libseccomp 2.5 exports only to an fd: use a memfd and read it back. */
        _cleanup_close_ int fd = memfd_create("kapsel-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return kerr(err, -errno, "seccomp: memfd");
        if ((r = seccomp_export_bpf(ctx, fd)) < 0)
                return kerr(err, r, "seccomp: export filter");
        if (lseek(fd, 0, SEEK_SET) < 0)
                return kerr(err, -errno, "seccomp: rewind");
        char *buf = NULL;
        size_t len = 0;
        if ((r = read_full_fd(fd, 1 << 20, &buf, &len)) < 0)
                return kerr(err, r, "seccomp: read exported filter");
        *ret = buf;
        *ret_len = len;
        return 0;
}

bool seccomp_wants_listener(const SpecSeccomp *s) {
        for (size_t i = 0; s && i < s->n_rules; i++)
                if (s->rules[i].action == SECCOMP_ACT_NOTIFY)
                        return true;
        return false;
}

int seccomp_listener_connect(const SpecSeccomp *s, int *ret_fd, KError **err) {
        *ret_fd = -1;
        if (!seccomp_wants_listener(s))
                return 0;
        for (size_t i = 0; i < s->n_rules; i++) {
                char field[48];
                snprintf(field, sizeof(field), "linux.seccomp.syscalls[%zu]", i);
                int r = s->rules[i].action == SECCOMP_ACT_NOTIFY ? check_notify_rule(&s->rules[i], field, err) : 0;
                if (r < 0)
                        return r;
        }
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (!s->listener_path || s->listener_path[0] != '/' || strlen(s->listener_path) >= sizeof(sa.sun_path))
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "linux.seccomp.listenerPath: \"%s\" is not an absolute "
                                "socket path", s->listener_path ? s->listener_path : "");
        strcpy(sa.sun_path, s->listener_path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return kerr(err, -errno, "seccomp agent socket");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "failed to connect with seccomp agent at %s (is it running?)",
                                 s->listener_path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The agent's message (runtime-spec's ContainerProcessState): the state and metadata as
 * JSON, the notify fd as SCM_RIGHTS, one sendmsg. */
static int send_to_agent(const SpecSeccomp *s, const SeccompAgent *agent, int notify_fd, KError **err) {
        _cleanup_json_ json_t *state = agent->state_json ? json_loads(agent->state_json, 0, NULL) : NULL;
        _cleanup_json_ json_t *j = json_pack("{s:s, s:[s], s:I, s:s, s:O?}", "ociVersion", "1.1.0", "fds", "seccompFd",
                                             "pid", (json_int_t) agent->pid, "metadata",
                                             s->listener_metadata ? s->listener_metadata : "", "state", state);
        _cleanup_free_ char *text = j ? json_dump_string(j, false) : NULL;
        if (!text)
                return kerr(err, -ENOMEM, "seccomp agent message");
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u = { 0 };
        struct iovec iov = { .iov_base = text, .iov_len = strlen(text) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &notify_fd, sizeof(int));
        ssize_t n;
        do
                n = sendmsg(agent->fd, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return kerr_kind(err, KERR_HOST, -errno, "send the seccomp notify fd to the agent at %s", s->listener_path);
        return 0;
}

/* A syscall newer than every one the profile names must fail with ENOSYS, not the default
 * action's errno: programs (glibc among them) probe new syscalls and fall back only on ENOSYS.
 * libseccomp cannot say "nr > N", so a stub goes in front of its program (as runc does):
 * native x86_64 numbers above the profile's highest get ENOSYS, the rest run the filter. */
static int highest_named_syscall(const SpecSeccomp *s) {
        int max = -1;
        for (size_t i = 0; i < s->n_rules; i++)
                for (size_t k = 0; s->rules[i].names && s->rules[i].names[k]; k++) {
                        int nr = seccomp_syscall_resolve_name(s->rules[i].names[k]);
                        if (nr > max)
                                max = nr;
                }
        return max;
}

static bool wants_enosys_stub(const SpecSeccomp *s) {
#if defined(__x86_64__)
        return s->default_action != SECCOMP_ACT_ALLOW && s->default_action != SECCOMP_ACT_LOG && s->n_rules > 0;
#else
        (void) s;
        return false;
#endif
}

static unsigned filter_flags_of(const SpecSeccomp *s, bool notify) {
        unsigned flags = notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
        for (size_t i = 0; s->flags && s->flags[i]; i++) {
                if (streq(s->flags[i], "SECCOMP_FILTER_FLAG_LOG"))
                        flags |= SECCOMP_FILTER_FLAG_LOG;
                else if (streq(s->flags[i], "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
                        flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        }
        return flags;
}

/* Load libseccomp's program behind the ENOSYS stub; returns the notify fd (notify), 0, or
 * negative errno. */
static int load_with_enosys_stub(const SpecSeccomp *s, bool notify, KError **err) {
        _cleanup_free_ void *prog = NULL;
        size_t len = 0;
        int r = seccomp_compile(s, &prog, &len, err);
        if (r < 0)
                return r;
        int max = highest_named_syscall(s);
        const struct sock_filter stub[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* x32 */, 2, 0),
                BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t) max, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        };
        size_t n = ELEMENTSOF(stub) + len / sizeof(struct sock_filter);
        if (max < 0 || n > BPF_MAXINSNS)
                return -E2BIG;  /* the caller loads the plain filter */
        _cleanup_free_ struct sock_filter *all = malloc(n * sizeof(*all));
        if (!all)
                return kerr(err, -ENOMEM, "seccomp");
        memcpy(all, stub, sizeof(stub));
        memcpy(all + ELEMENTSOF(stub), prog, len);
        struct sock_fprog fprog = { .len = (unsigned short) n, .filter = all };
        long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, filter_flags_of(s, notify), &fprog);
        if (fd < 0)
                return kerr_kind(err, KERR_HOST, -errno, "seccomp: load filter (needs no_new_privs or CAP_SYS_ADMIN)");
        return notify ? (int) fd : 0;
}

int seccomp_apply_notify(const SpecSeccomp *s, const SeccompAgent *agent, KError **err) {
        bool notify = seccomp_wants_listener(s);
        if (notify && (!agent || agent->fd < 0))
                return kerr_msg(err, KERR_GENERIC, -ENOTCONN, "seccomp: SCMP_ACT_NOTIFY without a connected agent");
        int nfd = -1;
        bool loaded = false;
        if (wants_enosys_stub(s)) {
                nfd = load_with_enosys_stub(s, notify, err);
                if (nfd < 0 && nfd != -E2BIG)
                        return nfd;
                loaded = nfd != -E2BIG;
        }
        if (!loaded) {
                _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
                int r = build_filter(s, &ctx, err);
                if (r < 0)
                        return r;
                r = seccomp_load(ctx);
                if (r < 0)
                        return kerr_kind(err, KERR_HOST, r, "seccomp: load filter (needs no_new_privs or CAP_SYS_ADMIN)");
                nfd = notify ? seccomp_notify_fd(ctx) : 0;
        }
        if (!notify)
                return 0;
        /* From here the notified syscalls wait for the agent: hand it the fd first. */
        if (nfd < 0)
                return kerr_kind(err, KERR_HOST, nfd, "seccomp: get the notify fd");
        int r = send_to_agent(s, agent, nfd, err);
        (void) close(nfd);
        return r;
}

int seccomp_apply(const SpecSeccomp *s, KError **err) {
        return seccomp_apply_notify(s, NULL, err);
}
