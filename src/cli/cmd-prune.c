/* SPDX-License-Identifier: Apache-2.0 */
/* container prune, volume prune, image prune, system prune: docker's prompt (unless -f), its
 * "Deleted ...:" lists and "Total reclaimed space:". The selection is the engine's (prune.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "kapsel-cli.h"
#include "net.h"
#include "prune.h"
#include "string-util.h"

typedef struct PruneArgs {
        bool all, force, volumes;
        PruneFilter filter;
} PruneArgs;

/* Returns 1 when --help was printed, 0 to go on, or a usage error. `with_volumes`: --volumes. */
static int parse_prune(const char *verb, const char *help_verb, bool with_volumes, int argc, char **argv, PruneArgs *a,
                       KError **err) {
        static const struct option opts[] = { { "all", no_argument, NULL, 'a' },    { "force", no_argument, NULL, 'f' },
                                               { "filter", required_argument, NULL, 'F' }, { "volumes", no_argument, NULL, 'V' },
                                               { "help", no_argument, NULL, 'h' },   {} };
        int c, r;
        while ((c = getopt_long(argc, argv, "+afh", opts, NULL)) >= 0)
                switch (c) {
                case 'a': a->all = true; break;
                case 'f': a->force = true; break;
                case 'F':
                        if ((r = prune_filter_add(&a->filter, optarg, err)) < 0)
                                return kerr_prefix(err, r, "%s", verb);
                        break;
                case 'V':
                        if (!with_volumes)
                                return k_usage(err, verb, "unknown option --volumes");
                        a->volumes = true;
                        break;
                case 'h': k_help(help_verb); return 1;
                default: return k_usage(err, verb, "unknown option");
                }
        if (optind < argc)
                return k_usage(err, verb, "takes no arguments (\"%s\")", argv[optind]);
        return 0;
}

static void print_deleted(const char *title, char **items, uint64_t space, bool total) {
        if (items && items[0]) {
                printf("%s\n", title);
                for (char **p = items; *p; p++)
                        printf("%s\n", *p);
                printf("\n");
        }
        if (total) {
                char sz[16];
                format_human_size(space, sz);
                printf("Total reclaimed space: %s\n", sz);
        }
}

static int run_prune(const KGlobals *g, const char *verb, const char *help_verb, bool with_volumes, int argc,
                     char **argv, const char *(*warning)(const PruneArgs *a),
                     int (*act)(Engine *e, const PruneArgs *a, uint64_t *space, KError **err), KError **err) {
        PruneArgs a = {};
        int r = parse_prune(verb, help_verb, with_volumes, argc, argv, &a, err);
        if (r == 0 && !a.force && !k_confirm(warning(&a)))
                r = 1;  /* declined: nothing happens, exit 0 as docker */
        _cleanup_(engine_freep) Engine *e = NULL;
        uint64_t space = 0;
        if (r == 0 && (r = k_open(g, &e, err)) >= 0 && (r = act(e, &a, &space, err)) >= 0) {
                char sz[16];
                format_human_size(space, sz);
                printf("Total reclaimed space: %s\n", sz);
        }
        prune_filter_done(&a.filter);
        return r < 0 ? r : 0;
}

static const char *containers_warning(const PruneArgs *a) {
        (void) a;
        return "WARNING! This will remove all stopped containers.";
}

static int containers_act(Engine *e, const PruneArgs *a, uint64_t *space, KError **err) {
        _cleanup_strv_free_ char **ids = NULL;
        int r = prune_containers(e, &a->filter, &ids, space, err);
        if (r >= 0)
                print_deleted("Deleted Containers:", ids, 0, false);
        return r;
}

K_VERB(container_prune) {
        return run_prune(g, "container prune", "container-prune", false, argc, argv, containers_warning, containers_act, err);
}

static const char *volumes_warning(const PruneArgs *a) {
        return a->all ? "WARNING! This will remove all local volumes not used by at least one container."
                      : "WARNING! This will remove anonymous local volumes not used by at least one container.";
}

static int volumes_act(Engine *e, const PruneArgs *a, uint64_t *space, KError **err) {
        _cleanup_strv_free_ char **names = NULL;
        int r = prune_volumes(e, &a->filter, a->all, &names, space, err);
        if (r >= 0)
                print_deleted("Deleted Volumes:", names, 0, false);
        return r;
}

K_VERB(volume_prune) {
        return run_prune(g, "volume prune", "volume-prune", false, argc, argv, volumes_warning, volumes_act, err);
}

static const char *images_warning(const PruneArgs *a) {
        return a->all ? "WARNING! This will remove all images without at least one container associated to them."
                      : "WARNING! This will remove all dangling images.";
}

static int images_act(Engine *e, const PruneArgs *a, uint64_t *space, KError **err) {
        size_t removed = 0;
        int r = prune_images(e, a->all, &removed, space, err);
        if (r >= 0 && removed)
                printf("Deleted Images: %zu\n\n", removed);
        return r;
}

K_VERB(image_prune) {
        return run_prune(g, "image prune", "image-prune", false, argc, argv, images_warning, images_act, err);
}

static const char *system_warning(const PruneArgs *a) {
        static char buf[512];
        snprintf(buf, sizeof(buf),
                 "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n"
                 "%s%s\n",
                 a->volumes ? "  - all anonymous volumes not used by at least one container\n" : "",
                 a->all ? "  - all images without at least one container associated to them"
                        : "  - all dangling images");
        return buf;
}

static int system_act(Engine *e, const PruneArgs *a, uint64_t *space, KError **err) {
        uint64_t s = 0;
        int r = containers_act(e, a, &s, err);
        *space += s;
        NetCtx *ctx;
        _cleanup_strv_free_ char **nets = NULL;
        if (r >= 0 && (r = engine_net(e, &ctx, err)) >= 0 && (r = net_network_prune(ctx, &nets, err)) >= 0) {
                for (char **p = nets; *p; p++)
                        events_emit(e->root, "network", "destroy", *p, json_pack("{s:s, s:s}", "name", *p, "type", "bridge"));
                print_deleted("Deleted Networks:", nets, 0, false);
        }
        if (r >= 0 && a->volumes && (r = volumes_act(e, a, &s, err)) >= 0)
                *space += s;
        s = 0;
        if (r >= 0 && (r = images_act(e, a, &s, err)) >= 0)
                *space += s;
        return r;
}

K_VERB(system_prune) {
        return run_prune(g, "system prune", "system-prune", true, argc, argv, system_warning, system_act, err);
}
