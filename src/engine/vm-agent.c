/* SPDX-License-Identifier: Apache-2.0 */
/* The guest agent protocol (vm-agent.h): frames and the EXEC request. Linked by the host (engine)
 * and by the static guest init, so it uses nothing but libbasic and jansson. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "json-util.h"
#include "string-util.h"
#include "vm-agent.h"

void vm_agent_put_u32(uint8_t b[4], uint32_t v) {
        b[0] = (uint8_t) (v >> 24);
        b[1] = (uint8_t) (v >> 16);
        b[2] = (uint8_t) (v >> 8);
        b[3] = (uint8_t) v;
}

uint32_t vm_agent_get_u32(const uint8_t b[4]) {
        return (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16 | (uint32_t) b[2] << 8 | b[3];
}

void vm_agent_header(uint8_t h[VM_AGENT_HEADER], uint8_t type, uint32_t stream, uint32_t len) {
        h[0] = type;
        vm_agent_put_u32(h + 1, stream);
        vm_agent_put_u32(h + 5, len);
}

int vm_agent_send(int fd, uint8_t type, uint32_t stream, const void *data, uint32_t len) {
        if (len > VM_AGENT_MAX_PAYLOAD || stream == 0)
                return -EINVAL;
        uint8_t h[VM_AGENT_HEADER];
        vm_agent_header(h, type, stream, len);
        struct iovec iov[2] = { { h, sizeof(h) }, { (void *) data, len } };
        struct iovec *v = iov;
        int n = len ? 2 : 1;
        while (n > 0) {
                ssize_t k = writev(fd, v, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };
                        (void) poll(&p, 1, -1);
                        continue;
                }
                if (k < 0)
                        return -errno;
                while (n > 0 && (size_t) k >= v->iov_len) {
                        k -= (ssize_t) v->iov_len;
                        v++;
                        n--;
                }
                if (n > 0) {
                        v->iov_base = (uint8_t *) v->iov_base + k;
                        v->iov_len -= (size_t) k;
                }
        }
        return 0;
}

int vm_agent_feed(VmAgentReader *r, const void *data, size_t len, VmAgentFrameFn fn, void *userdata) {
        const uint8_t *p = data;
        while (len > 0 || r->have >= VM_AGENT_HEADER) {
                if (r->broken)
                        return -EPROTO;
                /* first the header, then exactly the payload it announces: never more than a frame */
                size_t want = VM_AGENT_HEADER;
                if (r->have >= VM_AGENT_HEADER) {
                        uint32_t stream = vm_agent_get_u32(r->buf + 1), plen = vm_agent_get_u32(r->buf + 5);
                        if (stream == 0 || plen > VM_AGENT_MAX_PAYLOAD) {
                                r->broken = true;
                                return -EPROTO;
                        }
                        want += plen;
                        if (r->have == want) {
                                r->have = 0;
                                fn(userdata, r->buf[0], stream, r->buf + VM_AGENT_HEADER, plen);
                                continue;
                        }
                }
                if (len == 0)
                        break;
                size_t take = want - r->have < len ? want - r->have : len;
                memcpy(r->buf + r->have, p, take);
                r->have += take;
                p += take;
                len -= take;
        }
        return 0;
}

/* ---- the EXEC request ---- */

static json_t *user_json(const VmAgentExec *x) {
        json_t *gids = json_array();
        for (size_t i = 0; gids && i < x->n_gids; i++)
                json_array_append_new(gids, json_integer(x->gids[i]));
        return json_pack("{s:I, s:I, s:o*}", "uid", (json_int_t) x->uid, "gid", (json_int_t) x->gid, "additionalGids",
                         gids);
}

