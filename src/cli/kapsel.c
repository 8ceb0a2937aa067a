/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel: containers and micro-VMs with docker's (and virsh's) habits and no daemon. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloned-binary.h"
#include "cmd-checkpoint.h"
#include "ctr-ops.h"
#include "kapsel-cli.h"
#include "log.h"
#include "string-util.h"

static const KVerb verbs[] = {
        { "run", k_run, "[OPTIONS] IMAGE [COMMAND] [ARG...]", "create and start a container",
          "Options: -d, -i, -t, --rm, --name N, -e K=V, --env-file F, -w DIR, -u USER[:GROUP],\n"
          "  -v SRC:DST[:ro], --tmpfs DST[:OPTS], --entrypoint CMD, --hostname H, --memory N[kmg],\n"
          "  --cpus N, --pids-limit N, --read-only, --cap-add C, --cap-drop C,\n"
          "  --restart no|on-failure[:N]|always|unless-stopped, --init,\n"
          "  --network bridge|host|none|container:NAME|NETWORK   (default bridge; NETWORK: a 'kapsel network create' name)\n"
          "  -p, --publish [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]   publish a port (bridge networks), e.g. -p 8080:80\n"
          "  -P, --publish-all      publish every EXPOSE port of the image on a free host port\n"
          "  --dns IP, --add-host NAME:IP, --stop-signal SIG, -l KEY=VAL,\n"
          "  --pull missing|always|never  (default missing: pull when the store does not have IMAGE)\n"
          "  --detach-keys KEYS     with -it: the keys that leave the container running (default ctrl-p,ctrl-q)\n"
          "  --mount type=bind|volume|tmpfs,source=S,target=T[,readonly], --privileged,\n"
          "  --device /dev/X[:/dev/Y[:rwm]], --pid host, --network-alias NAME\n"
          "  --health-cmd CMD, --health-interval D, --health-timeout D, --health-retries N,\n"
          "  --health-start-period D, --no-healthcheck  (D: 30s, 1m30s, 500ms)\n"
          "  --isolation container|vm|default (vm: the process runs in a KVM micro-VM booted from the image;\n"
          "                         default: the network's, then the image's io.kapsel.isolation label, else container)\n"
          "  --kernel PATH          --isolation=vm: the guest's kernel (default: the newest /boot/vmlinuz-*;\n"
          "                         its modules come from /lib/modules/<version>)\n"
          "  --boot-timeout SECS    --isolation=vm: stop the VM (exit 125, with its console's last lines) if\n"
          "                         its kernel has not started kapsel's init within SECS (default 300; 0: none)\n\n"
          "Examples:\n  kapsel run --rm busybox echo hello\n  kapsel run -d --name web -v data:/srv busybox httpd -f -h /srv\n"
          "  kapsel run -it busybox sh\n  kapsel run --rm --isolation=vm busybox uname -r" },
        { "create", k_create, "[OPTIONS] IMAGE [COMMAND] [ARG...]", "create a container without starting it",
          "Takes the options of run (without -d/--rm semantics at start).\n\nExample:\n  kapsel create --name c1 busybox sleep 100 && kapsel start c1" },
        { "start", k_start, "[-a] [-i] [--checkpoint NAME] CONTAINER...", "start created or stopped containers",
          "  -a, --attach       attach stdout/stderr and wait for the exit code\n  -i, --interactive  attach stdin\n"
          "  --checkpoint NAME  resume an --isolation=vm container from a checkpoint (kapsel checkpoint create):\n"
          "                     its processes go on where they were, no boot\n\n"
          "Example:\n  kapsel start --checkpoint warm c1" },
        { "stop", k_stop, "[-t SECONDS] CONTAINER...", "stop containers (stop signal, then SIGKILL after -t, default 10)", NULL },
        { "restart", k_restart, "[-t SECONDS] CONTAINER...", "stop then start containers", NULL },
        { "kill", k_kill, "[-s SIGNAL] CONTAINER...", "send a signal (default SIGKILL) to containers", NULL },
        { "rm", k_rm, "[-f] [-v] CONTAINER...", "remove containers (-f: stop running ones first)", NULL },
        { "ps", k_ps, "[-a] [-q] [-f KEY=VALUE] [-n N] [-l] [-s] [--no-trunc] [--kind container|vm] [--format table|json|TEMPLATE]",
          "list containers and micro-VMs",
          "Options:\n"
          "  -a, --all          stopped ones too\n"
          "  -q, --quiet        ids only\n"
          "  -f, --filter K=V   name=REGEX, id=PREFIX, status=created|running|paused|restarting|exited|dead, label=K[=V],\n"
          "                     ancestor=IMAGE, exited=CODE, before=C, since=C, network=N, volume=NAME|DEST, kind=container|vm\n"
          "                     (the same key twice: either; different keys: both)\n"
          "  -n, --last N       the N last created (any state); -l, --latest: the last one\n"
          "  -s, --size         the writable layer's size (and the image's, as virtual)\n"
          "  --no-trunc         full ids and commands\n"
          "  --kind K           containers or micro-VMs only (adds the KIND column)\n"
          "  --format F         table (default), json (one object a line), 'table TEMPLATE' (with a header) or TEMPLATE\n\n"
          "Template fields: {{.ID}} {{.Image}} {{.Command}} {{.RunningFor}} {{.CreatedAt}} {{.Status}} {{.State}} {{.Ports}}\n"
          "  {{.Names}} {{.Labels}} {{.Networks}} {{.Mounts}} {{.Size}} {{.Kind}}\n\n"
          "Examples:\n  kapsel ps -a --format 'table {{.Names}}\\t{{.Status}}'\n  kapsel ps -f status=exited -q\n  kapsel ps --kind vm" },
        { "logs", k_logs, "[-f] [-t] [--tail N] [--since T] [--until T] CONTAINER", "show a container's output",
          "  --since T, --until T   only output from/up to T: an RFC 3339 time (2026-11-23T09:00:00Z), a unix\n"
          "                         timestamp, or a duration back from now (10m, 1h30m)\n\n"
          "Example:\n  kapsel logs --since 10m -f web" },
        { "exec", k_exec, "[-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND [ARG...]",
          "run a command in a running container",
          "Options:\n  -i, --interactive   forward stdin\n  -t, --tty           a terminal\n"
          "  -d, --detach        start it and return\n  -e, --env K=V       set a variable\n"
          "  -u, --user USER     as this user[:group]\n  -w, --workdir DIR   in this directory\n"
          "  --detach-keys KEYS  keys that leave -it, the process running on (default ctrl-p,ctrl-q)\n\n"
          "In an --isolation=vm container the command runs in the guest, through kapsel's guest agent.\n\n"
          "Example:\n  kapsel exec -it web sh\n  kapsel exec -e X=1 -w /tmp -u 1000 web sh -c 'echo $X'" },
        { "attach", k_attach, "[--no-stdin] [--detach-keys KEYS] CONTAINER", "attach to a running container's stdio",
          "  --detach-keys KEYS   the keys that detach, leaving the container running (default ctrl-p,ctrl-q;\n"
          "                       also for run -it and exec -it): comma-separated, each a character or ctrl-<a-z@[\\]^_>\n"
          "  --no-stdin           do not forward our stdin" },
        { "wait", k_wait, "CONTAINER...", "wait for containers to stop and print their exit codes", NULL },
        { "inspect", k_inspect, "[--format json|TEMPLATE] [--type container|image|volume|network] NAME...",
          "show containers, images, volumes or networks as JSON",
          "NAME is looked up as a container (or micro-VM), then an image, a volume, a network, as docker does;\n"
          "--type looks only for that kind.\n\nExample:\n  kapsel inspect -f '{{.State.Status}}' web\n  kapsel inspect --type image busybox" },
        { "pause", k_pause, "CONTAINER...", "freeze all processes of containers", NULL },
        { "unpause", k_unpause, "CONTAINER...", "thaw paused containers", NULL },
        { "rename", k_rename, "CONTAINER NEW_NAME", "rename a container", NULL },
        { "top", k_top, "CONTAINER", "list the processes of a container", NULL },
        { "stats", k_stats, "[--no-stream] [-a] [CONTAINER...]", "live resource usage (CPU %, memory, pids, block I/O)", NULL },
        { "container-prune", k_container_prune, "[-f] [--filter label=K[=V]|until=SECONDS]", "remove all stopped containers",
          "Asks first unless -f (no answer: nothing is removed).\n  -f, --force   do not ask\n  --filter F    label=K[=V], label!=K[=V], until=SECONDS" },
        { "images", k_images, "[-a] [-q] [-f KEY=VALUE]... [--format json|TEMPLATE] [REPOSITORY[:TAG]]", "list images", NULL },
        { "pull", k_pull, "[-u USER -p PASS] [--tls-verify=false] [--platform OS/ARCH] IMAGE", "pull an image from a registry",
          "Example:\n  kapsel pull 127.0.0.1:5000/busybox:latest" },
        { "push", k_push, "[-u USER -p PASS] [--tls-verify=false] IMAGE", "push an image to a registry", NULL },
        { "rmi", k_rmi, "[-f] IMAGE...", "remove images (refused while a container uses one, unless -f)", NULL },
        { "tag", k_tag, "SOURCE TARGET", "give an image another name", NULL },
        { "image-inspect", k_image_inspect, "[--format json|TEMPLATE] IMAGE...", "show images as JSON", NULL },
        { "history", k_history, "IMAGE", "show an image's layer history", NULL },
        { "image-prune", k_image_prune, "[-a] [-f]", "remove unnamed images (-a: every image no container uses)",
          "Asks first unless -f.\n  -a, --all     every image no container uses, not only unnamed ones\n  -f, --force   do not ask" },
        { "load", k_load, "[-i ARCHIVE]", "load images from an OCI or docker-save archive (default: stdin)", NULL },
        { "save", k_save, "[-o ARCHIVE] IMAGE...", "save images to an OCI archive (docker-load compatible; default: stdout)", NULL },
        { "import", k_import, "ROOTFS.tar|- [NAME]", "make a one-layer image from a rootfs tarball", NULL },
        { "cp", k_cp, "CONTAINER:SRC DST | SRC CONTAINER:DST", "copy files between a container and the host",
          "Example:\n  kapsel cp web:/etc/hostname . && kapsel cp ./site web:/srv" },
        { "commit", k_commit, "[-m MSG] [--pause=false] CONTAINER [NAME]", "make an image from a container's changes", NULL },
        { "build", k_build, "[-t NAME]... [-f FILE|-] [--target STAGE] [--build-arg K=V]... [--label K=V]... [--no-cache] "
          "[--pull] [--iidfile FILE] [-q] [--network none|host|bridge|NAME] [--isolation=vm] CONTEXT|-",
          "build an image from a Dockerfile (docker's classic builder)",
          "CONTEXT is a directory, or - for a tar on stdin; the Dockerfile is CONTEXT/Dockerfile unless -f.\n"
          "RUN steps run as containers on the default bridge, as docker's (--network none: without a\n"
          "network; host, or a user network); with --isolation=vm each RUN step runs inside a micro-VM, so an\n"
          "untrusted Dockerfile never touches the host kernel. See docs/build.md.\n\n"
          "Examples:\n  kapsel build -t app:1 .\n  kapsel build --target builder --build-arg V=2 -f ci/Dockerfile .\n"
          "  kapsel build --isolation=vm --network backend -t app:untrusted ./contrib\n"
          "  tar -c . | kapsel build -t app -" },
        { "system-check", k_system_check, "[--dry-run]", "find and repair leftovers of interrupted commands", NULL },
        { "system-df", k_system_df, "[-v] [--format TEMPLATE]", "show disk usage of images, containers and volumes", NULL },
        { "info", k_info, "[--format TEMPLATE]", "show system-wide information", NULL },
        { "version", k_version, "[--format TEMPLATE]", "show the client and engine versions", NULL },
        { "login", k_login, "[-u USER] [-p PASS | --password-stdin] [SERVER]", "log in to a registry (default docker.io)",
          "Credentials are checked, then kept in docker's config.json ($DOCKER_CONFIG, else ~/.docker), where\n"
          "pull and push find them.\n\nExample:\n  echo \"$PASS\" | kapsel login -u me --password-stdin 127.0.0.1:5000" },
        { "logout", k_logout, "[SERVER]", "forget the credentials of a registry", NULL },
        { "events", k_events, "[--since T] [--until T] [-f KEY=VAL] [--format TEMPLATE]", "show events as they happen",
          "Follows until Ctrl-C (or --until). T: unix seconds, RFC 3339 or a duration before now (10m).\n"
          "Filters: type=container|image|volume|network, event=start|die|..., container=, image=, volume=,\n"
          "  network=, label=K[=V]\n\nExample:\n  kapsel events --since 10m -f type=container -f event=die --format '{{json .}}'" },
        { "update", k_update, "[--memory N] [--memory-swap N] [--cpus N] [--cpu-shares N] [--pids-limit N] [--restart P] CONTAINER...",
          "change the limits or restart policy of containers",
          "Running containers get the new limits at once; every container keeps them for its next start.\n\n"
          "Example:\n  kapsel update --memory 256m --cpus 0.5 --restart on-failure:3 web" },
        { "diff", k_diff, "CONTAINER", "list the files a container changed (A added, C changed, D deleted)", NULL },
        { "export", k_export, "[-o FILE] CONTAINER", "write a container's filesystem as a tar (default: stdout)", NULL },
        { "system-service", k_system_service, "[--host unix:///PATH|tcp://ADDR:PORT]...", "serve the Docker Engine API (runs kapseld)",
          "Options: -H, --host unix:///PATH   the socket (default unix:///run/kapsel/docker.sock); repeatable\n"
          "  -H tcp://ADDR:PORT --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY   TCP, mutual TLS only\n"
          "                                   (clients need a certificate signed by CA; see docs/kapseld.md)\n"
          "  --web-listen ADDR:PORT [--tlscert FILE --tlskey FILE] [--web-session-ttl S]   the web console\n"
          "                                   (TLS beyond loopback; see docs/web-console.md)\n\n"
          "Example:\n  kapsel system service &\n  DOCKER_HOST=unix:///run/kapsel/docker.sock docker run --rm busybox echo hi" },
        { "port", k_port, "CONTAINER", "list a container's port maps", NULL },
        { "network-create", k_network_create, "[--subnet CIDR] [--gateway IP] [--internal] [-l K=V] [-o OPT] NAME",
          "create a bridge network",
          "Options:\n  --subnet CIDR    IPv4 subnet (default: the next free /24 of 10.89.0.0-10.99.255.0)\n"
          "  --gateway IP     the bridge's address (default: the subnet's first)\n"
          "  --internal       no egress: no NAT, no forwarding out of the bridge\n"
          "  -o com.docker.network.bridge.name=NAME   the bridge device's name (default kapsel-<id>)\n\n"
          "Example:\n  kapsel network create --subnet 10.7.0.0/24 backend\n"
          "  kapsel run -d --name db --network backend busybox httpd -f\n"
          "  kapsel run --rm --network backend busybox wget -qO- http://db/" },
        { "network-ls", k_network_ls, "[-q] [--format json|TEMPLATE]", "list networks", NULL },
        { "checkpoint-create", k_checkpoint_create, "[--leave-running] CONTAINER NAME",
          "save an --isolation=vm container's whole state as a checkpoint, then stop it",
          "The guest's memory, vCPUs, devices and upper disk go into the checkpoint; `kapsel start --checkpoint\n"
          "NAME CONTAINER` resumes it. A plain container cannot be checkpointed (kapsel has no CRIU).\n"
          "  --leave-running   keep the container running after the checkpoint\n\n"
          "Example:\n  kapsel checkpoint create --leave-running c1 warm" },
        { "checkpoint-ls", k_checkpoint_ls, "[-q] [--format json|TEMPLATE] CONTAINER", "list a container's checkpoints",
          "Example:\n  kapsel checkpoint ls c1" },
        { "checkpoint-rm", k_checkpoint_rm, "CONTAINER NAME...", "remove checkpoints of a container",
          "Example:\n  kapsel checkpoint rm c1 warm" },
        { "network-inspect", k_network_inspect, "NETWORK...", "show networks as JSON", NULL },
        { "network-rm", k_network_rm, "[-f] NETWORK...", "remove networks (refused while in use, unless -f)", NULL },
        { "network-prune", k_network_prune, "", "remove networks no container uses", NULL },
        { "network-connect", k_network_connect, "[--alias NAME]... NETWORK CONTAINER", "connect a container to a network (kept for its next starts)", NULL },
        { "network-disconnect", k_network_disconnect, "NETWORK CONTAINER", "detach a container from a network", NULL },
        { "vm", k_vm, "run|create|start|stop|kill|pause|resume|ls|inspect|console|logs|rm [OPTIONS]",
          "manage KVM micro-VMs (see 'kapsel vm --help')",
          "Example:\n  kapsel vm run -d --name vm1 --kernel /boot/vmlinuz-$(uname -r) --initrd initrd.img", true },
        { "volume-create", k_volume_create, "[--label K=V] [NAME]", "create a named volume",
          "Example:\n  kapsel volume create data && kapsel run --rm -v data:/d busybox touch /d/x" },
        { "volume-ls", k_volume_ls, "[-q] [--format json|TEMPLATE]", "list volumes", NULL },
        { "volume-inspect", k_volume_inspect, "VOLUME...", "show volumes as JSON", NULL },
        { "volume-rm", k_volume_rm, "[-f] VOLUME...", "remove volumes (refused while a container uses one, unless -f)", NULL },
        { "volume-prune", k_volume_prune, "[-a] [-f] [--filter label=K[=V]]", "remove anonymous volumes no container uses",
          "Asks first unless -f.\n  -a, --all     named volumes too, not only anonymous ones\n  -f, --force   do not ask\n"
          "  --filter F    label=K[=V], label!=K[=V]" },
        { "system-prune", k_system_prune, "[-a] [--volumes] [-f] [--filter F]", "remove stopped containers, unused networks and dangling images",
          "Asks first unless -f.\n  -a, --all     every image no container uses, not only unnamed ones\n"
          "  --volumes     anonymous volumes no container uses too\n  -f, --force   do not ask" },
};

