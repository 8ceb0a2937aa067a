/* SPDX-License-Identifier: Apache-2.0 */
#include "state.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "path-util.h"
#include "string-util.h"

void container_state_free(ContainerState *s) {
        if (!s)
                return;
        free(s->id);
        free(s->bundle);
        free(s->rootfs);
        free(s->created);
        free(s->cgroup_path);
        strv_free(s->annotations);
        free(s);
}

bool container_id_valid(const char *id) {
        size_t n = strlen(id);
        if (n == 0 || n > 128 || id[0] == '.')
                return false;
        for (const char *c = id; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("_.+-", *c))
                        return false;
        return true;
}

const char *state_default_root(void) {
        static char buf[512];
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (geteuid() == 0 || !xdg || !*xdg)
                return "/run/kapsel-runtime";
        snprintf(buf, sizeof(buf), "%s/kapsel-runtime", xdg);
        return buf;
}

int state_dir_create(const char *root, const char *id, KError **err) {
        if (!container_id_valid(id))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "invalid container id \"%s\": use 1-128 letters, digits, '_', '.', '+', '-'", id);
        /* parents too: engines pass roots like <exec-root>/runtime-runc/moby that nobody made */
        if (mkdir(root, 0711) < 0 && errno != EEXIST && (errno != ENOENT || mkdir_p(root, 0711) < 0))
                return kerr_kind(err, KERR_HOST, -errno, "create state root '%s'", root);
        _cleanup_close_ int rootfd = open(root, O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return kerr_kind(err, KERR_HOST, -errno, "open state root '%s'", root);
        if (mkdirat(rootfd, id, 0711) < 0) {
                if (errno == EEXIST)
                        return kerr_msg(err, KERR_EXISTS, -EEXIST,
                                        "container \"%s\" already exists; pick another id or delete it first", id);
                return kerr_kind(err, KERR_HOST, -errno, "create state directory '%s/%s'", root, id);
        }
        int fd = openat(rootfd, id, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return kerr(err, -errno, "open state directory '%s/%s'", root, id);
        return fd;
}

int state_dir_open(const char *root, const char *id, KError **err) {
        if (!container_id_valid(id))
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "container \"%s\" does not exist (invalid id)", id);
        _cleanup_free_ char *p = path_join(root, id);
        if (!p)
                return kerr(err, -ENOMEM, "state");
        int fd = open(p, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                if (errno == ENOENT)
                        return kerr_msg(err, KERR_NOT_FOUND, -ENOENT,
                                        "container \"%s\" does not exist (state root %s)", id, root);
                return kerr(err, -errno, "open state of container \"%s\" in '%s'", id, root);
        }
        return fd;
}

