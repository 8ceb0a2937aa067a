/* SPDX-License-Identifier: Apache-2.0 */
/* Exec instances: POST /containers/{id}/exec records one (in memory, as dockerd does), POST
 * /exec/{id}/start runs it over a hijacked connection, GET /exec/{id}/json reports its exit code.
 * The process is started by `kapsel-runtime exec --process FILE` with pipes (or a pty for Tty) as
 * its stdio: the runtime core's exec joins the container with the caller's stdio, a thread of the
 * daemon has none of its own to give, and a fork of a threaded program must not do that work. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <spawn.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctr-state.h"
#include "daemon.h"
#include "fd-util.h"
#include "json-util.h"
#include "path-util.h"
#include "string-util.h"
#include "user.h"
#include "vm-isolation.h"
#include "vm-ops.h"

#define MAX_EXECS 256

typedef struct ExecInst {
        char id[65], ctr[65];
        json_t *config;         /* the create body */
        bool used, started, running;
        bool vm;                /* in an --isolation=vm container: through its monitor (api-exec-vm.c) */
        int exit_code;
        pid_t pid;
} ExecInst;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ExecInst execs[MAX_EXECS];

static ExecInst *exec_find(const char *id) {
        for (size_t i = 0; i < MAX_EXECS; i++)
                if (execs[i].used && streq(execs[i].id, id))
                        return &execs[i];
        return NULL;
}

/* A free slot, else the oldest finished one. */
static ExecInst *exec_slot(void) {
        for (size_t i = 0; i < MAX_EXECS; i++)
                if (!execs[i].used)
                        return &execs[i];
        for (size_t i = 0; i < MAX_EXECS; i++)
                if (execs[i].started && !execs[i].running) {
                        json_decref(execs[i].config);
                        return &execs[i];
                }
        return NULL;
}

int api_exec_create(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0)
                return r;
        if (rec->state != CTR_RUNNING)
                return kerr_msg(err, KERR_STATE, -EINVAL, "container %s is not running (it is %s)", rec->name,
                                ctr_state_to_string(rec->state));
        if (rec->kind != CTR_KIND_CONTAINER)
                return kerr_msg(err, KERR_USAGE, -EOPNOTSUPP,
                                "%s is a micro-VM: exec runs in containers (--isolation=vm ones too); use its console", rec->name);
        json_t *cmd = json_object_get(rq->json, "Cmd");
        if (!json_is_array(cmd) || json_array_size(cmd) == 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "exec: Cmd must be a non-empty array of strings");
        char id[65];
        if ((r = engine_new_id(id)) < 0)
                return kerr(err, r, "new exec id");
        pthread_mutex_lock(&lock);
        ExecInst *x = exec_slot();
        if (x) {
                *x = (ExecInst) { .used = true, .config = json_incref(rq->json), .vm = vm_isolation_enabled(rec->config) };
                memcpy(x->id, id, sizeof(id));
                memcpy(x->ctr, rec->id, sizeof(x->ctr));
        }
        pthread_mutex_unlock(&lock);
        if (!x)
                return kerr_msg(err, KERR_HOST, -EBUSY, "too many exec instances are running (%d)", MAX_EXECS);
        return api_json(rs, 201, json_pack("{s:s}", "Id", id));
}

int api_exec_inspect(ApiReq *rq, ApiResp *rs, KError **err) {
        pthread_mutex_lock(&lock);
        ExecInst *x = exec_find(rq->params[0]);
        json_t *j = x ? json_pack("{s:s, s:s, s:b, s:o, s:i, s:O, s:b, s:b, s:b, s:I}", "ID", x->id, "ContainerID", x->ctr,
                                  "Running", x->running, "ExitCode", x->started && !x->running ? json_integer(x->exit_code)
                                                                                               : json_null(),
                                  "Pid", (int) x->pid, "ProcessConfig", x->config,
                                  "OpenStdin", json_is_true(json_object_get(x->config, "AttachStdin")),
                                  "OpenStdout", true, "OpenStderr", true, "CanRemove", (json_int_t) 0)
                      : NULL;
        pthread_mutex_unlock(&lock);
        if (!x)
                return kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "no such exec instance: %s", rq->params[0]);
        return api_json(rs, 200, j);
}

int api_exec_resize(ApiReq *rq, ApiResp *rs, KError **err) {
        (void) rq, (void) err;
        return api_empty(rs, 201);
}

/* The exec'd process as an OCI process document: the container's stored process (bundle/
 * config.json: env, capabilities, rlimits) with the request's args, env, cwd and user. */
