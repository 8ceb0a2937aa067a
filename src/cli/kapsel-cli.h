/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel: the user's CLI. One cmd-<verb>.c per verb (or per small family of verbs): parse the
 * options, make one engine call, print. Exit codes follow docker: 125 for kapsel's own errors,
 * 126 when the command cannot be invoked, 127 when it is not found, else the container's status. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "cli-getopt.h"
#include "cli-keys.h"
#include "cli-table.h"
#include "engine.h"
#include "error.h"

/* Long options are exact names in every verb (cli-getopt.h): no prefix of --pids-limit is --pid. */
#define getopt_long k_getopt_long

typedef struct KGlobals {
        const char *root;
        bool debug;
        const char *vm_verb;    /* under `kapsel vm VERB`: operands must be micro-VMs; for a container
                                 * the error names this container verb instead */
} KGlobals;

typedef int (*KVerbFn)(const KGlobals *g, int argc, char **argv, KError **err);

typedef struct KVerb {
        const char *name;
        KVerbFn run;
        const char *usage;      /* arguments, one line */
        const char *summary;
        const char *help;       /* options and examples, or NULL */
        bool sub_verbs;         /* the verb has sub-verbs and prints its own --help */
} KVerb;

#define K_VERB(name) int k_##name(const KGlobals *g, int argc, char **argv, KError **err)

/* A usage error naming the verb, with a pointer to its --help. Returns -EINVAL. */
int k_usage(KError **err, const char *verb, const char *fmt, ...) _printf_(3, 4);
/* Print a verb's help (usage line, summary, options/examples). Returns 0 (the verb is done). */
int k_help(const char *verb);
int k_open(const KGlobals *g, Engine **ret, KError **err);
/* k_open, then every container and VM record, oldest first, each repaired (a row whose monitor died
 * says exited). Free the list with ctr_record_list_free. */
int k_open_list(const KGlobals *g, Engine **ret, CtrRecord ***ret_list, size_t *ret_n, KError **err);
/* The container or VM `name` (a name, id or unique id prefix) in an open engine, its state
 * repaired; a container where g->vm_verb wants a micro-VM is a usage error that says which verb
 * takes it. */
int k_ctr_find(const KGlobals *g, Engine *e, const char *name, CtrRecord **ret, KError **err);
/* k_open, then k_ctr_find. */
int k_open_one(const KGlobals *g, const char *name, Engine **ret, CtrRecord **ret_rec, KError **err);

/* Listings (ps, images, volume ls, network ls): rows are JSON objects, printed as docker does: the
 * default table of `cols` (those not `extra`), `--format 'table TEMPLATE'` with a header named
 * after the template's fields, `--format json` (one object a line), one template line per row, or
 * only `quiet_field` per row (-q). Tab-separated cells are aligned (cli-table.h). */
typedef struct KListFormat {
        const char *format;     /* NULL or "table", "json", or a template */
        bool quiet;
        const char *quiet_field;
} KListFormat;
int k_print_list(json_t *rows, const KListFormat *f, const KColumn *cols, KError **err);
/* -q/--quiet, -f/--format and --help, for listings without other options. Returns 1 when the help
 * was printed (the verb is done). */
int k_parse_list_opts(const char *verb, int argc, char **argv, KListFormat *f, KError **err);

/* Attach this terminal/stdio to a container's monitor until the container exits. `send_start`
 * releases a foreground run; `with_stdin` forwards our stdin. Returns the exit code. */
int k_attach_stream(Engine *e, const CtrRecord *rec, bool send_start, bool with_stdin, int *ret_code,
                    KError **err);
/* docker's --detach-keys for the sessions of this command (NULL or "": ctrl-p,ctrl-q). */
int k_set_detach_keys(const char *spec, KError **err);
/* The keys k_set_detach_keys set. */
KDetachKeys *k_detach_keys(void);
/* The second half of `run` and `vm run`: start the monitor of the new instance `id` (removing the
 * instance when that fails and `remove_on_failure`), print the id when `detach`, else attach until it
 * exits. *ret_code: its exit code (0 when detached). */
int k_start_new(Engine *e, const char *id, bool detach, bool remove_on_failure, bool with_stdin, int *ret_code,
                KError **err);
/* `kapsel top` of an --isolation=vm container: the guest agent's rows on stdout, its exit code. */
int k_top_stream(Engine *e, const CtrRecord *rec, int *ret_code, KError **err);
/* `exec` into an --isolation=vm container: send the EXEC `request` (vm-agent.h) to its monitor, which
 * relays to the guest agent, and stream like attach until the process exits (or, with `detach`,
 * started). Signals to us go to the exec'd process. Returns its exit code in *ret_code. */
int k_exec_stream(Engine *e, const CtrRecord *rec, const char *request, bool tty, bool with_stdin, bool detach,
                  int *ret_code, KError **err);

/* The documents of `image inspect` and `volume inspect`, for `inspect` of any object. */
struct Image;
json_t *k_image_doc(const struct Image *img);
json_t *k_volume_doc(const Engine *e, const VolRecord *v);

/* Shared by run and create: the options turned into {"Config","HostConfig"} plus image and name. */
typedef struct RunRequest {
        json_t *config;
        const char *image;
        const char *name;
        bool detach, interactive, tty, rm;
        int pull;       /* CTR_PULL_* (ctr-create.h): --pull missing|always|never */
        int n_args;
        char **args;
} RunRequest;
int k_parse_run(const char *verb, int argc, char **argv, RunRequest *ret, KError **err);

K_VERB(run);
K_VERB(create);
K_VERB(start);
K_VERB(stop);
K_VERB(restart);
K_VERB(kill);
K_VERB(rm);
K_VERB(ps);
K_VERB(logs);
K_VERB(exec);
K_VERB(attach);
K_VERB(wait);
K_VERB(inspect);
K_VERB(pause);
K_VERB(unpause);
K_VERB(rename);
K_VERB(top);
K_VERB(stats);
K_VERB(container_prune);
K_VERB(volume_create);
K_VERB(volume_ls);
K_VERB(volume_inspect);
K_VERB(volume_rm);
K_VERB(volume_prune);
K_VERB(images);
K_VERB(rmi);
K_VERB(tag);
K_VERB(image_inspect);
K_VERB(history);
K_VERB(image_prune);
K_VERB(load);
K_VERB(save);
K_VERB(import);
K_VERB(pull);
K_VERB(push);
K_VERB(cp);
K_VERB(commit);
K_VERB(build);
K_VERB(system_check);
K_VERB(system_service);
K_VERB(network_create);
K_VERB(network_ls);
K_VERB(network_inspect);
K_VERB(network_rm);
K_VERB(network_prune);
K_VERB(network_connect);
K_VERB(network_disconnect);
K_VERB(port);
K_VERB(vm);

/* docker's "Are you sure you want to continue? [y/N]" after `warning`: true only for y/yes on
 * stdin (end of input or anything else is a no). */
bool k_confirm(const char *warning);
K_VERB(system_prune);
K_VERB(system_df);
K_VERB(info);
K_VERB(version);
K_VERB(events);
K_VERB(login);
K_VERB(logout);
K_VERB(update);
K_VERB(diff);
K_VERB(export);
