/* SPDX-License-Identifier: Apache-2.0 */
/* pull and push: the registry client moves an OCI layout, the store imports/exports it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "auth.h"
#include "engine-pull.h"
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
        o->credentials = auth_registry_credentials;     /* `kapsel login`'s, when no -u */
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

/* What pull and push share: the flags, the normalized reference, the store and a staging directory
 * (removed with the rest by registry_verb_done). */
typedef struct RegistryVerb {
        RegistryOptions o;
        char *platform, *ref, *dir;
        Engine *e;
        ImageStore *s;
} RegistryVerb;

static void registry_verb_done(RegistryVerb *v) {
        if (v->dir)
                (void) rm_rf(v->dir);
        free(v->dir);
        free(v->ref);
        free(v->platform);
        engine_free(v->e);
}

/* Returns 1 when the verb is done already (--help), 0 to go on, or an error. */
static int registry_verb_prepare(const char *verb, const KGlobals *g, int argc, char **argv, RegistryVerb *v,
                                 KError **err) {
        int r = parse_reg_flags(verb, argc, argv, &v->o, &v->platform, err);
        if (r != 0)
                return r < 0 ? r : 1;
        if ((r = image_ref_normalize(argv[optind], &v->ref, err)) < 0 || (r = k_open(g, &v->e, err)) < 0 ||
            (r = engine_images(v->e, &v->s, err)) < 0)
                return r;
        return (v->dir = staging_dir(v->s, err)) ? 0 : -EIO;
}

K_VERB(pull) {
        _cleanup_(registry_verb_done) RegistryVerb v = { 0 };
        _cleanup_free_ char *id = NULL;
        int r = registry_verb_prepare("pull", g, argc, argv, &v, err);
        if (r != 0)
                return r < 0 ? r : 0;
        if ((r = registry_pull(v.ref, &v.o, v.dir, err)) < 0 ||
            (r = image_import_oci_layout(v.s, v.dir, NULL, v.ref, &id, err)) < 0)
                return r;
        events_emit(v.e->root, "image", "pull", v.ref, json_pack("{s:s}", "name", v.ref));
        printf("%s\n%s\n", id, v.ref);
        return 0;
}

K_VERB(push) {
        _cleanup_(registry_verb_done) RegistryVerb v = { 0 };
        int r = registry_verb_prepare("push", g, argc, argv, &v, err);
        if (r != 0)
                return r < 0 ? r : 0;
        r = engine_image_push(v.e, argv[optind], v.ref, &v.o, NULL, err);
        return r < 0 ? r : 0;
}