/* docker's management-command spellings mapped onto the verbs above */
static const struct {
        const char *group, *sub, *verb;
} aliases[] = {
        { "container", "ls", "ps" },        { "container", "list", "ps" },   { "container", "run", "run" },
        { "container", "create", "create" }, { "container", "start", "start" }, { "container", "stop", "stop" },
        { "container", "restart", "restart" }, { "container", "kill", "kill" }, { "container", "rm", "rm" },
        { "container", "logs", "logs" },    { "container", "exec", "exec" },  { "container", "attach", "attach" },
        { "container", "wait", "wait" },    { "container", "inspect", "inspect" }, { "container", "pause", "pause" },
        { "container", "unpause", "unpause" }, { "container", "rename", "rename" }, { "container", "top", "top" },
        { "container", "stats", "stats" },  { "container", "prune", "container-prune" },
        { "image", "ls", "images" },        { "image", "list", "images" },   { "image", "pull", "pull" },
        { "image", "push", "push" },        { "image", "rm", "rmi" },        { "image", "tag", "tag" },
        { "image", "inspect", "image-inspect" }, { "image", "history", "history" }, { "image", "prune", "image-prune" },
        { "image", "load", "load" },        { "image", "save", "save" },     { "image", "import", "import" },
        { "container", "cp", "cp" },        { "container", "commit", "commit" }, { "system", "check", "system-check" },
        { "container", "port", "port" },    { "container", "update", "update" },
        { "container", "diff", "diff" },    { "container", "export", "export" },
        { "image", "build", "build" },  { "builder", "build", "build" },
        { "system", "service", "system-service" },
        { "container", "port", "port" },
        { "network", "create", "network-create" }, { "network", "ls", "network-ls" }, { "network", "list", "network-ls" },
        { "network", "inspect", "network-inspect" }, { "network", "rm", "network-rm" },
        { "network", "prune", "network-prune" }, { "network", "connect", "network-connect" },
        { "network", "disconnect", "network-disconnect" },
        { "volume", "create", "volume-create" }, { "volume", "ls", "volume-ls" }, { "volume", "list", "volume-ls" },
        { "volume", "inspect", "volume-inspect" }, { "volume", "rm", "volume-rm" }, { "volume", "prune", "volume-prune" },
        { "system", "prune", "system-prune" },  { "system", "df", "system-df" },
        { "system", "info", "info" },       { "system", "events", "events" },
};

