/* SPDX-License-Identifier: Apache-2.0 */
/* What the builder's files share: the build in progress and one stage's state. */
#pragma once

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>

#include "build.h"
#include "dockerignore.h"
#include "image.h"
#include "build-plan.h"

typedef struct Builder {
        Engine *e;
        ImageStore *s;
        const BuildOptions *o;
        BuildProgress cb;
        void *userdata;
        BuildPlan plan;
        char *ctx;              /* absolute context directory */
        char *tmp_ctx;          /* a context unpacked from a tar: removed at the end */
        DockerIgnore ignore;
        char **stage_ids;       /* the image each finished stage produced */
        size_t step;            /* Step N of M */
        json_t *used_args;      /* --build-arg names some ARG consumed */
} Builder;

typedef struct Stage {
        size_t idx;
        Image *img;             /* current image; NULL while on scratch with nothing committed */
        json_t *config;         /* the whole image config being built */
        json_t *args;           /* ARGs in scope: name -> string or null */
        bool cmd_set;           /* CMD given in this stage (ENTRYPOINT then keeps it) */
} Stage;

/* Set by the builder's SIGINT/SIGTERM/SIGHUP handler. */
extern volatile sig_atomic_t build_interrupted;

void build_emit(Builder *b, BuildEventKind kind, const char *fmt, ...) _printf_(3, 4);
/* Variable lookup for substitution: the image's Env first, then the ARGs in scope. */
const char *build_lookup(void *stage, const char *name);
/* config["config"], created when missing. */
json_t *build_cc(Stage *st);

/* A work directory <root>/build/<id> with diff/, work/, rootfs/ and the owner's pid, and the
 * overlay of `img`'s layers mounted on rootfs/ (an empty lower dir for scratch). */
typedef struct WorkDir {
        char *dir;
        char id[13];
        bool mounted;
} WorkDir;
int workdir_open(Builder *b, const Image *img, WorkDir *ret, KError **err);
/* Unmount and remove. */
void workdir_close(Builder *b, WorkDir *w);
/* Is the upper dir (diff/) empty (the step changed nothing)? */
bool workdir_unchanged(const WorkDir *w);

/* Do RUN steps get a network of their own (--network bridge or a user network)? */
bool build_network_bridged(const BuildOptions *o);
/* Check --network before anything runs: none, host, or a bridge network that exists. */
int build_network_check(Builder *b, KError **err);
/* --isolation=vm (build-run-vm.c): is it asked for; refuse it before anything runs where micro-VMs
 * cannot run (no usable KVM, no guest kernel) or with --network host; run one step in a micro-VM;
 * and remove what a killed builder's VM step left (its container kbuild-<id>, with its disks). */
bool build_isolation_vm(const BuildOptions *o);
int build_vm_check(Builder *b, KError **err);
int build_run_step_vm(Builder *b, Stage *st, WorkDir *w, char **argv, char **extra_env, KError **err);
void build_vm_gc(Engine *e, const char *ctr);
/* RUN: `argv` in a container on w's rootfs with env/cwd/user of `cc` plus `extra_env`. */
int build_run_step(Builder *b, Stage *st, WorkDir *w, char **argv, char **extra_env, KError **err);
/* Remove etc/hosts, etc/resolv.conf, etc/hostname (bits 0, 1, 2 of `which`; regular files only,
 * only empty ones when `only_empty`) from the tree at `treefd`, then etc/ if that left it empty.
 * The tree is a container's or a guest's: no symlink in it is followed. */
void build_drop_net_files(int treefd, unsigned which, bool only_empty);

/* COPY/ADD: the files selected, their content hash for the cache key (before anything changes). */
typedef struct CopyPlan CopyPlan;
int copy_plan(Builder *b, Stage *st, const DfInstr *in, CopyPlan **ret, char ret_hash[static 72], char **ret_desc,
              KError **err);
int copy_apply(Builder *b, Stage *st, CopyPlan *p, WorkDir *w, KError **err);
void copy_plan_free(CopyPlan *p);

/* Metadata instructions on st->config. `desc` gets the step's history text. */
int config_apply(Builder *b, Stage *st, const DfInstr *in, char **ret_desc, KError **err);
/* ENV/ARG-aware environment for RUN: extra K=V from ARGs in scope not shadowed by Env, and the
 * proxy --build-args; `ret_key` the args part of the cache key ("|2 A=1 B=2 "). */
int build_run_env(Builder *b, Stage *st, char ***ret_env, char **ret_key);

/* The context: a directory, or the tar stream unpacked under <root>/build/ctx-<id>/; .dockerignore read. */
int build_context_open(Builder *b, KError **err);
void build_context_close(Builder *b);
/* SIGINT/SIGTERM/SIGHUP set build_interrupted while a build runs. */
int build_signals_install(void);
void build_signals_restore(void);
