/* SPDX-License-Identifier: Apache-2.0 */
/* Docker's image list filters: dangling=true|false, label=KEY[=VALUE], reference=PATTERN,
 * before=IMAGE, since=IMAGE. Shared by `kapsel images --filter` and kapseld's GET /images/json. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cleanup.h"
#include "error.h"
#include "image.h"

typedef struct ImageFilter ImageFilter;

/* Parse "KEY=VALUE" filters (NULL: match everything); before/since are looked up in `all`, which
 * must outlive the filter.
 * KERR_USAGE names the bad filter and the keys there are; KERR_NOT_FOUND an unknown image. */
int image_filter_new(char *const *filters, Image *const *all, size_t n, ImageFilter **ret, KError **err);
void image_filter_free(ImageFilter *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageFilter *, image_filter_free)

/* An untagged image that is the parent of another (a build step's image, say): `images` hides it
 * unless -a, as docker does; it is not dangling. */
bool image_is_intermediate(const Image *img, Image *const *all, size_t n);

/* Does the list row for `img` under `name` (one of its names, or NULL for an untagged image) match? */
bool image_filter_match(const ImageFilter *f, const Image *img, const char *name);
