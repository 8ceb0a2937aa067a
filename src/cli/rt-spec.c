/* SPDX-License-Identifier: Apache-2.0 */
/* `spec`: write a default config.json into the bundle (refuses to overwrite one). */
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "fd-util.h"
#include "runtime-cli.h"
#include "spec.h"

RT_VERB(spec) {
        static const struct option opts[] = {
                { "bundle", required_argument, NULL, 'b' }, { "rootless", no_argument, NULL, 'R' },
                { "help", no_argument, NULL, 'h' }, {}
        };
        const char *bundle = ".";
        bool rootless = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+b:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'b': bundle = optarg; break;
                case 'R': rootless = true; break;
                case 'h': rt_print_verb_help("spec"); return 0;
                default: return rt_usage_error(err, "spec", "unknown option");
                }
        }
        if (optind != argc)
                return rt_usage_error(err, "spec", "unexpected argument \"%s\"", argv[optind]);
        CgroupMode mode = CGROUP_MODE_V2;
        (void) cgroup_detect("/sys/fs/cgroup", &mode, NULL);
        _cleanup_free_ char *text = spec_default_json_for(rootless, mode == CGROUP_MODE_V2, getuid(), getgid());
        if (!text)
                return -ENOMEM;
        _cleanup_close_ int dir = open(bundle, O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return kerr_kind(err, KERR_USAGE, -errno, "bundle '%s'", bundle);
        _cleanup_close_ int fd = openat(dir, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return kerr_kind(err, errno == EEXIST ? KERR_EXISTS : KERR_GENERIC, -errno,
                                 "write '%s/config.json' (remove the old one first)", bundle);
        int r = write_all(fd, text, strlen(text));
        if (r < 0)
                return kerr(err, r, "write '%s/config.json'", bundle);
        return 0;
}
