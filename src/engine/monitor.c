/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "ctr-ops.h"
#include "events.h"
#include "exec-relay.h"
#include "health.h"
#include "fd-util.h"
#include "json-util.h"
#include "log.h"
#include "logs.h"
#include "monitor.h"
#include "monitor-internal.h"
#include "path-util.h"
#include "string-util.h"

/* Output a client has not taken yet. Past CLIENT_BACKLOG for any client the container's output is
 * not read (it waits on its writes, as behind a slow terminal) while the loop goes on; a client
 * whose queue still passes CLIENT_QUEUE_MAX (what a burst after the pause can add is far less) is
 * dropped. */
#define CLIENT_BACKLOG (1 << 20)
#define CLIENT_QUEUE_MAX (16 << 20)

static void monitor_done(Monitor *m) {
        safe_close(m->log_fd);
        safe_close(m->out_fd);
        safe_close(m->err_fd);
        safe_close(m->in_fd);
        safe_close(m->master);
        safe_close(m->listen_fd);
        safe_close(m->sig_fd);
        safe_close(m->ep);
        for (size_t i = 0; i < m->n_clients; i++) {
                safe_close(m->clients[i].fd);
                attach_queue_done(&m->clients[i].out);
        }
        if (m->ops && m->ops->cleanup)
                m->ops->cleanup(m);
        ctr_record_free(m->rec);
        exec_relay_done(&m->exec);
        free(m->dir);
        free(m->id);
}

/* --- one life of the payload (monitor-payload.c) --- */

/* The row as it is now, and the payload's preparation for a life. The payload is chosen once. */
static int monitor_prepare(Monitor *m, KError **err) {
        int r = db_ctr_get(m->e->db, m->id, &m->rec, err);
        if (r < 0)
                return r;
        if (!m->ops)
                m->ops = monitor_payload_for(m->rec);
        return m->ops->prepare(m, err);
}

static void set_running(CtrRecord *r, void *userdata) {
        const Monitor *m = userdata;
        r->state = CTR_RUNNING;
        r->pid = m->pid;
        r->monitor_pid = getpid();
        r->started = engine_now();
        r->finished = 0;
        r->exit_code = 0;
        r->oom_killed = false;
        free(r->error);
        r->error = NULL;
        json_object_del(r->config, "StoppedByUser");     /* started again: unless-stopped applies anew */
}

/* --- the event loop --- */

static Client *client_by_fd(Monitor *m, int fd) {
        for (size_t i = 0; i < m->n_clients; i++)
                if (m->clients[i].fd == fd)
                        return &m->clients[i];
        return NULL;
}

/* Forget a client; with `close_fd` also hang up (otherwise the fd went to the exec relay). */
static void client_remove(Monitor *m, Client *c, bool close_fd) {
        if (close_fd) {
                epoll_ctl(m->ep, EPOLL_CTL_DEL, c->fd, NULL);
                safe_close(c->fd);
        }
        attach_queue_done(&c->out);
        *c = m->clients[--m->n_clients];
}

/* The container's output fds (and the payload's side line: a guest's serial), watched or not. */
static void output_watch(Monitor *m, bool on) {
        int fds[] = { m->out_fd, m->err_fd, m->master, m->ops && m->ops->side_fd ? m->ops->side_fd(m) : -1 };
        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
                if (fds[i] >= 0)
                        (void) epoll_ctl(m->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fds[i], &ev);
        }
        m->output_paused = !on;
}

/* Read the container's output only while every client keeps up. */
static void output_throttle(Monitor *m) {
        bool behind = false;
        for (size_t i = 0; i < m->n_clients; i++)
                behind |= attach_queue_pending(&m->clients[i].out) > CLIENT_BACKLOG;
        if (behind != m->output_paused)
                output_watch(m, !behind);
}