/* docker's management commands: `kapsel GROUP --help` lists the group's verbs (the aliases above,
 * then any verb named GROUP-SUB), and `kapsel GROUP SUB` runs one. `vm` has its own dispatcher. */
static const struct {
        const char *name, *summary;
} groups[] = {
        { "checkpoint", "manage checkpoints of --isolation=vm containers" },
        { "container", "manage containers" },
        { "image", "manage images" },
        { "network", "manage networks" },
        { "system", "manage kapsel itself (check, df, ...)" },
        { "volume", "manage volumes" },
};

static const KVerb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

static bool is_group(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(groups); i++)
                if (streq(groups[i].name, name))
                        return true;
        return false;
}

/* GROUP SUB -> a verb: an alias, else the verb "GROUP-SUB". */
static const KVerb *find_group_verb(const char *group, const char *sub) {
        for (size_t i = 0; i < ELEMENTSOF(aliases); i++)
                if (streq(aliases[i].group, group) && streq(aliases[i].sub, sub))
                        return find_verb(aliases[i].verb);
        char joined[64];
        snprintf(joined, sizeof(joined), "%s-%s", group, sub);
        return strchr(sub, '-') ? NULL : find_verb(joined);
}

/* The running verb and how the user spelled it ("container ls"), for its help and usage errors. */
static const KVerb *current;
static char spelling[64];

