/* SPDX-License-Identifier: Apache-2.0 */
/* POST /containers/{id}/attach over a hijacked connection (HTTP 101, Upgrade: tcp): the client's
 * bytes become the container's stdin, its output comes back in docker's multiplexed frames (raw
 * on a tty). A client that attaches before start (docker run) is registered before the 101 goes
 * out, so the start that follows spawns the monitor in attach-wait mode and nothing is lost. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "ctr-state.h"
#include "daemon.h"
#include "fd-util.h"
#include "string-util.h"
#include "vm-agent.h"

#define MAX_WAITERS 64
#define MAX_CODES 64

typedef struct Waiter {
        char id[65];
        int efd;                /* written when the container starts */
        bool used, go, acked;
} Waiter;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t acked_cond = PTHREAD_COND_INITIALIZER;
static Waiter waiters[MAX_WAITERS];
static struct {
        char id[65];
        int code;
} codes[MAX_CODES];
static unsigned codes_next;

void exit_code_note(const char *id, int code) {
        pthread_mutex_lock(&lock);
        snprintf(codes[codes_next % MAX_CODES].id, 65, "%s", id);
        codes[codes_next++ % MAX_CODES].code = code;
        pthread_mutex_unlock(&lock);
}

bool exit_code_get(const char *id, int *ret) {
        bool found = false;
        pthread_mutex_lock(&lock);
        for (unsigned i = 0; i < MAX_CODES && !found; i++)
                if (streq(codes[i].id, id)) {
                        *ret = codes[i].code;
                        found = true;
                }
        pthread_mutex_unlock(&lock);
        return found;
}

static Waiter *waiter_add(const char *id) {
        Waiter *w = NULL;
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < MAX_WAITERS && !w; i++)
                if (!waiters[i].used) {
                        int efd = eventfd(0, EFD_CLOEXEC);
                        if (efd >= 0) {
                                w = &waiters[i];
                                *w = (Waiter) { .efd = efd, .used = true };
                                snprintf(w->id, sizeof(w->id), "%s", id);
                        }
                }
        pthread_mutex_unlock(&lock);
        return w;
}

static void waiter_remove(Waiter *w) {
        pthread_mutex_lock(&lock);
        close(w->efd);
        *w = (Waiter) { 0 };
        pthread_cond_broadcast(&acked_cond);
        pthread_mutex_unlock(&lock);
}

bool attach_pending(const char *id) {
        bool any = false;
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < MAX_WAITERS; i++)
                any |= waiters[i].used && !waiters[i].go && streq(waiters[i].id, id);
        pthread_mutex_unlock(&lock);
        return any;
}

/* Tell the waiters the monitor is there; wait (5 s at most) until one sent START, so a client
 * that vanished cannot leave the container held forever. False: nobody took it. */
bool attach_release(const char *id) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        bool acked = false;
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < MAX_WAITERS; i++)
                if (waiters[i].used && !waiters[i].go && streq(waiters[i].id, id)) {
                        waiters[i].go = true;
                        uint64_t one = 1;
                        (void) !write(waiters[i].efd, &one, sizeof(one));
                }
        for (;;) {
                bool waiting = false;
                for (size_t i = 0; i < MAX_WAITERS; i++) {
                        acked |= waiters[i].used && waiters[i].acked && streq(waiters[i].id, id);
                        waiting |= waiters[i].used && waiters[i].go && !waiters[i].acked && streq(waiters[i].id, id);
                }
                if (acked || !waiting || pthread_cond_timedwait(&acked_cond, &lock, &until) != 0)
                        break;
        }
        pthread_mutex_unlock(&lock);
        return acked;
}

typedef struct AttachJob {
        char *root, *id;
        bool tty, want_in, want_out, want_err, live;
        Waiter *w;
        int sock;
        struct MHD_UpgradeResponseHandle *urh;
        char *extra;            /* client bytes the library read past the request (stdin already) */
        size_t n_extra;
        /* relay buffers: in the job, not thread-local (static TLS is carved out of every thread's
         * 256 KiB stack) nor on the stack */
        uint8_t mon_buf[ATTACH_MAX_PAYLOAD], in_buf[ATTACH_MAX_PAYLOAD];
} AttachJob;

static void attach_job_free(AttachJob *j) {
        free(j->extra);
        if (j->w)
                waiter_remove(j->w);
        free(j->root);
        free(j->id);
        free(j);
}

/* Wait for the start (or the client leaving). True when the container was started. */
static bool wait_start(AttachJob *j) {
        for (;;) {
                struct pollfd p[2] = { { .fd = j->w->efd, .events = POLLIN }, { .fd = j->sock, .events = 0 } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return false;
                }
                if (p[0].revents)
                        return true;
                /* only a full close: a client without stdin shuts down its writing half at once */
                if (p[1].revents & (POLLHUP | POLLERR))
                        return false;
        }
}

