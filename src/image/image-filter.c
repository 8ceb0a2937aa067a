/* SPDX-License-Identifier: Apache-2.0 */
/* Docker's image list filters (`images --filter`, GET /images/json?filters=): dangling, label,
 * reference, before, since. Every key given must match (AND), each by any of its values (OR).
 * before/since name an image that is resolved once, when the filter is made. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image-filter.h"
#include "string-util.h"

typedef enum FilterKey { F_DANGLING, F_LABEL, F_REFERENCE, F_BEFORE, F_SINCE, _F_MAX } FilterKey;

static const char *const filter_keys[_F_MAX] = {
        [F_DANGLING] = "dangling", [F_LABEL] = "label", [F_REFERENCE] = "reference",
        [F_BEFORE] = "before",     [F_SINCE] = "since",
};

struct ImageFilter {
        char **values[_F_MAX];          /* per key: its values, OR'ed; NULL: key not given */
        double before, since;           /* creation times of the images before= / since= name */
        Image *const *all;              /* the list, for dangling (an intermediate image is not) */
        size_t n;
};

/* RFC 3339 ("2024-01-02T03:04:05.123456789Z", or with +HH:MM) as seconds since the epoch; -1 if
 * absent or malformed. */
static double created_seconds(const char *s) {
        struct tm tm = {};
        int n = 0;
        if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                         &tm.tm_min, &tm.tm_sec, &n) != 6)
                return -1;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        double t = (double) timegm(&tm);
        const char *p = s + n;
        if (*p == '.') {
                double frac = 0, scale = 0.1;
                for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                        frac += (*p - '0') * scale;
                t += frac;
        }
        int hh, mm;
        if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &hh, &mm) == 2)
                t -= (*p == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
        return t;
}

/* The image a before=/since= value names: a name as the user writes it, or an id (prefix). */
static const Image *find_image(const char *what, Image *const *all, size_t n) {
        _cleanup_free_ char *norm = NULL;
        _cleanup_kerr_ KError *ignored = NULL;
        (void) image_ref_normalize(what, &norm, &ignored);
        const char *hex = startswith(what, "sha256:") ?: what;
        size_t hl = strlen(hex);
        for (size_t i = 0; i < n; i++) {
                for (char **nm = all[i]->names; norm && nm && *nm; nm++)
                        if (streq(*nm, norm))
                                return all[i];
                const char *id = startswith(all[i]->id, "sha256:") ?: all[i]->id;
                if (hl >= 4 && strncmp(id, hex, hl) == 0)
                        return all[i];
        }
        return NULL;
}

static int bad_filter(KError **err, const char *f) {
        return kerr_msg(err, KERR_USAGE, -EINVAL,
                        "filter \"%s\": expected KEY=VALUE with KEY one of dangling (true|false), label (KEY or "
                        "KEY=VALUE), reference (a name pattern such as 'busybox' or 'deb*:12'), before or since "
                        "(an image name or id)", f);
}

int image_filter_new(char *const *filters, Image *const *all, size_t n, ImageFilter **ret, KError **err) {
        _cleanup_(image_filter_freep) ImageFilter *f = calloc(1, sizeof(*f));
        if (!f)
                return kerr(err, -ENOMEM, "image filter");
        f->all = all;
        f->n = n;
        for (char *const *p = filters; p && *p; p++) {
                const char *eq = strchr(*p, '=');
                FilterKey k = _F_MAX;
                for (size_t i = 0; eq && i < _F_MAX; i++)
                        if (strlen(filter_keys[i]) == (size_t) (eq - *p) && strncmp(filter_keys[i], *p, eq - *p) == 0)
                                k = i;
                if (k == _F_MAX || !eq[1])
                        return bad_filter(err, *p);
                const char *val = eq + 1;
                if (k == F_DANGLING && !streq(val, "true") && !streq(val, "false") && !streq(val, "1") && !streq(val, "0"))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "filter \"%s\": dangling is true or false", *p);
                if (k == F_BEFORE || k == F_SINCE) {
                        const Image *img = find_image(val, all, n);
                        if (!img)
                                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "filter \"%s\": no such image: %s "
                                                "(kapsel images lists them)", *p, val);
                        if (f->values[k])
                                return kerr_msg(err, KERR_USAGE, -EINVAL, "filter \"%s\": %s may be given once", *p,
                                                filter_keys[k]);
                        double t = created_seconds(img->created);
                        if (k == F_BEFORE)
                                f->before = t;
                        else
                                f->since = t;
                }
                if (strv_extend(&f->values[k], val) < 0)
                        return kerr(err, -ENOMEM, "image filter");
        }
        *ret = TAKE_PTR(f);
        return 0;
}

