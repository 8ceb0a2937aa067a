/* SPDX-License-Identifier: Apache-2.0 */
/* Streams the image store can only take as files: `load`/`import` from a pipe and `save` to one go
 * through a private file under root/tmp (the store seeks in archives and renames its output). */
#pragma once

#include "engine.h"

/* root/tmp, made if needed; what killed processes left there (spool-<pid>-*, export-<pid>-*) is
 * removed on the way. */
int spool_dir(Engine *e, char **ret, KError **err);
/* Copy everything from `fd` into a new file root/tmp/spool-<pid>-XXXXXX; its path in *ret_path (the
 * caller unlinks it). Nothing is left behind on failure. */
int spool_from_fd(Engine *e, int fd, char **ret_path, KError **err);
/* A fresh path root/tmp/spool-<pid>-XXXXXX/<name> for a writer that creates its own file; the caller removes
 * it (and its directory) with spool_remove. */
int spool_path(Engine *e, const char *name, char **ret_path, KError **err);
/* Copy the file `path` to `fd`. */
int spool_to_fd(const char *path, int fd, KError **err);
/* Remove a spool file, and the spool directory spool_path made for it. */
void spool_remove(const char *path);
