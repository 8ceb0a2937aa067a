/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "le-bytes.h"
#include "migration.h"
#include "state/state.h"
#include "vm.h"

#define PAGE 4096u
#define HELLO_LEN 32
#define RECORD_LEN 16
#define MAX_ROUNDS 30
#define SEND_TIMEOUT_S 60
#define RECV_TIMEOUT_S 60
#define ACCEPT_TIMEOUT_MS (600 * 1000)

typedef enum MigState { MIG_NONE, MIG_ACTIVE, MIG_DONE, MIG_FAILED } MigState;
static const char *const mig_state_names[] = { "none", "active", "done", "failed" };

struct Migration {
        Vm *vm;
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool requested, quit, running;
        int fd;                         /* to the target, while a migration runs */
        char to[256];
        unsigned max_downtime_ms;
        int final_efd;                  /* worker -> event loop: the copy converged, finish there */
        uint64_t npages, words;
        uint64_t *scratch;              /* one slot's KVM dirty log */
        uint64_t *todo;                 /* pages to send this round */
        /* progress, read by stats */
        MigState state;
        unsigned rounds;
        uint64_t pages_sent;
        char error[256];
        struct timespec t0;
};

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* ---- addresses and I/O ---- */

/* unix:PATH, tcp:A.B.C.D:PORT or tcp:[V6]:PORT (numeric: no name lookups in a confined VMM). */
static int mig_sockaddr(const char *addr, struct sockaddr_storage *ss, socklen_t *ret_len) {
        memset(ss, 0, sizeof(*ss));
        if (strncmp(addr, "unix:", 5) == 0) {
                struct sockaddr_un *un = (struct sockaddr_un *) ss;
                if (strlen(addr + 5) == 0 || strlen(addr + 5) >= sizeof(un->sun_path))
                        return -EINVAL;
                un->sun_family = AF_UNIX;
                strcpy(un->sun_path, addr + 5);
                *ret_len = sizeof(*un);
                return 0;
        }
        if (strncmp(addr, "tcp:", 4) != 0)
                return -EINVAL;
        char host[128];
        const char *h = addr + 4, *colon = strrchr(h, ':');
        if (!colon || colon == h || (size_t) (colon - h) >= sizeof(host))
                return -EINVAL;
        memcpy(host, h, (size_t) (colon - h));
        host[colon - h] = 0;
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535)
                return -EINVAL;
        size_t hl = strlen(host);
        if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
                host[hl - 1] = 0;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*in6);
                return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
        }
        struct sockaddr_in *in = (struct sockaddr_in *) ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t) port);
        *ret_len = sizeof(*in);
        return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -EINVAL;
}

