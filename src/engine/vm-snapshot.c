/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr-ops.h"
#include "fd-util.h"
#include "monitor.h"
#include "path-util.h"
#include "rm-rf.h"
#include "vm-config.h"
#include "vm-isolation.h"
#include "vm-ops.h"
#include "vm-snapshot.h"

#define SNAPSHOTS_DIR "snapshots"
#define SNAPSHOT_META "snapshot.json"
#define RESTORE_KEY "Restore"
/* writing a large guest's memory can take a while on a slow disk */
#define SNAPSHOT_TIMEOUT_S 600

const char *vm_snapshot_restore_dir(const json_t *config) {
        return json_string_value(json_object_get(config, RESTORE_KEY));
}

static int check_vm(const CtrRecord *rec, const char *what, KError **err) {
        if (rec->kind != CTR_KIND_VM)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s: %s is a container, not a micro-VM (kapsel vm ls)", what,
                                rec->name);
        return 0;
}

/* The words of messages: a VM's snapshot, or an --isolation=vm container's checkpoint (docker's). */
static bool is_vm(const CtrRecord *rec) {
        return rec->kind == CTR_KIND_VM;
}

static const char *owner_word(const CtrRecord *rec) {
        return is_vm(rec) ? "VM" : "container";
}

static const char *thing_word(const CtrRecord *rec) {
        return is_vm(rec) ? "snapshot" : "checkpoint";
}

static const char *ls_command(const CtrRecord *rec) {
        return is_vm(rec) ? "kapsel vm snapshot ls" : "kapsel checkpoint ls";
}

static int check_name(const CtrRecord *rec, const char *name, KError **err) {
        if (!ctr_name_valid(name))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid %s name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*",
                                thing_word(rec), name ?: "");
        return 0;
}

static char *snapshot_dir(const Engine *e, const CtrRecord *rec, const char *name) {
        _cleanup_free_ char *base = engine_ctr_path(e, rec->id, SNAPSHOTS_DIR);
        return name && base ? path_join(base, name) : TAKE_PTR(base);
}

/* An existing snapshot's directory (it has a state file), or a clear error. */
static int find_snapshot(const Engine *e, const CtrRecord *rec, const char *name, char **ret, KError **err) {
        int r = check_name(rec, name, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *dir = snapshot_dir(e, rec, name), *state = NULL;
        if (!dir || !(state = path_join(dir, "state")))
                return kerr(err, -ENOMEM, "%s %s", thing_word(rec), name);
        if (access(state, R_OK) < 0)
                return kerr_kind(err, KERR_NOT_FOUND, -ENOENT, "%s %s has no %s \"%s\" (%s %s)", owner_word(rec),
                                 rec->name, thing_word(rec), name, ls_command(rec), rec->name);
        *ret = TAKE_PTR(dir);
        return 0;
}

/* Copy src to dst (created or truncated), keeping holes: a mostly empty disk image stays small. */
static int copy_sparse(const char *src, const char *dst, KError **err) {
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return kerr(err, -errno, "open %s", src);
        struct stat st;
        if (fstat(in, &st) < 0)
                return kerr(err, -errno, "stat %s", src);
        _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out < 0)
                return kerr(err, -errno, "create %s", dst);
        if (ftruncate(out, st.st_size) < 0)
                return kerr(err, -errno, "size %s", dst);
        off_t pos = 0;
        while (pos < st.st_size) {
                off_t data = lseek(in, pos, SEEK_DATA);
                if (data < 0)
                        break;          /* ENXIO: only a hole is left */
                off_t hole = lseek(in, data, SEEK_HOLE);
                if (hole < 0)
                        hole = st.st_size;
                off_t o_in = data, o_out = data;
                while (o_in < hole) {
                        ssize_t n = copy_file_range(in, &o_in, out, &o_out, (size_t) (hole - o_in), 0);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                return kerr(err, n < 0 ? -errno : -EIO, "copy %s to %s", src, dst);
                }
                pos = hole;
        }
        if (fsync(out) < 0)
                return kerr(err, -errno, "sync %s", dst);
        return 0;
}