/* Send what the client takes now; false when it went away (and is removed). */
static bool client_flush(Monitor *m, Client *c) {
        if (attach_queue_send(&c->out, c->fd, false) < 0 || c->out.len > CLIENT_QUEUE_MAX) {
                client_remove(m, c, true);
                return false;
        }
        attach_queue_consume(&c->out, c->out.sent);
        uint32_t want = EPOLLIN | (attach_queue_pending(&c->out) ? EPOLLOUT : 0);
        struct epoll_event ev = { .events = want, .data.fd = c->fd };
        if (want != c->events && epoll_ctl(m->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
                c->events = want;
        return true;
}

static void broadcast(Monitor *m, uint8_t type, const void *data, size_t len) {
        for (size_t i = 0; i < m->n_clients;) {
                Client *c = &m->clients[i];
                if (!c->attached) {
                        i++;
                        continue;
                }
                if (attach_queue_frame(&c->out, type, data, (uint32_t) len) < 0) {
                        client_remove(m, c, true);
                        continue;
                }
                if (client_flush(m, c))
                        i++;
        }
        output_throttle(m);
}

/* The monitor is done (the container is recorded as exited, its resources released): what the
 * clients have not taken yet still goes out, to the last byte and the EXIT frame. A client that is
 * behind (`kapsel run ... | slow-reader`) gets it from a child that waits for it, so the monitor
 * itself exits now: `stop` and `rm`, which wait for the monitor, do not wait for a reader. */
static void clients_finish(Monitor *m) {
        /* those that have everything (or are gone) are done with */
        for (size_t i = 0; i < m->n_clients;) {
                Client *c = &m->clients[i];
                if (attach_queue_send(&c->out, c->fd, false) < 0 || attach_queue_pending(&c->out) == 0)
                        client_remove(m, c, true);
                else
                        i++;
        }
        if (m->n_clients == 0)
                return;
        pid_t pid = fork();
        if (pid != 0)
                return;         /* (no child: the slow readers lose the rest, the monitor does not wait) */
        m->listen_fd = safe_close(m->listen_fd);
        (void) prctl(PR_SET_NAME, "kapsel-flush");
        for (size_t i = 0; i < m->n_clients; i++)
                (void) attach_queue_send(&m->clients[i].out, m->clients[i].fd, true);
        _exit(0);
}

/* A guest's setup error (--isolation=vm), a boot timeout: to the log and the clients, as the
 * process's stderr. */
void monitor_stderr(void *userdata, const char *text, size_t len) {
        Monitor *m = userdata;
        (void) logs_append(m->log_fd, "stderr", text, len);
        broadcast(m, ATTACH_STDERR, text, len);
}

/* Move what the container wrote to the log and the clients; returns false on EOF. */
static bool pump_output(Monitor *m, int fd, uint8_t stream) {
        char buf[16384];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return true;
        if (n <= 0)
                return false;
        (void) logs_append(m->log_fd, stream == ATTACH_STDERR ? "stderr" : "stdout", buf, (size_t) n);
        if (m->ops->output)
                m->ops->output(m, stream, buf, (size_t) n);
        broadcast(m, stream, buf, (size_t) n);
        return true;
}

static int start_container(Monitor *m, KError **err);

static void client_input(Monitor *m, Client *c) {
        static uint8_t buf[ATTACH_MAX_PAYLOAD];
        uint8_t type;
        uint32_t len;
        int fd = c->fd;
        if (attach_recv(fd, &type, buf, &len) <= 0) {
                client_remove(m, c, true);
                return;
        }
        if (!c->attached && type != ATTACH_EXEC && type != ATTACH_TOP)
                c->attached = true;
        int target = m->tty ? m->master : m->in_fd;
        switch (type) {
        case ATTACH_STDIN:
                if (target >= 0)
                        (void) write_all(target, buf, len);
                break;
        case ATTACH_CLOSE_STDIN:
                if (!m->tty)
                        m->in_fd = safe_close(m->in_fd);
                else if (m->master >= 0)
                        (void) write_all(m->master, "\x04", 1);       /* ^D: EOF on the pty's line */
                break;
        case ATTACH_RESIZE:
                if (m->tty && len == 4) {
                        struct winsize ws = { .ws_row = (unsigned short) (buf[0] << 8 | buf[1]),
                                              .ws_col = (unsigned short) (buf[2] << 8 | buf[3]) };
                        ioctl(m->master, TIOCSWINSZ, &ws);
                }
                break;
        case ATTACH_START:
                if (!m->started)
                        (void) start_container(m, NULL);
                break;
        case ATTACH_EXEC:
        case ATTACH_TOP:
                /* from now on an agent stream: out of the attach clients, into the relay */
                if (c->attached)
                        break;
                client_remove(m, c, false);
                exec_relay_open(&m->exec, fd, type, buf, len);
                break;
        default:
                break;
        }
}

static void client_event(Monitor *m, int fd, uint32_t events) {
        Client *c = client_by_fd(m, fd);
        if (c && (events & EPOLLOUT)) {
                if (!client_flush(m, c))
                        return;
                output_throttle(m);
        }
        if (c && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                client_input(m, c);
}

static void accept_client(Monitor *m) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return;
        if (m->n_clients == MONITOR_MAX_CLIENTS) {
                close(fd);
                return;
        }
        m->clients[m->n_clients++] = (Client) { .fd = fd, .events = EPOLLIN };
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
        epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev);
}

int monitor_watch(Monitor *m, int fd) {
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
        return fd < 0 || epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

/* The journal's container event for this monitor's instance (events.h); `code` >= 0 adds exitCode. */
static void monitor_event(Monitor *m, const char *action, int code) {
        const CtrRecord *r = m->rec;
        json_t *attrs = events_ctr_attrs(r ? r->image : NULL, r ? r->name : NULL, r ? r->config : NULL);
        if (code >= 0 && attrs)
                json_object_set_new(attrs, "exitCode", json_sprintf("%d", code));
        events_emit(m->e->root, "container", action, m->id, attrs);
}

static int start_container(Monitor *m, KError **err) {
        int r = m->ops->start(m, err);
        if (r < 0)
                return r;
        m->started = true;
        r = ctr_modify(m->e, m->id, set_running, m, err);
        if (r >= 0)
                monitor_event(m, "start", -1);
        /* health probes exec into a namespaced container (a guest has no runtime state here) */
        if (r >= 0 && m->ops->health_probes && health_setup(&m->health, m->e, m->id, m->rec) >= 0 && m->health.enabled)
                (void) monitor_watch(m, m->health.timer_fd);
        return r;
}

/* Handle signals; returns true when the container's init has exited. */
static bool handle_signals(Monitor *m) {
        struct signalfd_siginfo si;
        bool exited = false;
        while (read(m->sig_fd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGUSR1)
                        m->stop_requested = true;
                if (si.ssi_signo != SIGCHLD)
                        continue;
                int status;
                pid_t p;
                while ((p = waitpid(-1, &status, WNOHANG)) > 0)
                        if (health_reaped(&m->health, m->e, m->id, p, status))
                                continue;
                        else if (p == m->pid) {
                                m->exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
                                m->wait_status = status;
                                m->pid = 0;     /* reaped: the number may be anyone's from now on */
                                exited = true;
                        }
        }
        return exited;
}

static void monitor_loop(Monitor *m) {
        for (;;) {
                struct epoll_event evs[16];
                int n = epoll_wait(m->ep, evs, ELEMENTSOF(evs), -1);
                if (n < 0 && errno != EINTR)
                        return;
                bool exited = false;
                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;
                        if (fd == m->sig_fd)
                                exited |= handle_signals(m);
                        else if (m->ops->event && m->ops->event(m, fd, evs[i].events))
                                ;       /* the payload's own: a guest's serial or agent, the boot timer */
                        else if (fd == m->listen_fd)
                                accept_client(m);
                        else if (fd == m->health.timer_fd)
                                health_tick(&m->health, m->e, m->e->runtime_root, m->id);
                        else if (exec_relay_owns(&m->exec, fd))
                                exec_relay_client_event(&m->exec, fd, evs[i].events);
                        else if (fd == m->out_fd || fd == m->err_fd || fd == m->master) {
                                if (!pump_output(m, fd, fd == m->err_fd ? ATTACH_STDERR : ATTACH_STDOUT)) {
                                        epoll_ctl(m->ep, EPOLL_CTL_DEL, fd, NULL);
                                        if (fd == m->out_fd)
                                                m->out_fd = safe_close(fd);
                                        else if (fd == m->err_fd)
                                                m->err_fd = safe_close(fd);
                                        else
                                                m->master = safe_close(fd);
                                }
                        } else
                                client_event(m, fd, evs[i].events);
                }
                if (exited)
                        return;
        }
}

/* After exit: whatever is still buffered in the pipes (or pty) goes out before the EXIT frame. A pty
 * reads EAGAIN until the line drains: stop when nothing is left. */
static void drain(Monitor *m) {
        int fds[] = { m->out_fd, m->err_fd, m->master };
        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                if (fds[i] < 0)
                        continue;
                fcntl(fds[i], F_SETFL, O_NONBLOCK);
                struct pollfd p = { .fd = fds[i], .events = POLLIN };
                while (pump_output(m, fds[i], fds[i] == m->err_fd ? ATTACH_STDERR : ATTACH_STDOUT) && poll(&p, 1, 0) > 0)
                        ;
        }
}