/* The name a verb goes by in help and errors: as the user typed it, else "image inspect" for the
 * internal "image-inspect". */
static const char *display_name(const char *verb, char *buf, size_t size) {
        const KVerb *v = find_verb(verb);
        if (v && v == current && spelling[0])
                return spelling;
        for (size_t i = 0; strchr(verb, '-') && i < ELEMENTSOF(aliases); i++)
                if (streq(aliases[i].verb, verb)) {
                        snprintf(buf, size, "%s %s", aliases[i].group, aliases[i].sub);
                        return buf;
                }
        const char *dash = strchr(verb, '-');
        if (dash && v) {
                snprintf(buf, size, "%.*s %s", (int) (dash - verb), verb, dash + 1);
                return buf;
        }
        return verb;
}

int k_help(const char *verb) {
        const KVerb *v = find_verb(verb);
        char buf[64];
        if (v)
                printf("Usage: kapsel %s %s\n\n%s\n%s%s", display_name(verb, buf, sizeof(buf)), v->usage, v->summary ?: "",
                       v->help ? "\n" : "", v->help ?: "");
        if (v && v->help)
                putchar('\n');
        return 0;
}

int k_usage(KError **err, const char *verb, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        char buf[64];
        const char *name = display_name(verb, buf, sizeof(buf)), *bad = k_getopt_bad_option();
        /* a refused long option: name it (getopt only says "unknown option") */
        if (n >= 0 && bad && startswith(msg, "unknown option"))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "%s: unknown option %s (long options are exact names; see 'kapsel %s --help')", name, bad,
                                name);
        return kerr_msg(err, KERR_USAGE, -EINVAL, "%s: %s (see 'kapsel %s --help')", name, n >= 0 ? msg : "bad usage",
                        name);
}

