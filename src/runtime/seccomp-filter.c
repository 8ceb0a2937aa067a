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
#include <sys/mman.h>
#include <unistd.h>

#include "fd-util.h"
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
                /* Refused by design: user notification hands syscalls to a supervisor at
                 * linux.seccomp.listenerPath, which kapsel does not run; `features` does not list
                 * this action, so callers can tell before they ask (runc refuses it the same way
                 * without a listener). */
                return kerr_msg(err, KERR_CONFIG, -EOPNOTSUPP,
                                "%s.%s: SCMP_ACT_NOTIFY is not supported by this runtime: use SCMP_ACT_ERRNO "
                                "or another action", field, act_key);
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
        if (s->listener_path)
                return kerr_msg(err, KERR_CONFIG, -EOPNOTSUPP,
                                "linux.seccomp.listenerPath: seccomp user notification is not supported by this "
                                "runtime: remove it");
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

int seccomp_apply(const SpecSeccomp *s, KError **err) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r = build_filter(s, &ctx, err);
        if (r < 0)
                return r;
        r = seccomp_load(ctx);
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "seccomp: load filter (needs no_new_privs or CAP_SYS_ADMIN)");
        return 0;
}