static void set_exited(CtrRecord *r, void *userdata) {
        const Monitor *m = userdata;
        r->state = CTR_EXITED;
        r->pid = 0;
        r->exit_code = m->exit_code;
        r->oom_killed = m->oom_killed;
        r->finished = engine_now();
        const char *error = m->ops && m->ops->error ? m->ops->error(m) : NULL;
        if (error) {
                free(r->error);
                r->error = strdup(error);
        }
        /* for unless-stopped at kapseld's start: a stop the user asked for is remembered */
        if (m->stop_requested)
                json_object_set_new(r->config, "StoppedByUser", json_true());
        else
                json_object_del(r->config, "StoppedByUser");
}

static bool handle_signals(Monitor *m);

/* The exit status is ours alone to know: a write that fails (a full disk) is tried again for a
 * minute rather than left for a later repair to report the container as killed (137). A stop or
 * rm -f meanwhile (SIGUSR1) ends the wait sooner: the user is removing what we would record. */
static void record_exit(Monitor *m) {
        _cleanup_kerr_ KError *err = NULL;
        for (int i = 0; i < 60 && (i < 3 || !m->stop_requested); i++) {
                kerr_free(TAKE_PTR(err));
                if (ctr_modify(m->e, m->id, set_exited, m, &err) >= 0 || (err && err->code == -ENOENT))
                        return;
                sleep(1);
                (void) handle_signals(m);
        }
        log_error("could not record the exit status %d of %s: %s", m->exit_code, m->id, err ? err->msg : "?");
}

