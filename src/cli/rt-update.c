/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "fd-util.h"
#include "log.h"
#include "runtime-cli.h"
#include "string-util.h"

/* runc's update flags -> linux.resources fields. Sizes accept k/m/g suffixes. */
typedef enum { U_SIZE, U_INT, U_UINT, U_STR } UpdateKind;
static const struct update_flag {
        const char *name;
        UpdateKind kind;
        size_t has_off, val_off;
} update_flags[] = {
#define F(name, kind, field) { name, kind, offsetof(SpecResources, has_##field), offsetof(SpecResources, field) }
        F("memory", U_SIZE, memory_limit),
        F("memory-swap", U_SIZE, memory_swap),
        F("memory-reservation", U_SIZE, memory_reservation),
        F("kernel-memory", U_SIZE, memory_kernel),
        F("kernel-memory-tcp", U_SIZE, memory_kernel_tcp),
        F("cpu-shares", U_UINT, cpu_shares),
        F("cpu-quota", U_INT, cpu_quota),
        F("cpu-period", U_UINT, cpu_period),
        F("cpu-rt-runtime", U_INT, cpu_realtime_runtime),
        F("cpu-rt-period", U_UINT, cpu_realtime_period),
        F("pids-limit", U_INT, pids_limit),
#undef F
        { "cpuset-cpus", U_STR, 0, offsetof(SpecResources, cpuset_cpus) },
        { "cpuset-mems", U_STR, 0, offsetof(SpecResources, cpuset_mems) },
};

static int set_flag(SpecResources *res, const struct update_flag *f, const char *v) {
        char *base = (char *) res;
        uint64_t u;
        int64_t i;
        switch (f->kind) {
        case U_SIZE:
                if (streq(v, "-1"))
                        i = -1;
                else if (parse_size(v, &u) == 0)
                        i = (int64_t) u;
                else
                        return -EINVAL;
                memcpy(base + f->val_off, &i, sizeof(i));
                break;
        case U_INT:
                if (parse_int64(v, &i) < 0)
                        return -EINVAL;
                memcpy(base + f->val_off, &i, sizeof(i));
                break;
        case U_UINT:
                if (parse_uint64(v, &u) < 0)
                        return -EINVAL;
                memcpy(base + f->val_off, &u, sizeof(u));
                break;
        case U_STR: {
                char *s = strdup(v), **slot = (char **) (base + f->val_off);
                if (!s)
                        return -ENOMEM;
                free(*slot);
                *slot = s;
                return 0;
        }
        }
        *(bool *) (base + f->has_off) = true;
        return 0;
}

RT_VERB(update) {
        struct option opts[ELEMENTSOF(update_flags) + 4];
        size_t n = 0;
        for (; n < ELEMENTSOF(update_flags); n++)
                opts[n] = (struct option) { update_flags[n].name, required_argument, NULL, 1000 + (int) n };
        opts[n++] = (struct option) { "resources", required_argument, NULL, 'r' };
        opts[n++] = (struct option) { "blkio-weight", required_argument, NULL, 'B' };
        opts[n++] = (struct option) { "help", no_argument, NULL, 'h' };
        opts[n] = (struct option) { 0 };

        _cleanup_(spec_resources_freep) SpecResources *res = calloc(1, sizeof(*res));
        if (!res)
                return -ENOMEM;
        const char *file = NULL;
        int c;
        /* Options may follow the id too (`update ID --memory 1G`), as runc accepts. */
        while ((c = getopt_long_only(argc, argv, "r:h", opts, NULL)) >= 0) {
                if (c >= 1000) {
                        const struct update_flag *f = &update_flags[c - 1000];
                        if (set_flag(res, f, optarg) < 0)
                                return rt_usage_error(err, "update", "--%s: invalid value \"%s\"", f->name, optarg);
                } else if (c == 'r')
                        file = optarg;
                else if (c == 'B') {
                        uint64_t w;
                        if (parse_uint64(optarg, &w) < 0 || w > 1000)
                                return rt_usage_error(err, "update", "--blkio-weight: \"%s\" is not 10..1000", optarg);
                        res->has_blkio_weight = true;
                        res->blkio_weight = (uint16_t) w;
                } else if (c == 'h') {
                        rt_print_verb_help("update");
                        return 0;
                } else
                        return rt_usage_error(err, "update", "unknown option");
        }
        const char *id;
        int r = rt_want_id(argc, argv, optind, "update", &id, err);
        if (r < 0)
                return r;
        if (file) {
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                r = streq(file, "-") ? read_full_fd(STDIN_FILENO, 16 << 20, &text, &len)
                                     : read_full_file_at(AT_FDCWD, file, 16 << 20, &text, &len);
                if (r < 0)
                        return kerr_kind(err, KERR_CONFIG, r, "read --resources '%s'", file);
                spec_resources_free(res);
                res = NULL;
                r = spec_parse_resources(text, len, streq(file, "-") ? "<stdin>" : file, &res, err);
                if (r < 0)
                        return r;
        }
        /* runc's update exits 1 for any failure (scripts test for it) */
        if ((r = container_update(g->root, id, res, err)) < 0) {
                log_error("%s", err && *err ? (*err)->msg : strerror(-r));
                return 1;
        }
        return 0;
}