static char *disk_copy_path(const char *dir, size_t i) {
        char name[32];
        snprintf(name, sizeof(name), "disk-%zu.img", i);
        return path_join(dir, name);
}

/* What a snapshot holds besides kapsel-vmm's state: the instance's writable disks (by their index
 * in the guest's disk order, so disk-<i>.img is vd<a+i>) and the guest's size. A VM's come from its
 * configuration; an --isolation=vm container's writable disk is its upper disk (vm-isolation.h). */
typedef struct SnapshotDisks {
        size_t n;
        size_t *index;
        char **path;
        size_t n_meta;          /* snapshot.json's "Disks": a VM's disks, a container's disk copies */
        uint64_t memory;
        unsigned cpus;
        char address[16];       /* snapshot.json's "Address": the guest's IPv4 on its network, or "" */
} SnapshotDisks;

static void snapshot_disks_done(SnapshotDisks *d) {
        for (size_t i = 0; i < d->n; i++)
                free(d->path[i]);
        free(d->path);
        free(d->index);
        *d = (SnapshotDisks) { 0 };
}

static int snapshot_disks(const Engine *e, const CtrRecord *rec, SnapshotDisks *ret, KError **err) {
        *ret = (SnapshotDisks) { 0 };
        if (!is_vm(rec)) {
                vm_isolation_guest_size(rec->config, &ret->memory, &ret->cpus);
                ret->index = calloc(1, sizeof(size_t));
                ret->path = calloc(1, sizeof(char *));
                if (!ret->index || !ret->path || !(ret->path[0] = engine_ctr_path(e, rec->id, VM_ISOLATION_UPPER_DISK))) {
                        snapshot_disks_done(ret);
                        return kerr(err, -ENOMEM, "checkpoint disks");
                }
                ret->index[0] = VM_ISOLATION_UPPER_INDEX;
                ret->n = ret->n_meta = 1;
                return 0;
        }
        VmConfig c;
        int r = vm_config_from_json(rec->config, &c, err);
        if (r < 0)
                return r;
        ret->memory = c.memory;
        ret->cpus = c.cpus;
        ret->n_meta = c.n_disks;
        ret->index = calloc(c.n_disks + 1, sizeof(size_t));
        ret->path = calloc(c.n_disks + 1, sizeof(char *));
        if (!ret->index || !ret->path) {
                vm_config_done(&c);
                snapshot_disks_done(ret);
                return kerr(err, -ENOMEM, "snapshot disks");
        }
        for (size_t i = 0; i < c.n_disks; i++) {
                if (c.disks[i].read_only)
                        continue;
                ret->index[ret->n] = i;
                ret->path[ret->n++] = TAKE_PTR(c.disks[i].path);
        }
        vm_config_done(&c);
        return 0;
}

