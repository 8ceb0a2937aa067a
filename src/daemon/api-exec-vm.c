/* SPDX-License-Identifier: Apache-2.0 */
/* exec into an --isolation=vm container over the API: the same path as `kapsel exec` (cmd-exec.c)
 * takes. The engine builds the guest agent's EXEC request (vm_isolation_exec_request), the
 * container's monitor relays it to the agent (exec-relay.h), and this thread copies between the
 * hijacked client and the monitor's frames. Frames to the monitor wait in a queue: the monitor may
 * stop reading stdin (the agent's window is full) while output still comes, which must be read. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach.h"
#include "daemon.h"
#include "fd-util.h"
#include "string-util.h"
#include "vm-agent.h"
#include "vm-isolation.h"

/* A JSON array of strings as a NULL-terminated vector (NULL for a missing one); -EINVAL for
 * anything else. */
static int json_to_strv(json_t *a, char ***ret) {
        *ret = NULL;
        if (!a || json_is_null(a))
                return 0;
        if (!json_is_array(a))
                return -EINVAL;
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v) {
                if (!json_is_string(v) || strv_extend(ret, json_string_value(v)) < 0) {
                        strv_free(*ret);
                        *ret = NULL;
                        return json_is_string(v) ? -ENOMEM : -EINVAL;
                }
        }
        return 0;
}

/* The request for the agent and a stream to the monitor that carries it. */
static int open_stream(const VmExecJob *x, int *ret_sock, KError **err) {
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = engine_open(x->root, &e, err);
        if (r < 0 || (r = db_ctr_get(e->db, x->ctr, &rec, err)) < 0)
                return r;
        _cleanup_strv_free_ char **args = NULL, **env = NULL;
        if (json_to_strv(json_object_get(x->config, "Cmd"), &args) < 0 || !args ||
            json_to_strv(json_object_get(x->config, "Env"), &env) < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "exec: Cmd and Env must be arrays of strings");
        /* a detached exec is followed all the same (its output dropped) for its exit code */
        VmExecInput in = { .args = args, .env = env, .tty = x->tty,
                           .cwd = json_string_value(json_object_get(x->config, "WorkingDir")),
                           .user = json_string_value(json_object_get(x->config, "User")) };
        if (in.cwd && !*in.cwd)
                in.cwd = NULL;
        if (in.user && !*in.user)
                in.user = NULL;
        _cleanup_free_ char *req = NULL, *dir = NULL;
        if ((r = vm_isolation_exec_request(e, rec, &in, &req, err)) < 0)
                return r;
        if (!(dir = engine_ctr_path(e, rec->id, NULL)))
                return -ENOMEM;
        _cleanup_close_ int sock = attach_connect(dir);
        if (sock < 0)
                return kerr(err, sock, "exec in %s: is it running?", rec->name);
        r = attach_send(sock, ATTACH_EXEC, req, (uint32_t) strlen(req));
        /* without stdin the process's is empty, as docker's /dev/null */
        if (r >= 0 && !x->want_in)
                r = attach_send(sock, ATTACH_CLOSE_STDIN, NULL, 0);
        if (r < 0)
                return kerr(err, r, "exec in %s", rec->name);
        *ret_sock = TAKE_FD(sock);
        return 0;
}

/* A frame of the monitor's; 1 when the exec is over (*code set). */
static int from_monitor(const VmExecJob *x, int mon, uint8_t *buf, int *code) {
        uint8_t type;
        uint32_t len;
        int r = attach_recv(mon, &type, buf, &len);
        if (r <= 0) {
                *code = 126;
                return 1;
        }
        if ((type == ATTACH_STDOUT || type == ATTACH_STDERR) && x->sock >= 0)
                (void) api_write_frame(x->sock, !x->tty, type == ATTACH_STDERR ? 2 : 1, buf, len);
        if (type == ATTACH_EXIT && len == 4) {
                *code = (int) vm_agent_get_u32(buf);
                return 1;
        }
        return 0;
}

int api_exec_vm_relay(const VmExecJob *x, int mon, int *ret_code, KError **err) {
        /* the relay's buffers on the heap: the thread's stack is 256 KiB */
        _cleanup_free_ uint8_t *mon_buf = malloc(ATTACH_MAX_PAYLOAD), *in_buf = malloc(ATTACH_MAX_PAYLOAD);
        if (!mon_buf || !in_buf)
                return -ENOMEM;
        int r = 0;
        AttachQueue q = { 0 };
        if (x->n_extra && x->want_in)
                r = attach_queue_frame(&q, ATTACH_STDIN, x->extra, (uint32_t) x->n_extra);
        bool in_open = x->sock >= 0 && x->want_in;
        int code = 0;
        while (r >= 0) {
                bool waiting = attach_queue_pending(&q) > 0;
                struct pollfd p[2] = { { .fd = mon, .events = POLLIN | (waiting ? POLLOUT : 0) },
                                       { .fd = in_open && !waiting ? x->sock : -1, .events = POLLIN } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if ((p[0].revents & POLLOUT) && (r = attach_queue_send(&q, mon, false)) >= 0)
                        attach_queue_consume(&q, q.sent);
                if (r >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) && from_monitor(x, mon, mon_buf, &code))
                        break;
                if (r >= 0 && p[1].revents) {
                        ssize_t n = read(x->sock, in_buf, ATTACH_MAX_PAYLOAD);
                        if (n <= 0)
                                in_open = false;
                        r = attach_queue_frame(&q, n > 0 ? ATTACH_STDIN : ATTACH_CLOSE_STDIN, in_buf,
                                               n > 0 ? (uint32_t) n : 0);
                }
        }
        attach_queue_done(&q);
        if (r < 0)
                return kerr(err, r, "exec in %.12s: the stream to its monitor broke", x->ctr);
        *ret_code = code;
        return 0;
}

int api_exec_vm(const VmExecJob *x, int *ret_code, KError **err) {
        int mon = -1;
        int r = open_stream(x, &mon, err);
        if (r < 0)
                return r;
        r = api_exec_vm_relay(x, mon, ret_code, err);
        close(mon);
        return r;
}
