/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel volume create|ls|inspect|rm|prune */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "kapsel-cli.h"
#include "logs.h"
#include "string-util.h"
#include "volume.h"

static json_t *volume_json(const Engine *e, const VolRecord *v) {
        char created[40];
        logs_format_time(v->created, created);
        _cleanup_free_ char *mp = volume_data_path(e, v->name);
        return json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "Name", v->name, "Driver", "local", "Mountpoint", mp ?: "",
                         "CreatedAt", created, "Labels", v->labels ?: json_object(), "Scope", "local");
}

static int vol_list(Engine *e, VolRecord **ret, size_t *n, KError **err) {
        return db_vol_list(e->db, ret, n, err);
}

K_VERB(volume_create) {
        static const struct option opts[] = { { "label", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' }, {} };
        json_t *labels = json_object();
        int c;
        while ((c = getopt_long(argc, argv, "+l:", opts, NULL)) >= 0) {
                if (c == 'h') {
                        json_decref(labels);
                        return k_help("volume-create");
                }
                if (c != 'l') {
                        json_decref(labels);
                        return k_usage(err, "volume create", "unknown option");
                }
                const char *eq = strchr(optarg, '=');
                _cleanup_free_ char *k = strndup(optarg, eq ? (size_t) (eq - optarg) : strlen(optarg));
                json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
        }
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_free_ char *name = NULL;
        int r = k_open(g, &e, err);
        if (r >= 0)
                r = volume_create(e, optind < argc ? argv[optind] : NULL, labels, false, &name, err);
        json_decref(labels);
        if (r >= 0)
                printf("%s\n", name);
        return r < 0 ? r : 0;
}

K_VERB(volume_ls) {
        static const KColumn cols[] = { { "DRIVER", "Driver", 10 }, { "VOLUME NAME", "Name" }, {} };
        KListFormat f = { .quiet_field = "Name" };
        int r = k_parse_list_opts("volume-ls", argc, argv, &f, err);
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_(engine_freep) Engine *e = NULL;
        VolRecord *vols = NULL;
        size_t n = 0;
        r = k_open(g, &e, err);
        if (r >= 0)
                r = vol_list(e, &vols, &n, err);
        if (r < 0)
                return r;
        json_t *rows = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(rows, volume_json(e, &vols[i]));
        vol_record_list_free(vols, n);
        r = k_print_list(rows, &f, cols, err);
        json_decref(rows);
        return r < 0 ? r : 0;
}

K_VERB(volume_inspect) {
        if (argc < 2)
                return k_usage(err, "volume inspect", "missing VOLUME");
        _cleanup_(engine_freep) Engine *e = NULL;
        VolRecord *vols = NULL;
        size_t n = 0;
        int r = k_open(g, &e, err);
        if (r >= 0)
                r = vol_list(e, &vols, &n, err);
        if (r < 0)
                return r;
        json_t *out = json_array();
        for (int a = 1; a < argc && r >= 0; a++) {
                bool found = false;
                for (size_t i = 0; i < n; i++)
                        if (streq(vols[i].name, argv[a])) {
                                json_array_append_new(out, volume_json(e, &vols[i]));
                                found = true;
                        }
                if (!found)
                        r = kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "no such volume: %s", argv[a]);
        }
        json_print(out, true);
        json_decref(out);
        vol_record_list_free(vols, n);
        return r < 0 ? r : 0;
}

K_VERB(volume_rm) {
        static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, {} };
        bool force = false;
        int c;
        while ((c = getopt_long(argc, argv, "+f", opts, NULL)) >= 0) {
                if (c == 'h')
                        return k_help("volume-rm");
                if (c != 'f')
                        return k_usage(err, "volume rm", "unknown option");
                force = true;
        }
        if (optind >= argc)
                return k_usage(err, "volume rm", "missing VOLUME");
        _cleanup_(engine_freep) Engine *e = NULL;
        int r = k_open(g, &e, err);
        for (int i = optind; i < argc && r >= 0; i++)
                if ((r = volume_remove(e, argv[i], force, err)) >= 0)
                        printf("%s\n", argv[i]);
        return r < 0 ? r : 0;
}

json_t *k_volume_doc(const Engine *e, const VolRecord *v) {
        return volume_json(e, v);
}