static int exec_process_json(Engine *e, const char *ctr, json_t *cfg, json_t **ret, KError **err) {
        _cleanup_free_ char *path = engine_ctr_path(e, ctr, "bundle/config.json");
        _cleanup_json_ json_t *spec = path ? json_load_file(path, 0, NULL) : NULL;
        json_t *proc = json_object_get(spec, "process");
        if (!json_is_object(proc))
                return kerr(err, -ENOENT, "read the process of %s from %s", ctr, path ?: "?");
        proc = json_deep_copy(proc);
        json_object_set(proc, "args", json_object_get(cfg, "Cmd"));
        json_t *env = json_object_get(proc, "env");
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(cfg, "Env"), i, v)
                if (json_is_string(v))
                        json_array_append(env, v);
        const char *cwd = json_string_value(json_object_get(cfg, "WorkingDir"));
        if (cwd && *cwd)
                json_object_set_new(proc, "cwd", json_string(cwd));
        json_object_set_new(proc, "terminal", json_false());    /* our pty, not a console socket */
        const char *user = json_string_value(json_object_get(cfg, "User"));
        if (user && *user) {
                _cleanup_free_ char *rootfs = engine_ctr_path(e, ctr, "rootfs");
                _cleanup_close_ int rootfd = rootfs ? open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
                UserIds u;
                int r = user_resolve(rootfd, user, &u, err);
                if (r < 0) {
                        json_decref(proc);
                        return r;
                }
                json_object_set_new(proc, "user", json_pack("{s:I, s:I}", "uid", (json_int_t) u.uid, "gid",
                                                            (json_int_t) u.gid));
                user_ids_done(&u);
        }
        *ret = proc;
        return 0;
}

