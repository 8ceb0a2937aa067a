/* SPDX-License-Identifier: Apache-2.0 */
/* ps: as runc, run ps(1) with the given options (default -ef) and keep the header and the
 * lines of the container's processes; --format json prints the pids. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"
#include "fd-util.h"
#include "json-util.h"
#include "runtime-cli.h"
#include "string-util.h"

/* Index of the PID column in ps(1)'s header, or -1. */
static int pid_column(const char *header) {
        _cleanup_free_ char *copy = strdup(header);
        char *save = NULL;
        int i = 0;
        for (char *t = copy ? strtok_r(copy, " \t", &save) : NULL; t; t = strtok_r(NULL, " \t", &save), i++)
                if (streq(t, "PID"))
                        return i;
        return -1;
}

static bool line_pid_in(const char *line, int col, const pid_t *pids, size_t n) {
        _cleanup_free_ char *copy = strdup(line);
        char *save = NULL, *t = copy ? strtok_r(copy, " \t", &save) : NULL;
        for (int i = 0; t && i < col; i++)
                t = strtok_r(NULL, " \t", &save);
        int64_t v;
        if (!t || parse_int64(t, &v) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (pids[i] == (pid_t) v)
                        return true;
        return false;
}

/* Run ps with `opts` and read all of its output. */
static int run_ps(char **opts, char **ret, KError **err) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return kerr(err, -errno, "pipe");
        size_t n = 0;
        while (opts[n])
                n++;
        char **argv = calloc(n + 3, sizeof(char *));
        if (!argv) {
                close(p[0]);
                close(p[1]);
                return -ENOMEM;
        }
        argv[0] = (char *) "ps";
        for (size_t i = 0; i < n; i++)
                argv[i + 1] = opts[i];
        if (n == 0)
                argv[1] = (char *) "-ef";
        pid_t pid = fork();
        if (pid == 0) {
                if (dup2(p[1], STDOUT_FILENO) < 0)
                        _exit(127);
                execvp("ps", argv);
                _exit(127);
        }
        free(argv);
        close(p[1]);
        if (pid < 0) {
                close(p[0]);
                return kerr(err, -errno, "fork");
        }
        int r = read_full_fd(p[0], 16 << 20, ret, NULL);
        close(p[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return kerr(err, -errno, "wait for ps");
        if (r < 0)
                return kerr(err, r, "read the output of ps");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return kerr_msg(err, KERR_GENERIC, -EIO, "ps %s failed (exit status %d): are the options valid for "
                                "ps(1)?", n ? opts[0] : "-ef", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
}

RT_VERB(ps) {
        static const struct option opts[] = {
                { "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, {}
        };
        bool json = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+f:h", opts, NULL)) >= 0) {
                if (c == 'f') {
                        if (!streq(optarg, "json") && !streq(optarg, "table"))
                                return rt_usage_error(err, "ps", "--format: \"%s\" is not table or json", optarg);
                        json = streq(optarg, "json");
                } else if (c == 'h') {
                        rt_print_verb_help("ps");
                        return 0;
                } else
                        return rt_usage_error(err, "ps", "unknown option");
        }
        /* the id is the first positional argument; what follows goes to ps(1) */
        if (argc - optind < 1)
                return rt_usage_error(err, "ps", "missing container id");
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r = container_pids(g->root, argv[optind], &pids, &n, err);
        if (r < 0)
                return r;
        if (json) {
                _cleanup_json_ json_t *a = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(a, json_integer(pids[i]));
                return json_print(a, false);
        }
        _cleanup_free_ char *out = NULL;
        if ((r = run_ps(argv + optind + 1, &out, err)) < 0)
                return r;
        char *save = NULL, *header = strtok_r(out, "\n", &save);
        if (!header)
                return 0;
        int col = pid_column(header);
        if (col < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "ps: the output of ps(1) has no PID column: keep it in -o");
        printf("%s\n", header);
        for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (line_pid_in(line, col, pids, n))
                        printf("%s\n", line);
        return 0;
}
