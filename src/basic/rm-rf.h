/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Remove `name` in dirfd and everything below it without following symlinks or crossing into
 * other mounts (a mount point inside is refused with -EBUSY, never descended). Missing = success. */
int rm_rf_at(int dirfd, const char *name);
/* Same for an absolute or cwd-relative path. */
int rm_rf(const char *path);