/* kapsel-runtime: $KAPSEL_RUNTIME, next to us (installed), or in the build tree's src/cli. */
static char *runtime_binary(void) {
        const char *env = getenv("KAPSEL_RUNTIME");
        if (env && *env)
                return strdup(env);
        _cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
        const char *dir = self ? dirname(self) : NULL;
        static const char *const rel[] = { "kapsel-runtime", "../cli/kapsel-runtime" };
        for (size_t i = 0; dir && i < ELEMENTSOF(rel); i++) {
                char *p = path_join(dir, rel[i]);
                if (p && access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return strdup("kapsel-runtime");
}

typedef struct ExecJob {
        char *root, id[65], ctr[65];
        json_t *config;
        bool tty, want_in, vm;
        int sock;
        struct MHD_UpgradeResponseHandle *urh;
        char *extra;            /* client bytes the library read past the request (stdin already) */
        size_t n_extra;
        /* relay buffers: in the job, not thread-local (static TLS is carved out of every thread's
         * 256 KiB stack) nor on the stack */
        char out_buf[32768], in_buf[32768];
} ExecJob;

static void exec_job_free(ExecJob *j) {
        free(j->extra);
        free(j->root);
        json_decref(j->config);
        free(j);
}

static void exec_finish(const char *id, int code) {
        pthread_mutex_lock(&lock);
        ExecInst *x = exec_find(id);
        if (x) {
                x->running = false;
                x->exit_code = code;
        }
        pthread_mutex_unlock(&lock);
}

/* Start the process: `kapsel-runtime exec --process FILE ID`, a fresh single-threaded program
 * (a fork of this threaded daemon may not do the runtime's work), its stdio the given fds. */
static int exec_spawn(ExecJob *j, int in, int out, int errfd, pid_t *ret_pid, KError **err) {
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_json_ json_t *proc = NULL;
        int r = engine_open(j->root, &e, err);
        if (r < 0 || (r = exec_process_json(e, j->ctr, j->config, &proc, err)) < 0)
                return r;
        _cleanup_free_ char *file = NULL, *dir = engine_ctr_path(e, j->ctr, NULL), *bin = runtime_binary();
        if (!dir || !bin || asprintf(&file, "%s/exec-%.12s.json", dir, j->id) < 0)
                return -ENOMEM;
        if (json_dump_file(proc, file, JSON_COMPACT) < 0)
                return kerr(err, -EIO, "write %s", file);
        char *argv[] = { bin, (char *) "--root", e->runtime_root, (char *) "exec", (char *) "--process", file,
                         j->ctr, NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_adddup2(&fa, in, 0);
        posix_spawn_file_actions_adddup2(&fa, out, 1);
        posix_spawn_file_actions_adddup2(&fa, errfd, 2);
        /* a pty's process gets it as its controlling terminal in a session of its own */
        if (in == out)
                posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
        else
                posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        pid_t pid;
        r = posix_spawn(&pid, bin, &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0) {
                (void) unlink(file);
                return kerr(err, -r, "run %s", bin);
        }
        *ret_pid = pid;
        pthread_mutex_lock(&lock);
        ExecInst *x = exec_find(j->id);
        if (x)
                x->pid = pid;
        pthread_mutex_unlock(&lock);
        return 0;
}

/* The process document, once the runtime has read it (it is gone when the exec ends). */
static void exec_cleanup(ExecJob *j) {
        _cleanup_(engine_freep) Engine *e = NULL;
        if (engine_open(j->root, &e, NULL) < 0)
                return;
        _cleanup_free_ char *dir = engine_ctr_path(e, j->ctr, NULL), *file = NULL;
        if (dir && asprintf(&file, "%s/exec-%.12s.json", dir, j->id) >= 0)
                (void) unlink(file);
}

static int wait_code(pid_t pid) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Copy what `from` has to the client (as stream `stream`); false at its end. */
static bool pump_out(ExecJob *j, int from, int stream) {
        char *buf = j->out_buf;
        ssize_t n = read(from, buf, sizeof(j->out_buf));
        if (n <= 0)
                return n < 0 && errno == EINTR;
        return api_write_frame(j->sock, !j->tty, stream, buf, (size_t) n) >= 0;
}

/* Client -> the process's stdin (`to`); false when the client's input ended. */
static bool pump_in(ExecJob *j, int *to) {
        char *buf = j->in_buf;
        ssize_t n = read(j->sock, buf, sizeof(j->in_buf));
        if (n <= 0) {
                if (!j->tty)
                        *to = safe_close(*to);
                return false;
        }
        /* a process that stopped reading loses the rest of its input, not the output stream */
        if (j->want_in && *to >= 0 && write_all(*to, buf, (size_t) n) < 0 && !j->tty)
                *to = safe_close(*to);
        return true;
}

static int exec_in_vm(ExecJob *j, KError **err) {
        VmExecJob x = { .root = j->root, .ctr = j->ctr, .config = j->config, .tty = j->tty, .want_in = j->want_in,
                        .sock = j->sock, .extra = j->extra, .n_extra = j->n_extra };
        int code = 0, r = api_exec_vm(&x, &code, err);
        if (r >= 0)
                exec_finish(j->id, code);
        return r;
}

static int exec_relay(ExecJob *j, KError **err) {
        if (j->vm)
                return exec_in_vm(j, err);
        int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 }, master = -1, slave = -1;
        pid_t pid;
        int r;
        if (j->tty) {
                if (openpty(&master, &slave, NULL, NULL, NULL) < 0)
                        return kerr(err, -errno, "allocate a pty for exec");
                /* other execs' processes must not inherit this pair */
                (void) fcntl(master, F_SETFD, FD_CLOEXEC);
                (void) fcntl(slave, F_SETFD, FD_CLOEXEC);
                r = exec_spawn(j, slave, slave, slave, &pid, err);
                safe_close(slave);
                out[0] = master;
                in[1] = master;
        } else {
                if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0)
                        return kerr(err, -errno, "pipes for exec");
                r = exec_spawn(j, in[0], out[1], er[1], &pid, err);
                safe_close(in[0]), safe_close(out[1]), safe_close(er[1]);
                if (!j->want_in)
                        in[1] = safe_close(in[1]);
        }
        if (r < 0) {
                safe_close(in[1]), safe_close(out[0]), safe_close(er[0]);
                return r;
        }
        bool client_in = true;
        int open_outs = j->tty ? 1 : 2;
        if (j->n_extra && j->want_in && in[1] >= 0)
                (void) write_all(in[1], j->extra, j->n_extra);
        while (open_outs > 0) {
                struct pollfd p[3] = { { .fd = out[0], .events = POLLIN }, { .fd = er[0], .events = POLLIN },
                                       { .fd = client_in ? j->sock : -1, .events = POLLIN } };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[0].revents && !pump_out(j, out[0], 1)) {
                        out[0] = j->tty ? -1 : safe_close(out[0]);
                        open_outs--;
                }
                if (p[1].revents && !pump_out(j, er[0], 2)) {
                        er[0] = safe_close(er[0]);
                        open_outs--;
                }
                if (p[2].revents && !pump_in(j, &in[1]))
                        client_in = false;
        }
        if (j->tty)
                safe_close(master);
        else
                safe_close(in[1]), safe_close(out[0]), safe_close(er[0]);
        exec_finish(j->id, wait_code(pid));
        exec_cleanup(j);
        return 0;
}