int vm_agent_exec_format(const VmAgentExec *x, char **ret, KError **err) {
        _cleanup_json_ json_t *j = json_pack("{s:o, s:o, s:b, s:b}", "args", json_from_strv(x->args), "env",
                                              json_from_strv(x->env), "tty", x->tty, "detach", x->detach);
        if (j && x->cwd)
                json_object_set_new(j, "cwd", json_string(x->cwd));
        if (j && x->has_user)
                json_object_set_new(j, "user", user_json(x));
        if (!j)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "exec: arguments and environment must be valid UTF-8");
        char *text = json_dumps(j, JSON_COMPACT);
        if (!text)
                return kerr(err, -ENOMEM, "exec request");
        if (strlen(text) > VM_AGENT_MAX_PAYLOAD) {
                free(text);
                return kerr_msg(err, KERR_USAGE, -E2BIG, "exec: the command and environment exceed %d KiB",
                                VM_AGENT_MAX_PAYLOAD / 1024);
        }
        *ret = text;
        return 0;
}

static int strv_field(json_t *req, const char *key, bool need_one, bool need_eq, char ***ret, KError **err) {
        json_t *a = json_object_get(req, key), *s;
        size_t i;
        if (a && !json_is_array(a))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "exec request: \"%s\" must be an array of strings", key);
        if (json_array_size(a) > VM_AGENT_MAX_ARGS || (need_one && json_array_size(a) == 0))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "exec request: \"%s\" must have 1..%d entries", key,
                                VM_AGENT_MAX_ARGS);
        _cleanup_strv_free_ char **v = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!v)
                return kerr(err, -ENOMEM, "exec request");
        json_array_foreach(a, i, s) {
                const char *str = json_string_value(s);
                if (!str || (need_eq && (!strchr(str, '=') || str[0] == '=')))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "exec request: %s[%zu] must be a string%s", key, i,
                                        need_eq ? " KEY=VALUE" : "");
                if (!(v[i] = strdup(str)))
                        return kerr(err, -ENOMEM, "exec request");
        }
        *ret = TAKE_PTR(v);
        return 0;
}

static bool id_ok(json_t *v) {
        return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 0xffffffffLL;
}

static int user_field(json_t *user, VmAgentExec *x, KError **err) {
        json_t *gids = json_object_get(user, "additionalGids"), *g;
        size_t i;
        if (!json_is_object(user) || !id_ok(json_object_get(user, "uid")) || !id_ok(json_object_get(user, "gid")) ||
            (gids && !json_is_array(gids)) || json_array_size(gids) > VM_AGENT_MAX_GIDS)
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "exec request: \"user\" needs uid and gid (0..2^32-2) and at most %d additionalGids",
                                VM_AGENT_MAX_GIDS);
        x->has_user = true;
        x->uid = (uid_t) json_integer_value(json_object_get(user, "uid"));
        x->gid = (gid_t) json_integer_value(json_object_get(user, "gid"));
        json_array_foreach(gids, i, g) {
                if (!id_ok(g))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "exec request: additionalGids[%zu] is not a gid", i);
                x->gids[x->n_gids++] = (gid_t) json_integer_value(g);
        }
        return 0;
}

int vm_agent_exec_parse(const void *data, size_t len, VmAgentExec *ret, KError **err) {
        json_error_t je;
        _cleanup_json_ json_t *req = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(req))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "exec request: not a JSON object (%s)", req ? "" : je.text);
        VmAgentExec x = { 0 };
        json_t *cwd = json_object_get(req, "cwd"), *user = json_object_get(req, "user");
        int r = strv_field(req, "args", true, false, &x.args, err);
        if (r >= 0)
                r = strv_field(req, "env", false, true, &x.env, err);
        if (r >= 0 && cwd && (!json_is_string(cwd) || json_string_value(cwd)[0] != '/'))
                r = kerr_msg(err, KERR_USAGE, -EINVAL, "exec request: \"cwd\" must be an absolute path");
        if (r >= 0 && cwd && !(x.cwd = strdup(json_string_value(cwd))))
                r = kerr(err, -ENOMEM, "exec request");
        if (r >= 0 && user)
                r = user_field(user, &x, err);
        if (r < 0) {
                vm_agent_exec_done(&x);
                return r;
        }
        x.tty = json_is_true(json_object_get(req, "tty"));
        x.detach = json_is_true(json_object_get(req, "detach"));
        *ret = x;
        return 0;
}

void vm_agent_exec_done(VmAgentExec *x) {
        strv_free(x->args);
        strv_free(x->env);
        free(x->cwd);
        *x = (VmAgentExec) { 0 };
}
