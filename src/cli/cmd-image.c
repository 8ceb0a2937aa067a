/* SPDX-License-Identifier: Apache-2.0 */
/* images, rmi, tag, image inspect, history, image prune, load, save, import: thin verbs over
 * the image store (src/image/image.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "ctr-inspect.h"
#include "json-util.h"
#include "kapsel-cli.h"
#include "logs.h"
#include "spool.h"
#include "string-util.h"
#include "template.h"

static void short_id(const char *id, char buf[static 13]) {
        const char *hex = startswith(id, "sha256:") ?: id;
        snprintf(buf, 13, "%s", hex);
}

static void size_text(uint64_t b, char buf[static 16]) {
        if (b >= 1000000000)
                snprintf(buf, 16, "%.2fGB", (double) b / 1e9);
        else if (b >= 1000000)
                snprintf(buf, 16, "%.2fMB", (double) b / 1e6);
        else
                snprintf(buf, 16, "%.1fkB", (double) b / 1e3);
}

/* "docker.io/library/busybox:latest" -> repository "busybox", tag "latest" (docker's display) */
static void split_name(const char *name, char *repo, size_t repo_len, const char **tag) {
        const char *shown = startswith(name, "docker.io/library/") ?: startswith(name, "docker.io/") ?: name;
        const char *colon = strrchr(shown, ':');
        if (colon && strchr(colon, '/'))
                colon = NULL;   /* a registry port, not a tag */
        snprintf(repo, repo_len, "%.*s", colon ? (int) (colon - shown) : (int) strlen(shown), shown);
        *tag = colon ? colon + 1 : "<none>";
}

static json_t *image_row(const Image *img, const char *name) {
        char repo[256], id[13], created[40] = "", size[16];
        const char *tag = "<none>";
        if (name)
                split_name(name, repo, sizeof(repo), &tag);
        else
                snprintf(repo, sizeof(repo), "<none>");
        short_id(img->id, id);
        if (img->created)
                snprintf(created, sizeof(created), "%s", img->created);
        size_text(img->size, size);
        /* docker's CREATED column: "3 weeks ago" */
        char since[48] = "N/A", ago[32];
        int64_t t;
        if (img->created && logs_parse_time(img->created, engine_now(), &t) == 0) {
                human_duration(engine_now() - t, ago);
                snprintf(since, sizeof(since), "%s ago", ago);
        }
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Repository", repo, "Tag", tag, "ID", id, "CreatedAt",
                         created, "CreatedSince", since, "Size", size, "Digest", img->manifest_digest ?: "");
}

static int open_store(const KGlobals *g, Engine **e, ImageStore **s, KError **err) {
        int r = k_open(g, e, err);
        return r < 0 ? r : engine_images(*e, s, err);
}

