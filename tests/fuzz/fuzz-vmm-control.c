/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the control-socket protocol: every line a client sends (untrusted: any local process with
 * access to the socket) against ops that only record. Each reply must be one JSON object. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int op(void *o) {
        return 0;
}
static int op_json(void *o, json_t *reply) {
        return json_object_set_new(reply, "x", json_integer(1));
}
static int op_balloon(void *o, uint32_t pages, json_t *reply) {
        return pages % 2 ? -EINVAL : 0;
}
static int op_snapshot(void *o, const char *dir, json_t *reply, char **ret_msg) {
        if (strlen(dir) % 2)
                return 0;
        *ret_msg = strdup("snapshot: the VM must be paused first");
        return -EBUSY;
}
static int op_migrate(void *o, const char *to, const char *token, unsigned max_downtime_ms, int fd, json_t *reply,
                      char **ret_msg) {
        return max_downtime_ms % 2 ? -EINVAL : 0;
}
static const ControlOps ops = { op, op, op, op_json, op_balloon, op_snapshot, op_migrate };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *reply = control_handle_line(&ops, NULL, (const char *) data, size);
        if (reply) {
                json_t *j = json_loads(reply, 0, NULL);
                if (!json_is_object(j) || !json_is_boolean(json_object_get(j, "ok")))
                        abort();
                json_decref(j);
        }
        free(reply);
        return 0;
}
