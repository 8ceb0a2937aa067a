/* SPDX-License-Identifier: Apache-2.0 */
/* The engine's state store: one sqlite database (WAL) under the root. Rows are small; a container's
 * whole configuration is one JSON document in docker's shape ({"Config":..,"HostConfig":..}), so
 * `inspect` shows what was asked and new flags need no schema change. Many kapsel processes use
 * the database at once: every statement runs with a busy timeout, every multi-row change in one
 * transaction. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

typedef enum CtrState {
        CTR_CREATED,
        CTR_RUNNING,
        CTR_PAUSED,
        CTR_RESTARTING,
        CTR_EXITED,
        CTR_REMOVING,
        _CTR_STATE_MAX,
} CtrState;

const char *ctr_state_to_string(CtrState s);
int ctr_state_from_string(const char *s);

/* What a row is: a container (runtime core in the monitor) or a micro-VM (kapsel-vmm under the
 * same monitor). Stored as the `kind` column ('container' | 'vm'). */
typedef enum CtrKind {
        CTR_KIND_CONTAINER,
        CTR_KIND_VM,
        _CTR_KIND_MAX,
} CtrKind;

const char *ctr_kind_to_string(CtrKind k);
int ctr_kind_from_string(const char *s);

typedef struct CtrRecord {
        char *id;               /* 64 hex */
        char *name;
        char *image;            /* as the user named it */
        char *image_id;         /* sha256:... */
        json_t *config;         /* {"Config": {...}, "HostConfig": {...}} */
        CtrState state;
        pid_t pid;              /* container init (host pid), 0 when not running */
        pid_t monitor_pid;      /* 0 when no monitor */
        int exit_code;
        int64_t created, started, finished;     /* unix ns; 0 = never */
        int restart_count;
        char *error;            /* last start error, or NULL */
        CtrKind kind;           /* fixed at insert */
        bool oom_killed;        /* the last exit was an OOM kill of the container's memory cgroup */
} CtrRecord;

void ctr_record_free(CtrRecord *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(CtrRecord *, ctr_record_free)

typedef struct Db Db;

int db_open(const char *path, Db **ret, KError **err);
void db_close(Db *db);
/* Give the connection's memory back while nothing is asked of it for a long time (a container's
 * monitor while the container runs): it is closed and opened again by the next call. A no-op inside
 * a transaction. */
void db_idle(Db *db);
DEFINE_TRIVIAL_CLEANUP_FUNC(Db *, db_close)

int db_begin(Db *db, KError **err);     /* BEGIN IMMEDIATE: writers queue here, not mid-way */
int db_commit(Db *db, KError **err);
void db_rollback(Db *db);

/* Insert a new container; -EEXIST (KERR_EXISTS) when the name is taken. */
int db_ctr_insert(Db *db, const CtrRecord *r, KError **err);
/* Replace the mutable fields (state, pids, exit code, times, restart count, error, name, config). */
int db_ctr_update(Db *db, const CtrRecord *r, KError **err);
int db_ctr_delete(Db *db, const char *id, KError **err);
/* Look up by full id, name, or unique id prefix. KERR_NOT_FOUND when none. */
int db_ctr_get(Db *db, const char *ref, CtrRecord **ret, KError **err);
/* All containers, oldest first. */
int db_ctr_list(Db *db, CtrRecord ***ret, size_t *ret_n, KError **err);
void ctr_record_list_free(CtrRecord **l, size_t n);

typedef struct VolRecord {
        char *name;
        int64_t created;
        json_t *labels;
} VolRecord;

int db_vol_insert(Db *db, const char *name, json_t *labels, KError **err);
int db_vol_delete(Db *db, const char *name, KError **err);
int db_vol_exists(Db *db, const char *name);
int db_vol_list(Db *db, VolRecord **ret, size_t *ret_n, KError **err);
void vol_record_list_free(VolRecord *l, size_t n);
