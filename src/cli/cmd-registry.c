/* SPDX-License-Identifier: Apache-2.0 */
/* pull and push: the registry client moves an OCI layout, the store imports/exports it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kapsel-cli.h"
#include "path-util.h"
#include "registry.h"
#include "rm-rf.h"
#include "string-util.h"

static int parse_reg_flags(const char *verb, int argc, char **argv, RegistryOptions *o, char **platform, KError **err) {
        static const struct option opts[] = {
                { "username", required_argument, NULL, 'u' }, { "password", required_argument, NULL, 'p' },
                { "tls-verify", required_argument, NULL, 'T' }, { "platform", required_argument, NULL, 'P' },
                { "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' }, {}
        };
        o->progress = isatty(STDERR_FILENO);
        int c;
        while ((c = getopt_long(argc, argv, "+u:p:q", opts, NULL)) >= 0)
                switch (c) {
                case 'u': o->username = optarg; break;
                case 'p': o->password = optarg; break;
                case 'T': o->insecure = streq(optarg, "false"); break;
                case 'P': {
                        /* os/arch[/variant] */
                        *platform = strdup(optarg);
                        char *a = *platform ? strchr(*platform, '/') : NULL;
                        if (!a)
                                return k_usage(err, verb, "--platform \"%s\": expected OS/ARCH[/VARIANT]", optarg);
                        *a++ = 0;
                        char *v = strchr(a, '/');
                        if (v)
                                *v++ = 0;
                        o->os = *platform;
                        o->architecture = a;
                        o->variant = v;
                        break;
                }
                case 'q': o->progress = false; break;
                case 'h': return k_help(verb);
                default: return k_usage(err, verb, "unknown option");
                }
        if (!o->password)
                o->password = getenv("KAPSEL_REGISTRY_PASSWORD");
        if (argc - optind != 1)
                return k_usage(err, verb, "expected exactly one IMAGE reference");
        return 0;
}

/* A staging directory inside the store, so the import renames blobs instead of copying. */
static char *staging_dir(ImageStore *s, KError **err) {
        _cleanup_free_ char *tmp = path_join(image_store_root(s), "tmp");
        char *dir = NULL;
        if (!tmp || asprintf(&dir, "%s/transfer-XXXXXX", tmp) < 0 || !mkdtemp(dir)) {
                kerr(err, -errno, "create a staging directory under %s", tmp ?: "?");
                free(dir);
                return NULL;
        }
        return dir;
}

K_VERB(pull) {
        RegistryOptions o = { 0 };
        _cleanup_free_ char *platform = NULL, *ref = NULL, *dir = NULL, *id = NULL;
        int r = parse_reg_flags("pull", argc, argv, &o, &platform, err);
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_(engine_freep) Engine *e = NULL;
        ImageStore *s;
        if ((r = image_ref_normalize(argv[optind], &ref, err)) < 0 || (r = k_open(g, &e, err)) < 0 ||
            (r = engine_images(e, &s, err)) < 0)
                return r;
        if (!(dir = staging_dir(s, err)))
                return -EIO;
        r = registry_pull(ref, &o, dir, err);
        if (r >= 0)
                r = image_import_oci_layout(s, dir, NULL, ref, &id, err);
        (void) rm_rf(dir);
        if (r < 0)
                return r;
        printf("%s\n%s\n", id, ref);
        return 0;
}

K_VERB(push) {
        RegistryOptions o = { 0 };
        _cleanup_free_ char *platform = NULL, *ref = NULL, *dir = NULL;
        int r = parse_reg_flags("push", argc, argv, &o, &platform, err);
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_(engine_freep) Engine *e = NULL;
        ImageStore *s;
        if ((r = image_ref_normalize(argv[optind], &ref, err)) < 0 || (r = k_open(g, &e, err)) < 0 ||
            (r = engine_images(e, &s, err)) < 0)
                return r;
        if (!(dir = staging_dir(s, err)))
                return -EIO;
        r = image_export_oci_layout(s, argv[optind], dir, err);
        if (r >= 0)
                r = registry_push(dir, ref, &o, err);
        (void) rm_rf(dir);
        return r < 0 ? r : 0;
}
