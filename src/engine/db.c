/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "string-util.h"
#include "time-util.h"

struct Db {
        sqlite3 *h;
        char *path;
        bool read_only;         /* the disk is full and the reserve gone: reads only (db_connect) */
};

static const char *const state_names[_CTR_STATE_MAX] = {
        [CTR_CREATED] = "created", [CTR_RUNNING] = "running", [CTR_PAUSED] = "paused",
        [CTR_RESTARTING] = "restarting", [CTR_EXITED] = "exited", [CTR_REMOVING] = "removing",
};

const char *ctr_state_to_string(CtrState s) {
        return s < _CTR_STATE_MAX ? state_names[s] : "unknown";
}

int ctr_state_from_string(const char *s) {
        for (int i = 0; i < _CTR_STATE_MAX; i++)
                if (streq(state_names[i], s))
                        return i;
        return -EINVAL;
}

static const char *const kind_names[_CTR_KIND_MAX] = { [CTR_KIND_CONTAINER] = "container", [CTR_KIND_VM] = "vm" };

const char *ctr_kind_to_string(CtrKind k) {
        return k < _CTR_KIND_MAX ? kind_names[k] : "unknown";
}

int ctr_kind_from_string(const char *s) {
        for (int i = 0; i < _CTR_KIND_MAX; i++)
                if (streq(kind_names[i], s))
                        return i;
        return -EINVAL;
}

/* Versioned schema: user_version says which migrations ran. Append, never edit. */
static const char *const migrations[] = {
        "CREATE TABLE containers ("
        " id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image TEXT NOT NULL, image_id TEXT NOT NULL,"
        " config TEXT NOT NULL, state TEXT NOT NULL, pid INTEGER NOT NULL DEFAULT 0,"
        " monitor_pid INTEGER NOT NULL DEFAULT 0, exit_code INTEGER NOT NULL DEFAULT 0,"
        " created INTEGER NOT NULL, started INTEGER NOT NULL DEFAULT 0, finished INTEGER NOT NULL DEFAULT 0,"
        " restart_count INTEGER NOT NULL DEFAULT 0, error TEXT);"
        "CREATE TABLE volumes (name TEXT PRIMARY KEY, created INTEGER NOT NULL, labels TEXT);",
        /* 2: micro-VMs live in the same table, told apart by kind */
        "ALTER TABLE containers ADD COLUMN kind TEXT NOT NULL DEFAULT 'container';",
        /* 3: the last exit was the memory cgroup's OOM kill (the monitor reads the cgroup's events) */
        "ALTER TABLE containers ADD COLUMN oom_killed INTEGER NOT NULL DEFAULT 0;",
};

static bool rc_is_full(int rc);

