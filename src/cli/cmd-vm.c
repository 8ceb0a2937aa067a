/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel vm run|create|start|stop|kill|pause|resume|ls|inspect|console|logs|rm: micro-VMs with
 * virsh's and vagrant's habits. A VM is an instance like a container (same table, same monitor),
 * so most sub-verbs are the generic verbs under the VM's own help; run, create and console are
 * VM-specific. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd-vm-snapshot.h"
#include "ctr-ops.h"
#include "kapsel-cli.h"
#include "string-util.h"
#include "vm-migrate.h"
#include "vm-ops.h"

enum { OPT_KERNEL = 1000, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_DISK, OPT_NET, OPT_NAME, OPT_HELP, OPT_BOOT_TIMEOUT,
       OPT_BOOT_READY };

static const struct option vm_run_opts[] = {
        { "kernel", required_argument, NULL, OPT_KERNEL }, { "initrd", required_argument, NULL, OPT_INITRD },
        { "cmdline", required_argument, NULL, OPT_CMDLINE }, { "cpus", required_argument, NULL, OPT_CPUS },
        { "memory", required_argument, NULL, 'm' },          { "disk", required_argument, NULL, OPT_DISK },
        { "net", required_argument, NULL, OPT_NET },         { "network", required_argument, NULL, OPT_NET },
        { "name", required_argument, NULL, OPT_NAME },       { "detach", no_argument, NULL, 'd' },
        { "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
        { "boot-ready", required_argument, NULL, OPT_BOOT_READY },
        { "help", no_argument, NULL, OPT_HELP },             {}
};

typedef struct VmRequest {
        VmConfig cfg;
        const char *name;
        bool detach;
} VmRequest;

static int vm_help(const char *sub);

static int parse_vm_run(const char *sub, int argc, char **argv, VmRequest *req, KError **err) {
        int c, r = 0;
        while (r == 0 && (c = getopt_long(argc, argv, "+dm:", vm_run_opts, NULL)) >= 0) {
                switch (c) {
                case OPT_KERNEL: free(req->cfg.kernel); req->cfg.kernel = strdup(optarg); break;
                case OPT_INITRD: free(req->cfg.initrd); req->cfg.initrd = strdup(optarg); break;
                case OPT_CMDLINE: free(req->cfg.cmdline); req->cfg.cmdline = strdup(optarg); break;
                case OPT_CPUS: r = vm_config_parse_cpus(optarg, &req->cfg.cpus, err); break;
                case 'm': r = vm_config_parse_memory(optarg, &req->cfg.memory, err); break;
                case OPT_DISK: r = vm_config_add_disk(&req->cfg, optarg, err); break;
                case OPT_NET: r = vm_config_set_network(&req->cfg, optarg, err); break;
                case OPT_NAME: req->name = optarg; break;
                case OPT_BOOT_TIMEOUT: r = vm_config_parse_boot_timeout(optarg, &req->cfg.boot_timeout, err); break;
                case OPT_BOOT_READY: free(req->cfg.boot_ready); req->cfg.boot_ready = strdup(optarg); break;
                case 'd': req->detach = true; break;
                case OPT_HELP: return vm_help(sub);
                default: return k_usage(err, "vm", "%s: unknown option (see 'kapsel vm %s --help')", sub, sub);
                }
        }
        if (r < 0)
                return kerr_prefix(err, r, "vm %s", sub);
        if (optind < argc)
                return k_usage(err, "vm", "%s: unexpected argument \"%s\"", sub, argv[optind]);
        if (!req->cfg.kernel)
                return k_usage(err, "vm", "%s: --kernel is required (a bzImage such as /boot/vmlinuz-*)", sub);
        if (req->name && !ctr_name_valid(req->name))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid VM name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*",
                                req->name);
        return 0;
}

/* create (and with `start`, run): parse, check, store; returns 1 after --help. */
static int create_vm(const KGlobals *g, const char *sub, int argc, char **argv, VmRequest *req, Engine **ret_e,
                     char id[static 65], KError **err) {
        vm_config_init(&req->cfg);
        int r = parse_vm_run(sub, argc, argv, req, err);
        if (r != 0)
                return r;
        if ((r = k_open(g, ret_e, err)) < 0)
                return r;
        return vm_create(*ret_e, &req->cfg, req->name, id, err);
}

static int vm_create_cmd(const KGlobals *g, int argc, char **argv, KError **err) {
        _cleanup_(engine_freep) Engine *e = NULL;
        VmRequest req = { 0 };
        char id[65];
        int r = create_vm(g, "create", argc, argv, &req, &e, id, err);
        vm_config_done(&req.cfg);
        if (r == 0)
                printf("%s\n", id);
        return r < 0 ? r : 0;
}

