/* SPDX-License-Identifier: Apache-2.0 */
/* kapseld: serve the Docker Engine API for the kapsel root, so that docker, docker-compose and the
 * SDKs drive kapsel (DOCKER_HOST=unix:///run/kapsel/docker.sock). The daemon holds no state of its
 * own: containers live under their monitors, rows in the root's database, and the daemonless CLI
 * works on the same root at the same time. A kill -9 loses nothing; at start the engine's check
 * repairs what was left. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <getopt.h>
#include <libgen.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build.h"
#include "check.h"
#include "daemon.h"
#include "lazy.h"
#include "log.h"
#include "monitor.h"
#include "string-util.h"
#include "path-util.h"
#include "web.h"

static void usage(void) {
        printf("Usage: kapseld [--root DIR] [--host unix:///PATH]... [--group NAME] [--max-connections N]\n"
               "               [--host tcp://ADDR:PORT --tlsverify --tlscacert CA.pem --tlscert CERT.pem --tlskey KEY.pem]\n\n"
               "Serve the Docker Engine API (%s, down to %s) on a unix socket (0660, group kapsel when it exists),\n"
               "and on TCP only with mutual TLS (clients need a certificate signed by --tlscacert).\n"
               "Default: --root /var/lib/kapsel --host unix:///run/kapsel/docker.sock\n"
               "Clients: DOCKER_HOST=unix:///run/kapsel/docker.sock docker ps\n"
               "         docker --tlsverify --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem -H tcp://ADDR:PORT ps\n"
               "Web console: [--web-listen ADDR:PORT --tlscert FILE --tlskey FILE] [--web-session-ttl SECONDS]\n"
               "  (plain HTTP on loopback only; the console is also under /console/ on the socket)\n",
               API_VERSION, API_MIN_VERSION);
}

/* The monitor next to us when installed; in the build tree it is in src/cli. */
static void find_monitor(void) {
        if (getenv("KAPSEL_MONITOR"))
                return;
        _cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
        if (!self)
                return;
        char *dir = dirname(self);
        _cleanup_free_ char *sib = path_join(dir, "kapsel-monitor"), *tree = path_join(dir, "../cli/kapsel-monitor");
        if (sib && access(sib, X_OK) < 0 && tree && access(tree, X_OK) == 0) {
                _cleanup_free_ char *abs = realpath(tree, NULL);
                if (abs)
                        setenv("KAPSEL_MONITOR", abs, 0);
        }
}

/* Docker applies always and unless-stopped (unless the user stopped it) when its daemon starts:
 * so do we, for containers whose monitor is gone (a reboot, a kill -9). */
static void restart_policies(Engine *e) {
        CtrRecord **list = NULL;
        size_t n = 0;
        if (db_ctr_list(e->db, &list, &n, NULL) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                CtrRecord *r = list[i];
                const char *pol = json_string_value(
                        json_object_get(json_object_get(json_object_get(r->config, "HostConfig"), "RestartPolicy"), "Name"));
                bool user_stop = json_is_true(json_object_get(r->config, "StoppedByUser"));
                if (r->kind != CTR_KIND_CONTAINER || r->state != CTR_EXITED || !r->started || !pol ||
                    !(streq(pol, "always") || (streq(pol, "unless-stopped") && !user_stop)))
                        continue;
                _cleanup_kerr_ KError *err = NULL;
                if (monitor_spawn(e, r->id, false, &err) < 0)
                        log_error("kapseld: restart %s: %s", r->name, err ? err->msg : "failed");
                else
                        log_info("kapseld: restarted %s (restart policy %s)", r->name, pol);
        }
        ctr_record_list_free(list, n);
}

static int recover(const char *root) {
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_kerr_ KError *err = NULL;
        EngineCheckSummary c = { 0 };
        /* the libraries bound on first use (lazy.c) are all there: else stop now, not at a pull */
        if (lazy_check(&err) < 0) {
                log_error("kapseld: %s", err->msg);
                return -EIO;
        }
        if (engine_open(root, &e, &err) < 0) {
                log_error("kapseld: %s", err ? err->msg : "cannot open the state root");
                return -EIO;
        }
        /* as `kapsel system check`: steps of a `docker build` cut off by a kill -9 of ours first,
         * what they held becomes unreferenced data for the check */
        int builds = build_gc(e, NULL);
        if (builds > 0)
                log_info("kapseld: removed %d work director%s of interrupted builds", builds, builds == 1 ? "y" : "ies");
        if (engine_check(e, false, NULL, NULL, &c, &err) < 0) {
                log_error("kapseld: %s", err ? err->msg : "cannot check the state root");
                return -EIO;
        }
        if (c.found)
                log_info("kapseld: repaired %u leftover%s of an earlier crash", c.found, c.found == 1 ? "" : "s");
        if (c.unsolved)
                log_warn("kapseld: %u container%s cannot start again (their image is gone): see kapsel system check",
                            c.unsolved, c.unsolved == 1 ? "" : "s");
        restart_policies(e);
        return 0;
}