static void *exec_thread(void *arg) {
        ExecJob *j = arg;
        _cleanup_kerr_ KError *err = NULL;
        if (exec_relay(j, &err) < 0) {
                if (err)
                        (void) api_write_frame(j->sock, !j->tty, 2, err->msg, strlen(err->msg));
                exec_finish(j->id, 126);
        }
        (void) shutdown(j->sock, SHUT_RDWR);
        MHD_upgrade_action(j->urh, MHD_UPGRADE_ACTION_CLOSE);
        exec_job_free(j);
        return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in, size_t extra_in_size,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
        ExecJob *j = cls;
        (void) c, (void) con_cls;
        if (extra_in_size && (j->extra = malloc(extra_in_size))) {
                memcpy(j->extra, extra_in, extra_in_size);
                j->n_extra = extra_in_size;
        }
        j->sock = sock;
        j->urh = urh;
        if (server_spawn_detached(exec_thread, j) < 0) {
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                exec_finish(j->id, 126);
                exec_job_free(j);
        }
}

static void *vm_detached_thread(void *arg) {
        ExecJob *j = arg;
        if (exec_in_vm(j, NULL) < 0)
                exec_finish(j->id, 126);
        exec_job_free(j);
        return NULL;
}

static void *reap_thread(void *arg) {
        ExecJob *j = arg;
        exec_finish(j->id, wait_code((pid_t) j->sock));
        exec_cleanup(j);
        exec_job_free(j);
        return NULL;
}

/* Detach: the process runs with /dev/null for stdio; a thread reaps it for the exit code. */
static int exec_detached(ExecJob *j, KError **err) {
        if (j->vm) {
                j->sock = -1;
                return server_spawn_detached(vm_detached_thread, j) < 0 ? kerr(err, -EAGAIN, "a thread for exec") : 0;
        }
        _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        pid_t pid;
        int r = exec_spawn(j, null, null, null, &pid, err);
        if (r < 0)
                return r;
        j->sock = (int) pid;
        if (server_spawn_detached(reap_thread, j) < 0)
                exec_job_free(j);
        return 0;
}

int api_exec_start(ApiReq *rq, ApiResp *rs, KError **err) {
        ExecJob *j = calloc(1, sizeof(*j));
        if (!j || !(j->root = strdup(rq->cfg->root))) {
                free(j);
                return -ENOMEM;
        }
        pthread_mutex_lock(&lock);
        ExecInst *x = exec_find(rq->params[0]);
        bool again = x && x->started;
        if (x && !again) {
                x->started = x->running = true;
                memcpy(j->id, x->id, sizeof(j->id));
                memcpy(j->ctr, x->ctr, sizeof(j->ctr));
                j->config = json_incref(x->config);
                j->vm = x->vm;
        }
        pthread_mutex_unlock(&lock);
        if (!x || again) {
                exec_job_free(j);
                return x ? kerr_msg(err, KERR_STATE, -EEXIST, "exec %s has already been started", rq->params[0])
                         : kerr_msg(err, KERR_NOT_FOUND, -ENOENT, "no such exec instance: %s", rq->params[0]);
        }
        j->tty = json_is_true(json_object_get(j->config, "Tty"));
        j->want_in = json_is_true(json_object_get(j->config, "AttachStdin"));
        if (json_is_true(json_object_get(rq->json, "Detach"))) {
                int r = exec_detached(j, err);
                if (r < 0) {
                        exec_finish(rq->params[0], 126);
                        exec_job_free(j);
                        return r;
                }
                return api_empty(rs, 200);
        }
        const char *up = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Upgrade");
        if (!up || strcasecmp(up, "tcp") != 0) {
                exec_finish(rq->params[0], 126);
                exec_job_free(j);
                return kerr_msg(err, KERR_USAGE, -EINVAL, "exec start needs a hijacked connection: send Upgrade: tcp");
        }
        rs->raw = MHD_create_response_for_upgrade(on_upgrade, j);
        if (!rs->raw) {
                exec_job_free(j);
                return -ENOMEM;
        }
        MHD_add_response_header(rs->raw, "Upgrade", "tcp");
        rs->status = 101;
        rs->content_type = j->tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
        return 0;
}