static int vm_run(const KGlobals *g, int argc, char **argv, KError **err) {
        _cleanup_(engine_freep) Engine *e = NULL;
        VmRequest req = { 0 };
        char id[65];
        int r = create_vm(g, "run", argc, argv, &req, &e, id, err);
        vm_config_done(&req.cfg);
        if (r != 0)
                return r < 0 ? r : 0;
        /* a VM that cannot start is not kept: `vm run` either runs one or leaves nothing */
        int code;
        r = k_start_new(e, id, req.detach, true, true, &code, err);
        return r < 0 ? r : code;
}

/* receive NAME --listen ADDR --token T [the options of create]: a VM that waits for a migration. */
static int vm_receive(const KGlobals *g, int argc, char **argv, KError **err) {
        const char *listen = NULL, *token = getenv("KAPSEL_MIGRATION_TOKEN"), *name = NULL;
        _cleanup_free_ char **rest = calloc((size_t) argc + 3, sizeof(char *));
        int n = 0;
        if (!rest)
                return kerr(err, -ENOMEM, "vm receive");
        rest[n++] = argv[0];
        if (argc > 1 && argv[1][0] != '-')
                name = argv[1];
        for (int i = name ? 2 : 1; i < argc; i++) {
                if (streq(argv[i], "--listen") && i + 1 < argc)
                        listen = argv[i + 1];
                else if (streq(argv[i], "--token") && i + 1 < argc)
                        token = argv[i + 1];
                else {
                        rest[n++] = argv[i];
                        continue;
                }
                i++;
        }
        if (!name || !listen)
                return k_usage(err, "vm", "receive: expected NAME --listen unix:PATH|tcp:ADDR:PORT --token TOKEN and "
                               "the source VM's --kernel, --memory, --cpus, --disk, --net");
        rest[n++] = (char *) "--name";
        rest[n++] = (char *) name;
        _cleanup_(engine_freep) Engine *e = NULL;
        VmRequest req = { 0 };
        char id[65];
        int r = create_vm(g, "receive", n, rest, &req, &e, id, err);
        vm_config_done(&req.cfg);
        if (r != 0)
                return r < 0 ? r : 0;
        if ((r = vm_receive_start(e, id, listen, token, err)) < 0) {
                (void) ctr_remove(e, id, NULL);
                return r;
        }
        printf("%s\n", id);
        return 0;
}

/* migrate VM --to ADDR --token T [--max-downtime MS] */
static int vm_migrate_cmd(const KGlobals *g, int argc, char **argv, KError **err) {
        static const struct option opts[] = { { "to", required_argument, NULL, 't' }, { "token", required_argument, NULL, 'k' },
                                               { "max-downtime", required_argument, NULL, 'm' }, {} };
        const char *to = NULL, *token = getenv("KAPSEL_MIGRATION_TOKEN");
        unsigned max_ms = 0;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                char *end;
                switch (c) {
                case 't': to = optarg; break;
                case 'k': token = optarg; break;
                case 'm': {
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (*end || v < 1 || v > 60000)
                                return k_usage(err, "vm", "migrate: --max-downtime %s: milliseconds, 1..60000", optarg);
                        max_ms = (unsigned) v;
                        break;
                }
                default: return k_usage(err, "vm", "migrate: unknown option (see 'kapsel vm migrate --help')");
                }
        }
        if (optind + 1 != argc || !to)
                return k_usage(err, "vm", "migrate: expected VM --to unix:PATH|tcp:ADDR:PORT --token TOKEN");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open_one(g, argv[optind], &e, &rec, err);
        _cleanup_free_ char *report = NULL;
        if (r >= 0)
                r = vm_migrate(e, rec, to, token, max_ms, 1800, &report, err);
        if (r >= 0)
                printf("%s: %s\n", rec->name, report);
        return r;
}

static int vm_console(const KGlobals *g, int argc, char **argv, KError **err) {
        if (argc != 2)
                return k_usage(err, "vm", "console: expected exactly one VM");
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = k_open_one(g, argv[1], &e, &rec, err);
        if (r < 0)
                return r;       /* a container: refused by k_ctr_find (vm_verb "attach") */
        if (rec->state != CTR_RUNNING && rec->state != CTR_PAUSED)
                return kerr_msg(err, KERR_STATE, -EINVAL, "VM %s is not running (it is %s)", rec->name,
                                ctr_state_to_string(rec->state));
        if (isatty(STDIN_FILENO))
                fprintf(stderr, "Connected to the serial console of %s (Ctrl-] to detach)\n", rec->name);
        int code = 0;
        return k_attach_stream(e, rec, false, true, &code, err);
}