static int send_all(int fd, const void *buf, size_t len) {
        const uint8_t *p = buf;
        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? (errno == EAGAIN ? -ETIMEDOUT : -errno) : -EPIPE;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int recv_all(int fd, void *buf, size_t len) {
        uint8_t *p = buf;
        while (len > 0) {
                ssize_t n = read(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? (errno == EAGAIN ? -ETIMEDOUT : -errno) : -ECONNRESET;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static void set_timeouts(int fd) {
        struct timeval snd = { .tv_sec = SEND_TIMEOUT_S }, rcv = { .tv_sec = RECV_TIMEOUT_S };
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
}

static int send_record(int fd, uint32_t type, uint32_t count, uint64_t offset, const void *data, size_t len) {
        uint8_t h[RECORD_LEN];
        le32_write(h, type);
        le32_write(h + 4, count);
        le64_write(h + 8, offset);
        int r = send_all(fd, h, sizeof(h));
        return r < 0 ? r : send_all(fd, data, len);
}

/* ---- dirty pages ---- */

static int dirty_logging(Vm *vm, bool on) {
        for (unsigned i = 0; i < vm->layout.n_slots; i++) {
                const MemSlot *s = &vm->layout.slots[i];
                struct kvm_userspace_memory_region r = {
                        .slot = i, .flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0, .guest_phys_addr = s->gpa,
                        .memory_size = s->size, .userspace_addr = (uint64_t) (uintptr_t) (vm->backing.base + s->offset),
                };
                if (ioctl(vm->kvm.vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                        return -errno;
        }
        /* devices too: guest_mem_dirty() records their writes while the bitmap is set */
        __atomic_store_n(&vm->mem.dirty, on ? vm->mem_dirty : NULL, __ATOMIC_RELEASE);
        return 0;
}

/* Add to m->todo (emptied first unless `keep`) every page written since the last call: KVM's log
 * of each slot and the devices' bitmap, each cleared. Returns the number of pages in m->todo. */
static int64_t collect_dirty(Vm *vm, Migration *m, bool keep) {
        if (!keep)
                memset(m->todo, 0, m->words * 8);
        for (unsigned i = 0; i < vm->layout.n_slots; i++) {
                const MemSlot *s = &vm->layout.slots[i];
                uint64_t first = s->offset / PAGE / 64, words = (s->size / PAGE + 63) / 64;
                struct kvm_dirty_log log = { .slot = i, .dirty_bitmap = m->scratch };
                memset(m->scratch, 0, words * 8);
                if (ioctl(vm->kvm.vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
                        return -errno;
                for (uint64_t w = 0; w < words && first + w < m->words; w++)
                        m->todo[first + w] |= m->scratch[w];
        }
        int64_t n = 0;
        for (uint64_t w = 0; w < m->words; w++) {
                m->todo[w] |= __atomic_exchange_n(&vm->mem_dirty[w], 0, __ATOMIC_RELAXED);
                n += __builtin_popcountll(m->todo[w]);
        }
        return n;
}

static bool page_is_zero(const uint8_t *p) {
        const uint64_t *w = (const uint64_t *) p;
        for (unsigned i = 0; i < PAGE / 8; i++)
                if (w[i])
                        return false;
        return true;
}

static bool todo_bit(const Migration *m, uint64_t p) {
        return m->todo[p / 64] & (1ULL << (p % 64));
}

/* Send the pages marked in m->todo, in runs of at most MIG_MAX_RUN. */
static int send_todo(Vm *vm, Migration *m) {
        uint64_t p = 0;
        while (p < m->npages) {
                if (!m->todo[p / 64]) {
                        p = (p / 64 + 1) * 64;
                        continue;
                }
                if (!todo_bit(m, p)) {
                        p++;
                        continue;
                }
                uint32_t n = 1;
                while (p + n < m->npages && n < MIG_MAX_RUN && todo_bit(m, p + n))
                        n++;
                int r = send_record(m->fd, MIG_PAGES, n, p * PAGE, vm->backing.base + p * PAGE, (size_t) n * PAGE);
                if (r < 0)
                        return r;
                __atomic_add_fetch(&m->pages_sent, n, __ATOMIC_RELAXED);
                p += n;
        }
        return 0;
}

/* ---- source ---- */

static void mig_fail(Migration *m, int r, const char *what) {
        pthread_mutex_lock(&m->lock);
        snprintf(m->error, sizeof(m->error), "%s: %s", what, strerror(-r));
        m->state = MIG_FAILED;
        m->fd = safe_close(m->fd);
        pthread_mutex_unlock(&m->lock);
}

static int hello(Migration *m, const char *token) {
        Vm *vm = m->vm;
        uint8_t h[HELLO_LEN];
        size_t tl = strlen(token);
        memcpy(h, MIG_MAGIC, 8);
        le32_write(h + 8, MIG_VERSION);
        le32_write(h + 12, (uint32_t) tl);
        le64_write(h + 16, vm->layout.ram_size);
        le32_write(h + 24, vm->n_vcpus);
        le32_write(h + 28, vm->cpuid_crc);
        int r = send_all(m->fd, h, sizeof(h));
        if (r >= 0)
                r = send_all(m->fd, token, tl);
        char ack = 0;
        if (r >= 0)
                r = recv_all(m->fd, &ack, 1);
        return r < 0 ? r : ack == 'K' ? 0 : -EPERM;
}

/* Pre-copy: everything that is not zero, then what was dirtied, until the rest would go in half
 * the allowed downtime (at the bandwidth the last round had) or MAX_ROUNDS. Half: the downtime also
 * holds what the guest dirties until the pause, the device state, and the target's restore and
 * answer, none of which the page count foresees (with the whole budget for pages, a guest that
 * keeps writing went over --max-downtime in 3 of 8 nested runs of bench/vm-state). */
static int precopy(Vm *vm, Migration *m) {
        int r = dirty_logging(vm, true);
        if (r < 0)
                return r;
        (void) collect_dirty(vm, m, false);     /* start from a clean log */
        memset(m->todo, 0, m->words * 8);
        for (uint64_t p = 0; p < m->npages; p++)
                if (!page_is_zero(vm->backing.base + p * PAGE))
                        m->todo[p / 64] |= 1ULL << (p % 64);
        for (;;) {
                uint64_t t0 = now_ms(), before = m->pages_sent;
                if ((r = send_todo(vm, m)) < 0)
                        return r;
                uint64_t ms = now_ms() - t0 + 1, sent = m->pages_sent - before;
                __atomic_add_fetch(&m->rounds, 1, __ATOMIC_RELAXED);
                int64_t dirty = collect_dirty(vm, m, false);
                if (dirty < 0)
                        return (int) dirty;
                /* pages per millisecond of the last round, at least one to avoid dividing by 0 */
                uint64_t rate = sent / ms ? sent / ms : 1;
                if ((uint64_t) dirty / rate <= m->max_downtime_ms / 2 || m->rounds >= MAX_ROUNDS)
                        return 0;       /* m->todo holds the rest: the final phase sends it */
        }
}

static void *mig_worker(void *arg) {
        Migration *m = arg;
        pthread_mutex_lock(&m->lock);
        m->running = true;
        pthread_cond_broadcast(&m->cond);
        for (;;) {
                while (!m->requested && !m->quit)
                        pthread_cond_wait(&m->cond, &m->lock);
                if (m->quit)
                        break;
                m->requested = false;
                pthread_mutex_unlock(&m->lock);
                int r = precopy(m->vm, m);
                if (r < 0) {
                        (void) dirty_logging(m->vm, false);
                        mig_fail(m, r, "copy guest memory");
                } else {
                        uint64_t one = 1;
                        (void) !write(m->final_efd, &one, sizeof(one));
                }
                pthread_mutex_lock(&m->lock);
        }
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

/* The final phase, on the event loop thread (no device runs meanwhile): pause, the last dirty
 * pages, the state, and the target's word. */
static void mig_finish(void *opaque, uint32_t events) {
        Vm *vm = opaque;
        Migration *m = vm->migration;
        uint64_t v;
        if (read(m->final_efd, &v, sizeof(v)) < 0)
                return;
        uint64_t paused_at = now_ms();
        int r = vm_pause(vm);
        /* the worker's last round left its dirty pages in todo: add what was written since */
        int64_t left = r < 0 ? r : collect_dirty(vm, m, true);
        r = left < 0 ? (int) left : send_todo(vm, m);
        StateWriter w;
        state_writer_init(&w);
        const uint8_t *buf = NULL;
        size_t len = 0;
        _cleanup_kerr_ KError *e = NULL;
        if (r >= 0 && (r = vm_state_save(vm, &w, &e)) >= 0 && (r = state_writer_finish(&w, &buf, &len, &e)) >= 0)
                r = send_record(m->fd, MIG_STATE, (uint32_t) len, 0, buf, len);
        state_writer_done(&w);
        char ack = 0;
        if (r >= 0 && (r = recv_all(m->fd, &ack, 1)) >= 0 && ack != 'R')
                r = -EREMOTEIO;
        uint64_t end = now_ms();
        if (r < 0) {
                (void) dirty_logging(vm, false);
                mig_fail(m, r, e ? e->msg : "finish (the target's stderr says why)");
                (void) vm_resume(vm);
                return;
        }
        pthread_mutex_lock(&m->lock);
        m->state = MIG_DONE;
        m->fd = safe_close(m->fd);
        pthread_mutex_unlock(&m->lock);
        vm->exit_report = true;
        vm_request_exit(vm, 0, "migrated to %s: total %llu ms, downtime %llu ms, %u rounds, %llu pages sent", m->to,
                        (unsigned long long) (end - ((uint64_t) m->t0.tv_sec * 1000 + (uint64_t) m->t0.tv_nsec / 1000000)),
                        (unsigned long long) (end - paused_at), m->rounds, (unsigned long long) m->pages_sent);
}

int vm_migration_init(Vm *vm, KError **err) {
        Migration *m = calloc(1, sizeof(*m));
        if (!m)
                return kerr(err, -ENOMEM, "migration");
        *m = (Migration) { .vm = vm, .fd = -1, .final_efd = -1, .npages = vm->layout.ram_size / PAGE };
        m->words = (m->npages + 63) / 64;
        pthread_mutex_init(&m->lock, NULL);
        pthread_cond_init(&m->cond, NULL);
        vm->migration = m;
        vm->mem_dirty = calloc(m->words, 8);
        m->scratch = calloc(m->words, 8);
        m->todo = calloc(m->words, 8);
        if (!vm->mem_dirty || !m->scratch || !m->todo)
                return kerr(err, -ENOMEM, "migration bitmaps");
        vm->mem.dirty_base = vm->backing.base;
        vm->mem.dirty_pages = m->npages;
        m->final_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->final_efd < 0)
                return kerr(err, -errno, "migration eventfd");
        int r = event_loop_add(vm->loop, m->final_efd, EPOLLIN, mig_finish, vm, err);
        if (r < 0)
                return r;
        if ((r = pthread_create(&m->thread, NULL, mig_worker, m)) != 0)
                return kerr(err, -r, "migration thread");
        m->thread_started = true;
        /* its libc start-up must be over before the seccomp filter goes on */
        pthread_mutex_lock(&m->lock);
        while (!m->running)
                pthread_cond_wait(&m->cond, &m->lock);
        pthread_mutex_unlock(&m->lock);
        return 0;
}

void vm_migration_free(Vm *vm) {
        Migration *m = vm->migration;
        if (!m)
                return;
        if (m->thread_started) {
                pthread_mutex_lock(&m->lock);
                m->quit = true;
                if (m->fd >= 0)
                        shutdown(m->fd, SHUT_RDWR);     /* a worker blocked in send gets out */
                pthread_cond_broadcast(&m->cond);
                pthread_mutex_unlock(&m->lock);
                pthread_join(m->thread, NULL);
        }
        if (m->final_efd >= 0 && vm->loop)
                event_loop_del(vm->loop, m->final_efd);
        safe_close(m->final_efd);
        safe_close(m->fd);
        free(m->scratch);
        free(m->todo);
        pthread_cond_destroy(&m->cond);
        pthread_mutex_destroy(&m->lock);
        free(m);
        vm->migration = NULL;
        vm->mem.dirty = NULL;
        free(vm->mem_dirty);
        vm->mem_dirty = NULL;
}

int mig_connect(const char *to, KError **err) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (mig_sockaddr(to, &ss, &sl) < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "migrate: bad address '%s' (unix:PATH or tcp:ADDR:PORT, numeric)",
                                to);
        _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return kerr(err, -errno, "migrate: socket");
        set_timeouts(fd);       /* they go with the fd to the VMM */
        if (connect(fd, (struct sockaddr *) &ss, sl) < 0)
                return kerr(err, -errno, "migrate: connect to %s", to);
        return TAKE_FD(fd);
}

int vm_migrate_start(Vm *vm, const char *to, const char *token, unsigned max_downtime_ms, int conn, KError **err) {
        _cleanup_close_ int fd = conn;
        Migration *m = vm->migration;
        if (!m)
                return kerr_msg(err, KERR_STATE, -ENOTSUP, "migrate: this VM was started without migration support");
        if (!token || !*token || strlen(token) > MIG_MAX_TOKEN)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "migrate: a token of 1 to %d bytes is required", MIG_MAX_TOKEN);
        if (strlen(to) >= sizeof(m->to))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "migrate: address too long");
        pthread_mutex_lock(&vm->lock);
        bool running = vm->state == VM_RUNNING;
        pthread_mutex_unlock(&vm->lock);
        pthread_mutex_lock(&m->lock);
        bool busy = m->state == MIG_ACTIVE;
        pthread_mutex_unlock(&m->lock);
        if (!running || busy)
                return kerr_msg(err, KERR_STATE, -EBUSY, "migrate: the VM must be running and not migrating already");
        pthread_mutex_lock(&m->lock);
        m->fd = TAKE_FD(fd);
        snprintf(m->to, sizeof(m->to), "%s", to);
        m->max_downtime_ms = max_downtime_ms ? max_downtime_ms : 300;
        m->rounds = 0;
        m->pages_sent = 0;
        m->error[0] = 0;
        m->state = MIG_ACTIVE;
        clock_gettime(CLOCK_MONOTONIC, &m->t0);
        pthread_mutex_unlock(&m->lock);
        int r = hello(m, token);
        if (r < 0) {
                mig_fail(m, r, "handshake");
                return kerr_msg(err, KERR_STATE, r == -EPERM ? -EPERM : r, "migrate: %s refused the migration (%s): "
                                "check the token and that it runs with the same --memory and --cpus", to,
                                strerror(r == -EPERM ? EPERM : -r));
        }
        pthread_mutex_lock(&m->lock);
        m->requested = true;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        return 0;
}

json_t *vm_migration_status(Vm *vm) {
        Migration *m = vm->migration;
        if (!m)
                return NULL;
        pthread_mutex_lock(&m->lock);
        json_t *j = json_pack("{s:s, s:i, s:I}", "state", mig_state_names[m->state], "rounds", (int) m->rounds,
                              "pages_sent", (json_int_t) m->pages_sent);
        if (j && m->error[0])
                json_object_set_new(j, "error", json_string(m->error));
        pthread_mutex_unlock(&m->lock);
        return j;
}

/* ---- target ---- */

static int accept_one(const char *addr, KError **err) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (mig_sockaddr(addr, &ss, &sl) < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--incoming %s: expected unix:PATH or tcp:ADDR:PORT", addr);
        _cleanup_close_ int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(lfd, (struct sockaddr *) &ss, sl) < 0 || listen(lfd, 1) < 0)
                return kerr(err, -errno, "--incoming %s: listen", addr);
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        int n = poll(&p, 1, ACCEPT_TIMEOUT_MS);
        int fd = n > 0 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
        int e = n == 0 ? -ETIMEDOUT : -errno;
        if (ss.ss_family == AF_UNIX)
                (void) unlink(((struct sockaddr_un *) &ss)->sun_path);
        if (fd < 0)
                return kerr(err, e, "--incoming %s: no source connected", addr);
        set_timeouts(fd);
        return fd;
}

static bool token_equal(const char *a, const uint8_t *b, size_t blen) {
        size_t alen = strlen(a);
        uint8_t diff = alen != blen;
        for (size_t i = 0; i < blen; i++)
                diff |= (uint8_t) (a[i % (alen ? alen : 1)] ^ b[i]);
        return diff == 0 && alen > 0;
}

static int receive_hello(const MigTarget *t, int fd, KError **err) {
        uint8_t h[HELLO_LEN], tok[MIG_MAX_TOKEN];
        int r = recv_all(fd, h, sizeof(h));
        if (r < 0)
                return kerr(err, r, "migration: read the source's hello");
        uint32_t tl = le32_read(h + 12);
        if (memcmp(h, MIG_MAGIC, 8) != 0 || le32_read(h + 8) != MIG_VERSION || tl > MIG_MAX_TOKEN)
                return kerr_msg(err, KERR_CONFIG, -EPROTO, "migration: not a kapsel-vmm migration stream of version %d",
                                MIG_VERSION);
        if ((r = recv_all(fd, tok, tl)) < 0)
                return kerr(err, r, "migration: read the token");
        if (!token_equal(t->token, tok, tl))
                return kerr_msg(err, KERR_CONFIG, -EPERM, "migration: the source's token does not match");
        uint64_t ram = le64_read(h + 16);
        uint32_t cpus = le32_read(h + 24);
        if (ram != t->ram_size || cpus != t->n_vcpus)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "migration: the source has %llu MiB and %u vCPUs, this VM "
                                "%llu MiB and %u: start the target with the same --memory and --cpus",
                                (unsigned long long) (ram >> 20), cpus, (unsigned long long) (t->ram_size >> 20),
                                t->n_vcpus);
        /* a different CPU feature set is refused now, before the source pauses anything */
        if (le32_read(h + 28) != t->cpuid_crc)
                return kerr_msg(err, KERR_HOST, -ENOTSUP, "migration: the source's guest runs with other CPU features "
                                "than this host offers (CPUID digest 0x%08x, here 0x%08x)", le32_read(h + 28),
                                t->cpuid_crc);
        return send_all(fd, "K", 1) < 0 ? kerr(err, -EPIPE, "migration: answer the source") : 0;
}

static int receive_records(const MigTarget *t, int fd, KError **err) {
        uint64_t ram = t->ram_size;
        for (;;) {
                uint8_t h[RECORD_LEN];
                int r = recv_all(fd, h, sizeof(h));
                if (r < 0)
                        return kerr(err, r, "migration: read a record");
                uint32_t type = le32_read(h), count = le32_read(h + 4);
                uint64_t off = le64_read(h + 8);
                if (type == MIG_PAGES) {
                        if (count == 0 || count > MIG_MAX_RUN || off % PAGE || off > ram ||
                            (uint64_t) count * PAGE > ram - off)
                                return kerr_msg(err, KERR_CONFIG, -EPROTO, "migration: page run of %u at 0x%llx is "
                                                "not inside %llu bytes of RAM", count, (unsigned long long) off,
                                                (unsigned long long) ram);
                        if ((r = recv_all(fd, t->ram + off, (size_t) count * PAGE)) < 0)
                                return kerr(err, r, "migration: read pages");
                        continue;
                }
                if (type != MIG_STATE || count > STATE_MAX_STREAM)
                        return kerr_msg(err, KERR_CONFIG, -EPROTO, "migration: unexpected record %u (length %u)", type,
                                        count);
                _cleanup_free_ uint8_t *buf = malloc(count ? count : 1);
                if (!buf)
                        return kerr(err, -ENOMEM, "migration: state");
                if ((r = recv_all(fd, buf, count)) < 0)
                        return kerr(err, r, "migration: read the state");
                return t->load_state(t->opaque, buf, count, err);
        }
}

int mig_receive_stream(const MigTarget *t, int fd, KError **err) {
        int r = receive_hello(t, fd, err);
        if (r >= 0)
                r = receive_records(t, fd, err);
        (void) send_all(fd, r >= 0 ? "R" : "E", 1);
        return r;
}

static int load_state_into_vm(void *opaque, const uint8_t *buf, size_t len, KError **err) {
        return vm_restore_stream(opaque, buf, len, err);
}

int vm_migration_receive(Vm *vm, KError **err) {
        const char *token = vm->cfg->migration_token ?: getenv("KAPSEL_MIGRATION_TOKEN");
        if (!token || !*token)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--incoming needs a token: --migration-token or "
                                "$KAPSEL_MIGRATION_TOKEN (the source's migrate request carries the same)");
        _cleanup_close_ int fd = accept_one(vm->cfg->incoming, err);
        if (fd < 0)
                return fd;
        MigTarget t = { .token = token, .ram = vm->backing.base, .ram_size = vm->layout.ram_size,
                        .n_vcpus = vm->n_vcpus, .cpuid_crc = vm->cpuid_crc, .load_state = load_state_into_vm, .opaque = vm };
        int r = mig_receive_stream(&t, fd, err);
        return r < 0 ? kerr_prefix(err, r, "--incoming %s", vm->cfg->incoming) : 0;
}