/* Less than a page or two left where the database lives? */
static bool fs_full(const Db *db) {
        _cleanup_free_ char *dir = strdup(db->path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
                *slash = '\0';
        struct statvfs sv;
        return dir && statvfs(slash ? (*dir ? dir : "/") : ".", &sv) == 0 && sv.f_bavail * sv.f_frsize < (64u << 10);
}

static int db_err(Db *db, int rc, const char *what, KError **err) {
        int e = rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY : rc == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
        if (db->read_only || (rc_is_full(rc) && fs_full(db)))
                return kerr_msg(err, KERR_HOST, -ENOSPC, "state database %s: %s: %s: the file system of the kapsel "
                                "root is full; free space there (remove files, or containers and images once "
                                "there is room), then try again", db->path, what,
                                db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        return kerr_msg(err, KERR_GENERIC, e, "state database %s: %s: %s", db->path, what,
                        db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
}

static int db_connect(Db *db, KError **err);

/* A full disk must not lock the user out: ps, stop, rm and system check need the database, and
 * even reading a WAL database creates its -shm file, and rm writes. kapsel.db.reserve holds space
 * (made when there is room); an operation that fails for lack of space gives it back and tries
 * once more, so the commands that free space work. */
#define DB_RESERVE_SIZE (4 << 20)

static bool rc_is_full(int rc) {
        return rc == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR || rc == SQLITE_CANTOPEN;
}

static bool db_release_reserve(Db *db) {
        char p[4096];
        snprintf(p, sizeof(p), "%s.reserve", db->path);
        return unlink(p) == 0;
}

static void db_make_reserve(Db *db) {
        char p[4096];
        snprintf(p, sizeof(p), "%s.reserve", db->path);
        if (access(p, F_OK) == 0)
                return;
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return;
        if (posix_fallocate(fd, 0, DB_RESERVE_SIZE) != 0)
                (void) unlink(p);       /* no room now: next time */
        close(fd);
}

/* sqlite3_step(), once more after giving the reserve back when the disk was full. */
static int step_retry(Db *db, sqlite3_stmt *st) {
        int rc = sqlite3_step(st);
        if (rc_is_full(rc) && db_release_reserve(db)) {
                sqlite3_reset(st);
                rc = sqlite3_step(st);
        }
        return rc;
}

/* The connection, opened again after db_idle(). */
static int db_handle(Db *db, KError **err) {
        /* a read-only connection of a full disk is tried anew each time: space may be back */
        if (db->h && db->read_only && sqlite3_get_autocommit(db->h) && sqlite3_close(db->h) == SQLITE_OK) {
                db->h = NULL;
                db->read_only = false;
        }
        return db->h ? 0 : db_connect(db, err);
}

static int db_exec(Db *db, const char *sql, KError **err) {
        int r = db_handle(db, err);
        if (r < 0)
                return r;
        int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);
        if (rc_is_full(rc) && db_release_reserve(db))
                rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : db_err(db, rc, sql, err);
}

static int db_user_version(Db *db) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -EIO;
        sqlite3_finalize(st);
        return version;
}

static int db_migrate(Db *db, KError **err) {
        int version = db_user_version(db);
        if (version >= (int) ELEMENTSOF(migrations))
                return 0;
        /* Several first commands may race here: take the write lock, then look again. */
        int r = db_begin(db, err);
        if (r < 0)
                return r;
        version = db_user_version(db);
        if (version < 0) {
                db_rollback(db);
                return db_err(db, SQLITE_ERROR, "read schema version", err);
        }
        for (size_t i = version; i < ELEMENTSOF(migrations); i++)
                if ((r = db_exec(db, migrations[i], err)) < 0) {
                        db_rollback(db);
                        return r;
                }
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", ELEMENTSOF(migrations));
        if ((r = db_exec(db, sql, err)) < 0) {
                db_rollback(db);
                return r;
        }
        return db_commit(db, err);
}

static int db_connect_once(Db *db, KError **err) {
        int rc = sqlite3_open_v2(db->path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK) {
                int r = kerr_msg(err, KERR_HOST, -EIO, "open state database %s: %s", db->path,
                                 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
                sqlite3_close(db->h);
                db->h = NULL;
                return r;
        }
        /* Readers never block the writer in WAL; writers wait up to 30 s for each other. */
        sqlite3_busy_timeout(db->h, 30000);
        return db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", err);
}

/* The last resort on a full disk: the database file as it is, read-only and without its WAL (a WAL
 * database needs its -shm file created to be read at all; when none exists, every write is in the
 * main file). Reads work; a write says the disk is full. */
static int db_connect_read_only(Db *db) {
        _cleanup_free_ char *uri = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&uri, &len);
        if (!f)
                return -ENOMEM;
        fputs("file:", f);
        for (const unsigned char *c = (const unsigned char *) db->path; *c; c++)
                if (strchr("/-_.~", *c) || (*c >= '0' && *c <= '9') || ((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z'))
                        fputc(*c, f);
                else
                        fprintf(f, "%%%02X", *c);
        fputs("?immutable=1", f);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (sqlite3_open_v2(uri, &db->h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
                sqlite3_close(db->h);
                db->h = NULL;
                return -EIO;
        }
        db->read_only = true;
        return 0;
}

static int db_connect(Db *db, KError **err) {
        KError *first = NULL;
        int r = db_connect_once(db, &first);
        if (r < 0 && db->h) {
                sqlite3_close(db->h);
                db->h = NULL;
        }
        if (r < 0 && db_release_reserve(db)) {
                kerr_free(first);
                first = NULL;
                r = db_connect_once(db, &first);
                if (r < 0 && db->h) {
                        sqlite3_close(db->h);
                        db->h = NULL;
                }
        }
        if (r < 0 && first && first->code == -ENOSPC && db_connect_read_only(db) >= 0) {
                kerr_free(first);
                return 0;
        }
        if (r < 0) {
                if (err && !*err)
                        *err = first;
                else
                        kerr_free(first);
                return r;
        }
        return 0;
}

int db_open(const char *path, Db **ret, KError **err) {
        _cleanup_(db_closep) Db *db = calloc(1, sizeof(*db));
        if (!db || !(db->path = strdup(path)))
                return kerr(err, -ENOMEM, "open state database");
        int r = db_connect(db, err);
        if (r < 0)
                return r;
        if ((r = db_migrate(db, err)) < 0)
                return r;
        db_make_reserve(db);
        *ret = TAKE_PTR(db);
        return 0;
}

void db_idle(Db *db) {
        /* SQLITE_BUSY (a statement still open) keeps the connection: nothing is lost, only memory */
        if (db && db->h && sqlite3_get_autocommit(db->h) && sqlite3_close(db->h) == SQLITE_OK)
                db->h = NULL;
}

void db_close(Db *db) {
        if (!db)
                return;
        sqlite3_close(db->h);
        free(db->path);
        free(db);
}

int db_begin(Db *db, KError **err) {
        return db_exec(db, "BEGIN IMMEDIATE", err);
}

int db_commit(Db *db, KError **err) {
        return db_exec(db, "COMMIT", err);
}

void db_rollback(Db *db) {
        if (db->h)
                (void) sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

void ctr_record_free(CtrRecord *r) {
        if (!r)
                return;
        free(r->id);
        free(r->name);
        free(r->image);
        free(r->image_id);
        json_decref(r->config);
        free(r->error);
        free(r);
}

void ctr_record_list_free(CtrRecord **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                ctr_record_free(l[i]);
        free(l);
}

static int db_prepare(Db *db, const char *sql, sqlite3_stmt **st, KError **err) {
        int r = db_handle(db, err);
        if (r < 0)
                return r;
        int rc = sqlite3_prepare_v2(db->h, sql, -1, st, NULL);
        return rc == SQLITE_OK ? 0 : db_err(db, rc, "prepare", err);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s) {
        if (s)
                sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(st, i);
}

/* Bind the mutable columns at 1..10 in the order the statements below use. */
static int bind_mutable(sqlite3_stmt *st, const CtrRecord *r) {
        _cleanup_free_ char *config = json_dumps(r->config, JSON_COMPACT);
        if (!config)
                return -ENOMEM;
        sqlite3_bind_text(st, 1, config, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, ctr_state_to_string(r->state), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, r->pid);
        sqlite3_bind_int(st, 4, r->monitor_pid);
        sqlite3_bind_int(st, 5, r->exit_code);
        sqlite3_bind_int64(st, 6, r->started);
        sqlite3_bind_int64(st, 7, r->finished);
        sqlite3_bind_int(st, 8, r->restart_count);
        bind_text(st, 9, r->error);
        bind_text(st, 10, r->name);
        return 0;
}

static int step_done(Db *db, sqlite3_stmt *st, const char *what, KError **err) {
        int rc = step_retry(db, st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : db_err(db, rc, what, err);
}

/* One INSERT or UPDATE of a record: the mutable columns are ?1..?10 and the id ?11 in both; an
 * insert also binds the columns fixed at create (?12..?15). */
static int ctr_write(Db *db, const char *sql, const CtrRecord *r, bool insert, KError **err) {
        sqlite3_stmt *st;
        int ret = db_prepare(db, sql, &st, err);
        if (ret < 0)
                return ret;
        if (bind_mutable(st, r) < 0) {
                sqlite3_finalize(st);
                return kerr(err, -ENOMEM, "store container");
        }
        bind_text(st, 11, r->id);
        sqlite3_bind_int(st, 16, r->oom_killed);
        if (insert) {
                bind_text(st, 12, r->image);
                bind_text(st, 13, r->image_id);
                sqlite3_bind_int64(st, 14, r->created);
                sqlite3_bind_text(st, 15, ctr_kind_to_string(r->kind), -1, SQLITE_STATIC);
        }
        int rc = step_retry(db, st);
        sqlite3_finalize(st);
        if (rc == SQLITE_CONSTRAINT && insert)
                return kerr_msg(err, KERR_EXISTS, -EEXIST,
                                "the container name \"%s\" is already in use; remove that container "
                                "(kapsel rm %s) or choose another --name", r->name, r->name);
        if (rc == SQLITE_CONSTRAINT)
                return kerr_msg(err, KERR_EXISTS, -EEXIST, "the container name \"%s\" is already in use", r->name);
        return rc == SQLITE_DONE ? 0 : db_err(db, rc, insert ? "insert container" : "update container", err);
}

int db_ctr_insert(Db *db, const CtrRecord *r, KError **err) {
        return ctr_write(db,
                         "INSERT INTO containers (config, state, pid, monitor_pid, exit_code, started, finished,"
                         " restart_count, error, name, id, image, image_id, created, kind, oom_killed)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                         r, true, err);
}

int db_ctr_update(Db *db, const CtrRecord *r, KError **err) {
        return ctr_write(db,
                         "UPDATE containers SET config = ?1, state = ?2, pid = ?3, monitor_pid = ?4, exit_code = ?5,"
                         " started = ?6, finished = ?7, restart_count = ?8, error = ?9, name = ?10, oom_killed = ?16"
                         " WHERE id = ?11",
                         r, false, err);
}

int db_ctr_delete(Db *db, const char *id, KError **err) {
        sqlite3_stmt *st;
        int r = db_prepare(db, "DELETE FROM containers WHERE id = ?1", &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, id);
        return step_done(db, st, "delete container", err);
}

#define CTR_COLUMNS "id, name, image, image_id, config, state, pid, monitor_pid, exit_code, created, started," \
                    " finished, restart_count, error, kind, oom_killed"

static char *col_strdup(sqlite3_stmt *st, int i) {
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? strdup((const char *) t) : NULL;
}

static CtrRecord *row_to_record(sqlite3_stmt *st) {
        CtrRecord *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->id = col_strdup(st, 0);
        r->name = col_strdup(st, 1);
        r->image = col_strdup(st, 2);
        r->image_id = col_strdup(st, 3);
        const char *config = (const char *) sqlite3_column_text(st, 4);
        r->config = config ? json_loads(config, 0, NULL) : NULL;
        const char *state = (const char *) sqlite3_column_text(st, 5);
        int s = state ? ctr_state_from_string(state) : -EINVAL;
        r->state = s < 0 ? CTR_EXITED : (CtrState) s;
        r->pid = sqlite3_column_int(st, 6);
        r->monitor_pid = sqlite3_column_int(st, 7);
        r->exit_code = sqlite3_column_int(st, 8);
        r->created = sqlite3_column_int64(st, 9);
        r->started = sqlite3_column_int64(st, 10);
        r->finished = sqlite3_column_int64(st, 11);
        r->restart_count = sqlite3_column_int(st, 12);
        r->error = col_strdup(st, 13);
        r->oom_killed = sqlite3_column_int(st, 15) != 0;
        const char *kind = (const char *) sqlite3_column_text(st, 14);
        int k = kind ? ctr_kind_from_string(kind) : -EINVAL;
        r->kind = k < 0 ? CTR_KIND_CONTAINER : (CtrKind) k;
        if (!r->id || !r->name || !r->image || !r->image_id || !r->config) {
                ctr_record_free(r);
                return NULL;
        }
        return r;
}

static bool is_hex(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!strchr("0123456789abcdef", *s))
                        return false;
        return true;
}

int db_ctr_get(Db *db, const char *ref, CtrRecord **ret, KError **err) {
        /* exact id or name first; then an id prefix, which must be unique */
        static const char *const queries[] = {
                "SELECT " CTR_COLUMNS " FROM containers WHERE id = ?1 OR name = ?1",
                "SELECT " CTR_COLUMNS " FROM containers WHERE substr(id, 1, length(?1)) = ?1",
        };
        for (size_t q = 0; q < ELEMENTSOF(queries); q++) {
                if (q == 1 && !is_hex(ref))
                        break;
                sqlite3_stmt *st;
                int r = db_prepare(db, queries[q], &st, err);
                if (r < 0)
                        return r;
                bind_text(st, 1, ref);
                int rc = sqlite3_step(st);
                if (rc == SQLITE_ROW) {
                        _cleanup_(ctr_record_freep) CtrRecord *rec = row_to_record(st);
                        bool ambiguous = sqlite3_step(st) == SQLITE_ROW;
                        sqlite3_finalize(st);
                        if (!rec)
                                return kerr(err, -EIO, "state database %s: unreadable row for \"%s\"", db->path, ref);
                        if (ambiguous)
                                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                                "\"%s\" matches more than one container; give more of the id", ref);
                        *ret = TAKE_PTR(rec);
                        return 0;
                }
                sqlite3_finalize(st);
                if (rc != SQLITE_DONE)
                        return db_err(db, rc, "look up container", err);
        }
        return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "no such container or VM: %s (see 'kapsel ps -a')", ref);
}

int db_ctr_list(Db *db, CtrRecord ***ret, size_t *ret_n, KError **err) {
        sqlite3_stmt *st;
        int r = db_prepare(db, "SELECT " CTR_COLUMNS " FROM containers ORDER BY created, id", &st, err);
        if (r < 0)
                return r;
        CtrRecord **list = NULL;
        size_t n = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                CtrRecord *rec = row_to_record(st);
                CtrRecord **nl = rec ? realloc(list, (n + 1) * sizeof(*nl)) : NULL;
                if (!nl) {
                        ctr_record_free(rec);
                        ctr_record_list_free(list, n);
                        sqlite3_finalize(st);
                        return kerr(err, -ENOMEM, "list containers");
                }
                list = nl;
                list[n++] = rec;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                ctr_record_list_free(list, n);
                return db_err(db, rc, "list containers", err);
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

int db_vol_insert(Db *db, const char *name, json_t *labels, KError **err) {
        sqlite3_stmt *st;
        int r = db_prepare(db, "INSERT INTO volumes (name, created, labels) VALUES (?1, ?2, ?3)", &st, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *l = labels ? json_dumps(labels, JSON_COMPACT) : NULL;
        bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, now_realtime_ns());
        bind_text(st, 3, l);
        int rc = step_retry(db, st);
        sqlite3_finalize(st);
        if (rc == SQLITE_CONSTRAINT)
                return kerr_msg(err, KERR_EXISTS, -EEXIST, "volume \"%s\" already exists", name);
        return rc == SQLITE_DONE ? 0 : db_err(db, rc, "insert volume", err);
}

int db_vol_delete(Db *db, const char *name, KError **err) {
        sqlite3_stmt *st;
        int r = db_prepare(db, "DELETE FROM volumes WHERE name = ?1", &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, name);
        return step_done(db, st, "delete volume", err);
}

int db_vol_exists(Db *db, const char *name) {
        sqlite3_stmt *st;
        if (db_prepare(db, "SELECT 1 FROM volumes WHERE name = ?1", &st, NULL) < 0)
                return -EIO;
        bind_text(st, 1, name);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

int db_vol_list(Db *db, VolRecord **ret, size_t *ret_n, KError **err) {
        sqlite3_stmt *st;
        int r = db_prepare(db, "SELECT name, created, labels FROM volumes ORDER BY name", &st, err);
        if (r < 0)
                return r;
        VolRecord *list = NULL;
        size_t n = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                VolRecord *nl = realloc(list, (n + 1) * sizeof(*nl));
                if (!nl) {
                        vol_record_list_free(list, n);
                        sqlite3_finalize(st);
                        return kerr(err, -ENOMEM, "list volumes");
                }
                list = nl;
                const char *labels = (const char *) sqlite3_column_text(st, 2);
                list[n++] = (VolRecord) { .name = col_strdup(st, 0), .created = sqlite3_column_int64(st, 1),
                                          .labels = labels ? json_loads(labels, 0, NULL) : json_object() };
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                vol_record_list_free(list, n);
                return db_err(db, rc, "list volumes", err);
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

void vol_record_list_free(VolRecord *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(l[i].name);
                json_decref(l[i].labels);
        }
        free(l);
}