/* `vm ls` is `ps` of the VMs only. */
static int vm_ls(const KGlobals *g, int argc, char **argv, KError **err) {
        _cleanup_free_ char **args = calloc((size_t) argc + 2, sizeof(char *));
        if (!args)
                return kerr(err, -ENOMEM, "vm ls");
        args[0] = (char *) "ps";
        args[1] = (char *) "--kind=vm";
        for (int i = 1; i < argc; i++)
                args[i + 1] = argv[i];
        args[argc + 1] = NULL;
        return k_ps(g, argc + 1, args, err);
}

typedef struct VmSub {
        const char *name;
        KVerbFn run;
        const char *usage;
        const char *summary;
        const char *help;
        bool names_vms;         /* the operands are VMs (a container there is an error) */
} VmSub;

#define VM_RUN_OPTIONS                                                                                         \
        "Options:\n"                                                                                           \
        "  --kernel BZIMAGE     Linux kernel (bzImage, e.g. /boot/vmlinuz-*); required\n"                      \
        "  --initrd FILE        initial ramdisk\n"                                                             \
        "  --cmdline TEXT       kernel command line (default: " VM_DEFAULT_CMDLINE ")\n"                       \
        "  --cpus N             vCPUs, 1-64 (default 1)\n"                                                     \
        "  -m, --memory SIZE    guest RAM: 512M, 2G; a bare number is MiB (default 512M)\n"                    \
        "  --disk PATH[,ro]     a raw disk image as virtio-blk (repeatable; ,ro: read-only)\n"                 \
        "  --net bridge|none|NETWORK  a tap on kapsel's default bridge (default), none, or a\n"                 \
        "                       network from 'kapsel network create'; the guest gets its address\n"            \
        "                       through the kernel's ip= argument\n"                                           \
        "  --name NAME          a name (default: a generated one)\n"                                          \
        "  --boot-timeout SECS  stop the VM (exit 125, with the console's last lines) when its console\n"   \
        "                       shows nothing (or not --boot-ready's text) within SECS (90, 90s, 2m;\n"    \
        "                       default 300; 0: no limit)\n"                                               \
        "  --boot-ready TEXT    the console output that means the guest booted (default: any output)\n"

static const VmSub subs[] = {
        { "run", vm_run, "[-d] --kernel BZIMAGE [OPTIONS]", "create and boot a micro-VM",
          VM_RUN_OPTIONS "  -d, --detach         boot in the background and print the id; without it the\n"
          "                       serial console is attached until the guest stops (Ctrl-] detaches)\n\n"
          "Examples:\n  kapsel vm run -d --name vm1 --kernel /boot/vmlinuz-$(uname -r) --initrd initrd.img --memory 1G\n"
          "  kapsel vm run --kernel bzImage --disk root.img --cmdline 'console=ttyS0 root=/dev/vda' --net none" },
        { "create", vm_create_cmd, "--kernel BZIMAGE [OPTIONS]", "create a micro-VM without booting it",
          VM_RUN_OPTIONS "\nExample:\n  kapsel vm create --name vm1 --kernel /boot/vmlinuz-$(uname -r) --cpus 2 && kapsel vm start vm1" },
        { "start", k_start, "VM...", "boot created or stopped micro-VMs",
          "Example:\n  kapsel vm start vm1", true },
        { "stop", k_stop, "[-t SECONDS] VM...", "stop micro-VMs (control socket stop, SIGKILL after -t, default 10)",
          "Example:\n  kapsel vm stop -t 5 vm1", true },
        { "kill", k_kill, "[-s SIGNAL] VM...", "send a signal (default SIGKILL) to micro-VMs' kapsel-vmm",
          "Example:\n  kapsel vm kill vm1", true },
        { "pause", k_pause, "VM...", "pause micro-VMs' vCPUs", "Example:\n  kapsel vm pause vm1 && kapsel vm resume vm1", true },
        { "resume", k_unpause, "VM...", "resume paused micro-VMs", "Example:\n  kapsel vm resume vm1", true },
        { "ls", vm_ls, "[-a] [-q] [--no-trunc] [--format table|json|TEMPLATE]", "list micro-VMs (-a: stopped ones too)",
          "Examples:\n  kapsel vm ls -a\n  kapsel vm ls --format '{{.Names}} {{.Status}}'\n"
          "('kapsel ps' lists containers and micro-VMs together, with a KIND column.)" },
        { "inspect", k_inspect, "[--format json|TEMPLATE] VM...", "show micro-VMs as JSON",
          "Example:\n  kapsel vm inspect --format '{{.State.Status}}' vm1", true },
        { "console", vm_console, "VM", "attach to a running micro-VM's serial console (Ctrl-] detaches)",
          "Example:\n  kapsel vm console vm1", true },
        { "logs", k_logs, "[-f] [-t] [--tail N] VM", "show a micro-VM's serial console output",
          "Example:\n  kapsel vm logs -f vm1", true },
        { "rm", k_rm, "[-f] VM...", "remove micro-VMs (-f: stop running ones first)", "Example:\n  kapsel vm rm -f vm1", true },
        { "snapshot", k_vm_snapshot, "create|ls|rm VM [NAME...]", "save, list or remove a micro-VM's snapshots",
          "create VM NAME   pause VM (if running), save its vCPUs, devices, memory and writable disks, resume\n"
          "ls VM [--format table|json|TEMPLATE] [-q]   the snapshots, oldest first\n"
          "rm VM NAME...    remove snapshots (clones running from one keep running)\n"
          "Snapshots live with the VM ('kapsel vm inspect' lists them) and go when it is removed.\n\n"
          "Examples:\n  kapsel vm snapshot create vm1 before-upgrade\n  kapsel vm snapshot ls vm1" },
        { "restore", k_vm_restore, "VM NAME", "resume a stopped micro-VM from a snapshot (its disks go back too)",
          "The guest continues where it was when the snapshot was taken: no boot.\n\n"
          "Example:\n  kapsel vm stop vm1 && kapsel vm restore vm1 before-upgrade" },
        { "clone", k_vm_clone, "VM NAME [NEWVM]", "start a new micro-VM from a snapshot of VM",
          "The clone has VM's configuration, its own copies of the writable disks and its own tap; its\n"
          "memory is the snapshot's, shared copy-on-write with every other clone of it.\n\n"
          "Example:\n  kapsel vm clone vm1 warm web-2" },
        { "migrate", vm_migrate_cmd, "VM --to unix:PATH|tcp:ADDR:PORT --token TOKEN [--max-downtime MS]",
          "move a running micro-VM to a target waiting with 'kapsel vm receive'",
          "Copies guest memory while the guest runs, then what it dirtied, round after round, until the\n"
          "rest fits --max-downtime (default 300 ms); then pauses, sends the rest and the device state,\n"
          "and the target resumes. Prints total time, downtime, rounds and pages. Disks must be on storage\n"
          "both hosts reach at the same path. TOKEN (or $KAPSEL_MIGRATION_TOKEN) must be the target's.\n"
          "The stream is not encrypted: use a unix socket or a network both hosts trust.\n\n"
          "Example:\n  kapsel vm migrate vm1 --to tcp:10.0.0.2:4444 --token \"$T\"", true },
        { "receive", vm_receive, "NAME --listen unix:PATH|tcp:ADDR:PORT --token TOKEN [--kernel ... as create]",
          "create a micro-VM that waits for a live migration",
          "Give the source VM's options (--kernel, --memory, --cpus, --disk, --net): the guest's memory and\n"
          "devices must match. The VM shows as running while it waits.\n\n"
          "Example:\n  kapsel vm receive vm1 --listen tcp:0.0.0.0:4444 --token \"$T\" --kernel bzImage --memory 1G" },
};

