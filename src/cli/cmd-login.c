/* SPDX-License-Identifier: Apache-2.0 */
/* login, logout: credentials checked against the registry, then kept in docker's config.json
 * (auth.h), where pull and push find them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "kapsel-cli.h"
#include "registry.h"
#include "string-util.h"

/* One line from `f` without its newline; NULL at end of input. */
static char *read_line(FILE *f) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, f);
        if (n < 0) {
                free(line);
                return NULL;
        }
        line[strcspn(line, "\r\n")] = 0;
        return line;
}

/* Ask on the terminal, without echo for a password. */
static char *prompt(const char *question, bool secret) {
        struct termios old, quiet;
        bool restore = secret && tcgetattr(STDIN_FILENO, &old) == 0;
        if (restore) {  /* echo off before the question: an answer typed ahead is not shown either */
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t) ECHO;
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
        }
        fprintf(stderr, "%s", question);
        fflush(stderr);
        char *line = read_line(stdin);
        if (restore) {
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &old);
                fputc('\n', stderr);
        }
        return line;
}

K_VERB(login) {
        static const struct option opts[] = { { "username", required_argument, NULL, 'u' }, { "password", required_argument, NULL, 'p' },
                                               { "password-stdin", no_argument, NULL, 'S' }, { "help", no_argument, NULL, 'h' }, {} };
        const char *user = NULL, *password = NULL;
        bool from_stdin = false;
        int c;
        while ((c = getopt_long(argc, argv, "+u:p:h", opts, NULL)) >= 0)
                switch (c) {
                case 'u': user = optarg; break;
                case 'p': password = optarg; break;
                case 'S': from_stdin = true; break;
                case 'h': return k_help("login");
                default: return k_usage(err, "login", "unknown option");
                }
        if (argc - optind > 1)
                return k_usage(err, "login", "expected at most one SERVER");
        const char *server = optind < argc ? argv[optind] : "docker.io";
        if (password && from_stdin)
                return k_usage(err, "login", "--password and --password-stdin are mutually exclusive");
        if (from_stdin && !user)
                return k_usage(err, "login", "Must provide --username with --password-stdin");
        if (password)
                fprintf(stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
        _cleanup_free_ char *user_buf = NULL, *pass_buf = NULL;
        if (!user) {
                if (!isatty(STDIN_FILENO))
                        return k_usage(err, "login", "no terminal to ask for the username: give -u USER and --password-stdin");
                user = user_buf = prompt("Username: ", false);
        }
        if (!password) {
                if (!from_stdin && !isatty(STDIN_FILENO))
                        return k_usage(err, "login", "no terminal to ask for the password: use --password-stdin");
                password = pass_buf = from_stdin ? read_line(stdin) : prompt("Password: ", true);
        }
        if (!user || !*user || !password || !*password)
                return k_usage(err, "login", "username and password must not be empty");
        RegistryOptions o = { .username = user, .password = password };
        int r = registry_login(server, &o, err);
        if (r >= 0)
                r = auth_store(server, user, password, err);
        if (pass_buf)
                explicit_bzero(pass_buf, strlen(pass_buf));
        if (r < 0)
                return r;
        printf("Login Succeeded\n");
        return 0;
}

K_VERB(logout) {
        if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h")))
                return k_help("logout");
        if (argc > 2)
                return k_usage(err, "logout", "expected at most one SERVER");
        _cleanup_free_ char *key = NULL;
        if (auth_server_key(argc == 2 ? argv[1] : "", &key) < 0)
                return kerr(err, -ENOMEM, "logout");
        int r = auth_remove(key, err);
        if (r == -ENOENT) {
                printf("Not logged in to %s\n", key);
                return 0;
        }
        if (r < 0)
                return r;
        printf("Removing login credentials for %s\n", key);
        return 0;
}