void image_filter_free(ImageFilter *f) {
        if (!f)
                return;
        for (size_t i = 0; i < _F_MAX; i++)
                strv_free(f->values[i]);
        free(f);
}

/* Is `anc` an ancestor of `img`: its layers a prefix of img's and its history a strict prefix? */
static bool is_ancestor(const Image *anc, const Image *img) {
        json_t *ha = json_object_get(anc->config_json, "history"), *hi = json_object_get(img->config_json, "history");
        size_t na = json_array_size(ha);
        if (anc == img || na == 0 || json_array_size(hi) <= na || anc->n_layers > img->n_layers)
                return false;
        for (size_t i = 0; i < anc->n_layers; i++)
                if (!streq(anc->layer_dirs[i], img->layer_dirs[i]))
                        return false;
        for (size_t i = 0; i < na; i++)
                if (!json_equal(json_array_get(ha, i), json_array_get(hi, i)))
                        return false;
        return true;
}

bool image_is_intermediate(const Image *img, Image *const *all, size_t n) {
        if (img->names && img->names[0])
                return false;
        for (size_t i = 0; i < n; i++)
                if (is_ancestor(img, all[i]))
                        return true;
        return false;
}

static bool label_matches(const Image *img, const char *want) {
        json_t *labels = json_object_get(json_object_get(img->config_json, "config"), "Labels");
        const char *eq = strchr(want, '=');
        _cleanup_free_ char *key = strndup(want, eq ? (size_t) (eq - want) : strlen(want));
        json_t *v = key ? json_object_get(labels, key) : NULL;
        return json_is_string(v) && (!eq || streq(json_string_value(v), eq + 1));
}

/* docker matches the pattern against the familiar name with its tag and without it */
static bool reference_matches(const char *name, const char *pattern) {
        _cleanup_free_ char *fam = name ? image_ref_familiar(name) : NULL;
        if (!fam)
                return false;
        if (fnmatch(pattern, fam, 0) == 0)
                return true;
        char *at = strchr(fam, '@');
        if (at)
                *at = '\0';
        char *colon = strrchr(fam, ':');
        if (colon && !strchr(colon, '/'))
                *colon = '\0';
        return fnmatch(pattern, fam, 0) == 0;
}

static bool key_matches(const ImageFilter *f, FilterKey k, const Image *img, const char *name) {
        double t = created_seconds(img->created);
        for (char **v = f->values[k]; v && *v; v++)
                switch (k) {
                case F_DANGLING: {
                        bool dangling = !(img->names && img->names[0]) && !image_is_intermediate(img, f->all, f->n);
                        if ((streq(*v, "true") || streq(*v, "1")) == dangling)
                                return true;
                        break;
                }
                case F_LABEL:
                        if (label_matches(img, *v))
                                return true;
                        break;
                case F_REFERENCE:
                        if (reference_matches(name, *v))
                                return true;
                        break;
                case F_BEFORE:
                        return t >= 0 && t < f->before;
                case F_SINCE:
                        return t >= 0 && t > f->since;
                default:
                        break;
                }
        return false;
}

bool image_filter_match(const ImageFilter *f, const Image *img, const char *name) {
        for (size_t k = 0; f && k < _F_MAX; k++)
                if (f->values[k] && !key_matches(f, k, img, name))
                        return false;
        return true;
}
