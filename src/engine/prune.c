/* SPDX-License-Identifier: Apache-2.0 */
#include "prune.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr-ops.h"
#include "string-util.h"
#include "volume.h"

int prune_filter_add(PruneFilter *f, const char *spec, KError **err) {
        const char *v;
        if ((v = startswith(spec, "label!="))) {
                if (*v && strv_extend(&f->not_labels, v) >= 0)
                        return 0;
        } else if ((v = startswith(spec, "label="))) {
                if (*v && strv_extend(&f->labels, v) >= 0)
                        return 0;
        } else if ((v = startswith(spec, "until="))) {
                char *end = NULL;
                errno = 0;
                long long s = strtoll(v, &end, 10);
                if (*v && !errno && end && !*end && s > 0) {
                        f->until = (int64_t) s * 1000000000LL;
                        return 0;
                }
                return kerr_msg(err, KERR_USAGE, -EINVAL, "filter \"%s\": until= takes a unix timestamp in seconds", spec);
        }
        return kerr_msg(err, KERR_USAGE, -EINVAL,
                        "invalid filter \"%s\": use label=KEY[=VALUE], label!=KEY[=VALUE] or until=SECONDS", spec);
}

void prune_filter_done(PruneFilter *f) {
        strv_free(f->labels);
        strv_free(f->not_labels);
        *f = (PruneFilter) {};
}

/* KEY matches a label of that key; KEY=VALUE only with that value. */
static bool label_present(const json_t *labels, const char *spec) {
        const char *eq = strchr(spec, '=');
        _cleanup_free_ char *key = strndup(spec, eq ? (size_t) (eq - spec) : strlen(spec));
        const json_t *val = key ? json_object_get(labels, key) : NULL;
        if (!val)
                return false;
        return !eq || streq(json_string_value(val) ?: "", eq + 1);
}

bool prune_filter_match(const PruneFilter *f, const json_t *labels, int64_t created) {
        if (f->until && created >= f->until)
                return false;
        for (char **l = f->labels; l && *l; l++)
                if (!label_present(labels, *l))
                        return false;
        for (char **l = f->not_labels; l && *l; l++)
                if (label_present(labels, *l))
                        return false;
        return true;
}

bool prune_volume_wanted(const json_t *labels, bool all) {
        return all || json_object_get(labels, VOLUME_ANONYMOUS_LABEL);
}

/* nftw has no user pointer: one walk at a time per process is all the CLI needs. */
static _Thread_local uint64_t walk_total;
static _Thread_local struct { dev_t dev; ino_t ino; } *walk_seen;
static _Thread_local size_t walk_n_seen;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) path;
        (void) ftw;
        if (type != FTW_F && type != FTW_SL)
                return 0;
        if (st->st_nlink > 1) {
                for (size_t i = 0; i < walk_n_seen; i++)
                        if (walk_seen[i].dev == st->st_dev && walk_seen[i].ino == st->st_ino)
                                return 0;
                void *n = realloc(walk_seen, (walk_n_seen + 1) * sizeof(*walk_seen));
                if (!n)
                        return -1;
                walk_seen = n;
                walk_seen[walk_n_seen].dev = st->st_dev;
                walk_seen[walk_n_seen++].ino = st->st_ino;
        }
        walk_total += (uint64_t) st->st_size;
        return 0;
}

int disk_usage(const char *path, uint64_t *ret, KError **err) {
        walk_total = 0;
        walk_n_seen = 0;
        int r = 0;
        if (access(path, F_OK) == 0 && nftw(path, walk_one, 16, FTW_PHYS | FTW_MOUNT) < 0)
                r = kerr(err, -errno, "measure %s", path);
        free(walk_seen);
        walk_seen = NULL;
        walk_n_seen = 0;
        *ret = walk_total;
        return r;
}

void format_human_size(uint64_t bytes, char buf[static 16]) {
        static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
        double v = (double) bytes;
        size_t u = 0;
        while (v >= 1000 && u + 1 < ELEMENTSOF(units)) {
                v /= 1000;
                u++;
        }
        snprintf(buf, 16, "%.4g%s", v, units[u]);
}

static const json_t *ctr_labels(const CtrRecord *r) {
        return json_object_get(json_object_get(r->config, "Config"), "Labels");
}

int prune_containers(Engine *e, const PruneFilter *f, char ***ret_ids, uint64_t *ret_space, KError **err) {
        CtrRecord **list = NULL;
        size_t n = 0;
        int r = db_ctr_list(e->db, &list, &n, err);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **ids = calloc(1, sizeof(char *));
        uint64_t space = 0;
        for (size_t i = 0; ids && i < n; i++) {
                (void) ctr_repair(e, list[i], NULL);
                if ((list[i]->state != CTR_EXITED && list[i]->state != CTR_CREATED) ||
                    !prune_filter_match(f, ctr_labels(list[i]), list[i]->created))
                        continue;
                _cleanup_free_ char *upper = engine_ctr_path(e, list[i]->id, "diff");
                uint64_t sz = 0;
                if (upper)
                        (void) disk_usage(upper, &sz, NULL);
                if (ctr_remove(e, list[i]->id, NULL) < 0)
                        continue;       /* a concurrent start won: docker skips it too */
                space += sz;
                if (strv_extend(&ids, list[i]->id) < 0)
                        r = -ENOMEM;
        }
        ctr_record_list_free(list, n);
        if (!ids || r < 0)
                return kerr(err, -ENOMEM, "container prune");
        if (ret_ids)
                *ret_ids = TAKE_PTR(ids);
        if (ret_space)
                *ret_space = space;
        return 0;
}

int prune_volumes(Engine *e, const PruneFilter *f, bool all, char ***ret_names, uint64_t *ret_space, KError **err) {
        VolRecord *vols = NULL;
        size_t n = 0;
        int r = db_vol_list(e->db, &vols, &n, err);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **names = calloc(1, sizeof(char *));
        uint64_t space = 0;
        for (size_t i = 0; names && r >= 0 && i < n; i++) {
                _cleanup_strv_free_ char **users = NULL;
                if (!prune_volume_wanted(vols[i].labels, all) || !prune_filter_match(f, vols[i].labels, vols[i].created) ||
                    volume_users(e, vols[i].name, &users, NULL) < 0 || users[0])
                        continue;
                _cleanup_free_ char *data = volume_data_path(e, vols[i].name);
                uint64_t sz = 0;
                if (data)
                        (void) disk_usage(data, &sz, NULL);
                if (volume_remove(e, vols[i].name, false, NULL) < 0)
                        continue;
                space += sz;
                if (strv_extend(&names, vols[i].name) < 0)
                        r = -ENOMEM;
        }
        vol_record_list_free(vols, n);
        if (!names || r < 0)
                return kerr(err, -ENOMEM, "volume prune");
        if (ret_names)
                *ret_names = TAKE_PTR(names);
        if (ret_space)
                *ret_space = space;
        return 0;
}

int prune_images(Engine *e, bool all, size_t *ret_removed, uint64_t *ret_space, KError **err) {
        ImageStore *s;
        CtrRecord **list = NULL;
        size_t n = 0;
        int r = engine_images(e, &s, err);
        if (r >= 0)
                r = db_ctr_list(e->db, &list, &n, err);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **keep = NULL;
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (list[i]->image_id && !strv_contains(keep, list[i]->image_id) && strv_extend(&keep, list[i]->image_id) < 0)
                        r = kerr(err, -ENOMEM, "image prune");
        ctr_record_list_free(list, n);
        if (r >= 0)
                r = image_prune(s, all, keep, ret_removed, err);
        return r < 0 ? r : image_gc(s, ret_space, err);
}