int state_dir_remove(const char *root, const char *id, KError **err) {
        _cleanup_close_ int rootfd = open(root, O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return errno == ENOENT ? 0 : kerr(err, -errno, "open state root '%s'", root);
        _cleanup_close_ int dfd = openat(rootfd, id, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return errno == ENOENT ? 0 : kerr(err, -errno, "open state directory of \"%s\"", id);
        DIR *d = fdopendir(TAKE_FD(dfd));
        if (!d)
                return kerr(err, -errno, "list state directory of \"%s\"", id);
        struct dirent *de;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
        if (unlinkat(rootfd, id, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return kerr(err, -errno, "remove state directory of \"%s\"", id);
        return 0;
}

int state_save(int dirfd, const ContainerState *s, KError **err) {
        _cleanup_json_ json_t *j = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:I, s:s?, s:s}",
                "id", s->id, "pid", (json_int_t) s->pid, "pid_start", (json_int_t) s->pid_start,
                "bundle", s->bundle, "rootfs", s->rootfs, "created", s->created,
                "owner", (json_int_t) s->owner, "cgroup_path", s->cgroup_path,
                "cgroup_mode", s->cgroup_mode == CGROUP_MODE_V2 ? "v2" : "v1");
        if (!j)
                return kerr(err, -ENOMEM, "state");
        json_t *ann = json_object();
        for (size_t i = 0; s->annotations && s->annotations[i] && s->annotations[i + 1]; i += 2)
                json_object_set_new(ann, s->annotations[i], json_string(s->annotations[i + 1]));
        json_object_set_new(j, "annotations", ann);
        _cleanup_free_ char *text = json_dump_string(j, false);
        if (!text)
                return kerr(err, -ENOMEM, "state");
        int r = write_file_atomic_at(dirfd, "state.json", text, strlen(text), 0600);
        if (r < 0)
                return kerr(err, r, "write state.json of \"%s\"", s->id);
        return 0;
}

static char *dup_str(json_t *j, const char *key) {
        const char *v = json_string_value(json_object_get(j, key));
        return v ? strdup(v) : NULL;
}

int state_load(int dirfd, const char *id, ContainerState **ret, KError **err) {
        _cleanup_(container_state_freep) ContainerState *s = calloc(1, sizeof(*s));
        if (!s || !(s->id = strdup(id)))
                return kerr(err, -ENOMEM, "state");
        _cleanup_free_ char *text = NULL;
        int r = read_full_file_at(dirfd, "state.json", 1 << 20, &text, NULL);
        if (r == -ENOENT) {
                *ret = TAKE_PTR(s);     /* half-created: nothing running is known */
                return 0;
        }
        if (r < 0)
                return kerr(err, r, "read state.json of \"%s\"", id);
        json_error_t je;
        _cleanup_json_ json_t *j = json_loads(text, 0, &je);
        if (!j || !json_is_object(j))
                return kerr_msg(err, KERR_GENERIC, -EBADMSG, "state.json of \"%s\" is corrupt: %s", id, je.text);
        s->pid = (pid_t) json_integer_value(json_object_get(j, "pid"));
        s->pid_start = (uint64_t) json_integer_value(json_object_get(j, "pid_start"));
        s->owner = (uid_t) json_integer_value(json_object_get(j, "owner"));
        s->bundle = dup_str(j, "bundle");
        s->rootfs = dup_str(j, "rootfs");
        s->created = dup_str(j, "created");
        s->cgroup_path = dup_str(j, "cgroup_path");
        const char *mode = json_string_value(json_object_get(j, "cgroup_mode"));
        s->cgroup_mode = mode && streq(mode, "v2") ? CGROUP_MODE_V2 : CGROUP_MODE_V1;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(j, "annotations"), k, v)
                if (json_is_string(v) && (strv_extend(&s->annotations, k) < 0 ||
                                          strv_extend(&s->annotations, json_string_value(v)) < 0))
                        return kerr(err, -ENOMEM, "state");
        *ret = TAKE_PTR(s);
        return 0;
}

uint64_t proc_start_time(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        _cleanup_free_ char *buf = NULL;
        if (read_full_file_at(AT_FDCWD, path, 4096, &buf, NULL) < 0)
                return 0;
        /* comm (field 2) may hold spaces and parens: fields restart after the last ')' */
        char *p = strrchr(buf, ')');
        if (!p)
                return 0;
        unsigned long long start = 0;
        char state;
        /* fields 3..22: state, then 18 numbers, then starttime */
        if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                   &state, &start) != 2)
                return 0;
        if (state == 'Z' || state == 'X')
                return 0;       /* a zombie has finished running */
        return start;
}

ContainerStatus state_status(int dirfd, const ContainerState *s) {
        if (s->pid <= 0)
                return STATUS_CREATING;         /* saved before the init exists (or create died) */
        if (proc_start_time(s->pid) != s->pid_start)
                return STATUS_STOPPED;
        if (faccessat(dirfd, "start.sock", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return STATUS_CREATED;
        if (s->cgroup_path) {
                _cleanup_(cgroup_freep) Cgroup *cg = NULL;
                bool frozen = false;
                if (cgroup_open("/sys/fs/cgroup", s->cgroup_mode, s->cgroup_path, &cg, NULL) >= 0 &&
                    cgroup_is_frozen(cg, &frozen) >= 0 && frozen)
                        return STATUS_PAUSED;
        }
        return STATUS_RUNNING;
}

const char *container_status_to_string(ContainerStatus st) {
        static const char *const names[] = {
                [STATUS_CREATING] = "creating", [STATUS_CREATED] = "created", [STATUS_RUNNING] = "running",
                [STATUS_PAUSED] = "paused",     [STATUS_STOPPED] = "stopped",
        };
        return names[st];
}

json_t *state_to_json(const ContainerState *s, ContainerStatus st) {
        /* runc's key order (id, pid, status, ...): scripts match `list --format json` as text. */
        json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s?, s:s?, s:s?, s:s?}",
                "ociVersion", "1.1.0", "id", s->id, "pid", (json_int_t) (st == STATUS_STOPPED ? 0 : s->pid),
                "status", container_status_to_string(st), "bundle", s->bundle,
                "rootfs", s->rootfs, "created", s->created, "owner", "");
        if (!j)
                return NULL;
        json_t *ann = json_object();
        for (size_t i = 0; s->annotations && s->annotations[i] && s->annotations[i + 1]; i += 2)
                json_object_set_new(ann, s->annotations[i], json_string(s->annotations[i + 1]));
        json_object_set_new(j, "annotations", ann);
        return j;
}
