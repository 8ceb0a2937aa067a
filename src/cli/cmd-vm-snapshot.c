/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel vm snapshot create|ls|rm VM NAME, kapsel vm restore VM NAME, kapsel vm clone VM NAME
 * [NEWVM]: thin callers of the engine's vm-snapshot.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd-vm-snapshot.h"
#include "string-util.h"
#include "vm-snapshot.h"

static int snapshot_create(Engine *e, const CtrRecord *rec, int argc, char **argv, KError **err) {
        if (argc != 1)
                return k_usage(err, "vm", "snapshot create: expected VM NAME");
        int r = vm_snapshot_create(e, rec, argv[0], err);
        if (r >= 0)
                printf("%s\n", argv[0]);
        return r;
}

static int snapshot_ls(Engine *e, const CtrRecord *rec, int argc, char **argv, KError **err) {
        KListFormat f = { .quiet_field = "Name" };
        /* the options follow VM: `kapsel vm snapshot ls VM --format json` */
        int r = k_parse_list_opts("vm", argc + 1, argv - 1, &f, err);
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_(json_decrefp) json_t *rows = NULL;
        if ((r = vm_snapshot_list(e, rec, &rows, err)) < 0)
                return r;
        static const KColumn cols[] = {
                { "NAME", "Name", 24, 0, false }, { "CREATED", "Created", 12, 0, false },
                { "MEMORY", "Memory", 12, 0, false }, { "CPUS", "Cpus", 6, 0, false },
                { "SIZE", "SizeBytes", 0, 0, false }, {}
        };
        return k_print_list(rows, &f, cols, err);
}

static int snapshot_rm(Engine *e, const CtrRecord *rec, int argc, char **argv, KError **err) {
        if (argc < 1)
                return k_usage(err, "vm", "snapshot rm: expected VM NAME...");
        for (int i = 0; i < argc; i++) {
                int r = vm_snapshot_remove(e, rec, argv[i], err);
                if (r < 0)
                        return r;
                printf("%s\n", argv[i]);
        }
        return 0;
}

static const struct {
        const char *name;
        int (*run)(Engine *e, const CtrRecord *rec, int argc, char **argv, KError **err);
} snapshot_subs[] = {
        { "create", snapshot_create },
        { "ls", snapshot_ls },
        { "rm", snapshot_rm },
};

/* argv: snapshot SUB VM [ARGS...] */
int k_vm_snapshot(const KGlobals *g, int argc, char **argv, KError **err) {
        if (argc < 3)
                return k_usage(err, "vm", "snapshot: expected create|ls|rm VM [NAME]");
        for (size_t i = 0; i < ELEMENTSOF(snapshot_subs); i++) {
                if (!streq(argv[1], snapshot_subs[i].name))
                        continue;
                _cleanup_(engine_freep) Engine *e = NULL;
                _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
                int r = k_open_one(g, argv[2], &e, &rec, err);
                if (r < 0)
                        return r;
                return snapshot_subs[i].run(e, rec, argc - 3, argv + 3, err);
        }
        return k_usage(err, "vm", "snapshot: unknown command \"%s\" (create, ls, rm)", argv[1]);
}

/* argv: restore VM NAME */
int k_vm_restore(const KGlobals *g, int argc, char **argv, KError **err) {
        if (argc != 3)
                return k_usage(err, "vm", "restore: expected VM NAME");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open_one(g, argv[1], &e, &rec, err);
        if (r >= 0)
                r = vm_snapshot_restore(e, rec, argv[2], err);
        if (r >= 0)
                printf("%s\n", rec->name);
        return r;
}

/* argv: clone VM NAME [NEWVM] */
int k_vm_clone(const KGlobals *g, int argc, char **argv, KError **err) {
        if (argc != 3 && argc != 4)
                return k_usage(err, "vm", "clone: expected VM NAME [NEWVM]");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        char id[65];
        int r = k_open_one(g, argv[1], &e, &rec, err);
        if (r >= 0)
                r = vm_snapshot_clone(e, rec, argv[2], argc == 4 ? argv[3] : NULL, id, err);
        if (r >= 0)
                printf("%s\n", id);
        return r;
}
