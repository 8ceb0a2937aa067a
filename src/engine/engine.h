/* SPDX-License-Identifier: Apache-2.0 */
/* The engine: containers over the runtime core, the image store and the network layer, with state
 * in sqlite. No daemon: every kapsel command opens the engine, acts, and exits; a detached
 * container is watched by its monitor process (monitor.h). Layout under the root:
 *
 *   kapsel.db                    containers, micro-VMs (kind 'vm') and volumes (db.h)
 *   image/                       the image store (image.h)
 *   containers/<id>/             bundle/config.json, rootfs/ (overlay mount), diff/ + work/ (upper),
 *                                ctr.log (json lines), hosts, hostname, resolv.conf, attach.sock
 *   volumes/<name>/_data         named volumes
 *   runtime/                     the runtime core's state (one dir per running container)
 *   vm-cache/                    --isolation=vm: guest initramfs per kernel, rootfs disk per image
 *
 * A micro-VM's directory (containers/<id>/) holds ctr.log (serial console), attach.sock and
 * control.sock (kapsel-vmm's); an --isolation=vm container's adds upper.ext4, config.disk and
 * serial.fifo (vm-ops.h, vm-isolation.h).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "db.h"
#include "error.h"
#include "image.h"
#include "image-filter.h"
#include "net.h"
#include "time-util.h"

typedef struct Engine {
        char *root;             /* absolute */
        char *runtime_root;     /* root/runtime */
        Db *db;
        ImageStore *images;     /* opened on first use (engine_images) */
        void (*free_images)(ImageStore *s);     /* set with `images`: engine.c itself never links the store */
        NetCtx *net;            /* opened on first use (engine_net) */
} Engine;

int engine_open(const char *root, Engine **ret, KError **err);
void engine_free(Engine *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Engine *, engine_free)

/* The image store, opened on first use. */
int engine_images(Engine *e, ImageStore **ret, KError **err);
/* The network layer (root/net), opened on first use. */
int engine_net(Engine *e, NetCtx **ret, KError **err);
/* Find an image by reference; the built-in busybox image is imported on first use. */
int engine_image_lookup(Engine *e, const char *ref, Image **ret, KError **err);

/* What the monitor needs of a container's image, written next to the container before each start
 * (containers/<id>/image.json), so the monitor never opens the image store: it stays a small
 * binary that does not link the registry client or the archive library. */
typedef struct ImagePlan {
        char **layer_dirs;      /* lowest first, NULL-terminated */
        size_t n_layers;
        ImageConfig config;
        json_t *json;           /* owns the strings above */
} ImagePlan;
int image_plan_write(Engine *e, const char *id, const Image *img, KError **err);
int image_plan_read(const Engine *e, const char *id, ImagePlan *ret, KError **err);
void image_plan_done(ImagePlan *p);

/* What of a container's image is missing from the store (a kapsel older than untag-on-rmi -f, or a
 * hand edit): 0 when nothing, 1 with *ret_what saying what ("image sha256:... is gone", "layer ...
 * of image ... is gone"), negative errno when the store cannot be read. */
int engine_ctr_image_missing(Engine *e, const CtrRecord *rec, char **ret_what);

/* root/containers/<id>[/<file>] (file may be NULL). */
char *engine_ctr_path(const Engine *e, const char *id, const char *file);

/* A new 64-hex id and, when `name` is NULL, a generated "adjective_noun" name. */
int engine_new_id(char ret[static 65]);
char *engine_random_name(void);

static inline int64_t engine_now(void) {
        return now_realtime_ns();
}

/* Is this monitor/container process still the one we recorded? (pid reuse guard) */
bool engine_pid_alive(pid_t pid);