K_VERB(images) {
        /* docker's -f is --filter; --format has no short form */
        static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' }, { "format", required_argument, NULL, 'F' },
                                               { "filter", required_argument, NULL, 'f' }, { "all", no_argument, NULL, 'a' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        static const KColumn cols[] = {
                { "REPOSITORY", "Repository", 40 }, { "TAG", "Tag", 12 }, { "IMAGE ID", "ID", 14 },
                { "CREATED", "CreatedSince", 32 }, { "SIZE", "Size" }, { "CREATED AT", "CreatedAt", .extra = true }, {}
        };
        KListFormat f = { .quiet_field = "ID" };
        _cleanup_strv_free_ char **filters = NULL;
        bool all = false;
        int c;
        while ((c = getopt_long(argc, argv, "qaf:", opts, NULL)) >= 0)
                switch (c) {
                case 'q': f.quiet = true; break;
                case 'a': all = true; break;
                case 'F': f.format = optarg; break;
                case 'f':
                        if (strv_extend(&filters, optarg) < 0)
                                return kerr(err, -ENOMEM, "images");
                        break;
                case 'h': return k_help("images");
                default: return k_usage(err, "images", "unknown option");
                }
        if (optind < argc) {    /* docker's `images [REPOSITORY[:TAG]]` */
                _cleanup_free_ char *ref = NULL;
                if (optind + 1 < argc)
                        return k_usage(err, "images", "at most one REPOSITORY[:TAG]");
                if (asprintf(&ref, "reference=%s", argv[optind]) < 0 || strv_extend(&filters, ref) < 0)
                        return kerr(err, -ENOMEM, "images");
        }
        _cleanup_(engine_freep) Engine *e = NULL;
        ImageStore *s;
        Image **list = NULL;
        size_t n = 0;
        int r = open_store(g, &e, &s, err);
        if (r >= 0)
                r = image_list(s, &list, &n, err);
        if (r < 0)
                return r;
        _cleanup_(image_filter_freep) ImageFilter *flt = NULL;
        if ((r = image_filter_new(filters, list, n, &flt, err)) < 0) {
                image_list_free(list, n);
                return r;
        }
        json_t *rows = json_array();
        for (size_t i = 0; i < n; i++) {
                if ((!list[i]->names || !list[i]->names[0]) && (all || !image_is_intermediate(list[i], list, n)) &&
                    image_filter_match(flt, list[i], NULL))
                        json_array_append_new(rows, image_row(list[i], NULL));
                for (char **nm = list[i]->names; nm && *nm; nm++)
                        if (image_filter_match(flt, list[i], *nm))
                                json_array_append_new(rows, image_row(list[i], *nm));
        }
        image_list_free(list, n);
        r = k_print_list(rows, &f, cols, err);
        json_decref(rows);
        return r < 0 ? r : 0;
}

/* Is the image used by any container? Then rmi refuses without -f, as docker does. */
static int image_user(Engine *e, const Image *img, char **ret_name, KError **err) {
        CtrRecord **list = NULL;
        size_t n = 0;
        int r = db_ctr_list(e->db, &list, &n, err);
        if (r < 0)
                return r;
        *ret_name = NULL;
        for (size_t i = 0; i < n && !*ret_name; i++)
                if (streq(list[i]->image_id, img->id))
                        *ret_name = strdup(list[i]->name);
        ctr_record_list_free(list, n);
        return 0;
}

K_VERB(rmi) {
        static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, {} };
        bool force = false;
        int c;
        while ((c = getopt_long(argc, argv, "+f", opts, NULL)) >= 0) {
                if (c == 'h')
                        return k_help("rmi");
                if (c != 'f')
                        return k_usage(err, "rmi", "unknown option");
                force = true;
        }
        if (optind >= argc)
                return k_usage(err, "rmi", "missing IMAGE");
        _cleanup_(engine_freep) Engine *e = NULL;
        ImageStore *s;
        int r = open_store(g, &e, &s, err);
        for (int i = optind; i < argc && r >= 0; i++) {
                _cleanup_(image_freep) Image *img = NULL;
                _cleanup_free_ char *user = NULL, *untagged = NULL;
                if ((r = image_lookup(s, argv[i], &img, err)) < 0 || (r = image_user(e, img, &user, err)) < 0)
                        break;
                if (user && !force) {
                        r = kerr_msg(err, KERR_STATE, -EBUSY,
                                     "image %s is used by container %s: remove the container first (or rmi -f)", argv[i], user);
                        break;
                }
                if (user) {     /* forced, in use: only untag; the layers stay while a container uses them */
                        _cleanup_strv_free_ char **names = NULL;
                        if ((r = image_untag(s, argv[i], &names, err)) < 0)
                                break;
                        for (char **nm = names; *nm; nm++)
                                printf("Untagged: %s\n", *nm);
                        continue;
                }
                if ((r = image_remove(s, argv[i], force, &untagged, err)) < 0)
                        break;
                if (untagged) {
                        events_emit(e->root, "image", "untag", img->id, json_pack("{s:s}", "name", untagged));
                        printf("Untagged: %s\n", untagged);
                }
                _cleanup_(image_freep) Image *left = NULL;
                if (image_lookup(s, img->id, &left, NULL) < 0) {       /* the last name went: the image too */
                        events_emit(e->root, "image", "delete", img->id, json_pack("{s:s}", "name", argv[i]));
                        printf("Deleted: %s\n", img->id);
                }
        }
        uint64_t freed = 0;
        if (r >= 0)
                (void) image_gc(s, &freed, NULL);
        return r < 0 ? r : 0;
}

