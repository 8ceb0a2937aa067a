/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel build [-t NAME]... [-f FILE|-] [--target S] [--build-arg K=V]... [--label K=V]...
 * [--no-cache] [--pull] [--iidfile F] [-q] [--network MODE] [--isolation container|vm] CONTEXT|-
 * Parse, one build_run() call, print docker's classic progress lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "fd-util.h"
#include "kapsel-cli.h"
#include "string-util.h"

typedef struct Out {
        bool quiet;
        char *held;             /* -q: RUN output kept to show when the build fails */
        size_t n;
} Out;

static void progress(void *ud, BuildEventKind kind, const char *text, size_t len) {
        Out *o = ud;
        if (o->quiet) {
                if (kind != BUILD_EVENT_OUTPUT && kind != BUILD_EVENT_WARNING)
                        return;
                char *h = realloc(o->held, o->n + len + 1);
                if (!h)
                        return;
                memcpy(h + o->n, text, len);
                o->held = h;
                o->n += len;
                if (kind == BUILD_EVENT_WARNING)
                        o->held[o->n++] = '\n';
                return;
        }
        FILE *f = kind == BUILD_EVENT_WARNING ? stderr : stdout;
        fwrite(text, 1, len, f);
        if (kind != BUILD_EVENT_OUTPUT)
                fputc('\n', f);
        fflush(f);
}

static int add(char ***v, const char *s, KError **err) {
        return strv_extend(v, s) < 0 ? kerr(err, -ENOMEM, "build options") : 0;
}

K_VERB(build) {
        static const struct option opts[] = {
                { "tag", required_argument, NULL, 't' },        { "file", required_argument, NULL, 'f' },
                { "target", required_argument, NULL, 'T' },     { "build-arg", required_argument, NULL, 'a' },
                { "label", required_argument, NULL, 'l' },      { "no-cache", no_argument, NULL, 'n' },
                { "pull", no_argument, NULL, 'p' },             { "iidfile", required_argument, NULL, 'i' },
                { "quiet", no_argument, NULL, 'q' },            { "network", required_argument, NULL, 'N' },
                { "rm", optional_argument, NULL, 'r' },         { "force-rm", optional_argument, NULL, 'r' },
                { "isolation", required_argument, NULL, 'I' },  { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_strv_free_ char **tags = NULL, **args = NULL, **labels = NULL;
        const char *iidfile = NULL;
        BuildOptions bo = { .context_tar_fd = -1, .network = "bridge" };
        Out out = {};
        int c, r = 0;
        while (r >= 0 && (c = getopt_long(argc, argv, "+t:f:q", opts, NULL)) >= 0)
                switch (c) {
                case 't': r = add(&tags, optarg, err); break;
                case 'f': bo.dockerfile = optarg; break;
                case 'T': bo.target = optarg; break;
                case 'a': r = add(&args, optarg, err); break;
                case 'l': r = add(&labels, optarg, err); break;
                case 'n': bo.no_cache = true; break;
                case 'p': bo.pull = true; break;
                case 'i': iidfile = optarg; break;
                case 'q': out.quiet = true; break;
                case 'N': bo.network = optarg; break;
                case 'I': bo.isolation = optarg; break;
                case 'r': break;        /* intermediate containers are always removed */
                case 'h': return k_help("build");
                default: return k_usage(err, "build", "unknown option");
                }
        if (r < 0)
                return r;
        if (argc - optind != 1)
                return k_usage(err, "build", "expected one CONTEXT (a directory, or - for a tar on stdin)");
        /* docker's "default" is the default bridge, as for its classic builder; user networks are
         * checked by the builder before anything runs */
        if (streq(bo.network, "default") || !*bo.network)
                bo.network = "bridge";
        const char *ctx = argv[optind];
        _cleanup_free_ char *text = NULL;
        if (bo.dockerfile && streq(bo.dockerfile, "-")) {
                if (streq(ctx, "-"))
                        return k_usage(err, "build", "-f - and a context on stdin cannot both be read from stdin");
                if ((r = read_full_fd(STDIN_FILENO, 16 << 20, &text, &bo.dockerfile_len)) < 0)
                        return kerr(err, r, "read the Dockerfile from stdin");
                bo.dockerfile_text = text;
        }
        if (streq(ctx, "-"))
                bo.context_tar_fd = STDIN_FILENO;
        else
                bo.context_dir = ctx;
        bo.tags = tags;
        bo.build_args = args;
        bo.labels = labels;
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_free_ char *id = NULL;
        r = k_open(g, &e, err);
        if (r >= 0)
                r = build_run(e, &bo, progress, &out, &id, err);
        if (r < 0 && out.quiet && out.n)
                fwrite(out.held, 1, out.n, stderr);
        free(out.held);
        if (r < 0)
                return r;
        if (out.quiet)
                printf("%s\n", id);
        if (iidfile) {
                _cleanup_close_ int fd = open(iidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || write_all(fd, id, strlen(id)) < 0)
                        return kerr(err, -errno, "--iidfile %s", iidfile);
        }
        return 0;
}