/* Copy the instance's writable disks into the snapshot (to_snapshot) or back out to their places. */
static int copy_disks(const SnapshotDisks *d, const char *dir, bool to_snapshot, KError **err) {
        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *copy = disk_copy_path(dir, d->index[i]);
                if (!copy)
                        return kerr(err, -ENOMEM, "disk copy");
                int r = to_snapshot ? copy_sparse(d->path[i], copy, err) : copy_sparse(copy, d->path[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_meta(const char *dir, const char *name, const SnapshotDisks *d, KError **err) {
        _cleanup_(json_decrefp) json_t *m = json_pack("{s:s, s:I, s:I, s:i, s:i}", "Name", name, "Created",
                                                       (json_int_t) (engine_now() / 1000000000), "Memory",
                                                       (json_int_t) d->memory, "Cpus", (int) d->cpus, "Disks",
                                                       (int) d->n_meta);
        if (m && d->address[0])
                json_object_set_new(m, "Address", json_string(d->address));
        _cleanup_free_ char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (!text || dfd < 0)
                return kerr(err, text ? -errno : -ENOMEM, "%s: metadata", name);
        int r = write_file_atomic_at(dfd, SNAPSHOT_META, text, strlen(text), 0600);
        return r < 0 ? kerr(err, r, "%s: write %s", name, SNAPSHOT_META) : 0;
}

/* The guest keeps the address it had in its memory (the one inside it, when its tap translates):
 * remember it, so a start from the snapshot asks for the same one (vm_snapshot_address). */
static void note_address(Engine *e, const CtrRecord *rec, SnapshotDisks *d) {
        NetCtx *ctx;
        NetAttachment **atts = NULL;
        if (engine_net(e, &ctx, NULL) >= 0 && net_attachments(ctx, rec->id, &atts, NULL) >= 0 && atts && atts[0])
                snprintf(d->address, sizeof(d->address), "%s", atts[0]->guest_ip);
        net_attachments_free(atts);
}

char *vm_snapshot_address(const char *dir) {
        _cleanup_free_ char *meta = path_join(dir, SNAPSHOT_META), *text = NULL;
        if (!meta || read_full_file_at(AT_FDCWD, meta, 64 << 10, &text, NULL) < 0)
                return NULL;
        _cleanup_(json_decrefp) json_t *m = json_loads(text, 0, NULL);
        const char *a = json_string_value(json_object_get(m, "Address"));
        struct in_addr in;
        return a && inet_pton(AF_INET, a, &in) == 1 ? strdup(a) : NULL;
}

static int take_snapshot(Engine *e, const CtrRecord *rec, const char *dir, const char *name, KError **err) {
        SnapshotDisks d;
        int r = snapshot_disks(e, rec, &d, err);
        if (r < 0)
                return r;
        note_address(e, rec, &d);
        _cleanup_(json_decrefp) json_t *req = json_pack("{s:s, s:s}", "cmd", "snapshot", "dir", dir);
        _cleanup_free_ char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
        r = line ? vm_control_line(e, rec, line, SNAPSHOT_TIMEOUT_S, NULL, err) : kerr(err, -ENOMEM, "snapshot");
        if (r >= 0)
                r = copy_disks(&d, dir, true, err);
        if (r >= 0)
                r = write_meta(dir, name, &d, err);
        snapshot_disks_done(&d);
        return r;
}

int vm_snapshot_create(Engine *e, const CtrRecord *rec, const char *name, KError **err) {
        int r = check_vm(rec, "snapshot", err);
        return r < 0 ? r : vm_snapshot_save(e, rec, name, false, err);
}

int vm_snapshot_save(Engine *e, const CtrRecord *rec, const char *name, bool then_halt, KError **err) {
        int r = check_name(rec, name, err);
        if (r < 0)
                return r;
        if (rec->state != CTR_RUNNING && rec->state != CTR_PAUSED)
                return kerr_msg(err, KERR_STATE, -EINVAL, "%s: %s %s is %s; only a running or paused %s has a "
                                "state to save", thing_word(rec), owner_word(rec), rec->name,
                                ctr_state_to_string(rec->state), owner_word(rec));
        _cleanup_free_ char *base = snapshot_dir(e, rec, NULL), *dir = snapshot_dir(e, rec, name);
        if (!base || !dir)
                return kerr(err, -ENOMEM, "%s %s", thing_word(rec), name);
        if (mkdir(base, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s", base);
        if (mkdir(dir, 0700) < 0)
                return errno == EEXIST ? kerr_kind(err, KERR_EXISTS, -EEXIST, "%s %s already has a %s \"%s\" (%s rm %s "
                                                   "%s)", owner_word(rec), rec->name, thing_word(rec), name,
                                                   is_vm(rec) ? "kapsel vm snapshot" : "kapsel checkpoint", rec->name,
                                                   name)
                                       : kerr(err, -errno, "create %s", dir);
        bool was_running = rec->state == CTR_RUNNING;
        r = was_running ? vm_control(e, rec, "pause", NULL, err) : 0;
        if (r >= 0)
                r = take_snapshot(e, rec, dir, name, err);
        if (r >= 0 && then_halt && (r = vm_halt_paused(e, rec, err)) < 0)
                return kerr_prefix(err, r, "%s %s was saved, but %s %s did not stop", thing_word(rec), name,
                                   owner_word(rec), rec->name);
        if (r >= 0 && then_halt)
                return 0;
        /* resumed whatever happened: a failed snapshot must not leave the VM stopped */
        if (was_running)
                (void) vm_control(e, rec, "resume", NULL, r < 0 ? NULL : err);
        if (r < 0) {
                (void) rm_rf(dir);
                (void) rmdir(base);     /* only if it is empty: no trace of a failed first one */
                return kerr_prefix(err, r, "%s %s of %s %s", thing_word(rec), name, owner_word(rec), rec->name);
        }
        return 0;
}

static uint64_t dir_allocated(const char *dir) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_(closedirp) DIR *d = dfd >= 0 ? fdopendir(TAKE_FD(dfd)) : NULL;
        uint64_t total = 0;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                        total += (uint64_t) st.st_blocks * 512;
        }
        return total;
}

static int compare_created(const void *a, const void *b) {
        json_int_t x = json_integer_value(json_object_get(*(json_t *const *) a, "Created"));
        json_int_t y = json_integer_value(json_object_get(*(json_t *const *) b, "Created"));
        return x < y ? -1 : x > y;
}

int vm_snapshot_list(const Engine *e, const CtrRecord *rec, json_t **ret, KError **err) {
        int r = check_vm(rec, "snapshot ls", err);
        return r < 0 ? r : vm_snapshot_entries(e, rec, ret, err);
}

int vm_snapshot_entries(const Engine *e, const CtrRecord *rec, json_t **ret, KError **err) {
        _cleanup_free_ char *base = snapshot_dir(e, rec, NULL);
        if (!base)
                return kerr(err, -ENOMEM, "snapshots");
        _cleanup_(closedirp) DIR *d = opendir(base);
        json_t *items[256];
        size_t n = 0;
        struct dirent *de;
        while (d && n < ELEMENTSOF(items) && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *dir = path_join(base, de->d_name), *meta = path_join(dir, SNAPSHOT_META);
                json_t *m = meta ? json_load_file(meta, 0, NULL) : NULL;
                if (!json_is_object(m)) {
                        json_decref(m);
                        continue;       /* one being written, or not a snapshot */
                }
                json_object_set_new(m, "SizeBytes", json_integer((json_int_t) dir_allocated(dir)));
                items[n++] = m;
        }
        qsort(items, n, sizeof(items[0]), compare_created);
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, items[i]);
        if (!a)
                return kerr(err, -ENOMEM, "snapshots");
        *ret = a;
        return 0;
}

int vm_snapshot_remove(Engine *e, const CtrRecord *rec, const char *name, KError **err) {
        int r = check_vm(rec, "snapshot rm", err);
        return r < 0 ? r : vm_snapshot_delete(e, rec, name, err);
}

int vm_snapshot_delete(Engine *e, const CtrRecord *rec, const char *name, KError **err) {
        _cleanup_free_ char *dir = NULL, *base = snapshot_dir(e, rec, NULL);
        int r = find_snapshot(e, rec, name, &dir, err);
        if (r < 0)
                return r;
        /* clones that run from it keep their mapping of its memory; the file goes when they end */
        r = rm_rf(dir);
        if (r < 0)
                return kerr(err, r, "remove %s %s of %s %s", thing_word(rec), name, owner_word(rec), rec->name);
        if (base)
                (void) rmdir(base);     /* the last one gone: no empty directory left */
        return 0;
}

static void set_restore(CtrRecord *r, void *userdata) {
        if (userdata)
                json_object_set_new(r->config, RESTORE_KEY, json_string(userdata));
        else
                json_object_del(r->config, RESTORE_KEY);
}

/* Start `id` resuming `dir`: the row carries it for the one start, then forgets it (a later start
 * boots afresh, as after any stop). */
static int start_restored(Engine *e, const char *id, const char *dir, bool attach_wait, KError **err) {
        int r = ctr_modify(e, id, set_restore, (void *) dir, err);
        if (r >= 0)
                r = monitor_spawn(e, id, attach_wait, err);
        (void) ctr_modify(e, id, set_restore, NULL, NULL);
        return r;
}

int vm_snapshot_restore(Engine *e, const CtrRecord *rec, const char *name, KError **err) {
        int r = check_vm(rec, "restore", err);
        return r < 0 ? r : vm_snapshot_resume(e, rec, name, false, err);
}

int vm_snapshot_resume(Engine *e, const CtrRecord *rec, const char *name, bool attach_wait, KError **err) {
        _cleanup_free_ char *dir = NULL;
        int r = find_snapshot(e, rec, name, &dir, err);
        if (r < 0)
                return r;
        if (rec->state != CTR_EXITED && rec->state != CTR_CREATED)
                return is_vm(rec) ? kerr_msg(err, KERR_STATE, -EBUSY, "restore: VM %s is %s: stop it first (kapsel vm "
                                             "stop %s)", rec->name, ctr_state_to_string(rec->state), rec->name)
                                  : kerr_msg(err, KERR_STATE, -EBUSY, "start --checkpoint %s: container %s is %s: stop it "
                                             "first (kapsel stop %s)", name, rec->name,
                                             ctr_state_to_string(rec->state), rec->name);
        SnapshotDisks d;
        if ((r = snapshot_disks(e, rec, &d, err)) < 0)
                return r;
        r = copy_disks(&d, dir, false, err);
        snapshot_disks_done(&d);
        if (r >= 0)
                r = start_restored(e, rec->id, dir, attach_wait, err);
        return r < 0 ? kerr_prefix(err, r, "%s %s %s from %s %s", is_vm(rec) ? "restore" : "start", owner_word(rec),
                                   rec->name, thing_word(rec), name) : 0;
}

/* The clone's configuration: the source's, its writable disks replaced by copies in its own
 * directory. */
static int clone_config(const CtrRecord *rec, const char *snap, const char *new_dir, json_t **ret, KError **err) {
        VmConfig c;
        int r = vm_config_from_json(rec->config, &c, err);
        for (size_t i = 0; r >= 0 && i < c.n_disks; i++) {
                if (c.disks[i].read_only)
                        continue;
                _cleanup_free_ char *from = disk_copy_path(snap, i);
                char *to = disk_copy_path(new_dir, i);
                if (!from || !to) {
                        free(to);
                        r = kerr(err, -ENOMEM, "clone disks");
                        break;
                }
                free(c.disks[i].path);
                c.disks[i].path = to;
                r = copy_sparse(from, to, err);
        }
        if (r >= 0 && !(*ret = vm_config_to_json(&c)))
                r = kerr(err, -ENOMEM, "clone configuration");
        vm_config_done(&c);
        return r;
}

int vm_snapshot_clone(Engine *e, const CtrRecord *rec, const char *name, const char *new_name,
                      char ret_id[static 65], KError **err) {
        _cleanup_free_ char *snap = NULL;
        int r = check_vm(rec, "clone", err);
        if (r >= 0)
                r = find_snapshot(e, rec, name, &snap, err);
        if (r < 0)
                return r;
        if (new_name && !ctr_name_valid(new_name))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "invalid VM name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*",
                                new_name);
        if ((r = engine_new_id(ret_id)) < 0)
                return kerr(err, r, "new VM id");
        _cleanup_free_ char *gen = new_name ? NULL : engine_random_name();
        _cleanup_free_ char *dir = engine_ctr_path(e, ret_id, NULL);
        if (!dir || (!new_name && !gen))
                return kerr(err, -ENOMEM, "clone");
        if (mkdir(dir, 0700) < 0)
                return kerr(err, -errno, "create %s", dir);
        _cleanup_(json_decrefp) json_t *config = NULL;
        r = clone_config(rec, snap, dir, &config, err);
        CtrRecord row = { .id = ret_id, .name = (char *) (new_name ?: gen), .image = rec->image, .image_id = (char *) "",
                          .config = config, .state = CTR_CREATED, .created = engine_now(), .kind = CTR_KIND_VM };
        if (r >= 0)
                r = db_ctr_insert(e->db, &row, err);
        if (r < 0) {
                (void) rm_rf(dir);
                return kerr_prefix(err, r, "clone of VM %s", rec->name);
        }
        r = start_restored(e, ret_id, snap, false, err);
        if (r < 0) {
                (void) ctr_remove(e, ret_id, NULL);
                return kerr_prefix(err, r, "clone of VM %s from snapshot %s", rec->name, name);
        }
        return 0;
}