int k_open(const KGlobals *g, Engine **ret, KError **err) {
        return engine_open(g->root, ret, err);
}

int k_ctr_find(const KGlobals *g, Engine *e, const char *name, CtrRecord **ret, KError **err) {
        int r = db_ctr_get(e->db, name, ret, err);
        if (r < 0)
                return r;
        if (g->vm_verb && (*ret)->kind != CTR_KIND_VM)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s is a container, not a micro-VM: use 'kapsel %s %s'",
                                (*ret)->name, g->vm_verb, (*ret)->name);
        return ctr_repair(e, *ret, err);
}

int k_open_one(const KGlobals *g, const char *name, Engine **ret, CtrRecord **ret_rec, KError **err) {
        int r = k_open(g, ret, err);
        return r < 0 ? r : k_ctr_find(g, *ret, name, ret_rec, err);
}

int k_open_list(const KGlobals *g, Engine **ret, CtrRecord ***ret_list, size_t *ret_n, KError **err) {
        *ret_list = NULL;
        *ret_n = 0;
        int r = k_open(g, ret, err);
        if (r >= 0)
                r = db_ctr_list((*ret)->db, ret_list, ret_n, err);
        for (size_t i = 0; r >= 0 && i < *ret_n; i++)
                (void) ctr_repair(*ret, (*ret_list)[i], NULL);
        return r;
}