K_VERB(tag) {
        if (argc != 3)
                return k_usage(err, "tag", "expected SOURCE TARGET");
        _cleanup_(engine_freep) Engine *e = NULL;
        ImageStore *s;
        int r = open_store(g, &e, &s, err);
        if (r >= 0 && (r = image_tag(s, argv[1], argv[2], err)) >= 0)
                events_emit(e->root, "image", "tag", argv[2], json_pack("{s:s}", "name", argv[2]));
        return r;
}

json_t *k_image_doc(const Image *img) {
        json_t *layers = json_array();
        for (size_t k = 0; k < img->n_layers; k++)
                json_array_append_new(layers, json_string(img->layer_dirs[k]));
        return json_pack("{s:s, s:o, s:s, s:s, s:s, s:I, s:O, s:{s:s, s:o}}", "Id", img->id, "RepoTags",
                         json_from_strv(img->names), "Created", img->created ?: "", "Os", img->os ?: "linux",
                         "Architecture", img->architecture ?: "amd64", "Size", (json_int_t) img->size, "Config",
                         json_object_get(img->config_json, "config") ?: json_null(), "RootFS", "Type", "layers", "Layers",
                         layers);
}

K_VERB(image_inspect) {
        static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, {} };
        const char *format = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+f:", opts, NULL)) >= 0) {
                if (c == 'h')
                        return k_help("image-inspect");
                if (c != 'f')
                        return k_usage(err, "image inspect", "unknown option");
                format = optarg;
        }
        if (optind >= argc)
                return k_usage(err, "image inspect", "missing IMAGE");
        _cleanup_(engine_freep) Engine *e = NULL;
        ImageStore *s;
        int r = open_store(g, &e, &s, err);
        json_t *out = json_array();
        for (int i = optind; i < argc && r >= 0; i++) {
                _cleanup_(image_freep) Image *img = NULL;
                if ((r = image_lookup(s, argv[i], &img, err)) < 0)
                        break;
                json_t *doc = k_image_doc(img);
                if (format && !streq(format, "json")) {
                        r = template_render(format, doc, stdout, err);
                        putchar('\n');
                        json_decref(doc);
                } else
                        json_array_append_new(out, doc);
        }
        if (r >= 0 && (!format || streq(format, "json")))
                json_print(out, true);
        json_decref(out);
        return r < 0 ? r : 0;
}

K_VERB(history) {
        if (argc != 2)
                return k_usage(err, "history", "expected IMAGE");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(image_freep) Image *img = NULL;
        ImageStore *s;
        int r = open_store(g, &e, &s, err);
        if (r >= 0)
                r = image_lookup(s, argv[1], &img, err);
        if (r < 0)
                return r;
        printf("%-32s %-60s %s\n", "CREATED", "CREATED BY", "COMMENT");
        json_t *hist = json_object_get(img->config_json, "history");
        for (size_t i = json_array_size(hist); i-- > 0;) {
                json_t *h = json_array_get(hist, i);
                printf("%-32s %-60.60s %s\n", json_string_value(json_object_get(h, "created")) ?: "",
                       json_string_value(json_object_get(h, "created_by")) ?: "",
                       json_string_value(json_object_get(h, "comment")) ?: "");
        }
        return 0;
}

