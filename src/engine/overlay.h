/* SPDX-License-Identifier: Apache-2.0 */
/* A container's rootfs: overlayfs with the image's layers as lower dirs and the container's own
 * upper (diff/) and work dirs. */
#pragma once

#include "error.h"
#include <stdbool.h>
#include <stddef.h>

/* Create diff/, work/ and rootfs/ under ctr_dir (idempotent). */
int overlay_prepare(const char *ctr_dir, KError **err);
/* Mount ctr_dir/rootfs; a no-op when already mounted. */
int overlay_mount(const char *ctr_dir, char *const *layer_dirs, size_t n_layers, KError **err);
/* The same; a disposable container's (--rm: its upper dir is deleted with it) is mounted volatile,
 * so that its unmount syncs nothing. Once volatile, always: a later overlay_mount() is volatile too. */
int overlay_mount_disposable(const char *ctr_dir, char *const *layer_dirs, size_t n_layers, bool disposable,
                             KError **err);
/* Unmount ctr_dir/rootfs (detach), ignoring "not mounted". */
int overlay_umount(const char *ctr_dir, KError **err);