static void ack(AttachJob *j) {
        pthread_mutex_lock(&lock);
        j->w->acked = true;
        pthread_cond_broadcast(&acked_cond);
        pthread_mutex_unlock(&lock);
}

/* One frame from the monitor; 1 when the stream is over. */
static int from_monitor(AttachJob *j, int mon) {
        uint8_t *buf = j->mon_buf;
        uint8_t type;
        uint32_t len;
        int r = attach_recv(mon, &type, buf, &len);
        if (r <= 0)
                return 1;
        if ((type == ATTACH_STDOUT && j->want_out) || (type == ATTACH_STDERR && j->want_err))
                return api_write_frame(j->sock, !j->tty, type == ATTACH_STDERR ? 2 : 1, buf, len) < 0 ? 1 : 0;
        if (type == ATTACH_EXIT && len == 4) {
                exit_code_note(j->id, (int) vm_agent_get_u32(buf));
                return 1;
        }
        return 0;
}

static void relay(AttachJob *j, int mon) {
        uint8_t *buf = j->in_buf;
        bool in_open = true;
        for (;;) {
                struct pollfd p[2] = { { .fd = mon, .events = POLLIN }, { .fd = in_open ? j->sock : -1, .events = POLLIN } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                if (p[0].revents && from_monitor(j, mon))
                        return;
                if (p[1].revents) {
                        ssize_t n = read(j->sock, buf, sizeof(j->in_buf));
                        if (n <= 0) {
                                in_open = false;
                                if (j->want_in)
                                        (void) attach_send(mon, ATTACH_CLOSE_STDIN, NULL, 0);
                                else if (n < 0)
                                        return;
                        } else if (j->want_in && attach_send(mon, ATTACH_STDIN, buf, (uint32_t) n) < 0)
                                return;
                }
        }
}

static void *attach_thread(void *arg) {
        AttachJob *j = arg;
        _cleanup_(engine_freep) Engine *e = NULL;
        bool start = false;
        if (j->w) {
                if (!wait_start(j))
                        goto out;
                start = true;
        }
        if (engine_open(j->root, &e, NULL) >= 0) {
                _cleanup_free_ char *dir = engine_ctr_path(e, j->id, NULL);
                _cleanup_close_ int mon = dir ? attach_connect(dir) : -1;
                if (mon >= 0 && attach_send(mon, ATTACH_HELLO, NULL, 0) >= 0 &&
                    (!start || attach_send(mon, ATTACH_START, NULL, 0) >= 0)) {
                        if (j->w)
                                ack(j);
                        if (j->n_extra && j->want_in)
                                (void) attach_send(mon, ATTACH_STDIN, j->extra, (uint32_t) j->n_extra);
                        relay(j, mon);
                }
        }
out:
        (void) shutdown(j->sock, SHUT_RDWR);
        MHD_upgrade_action(j->urh, MHD_UPGRADE_ACTION_CLOSE);
        attach_job_free(j);
        return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in, size_t extra_in_size,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
        AttachJob *j = cls;
        (void) c, (void) con_cls;
        if (extra_in_size && extra_in_size <= ATTACH_MAX_PAYLOAD && (j->extra = malloc(extra_in_size))) {
                memcpy(j->extra, extra_in, extra_in_size);
                j->n_extra = extra_in_size;
        }
        j->sock = sock;
        j->urh = urh;
        if (server_spawn_detached(attach_thread, j) < 0) {
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                attach_job_free(j);
        }
}

int api_ctr_attach(ApiReq *rq, ApiResp *rs, KError **err) {
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0)
                return r;
        const char *up = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Upgrade");
        if (!up || strcasecmp(up, "tcp") != 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "attach needs a hijacked connection: send Upgrade: tcp");
        if (!api_query_bool(rq, "stream"))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "attach: only stream=1 is supported (use logs for past output)");
        AttachJob *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (AttachJob) { .root = strdup(rq->cfg->root), .id = strdup(rec->id), .sock = -1,
                           .tty = json_is_true(json_object_get(json_object_get(rec->config, "Config"), "Tty")),
                           .want_in = api_query_bool(rq, "stdin"), .want_out = api_query_bool(rq, "stdout"),
                           .want_err = api_query_bool(rq, "stderr"), .live = ctr_is_live(rec) };
        if (!j->root || !j->id || (!j->live && !(j->w = waiter_add(rec->id)))) {
                attach_job_free(j);
                return kerr(err, -ENOMEM, "attach to %s: too many clients wait", rec->name);
        }
        rs->raw = MHD_create_response_for_upgrade(on_upgrade, j);
        if (!rs->raw) {
                attach_job_free(j);
                return -ENOMEM;
        }
        MHD_add_response_header(rs->raw, "Upgrade", "tcp");
        rs->status = 101;
        rs->content_type = j->tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
        return 0;
}
