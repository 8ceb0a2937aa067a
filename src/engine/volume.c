/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "events.h"
#include "path-util.h"
#include "rm-rf.h"
#include "spec-gen.h"
#include "string-util.h"
#include "volume.h"

bool volume_name_valid(const char *name) {
        return *name && strlen(name) <= 128 && name[0] != '.' && name[0] != '-' &&
               strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(name);
}

char *volume_data_path(const Engine *e, const char *name) {
        char *p = NULL;
        return asprintf(&p, "%s/volumes/%s/_data", e->root, name) < 0 ? NULL : p;
}

int volume_create(Engine *e, const char *name, json_t *labels, bool exist_ok, char **ret_name, KError **err) {
        char gen[65];
        if (!name) {
                int r = engine_new_id(gen);
                if (r < 0)
                        return kerr(err, r, "volume name");
                name = gen;
        }
        if (!volume_name_valid(name))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid volume name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*", name);
        if (db_vol_exists(e->db, name) > 0) {
                if (!exist_ok)
                        return kerr_msg(err, KERR_EXISTS, -EEXIST, "volume \"%s\" already exists", name);
        } else {
                _cleanup_free_ char *data = volume_data_path(e, name);
                _cleanup_free_ char *dir = data ? strndup(data, strlen(data) - strlen("/_data")) : NULL;
                if (!dir)
                        return kerr(err, -ENOMEM, "volume");
                if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || (mkdir(data, 0755) < 0 && errno != EEXIST))
                        return kerr(err, -errno, "create volume directory %s", data);
                int r = db_vol_insert(e->db, name, labels, err);
                if (r == -EEXIST && exist_ok)          /* a concurrent run created it: fine */
                        kerr_free(err ? TAKE_PTR(*err) : NULL);
                else if (r < 0)
                        return r;
                else
                        events_emit(e->root, "volume", "create", name, json_pack("{s:s}", "driver", "local"));
        }
        if (ret_name && !(*ret_name = strdup(name)))
                return -ENOMEM;
        return 0;
}

int volume_ensure_for(Engine *e, const json_t *config, KError **err) {
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(json_object_get(config, "HostConfig"), "Binds"), i, b) {
                BindSpec bs;
                int r = bind_spec_parse(json_string_value(b) ?: "", &bs, err);
                if (r < 0)
                        return r;
                if (bs.is_volume)
                        r = volume_create(e, bs.source, NULL, true, NULL, err);
                bind_spec_done(&bs);
                if (r < 0)
                        return r;
        }
        return 0;
}

int volume_users(Engine *e, const char *name, char ***ret, KError **err) {
        CtrRecord **list = NULL;
        size_t n = 0;
        int r = db_ctr_list(e->db, &list, &n, err);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **users = calloc(1, sizeof(char *));
        for (size_t i = 0; users && i < n; i++) {
                size_t k;
                json_t *b;
                json_array_foreach(json_object_get(json_object_get(list[i]->config, "HostConfig"), "Binds"), k, b) {
                        BindSpec bs;
                        if (bind_spec_parse(json_string_value(b) ?: "", &bs, NULL) < 0)
                                continue;
                        bool match = bs.is_volume && streq(bs.source, name);
                        bind_spec_done(&bs);
                        if (match && !strv_contains(users, list[i]->name) && strv_extend(&users, list[i]->name) < 0)
                                r = -ENOMEM;
                }
        }
        ctr_record_list_free(list, n);
        if (!users || r < 0)
                return kerr(err, -ENOMEM, "volume users");
        *ret = TAKE_PTR(users);
        return 0;
}

int volume_remove(Engine *e, const char *name, bool force, KError **err) {
        if (db_vol_exists(e->db, name) <= 0)
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "no such volume: %s (see 'kapsel volume ls')", name);
        _cleanup_strv_free_ char **users = NULL;
        int r = volume_users(e, name, &users, err);
        if (r < 0)
                return r;
        if (users[0] && !force)
                return kerr_msg(err, KERR_STATE, -EBUSY, "volume %s is in use by container %s%s: remove %s first",
                                name, users[0], users[1] ? " and others" : "", users[1] ? "them" : "it");
        /* row first: a crash after it leaves a directory that `system check` removes */
        if ((r = db_vol_delete(e->db, name, err)) < 0)
                return r;
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/volumes/%s", e->root, name) < 0)
                return -ENOMEM;
        if ((r = rm_rf(dir)) < 0)
                return kerr(err, r, "remove %s", dir);
        events_emit(e->root, "volume", "destroy", name, json_pack("{s:s}", "driver", "local"));
        return 0;
}
