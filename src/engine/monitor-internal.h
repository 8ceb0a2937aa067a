/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the monitor (monitor.h): the Monitor shared by its event loop (monitor.c) and its payloads
 * (monitor-payload.c). The loop owns the clients, the log, the signals, the restart policy and the
 * recording of the exit; a payload (MonitorPayload) owns what differs between a container, a
 * micro-VM and an --isolation=vm container: preparing, creating and starting it, what its output
 * means, its own fds, its exit status, OOM, and its cleanup. One payload is chosen per monitor,
 * from the row, by monitor_payload_for(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attach.h"
#include "ctr-net.h"
#include "engine.h"
#include "exec-relay.h"
#include "health.h"
#include "monitor-vm.h"
#include "vm-isolation.h"

#define MONITOR_MAX_CLIENTS 16

/* A connection on attach.sock. Its first frame says what it is: EXEC or TOP make it an agent
 * stream (the exec relay's from then on), anything else an attach client, which from then on gets
 * the container's output. */
typedef struct Client {
        int fd;
        bool attached;
        AttachQueue out;
        uint32_t events;        /* registered in the epoll */
} Client;

typedef struct MonitorPayload MonitorPayload;

typedef struct Monitor {
        Engine *e;
        char *id;
        char *dir;
        CtrRecord *rec;
        const MonitorPayload *ops;      /* chosen once, at the first prepare (monitor_payload_for) */
        bool tty, open_stdin, attach_wait;
        int log_fd;
        int out_fd, err_fd, in_fd;      /* our ends of the payload's stdio pipes (or -1) */
        int master;                     /* pty master on a tty container */
        int listen_fd, sig_fd, ep;
        Client clients[MONITOR_MAX_CLIENTS];
        size_t n_clients;
        bool output_paused;             /* a client's backlog: the container's output is not watched */
        pid_t pid;
        bool started, stop_requested;
        int exit_code;
        bool oom_killed;                /* this life ended with an OOM kill in its memory cgroup */
        int wait_status;                /* the payload's, from waitpid */
        ExecRelay exec;                 /* exec/top clients <-> a guest's agent (--isolation=vm) */
        Health health;                  /* --health-cmd: probes exec'd into the container */
        /* the payloads' own state: only monitor-payload.c touches it */
        ImagePlan plan;                 /* a container's (namespaced or in a guest) image */
        CtrNet net;                     /* a namespaced container's network */
        VmPayload vm;                   /* kind vm or --isolation=vm: kapsel-vmm instead of the runtime core */
        VmIsolation guest;              /* --isolation=vm: the guest's disks and its ttyS0 */
} Monitor;

/* What differs between the payloads. The loop calls, per life: prepare, create, start (now or on
 * the first ATTACH_START), then output and event while it runs, then after the payload's process was
 * reaped and its output drained: oom_killed, (stdio closed) ended, and error when recording the exit.
 * cleanup once at the end. Optional ops are NULL. */
struct MonitorPayload {
        const char *name;               /* "container", "vm", "vm-isolated container" */
        /* Per life, with m->rec freshly read: m->tty and m->open_stdin, mounts, network, bundle. */
        int (*prepare)(Monitor *m, KError **err);
        /* Create the payload (not yet running): fills m->out_fd, m->err_fd, m->in_fd or m->master,
         * m->pid when it has one now; watches the payload's own fds. */
        int (*create)(Monitor *m, KError **err);
        /* Start it running (sets m->pid when it is spawned now); watches its own fds. */
        int (*start)(Monitor *m, KError **err);
        /* Optional: the payload's output (stream ATTACH_STDOUT/ATTACH_STDERR), after it was logged
         * and before it goes to the clients. */
        void (*output)(Monitor *m, uint8_t stream, const char *buf, size_t n);
        /* Optional: a payload fd (one it watched) is ready; false when `fd` is not the payload's. */
        bool (*event)(Monitor *m, int fd, uint32_t events);
        /* Optional: another output line the payload reads itself (a guest's ttyS0), paused and
         * resumed with the stdio when clients fall behind; -1 when none. */
        int (*side_fd)(const Monitor *m);
        /* Optional: this life ended with an OOM kill. */
        bool (*oom_killed)(Monitor *m);
        /* Optional: the process was reaped (m->wait_status, m->exit_code from it) and its stdio
         * closed: set m->exit_code to the instance's, finish what the life leaves. */
        void (*ended)(Monitor *m);
        /* Optional: what went wrong that the user did not ask for (State.Error), or NULL. */
        const char *(*error)(const Monitor *m);
        /* The monitor failed with the payload running (m->pid > 0): kill it, now. */
        void (*kill)(Monitor *m);
        /* Optional: free the payload's state (idempotent). */
        void (*cleanup)(Monitor *m);
        /* --health-cmd probes are exec'd into it by the runtime core (a guest has no runtime state). */
        bool health_probes;
};

extern const MonitorPayload monitor_payload_container, monitor_payload_vm, monitor_payload_guest;

/* The payload for an instance's row: kind vm, a container with HostConfig.Isolation vm, or a
 * container. */
const MonitorPayload *monitor_payload_for(const CtrRecord *rec);

/* monitor.c, for the payloads: watch `fd` (>= 0) for input in the loop (-1 is ignored). */
int monitor_watch(Monitor *m, int fd);
/* monitor.c, for the payloads: text to the log's stderr stream and the attach clients, as the
 * process's stderr (a guest's setup error, a boot timeout). A VmIsolationEmit. */
void monitor_stderr(void *userdata, const char *text, size_t len);