static void set_restarting(CtrRecord *r, void *userdata) {
        (void) userdata;
        r->state = CTR_RESTARTING;
        r->pid = 0;
        r->restart_count++;
}

/* Docker's policies: no, on-failure[:max], always, unless-stopped. */
static bool should_restart(const Monitor *m) {
        if (m->stop_requested)
                return false;
        json_t *pol = json_object_get(json_object_get(m->rec->config, "HostConfig"), "RestartPolicy");
        const char *name = json_string_value(json_object_get(pol, "Name")) ?: "no";
        json_int_t max = json_integer_value(json_object_get(pol, "MaximumRetryCount"));
        if (streq(name, "always") || streq(name, "unless-stopped"))
                return true;
        if (streq(name, "on-failure"))
                return m->exit_code != 0 && (max <= 0 || m->rec->restart_count < max);
        return false;
}

static int setup_loop(Monitor *m, KError **err) {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGUSR1);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        m->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        m->ep = epoll_create1(EPOLL_CLOEXEC);
        if (m->sig_fd < 0 || m->ep < 0)
                return kerr(err, -errno, "monitor event loop");
        m->exec.epfd = m->ep;   /* the relay sets its clients' EPOLLIN/EPOLLOUT */
        m->listen_fd = attach_listen(m->dir);
        if (m->listen_fd < 0)
                return kerr(err, m->listen_fd, "listen on %s/attach.sock", m->dir);
        _cleanup_free_ char *log = path_join(m->dir, "ctr.log");
        m->log_fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -ENOMEM;
        if (m->log_fd < 0)
                return kerr(err, -errno, "open %s", log);
        if (monitor_watch(m, m->sig_fd) < 0 || monitor_watch(m, m->listen_fd) < 0)
                return kerr(err, -errno, "monitor event loop");
        return 0;
}

/* One life of the container: prepare, create, (start), run, record the exit. */
static int run_once(Monitor *m, int sync_fd, KError **err) {
        int r = monitor_prepare(m, err);
        if (r < 0)
                return r;
        if ((r = m->ops->create(m, err)) < 0)
                return r;
        if (monitor_watch(m, m->out_fd) < 0 || monitor_watch(m, m->err_fd) < 0 || monitor_watch(m, m->master) < 0)
                return kerr(err, -errno, "monitor event loop");
        m->output_paused = false;
        output_throttle(m);     /* clients still behind from the last life (a restart) */
        if (!m->attach_wait && (r = start_container(m, err)) < 0)
                return r;
        if (m->attach_wait) {
                r = ctr_modify(m->e, m->id, set_running, m, err);  /* created; started on ATTACH_START */
                if (r < 0)
                        return r;
        }
        if (sync_fd >= 0) {
                (void) write_all(sync_fd, "", 1);       /* ready: one zero byte, no error follows */
                close(sync_fd);
        }
        /* the monitor idles for as long as the container lives: the database connection (about
         * 100 KiB of sqlite's caches) and setup's garbage (specs, plans, JSON) go back meanwhile */
        db_idle(m->e->db);
        malloc_trim(0);
        monitor_loop(m);
        if (m->health.timer_fd >= 0)
                epoll_ctl(m->ep, EPOLL_CTL_DEL, m->health.timer_fd, NULL);
        health_done(&m->health);
        drain(m);
        m->oom_killed = m->ops->oom_killed && m->ops->oom_killed(m);
        /* this life's stdio is done (a restart makes new pipes) */
        m->out_fd = safe_close(m->out_fd);
        m->err_fd = safe_close(m->err_fd);
        m->in_fd = safe_close(m->in_fd);
        m->master = safe_close(m->master);
        if (m->ops->ended)
                m->ops->ended(m);
        return 0;
}