/* The start-up check runs in a child process: the database, the image store, their caches and the
 * code pages they touch go away with it, and the daemon idles holding only what serving needs
 * (docs/daemon-memory.md). The child looks the socket's group up too: when it is not in /etc/group,
 * NSS loads a module (libnss_systemd, 0.3 MiB) that would stay mapped. Without fork it runs here. */
static int recover_in_child(DaemonConfig *cfg) {
        int p[2];
        fflush(NULL);
        if (pipe2(p, O_CLOEXEC) < 0)
                return recover(cfg->root);
        pid_t pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return recover(cfg->root);
        }
        if (pid == 0) {
                close(p[0]);
                int r = recover(cfg->root);
                struct group *gr = r >= 0 && cfg->group ? getgrnam(cfg->group) : NULL;
                long gid = gr ? (long) gr->gr_gid : -1;
                if (r >= 0 && write(p[1], &gid, sizeof(gid)) != sizeof(gid))
                        r = -EIO;
                fflush(NULL);
                _exit(r < 0 ? 1 : 0);
        }
        close(p[1]);
        long gid;
        ssize_t n;
        while ((n = read(p[0], &gid, sizeof(gid))) < 0 && errno == EINTR)
                ;
        close(p[0]);
        if (n == sizeof(gid)) {
                cfg->group_known = true;
                cfg->group_gid = gid;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFSIGNALED(status))
                log_error("kapseld: the start-up check of %s was killed by signal %d: see kapsel system check",
                          cfg->root, WTERMSIG(status));
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int main(int argc, char **argv) {
        /* one malloc arena for every connection thread, and big blocks mapped and unmapped on their
         * own: per-thread arenas and a heap grown by a large reply kept megabytes after the work */
        mallopt(M_ARENA_MAX, 1);
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },   { "host", required_argument, NULL, 'H' },
                { "group", required_argument, NULL, 'G' },  { "max-connections", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                /* TCP with mutual TLS, dockerd's flags (docs/kapseld.md) */
                { "tlsverify", no_argument, NULL, 'V' },    { "tlscacert", required_argument, NULL, 'A' },
                /* the web console (docs/web-console.md) */
                { "web-listen", required_argument, NULL, 'W' }, { "tlscert", required_argument, NULL, 'C' },
                { "tlskey", required_argument, NULL, 'K' },     { "web-dir", required_argument, NULL, 'D' },
                { "web-session-ttl", required_argument, NULL, 'T' },
                {}
        };
        DaemonConfig cfg = { .root = getenv("KAPSEL_ROOT") ?: "/var/lib/kapsel",
                             .group = "kapsel", .max_connections = 256, .timeout_s = 120,
                             .max_body = 4 << 20, .max_upload = (size_t) 2 << 30, .web_session_s = 8 * 3600 };
        int c;
        while ((c = getopt_long(argc, argv, "H:G:", opts, NULL)) >= 0)
                switch (c) {
                case 'r': cfg.root = optarg; break;
                case 'H':
                        if (cfg.n_hosts == DAEMON_MAX_HOSTS) {
                                log_error("kapseld: at most %d --host", DAEMON_MAX_HOSTS);
                                return 2;
                        }
                        cfg.hosts[cfg.n_hosts++] = optarg;
                        break;
                case 'V': cfg.tls_verify = true; break;
                case 'A': cfg.tls_ca = optarg; break;
                case 'G': cfg.group = optarg; break;
                case 'c': cfg.max_connections = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'W': cfg.web_listen = optarg; break;
                case 'C': cfg.tls_cert = optarg; break;
                case 'K': cfg.tls_key = optarg; break;
                case 'D': cfg.web_dir = optarg; break;
                case 'T': cfg.web_session_s = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'h': usage(); return 0;
                default: usage(); return 2;
                }
        if (optind != argc || cfg.max_connections == 0 || cfg.web_session_s == 0) {
                usage();
                return 2;
        }
        if (cfg.n_hosts == 0)
                cfg.hosts[cfg.n_hosts++] = "unix:///run/kapsel/docker.sock";
        for (size_t i = cfg.n_hosts; i-- > 0;)
                if (startswith(cfg.hosts[i], "unix://"))
                        cfg.host = cfg.hosts[i];
        _cleanup_kerr_ KError *err = NULL;
        /* a bad --host or TLS file stops the start before anything is touched */
        int r = server_check(&cfg, &err);
        if (r < 0) {
                log_error("kapseld: %s", err ? err->msg : strerror(-r));
                return 1;
        }
        _cleanup_free_ char *root = realpath(cfg.root, NULL);
        if (!root && mkdir(cfg.root, 0700) == 0)
                root = realpath(cfg.root, NULL);
        if (!root) {
                log_error("kapseld: --root %s: %m", cfg.root);
                return 1;
        }
        cfg.root = root;
        find_monitor();
        if (recover_in_child(&cfg) < 0)
                return 1;
        /* the web console first: a bad --web-listen stops the start before the socket exists */
        if (web_init(&cfg, &err) < 0 || server_web_start(&cfg, &err) < 0) {
                log_error("kapseld: %s", err ? err->msg : "failed");
                return 1;
        }
        if (server_run(&cfg, &err) < 0) {
                log_error("kapseld: %s", err ? err->msg : "failed");
                return 1;
        }
        fflush(NULL);
        _exit(0);
}