static const VmSub *find_sub(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(subs); i++)
                if (streq(subs[i].name, name))
                        return &subs[i];
        return NULL;
}

static int vm_help(const char *sub) {
        const VmSub *s = find_sub(sub);
        if (s) {
                printf("Usage: kapsel vm %s %s\n\n%s\n\n%s\n", s->name, s->usage, s->summary, s->help);
                return 1;
        }
        printf("Usage: kapsel vm COMMAND [OPTIONS]\n\nManage KVM micro-VMs (kapsel-vmm), listed with containers.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(subs); i++)
                printf("  %-10s %s\n", subs[i].name, subs[i].summary);
        printf("\nA VM is an instance like a container: 'kapsel ps', 'inspect', 'logs', 'stop' and 'rm' take it too.\n"
               "Run 'kapsel vm COMMAND --help' for a command's options and examples.\n\n"
               "Examples:\n  kapsel vm run -d --name vm1 --kernel /boot/vmlinuz-$(uname -r) --initrd initrd.img\n"
               "  kapsel vm logs vm1\n  kapsel vm stop vm1 && kapsel vm rm vm1\n");
        return 1;
}

K_VERB(vm) {
        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                vm_help(argc > 2 && streq(argv[1], "help") ? argv[2] : "");
                return argc < 2 ? k_usage(err, "vm", "missing COMMAND") : 0;
        }
        const VmSub *s = find_sub(argv[1]);
        if (!s)
                return k_usage(err, "vm", "unknown command \"%s\"", argv[1]);
        /* the generic verbs print their own help: give the VM's instead */
        for (int i = 2; i < argc && !streq(argv[i], "--"); i++)
                if (streq(argv[i], "--help") || streq(argv[i], "-h"))
                        return vm_help(s->name) > 0 ? 0 : 0;
        /* `kapsel vm stop CTR` and the like: the error says which verb takes a container */
        KGlobals vg = *g;
        if (s->names_vms)
                vg.vm_verb = streq(s->name, "console") ? "attach" : s->name;
        return s->run(&vg, argc - 1, argv + 1, err);
}