int monitor_main(Engine *e, const char *id, bool attach_wait, int sync_fd) {
        Monitor m = { .e = e, .health = { .timer_fd = -1 }, .attach_wait = attach_wait, .log_fd = -1, .out_fd = -1, .err_fd = -1, .in_fd = -1,
                      .master = -1, .listen_fd = -1, .sig_fd = -1, .ep = -1, .vm = VM_PAYLOAD_INIT,
                      .guest = VM_ISOLATION_INIT, .exec = EXEC_RELAY_INIT };
        _cleanup_kerr_ KError *err = NULL;
        int ret = 1;
        m.id = strdup(id);
        m.dir = engine_ctr_path(e, id, NULL);
        /* kapsel-vmm (a child) must not inherit the spawner's pipe */
        if (sync_fd >= 0)
                (void) fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
        /* the container's init is our child; anything it leaves behind is reparented to us too */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        if (!m.id || !m.dir || setup_loop(&m, &err) < 0)
                goto fail;
        for (;;) {
                if (run_once(&m, sync_fd, &err) < 0)
                        goto fail;
                sync_fd = -1;
                /* release before the exit is recorded: whoever sees the container exited (`start -a`,
                 * `wait`, `system check`) finds its mount, network and cgroup already gone */
                (void) ctr_release(e, id, NULL);
                record_exit(&m);
                /* `update --restart` and `rename` may have changed the row while it ran */
                CtrRecord *fresh = NULL;
                if (m.rec && db_ctr_get(e->db, id, &fresh, NULL) >= 0) {
                        json_decref(m.rec->config);
                        m.rec->config = json_incref(fresh->config);
                        free(m.rec->name);
                        m.rec->name = TAKE_PTR(fresh->name);
                        ctr_record_free(fresh);
                }
                monitor_event(&m, "die", m.exit_code);
                bool restart = should_restart(&m);
                if (!restart)
                        broadcast(&m, ATTACH_EXIT, (uint8_t[4]) { m.exit_code >> 24, m.exit_code >> 16, m.exit_code >> 8,
                                                                  m.exit_code }, 4);
                if (!restart) {
                        clients_finish(&m);
                        break;
                }
                /* docker backs off 100 ms, doubling per consecutive restart, up to a minute */
                (void) ctr_modify(e, id, set_restarting, &m, NULL);
                long delay_ms = 100L << (m.rec->restart_count < 9 ? m.rec->restart_count : 9);
                struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000 };
                nanosleep(&ts, NULL);
                handle_signals(&m);
                ctr_record_free(m.rec);
                m.rec = NULL;
                m.started = false;
                m.attach_wait = false;
                if (m.stop_requested) {
                        (void) ctr_modify(e, id, set_exited, &m, NULL);
                        break;
                }
        }
        ret = 0;
        if (json_is_true(json_object_get(json_object_get(m.rec ? m.rec->config : NULL, "HostConfig"), "AutoRemove")))
                (void) ctr_remove(e, id, NULL);
        goto out;
fail:
        if (sync_fd >= 0) {
                (void) write_all(sync_fd, "E", 1);
                (void) kerr_send(sync_fd, err);
        }
        if (m.pid > 0 && m.ops)
                m.ops->kill(&m);
        (void) ctr_release(e, id, NULL);
        if (m.rec) {
                m.exit_code = 128;
                (void) ctr_modify(e, id, set_exited, &m, NULL);
        }
        if (sync_fd < 0 && err)
                log_error("%s", err->msg);
out:
        if (m.dir) {
                _cleanup_free_ char *sock = path_join(m.dir, "attach.sock");
                if (sock)
                        (void) unlink(sock);
        }
        monitor_done(&m);
        return ret;
}