/* The archive argument of load/import: a file, or "-" (and, for load, no -i when stdin is not a
 * terminal) for stdin, spooled to a private file first. *ret_spool is that file (to unlink). */
static int archive_input(Engine *e, const char *verb, const char *arg, char **ret_spool, const char **ret_path,
                         KError **err) {
        *ret_spool = NULL;
        if (arg && !streq(arg, "-")) {
                *ret_path = arg;
                return 0;
        }
        if (isatty(STDIN_FILENO))
                return k_usage(err, verb, "requested to read the archive from standard input, but it is a terminal: "
                                          "give a file (-i FILE) or pipe one in");
        int r = spool_from_fd(e, STDIN_FILENO, ret_spool, err);
        *ret_path = *ret_spool;
        struct stat st;
        if (r >= 0 && stat(*ret_spool, &st) == 0 && st.st_size == 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s: requested to read the archive from standard input, but it is empty",
                                verb);
        return r;
}

K_VERB(load) {
        static const struct option opts[] = { { "input", required_argument, NULL, 'i' }, { "quiet", no_argument, NULL, 'q' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        const char *input = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+i:q", opts, NULL)) >= 0)
                switch (c) {
                case 'i': input = optarg; break;
                case 'q': break;
                case 'h': return k_help("load");
                default: return k_usage(err, "load", "unknown option");
                }
        if (optind < argc)
                return k_usage(err, "load", "takes no arguments: give the archive with -i FILE or on stdin");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *spool = NULL;
        const char *path = NULL;
        ImageStore *s;
        int r = open_store(g, &e, &s, err);
        if (r >= 0 && (r = archive_input(e, "load", input, &spool, &path, err)) >= 0 &&
            (r = image_load(s, path, &names, err)) < 0 && spool)
                r = kerr_prefix(err, r, "load from standard input");
        spool_remove(spool);
        for (char **nm = names; r >= 0 && nm && *nm; nm++)
                printf("Loaded image: %s\n", *nm);
        return r < 0 ? r : 0;
}

K_VERB(save) {
        static const struct option opts[] = { { "output", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' }, {} };
        const char *output = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+o:", opts, NULL)) >= 0) {
                if (c == 'h')
                        return k_help("save");
                if (c != 'o')
                        return k_usage(err, "save", "unknown option");
                output = optarg;
        }
        if (optind >= argc)
                return k_usage(err, "save", "expected [-o FILE] IMAGE...");
        if ((!output || streq(output, "-")) && isatty(STDOUT_FILENO))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "Cowardly refusing to save to a terminal. Use the -o flag or redirect");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_free_ char *spool = NULL;
        ImageStore *s;
        int r = open_store(g, &e, &s, err);
        if (r < 0 || (output && !streq(output, "-")))
                return r < 0 ? r : image_save(s, argv + optind, output, err);
        if ((r = spool_path(e, "save.tar", &spool, err)) >= 0 && (r = image_save(s, argv + optind, spool, err)) >= 0)
                r = spool_to_fd(spool, STDOUT_FILENO, err);
        spool_remove(spool);
        return r;
}

K_VERB(import) {
        if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h")))
                return k_help("import");
        if (argc < 2 || argc > 3)
                return k_usage(err, "import", "expected FILE|- [NAME]");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_free_ char *id = NULL, *spool = NULL;
        const char *path = NULL;
        ImageStore *s;
        char *cmd[] = { "sh", NULL };
        ImageConfig cfg = { .cmd = cmd };
        int r = open_store(g, &e, &s, err);
        if (r >= 0 && (r = archive_input(e, "import", argv[1], &spool, &path, err)) >= 0 &&
            (r = image_import_rootfs(s, path, argc == 3 ? argv[2] : NULL, &cfg, &id, err)) < 0 && spool)
                r = kerr_prefix(err, r, "import from standard input");
        spool_remove(spool);
        if (r >= 0)
                printf("%s\n", id);
        return r < 0 ? r : 0;
}