static void print_help(void) {
        printf("Usage: kapsel [--root DIR] [--debug] COMMAND [OPTIONS]\n\n"
               "Run and manage containers from OCI images, without a daemon.\n\n"
               "Global options:\n"
               "  --root DIR     state root (default /var/lib/kapsel, or $KAPSEL_ROOT)\n"
               "  --debug        debug logging\n"
               "  -v, --version  print the version\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (verbs[i].summary && !strchr(verbs[i].name, '-') && !verbs[i].sub_verbs)
                        printf("  %-19s %s\n", verbs[i].name, verbs[i].summary);
        printf("\nManagement Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(groups); i++)
                printf("  %-19s %s\n", groups[i].name, groups[i].summary);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (verbs[i].sub_verbs)
                        printf("  %-19s %s\n", verbs[i].name, verbs[i].summary);
        printf("\nRun 'kapsel COMMAND --help' for a command's options and examples.\n\n"
               "Examples:\n  kapsel run --rm busybox echo hello\n  kapsel run -d --name web busybox httpd -f\n"
               "  kapsel logs -f web\n  kapsel stop web && kapsel rm web\n");
}

/* `kapsel GROUP --help`: the group's verbs, each once, under the names docker uses. */
static void group_help(const char *group) {
        const KVerb *seen[ELEMENTSOF(verbs)];
        size_t n_seen = 0;
        size_t glen = strlen(group);
        for (size_t i = 0; i < ELEMENTSOF(groups); i++)
                if (streq(groups[i].name, group))
                        printf("Usage: kapsel %s COMMAND\n\n%s\n\nCommands:\n", group, groups[i].summary);
        for (size_t i = 0; i < ELEMENTSOF(aliases) + ELEMENTSOF(verbs); i++) {
                const char *sub;
                const KVerb *v;
                if (i < ELEMENTSOF(aliases)) {
                        if (!streq(aliases[i].group, group))
                                continue;
                        sub = aliases[i].sub;
                        v = find_verb(aliases[i].verb);
                } else {
                        v = &verbs[i - ELEMENTSOF(aliases)];
                        if (!startswith(v->name, group) || v->name[glen] != '-')
                                continue;
                        sub = v->name + glen + 1;
                }
                bool dup = !v;
                for (size_t j = 0; j < n_seen && !dup; j++)
                        dup = seen[j] == v;
                if (dup)
                        continue;
                seen[n_seen++] = v;
                printf("  %-12s %s\n", sub, v->summary ?: "");
        }
        printf("\nRun 'kapsel %s COMMAND --help' for more information on a command.\n", group);
}

/* Map an error to docker's exit codes: 125 for ours, 126/127 for a command that cannot run. */
static int exit_code_for(const KError *err, int r) {
        if (err && (r == -ENOENT || err->code == -ENOENT) && strstr(err->msg, "exec"))
                return 127;
        if (err && (r == -EACCES || err->code == -EACCES) && strstr(err->msg, "exec"))
                return 126;
        return 125;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
                { "debug", no_argument, NULL, 'D' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'v' },
                { "complete-options", no_argument, NULL, 'C' },
                {}
        };
        bool complete = false;
        KGlobals g = { .root = getenv("KAPSEL_ROOT") ?: "/var/lib/kapsel" };
        _cleanup_kerr_ KError *err = NULL;
        int c;
        log_set_program("kapsel");
        while ((c = getopt_long(argc, argv, "+hv", opts, NULL)) >= 0) {
                switch (c) {
                case 'r': g.root = optarg; break;
                case 'D': g.debug = true; break;
                case 'h': print_help(); return 0;
                case 'v': printf("kapsel version %s\n", KAPSEL_VERSION); return 0;
                case 'C': complete = true; break;
                default:
                        if (k_getopt_bad_option())
                                log_error("unknown option %s (see 'kapsel --help')", k_getopt_bad_option());
                        return 125;
                }
        }
        (void) log_open(NULL, LOG_FORMAT_TEXT, g.debug ? LOG_LVL_DEBUG : LOG_LVL_WARN);
        if (optind >= argc) {
                print_help();
                return 125;
        }
        int vi = optind;
        const char *name = argv[vi];
        const KVerb *v;
        if (is_group(name)) {
                if (vi + 1 >= argc || streq(argv[vi + 1], "--help") || streq(argv[vi + 1], "-h") ||
                    streq(argv[vi + 1], "help"))
                        return group_help(name), 0;
                if (!(v = find_group_verb(name, argv[vi + 1]))) {
                        log_error("unknown command \"kapsel %s %s\" (see 'kapsel %s --help')", name, argv[vi + 1], name);
                        return 125;
                }
                snprintf(spelling, sizeof(spelling), "%s %s", name, argv[vi + 1]);
                vi++;
        } else if (!(v = find_verb(name))) {
                log_error("unknown command \"%s\" (see 'kapsel --help')", argv[vi]);
                return 125;
        }
        /* Shell completion: the verb's own option table, printed by its first getopt_long call. The
         * root is one no verb can open, so a verb that parses no options does nothing either. */
        if (complete) {
                g.root = "/proc/kapsel-complete-options";
                k_getopt_list_options();
                optind = 0;
                (void) v->run(&g, v->sub_verbs ? argc - vi : 1, argv + vi, NULL);
                if (!k_getopt_listed())
                        printf("--help\n");
                return 0;
        }
        /* Everything that may put a process into a container first moves to a sealed copy of this
         * binary (CVE-2019-5736): the container can never open the host file for writing. */
        if (streq(v->name, "exec") && cloned_binary_ensure(argv, &err) < 0) {
                log_error("%s", err->msg);
                return 125;
        }
        current = v;
        int vargc = argc - vi;
        char **vargv = argv + vi;
        if (!v->sub_verbs && vargc >= 2 && (streq(vargv[1], "--help") || streq(vargv[1], "-h")))
                return k_help(v->name);
        optind = 0;
        int r = v->run(&g, vargc, vargv, &err);
        if (r < 0) {
                log_error("%s", err ? err->msg : strerror(-r));
                return exit_code_for(err, r);
        }
        return r;
}
