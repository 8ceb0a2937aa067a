/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctr-inspect.h"
#include "health.h"
#include "json-util.h"
#include "vm-isolation.h"
#include "vm-snapshot.h"
#include "logs.h"
#include "path-util.h"
#include "string-util.h"

void human_duration(int64_t ns, char buf[static 32]) {
        int64_t s = ns / 1000000000;
        static const struct { int64_t secs; const char *unit; } units[] = {
                { 86400 * 365, "year" }, { 86400 * 7, "week" }, { 86400, "day" }, { 3600, "hour" }, { 60, "minute" },
        };
        if (s < 1) {
                snprintf(buf, 32, "Less than a second");
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (s >= units[i].secs) {
                        int64_t n = s / units[i].secs;
                        snprintf(buf, 32, "%lld %s%s", (long long) n, units[i].unit, n == 1 ? "" : "s");
                        return;
                }
        snprintf(buf, 32, "%lld second%s", (long long) s, s == 1 ? "" : "s");
}

char *ctr_status_text(const CtrRecord *r) {
        char d[32], *s = NULL;
        int64_t now = engine_now();
        switch (r->state) {
        case CTR_RUNNING:
        case CTR_PAUSED:
                human_duration(now - r->started, d);
                if (asprintf(&s, "Up %s%s%s", d, r->state == CTR_PAUSED ? " (Paused)" : "", health_status_suffix(r)) < 0)
                        return NULL;
                return s;
        case CTR_RESTARTING:
                human_duration(now - r->finished, d);
                return asprintf(&s, "Restarting (%d) %s ago", r->exit_code, d) < 0 ? NULL : s;
        case CTR_EXITED:
                if (!r->finished)
                        return strdup("Created");
                human_duration(now - r->finished, d);
                return asprintf(&s, "Exited (%d) %s ago", r->exit_code, d) < 0 ? NULL : s;
        default:
                return strdup(r->state == CTR_CREATED ? "Created" : ctr_state_to_string(r->state));
        }
}

static json_t *time_json(int64_t ns) {
        char buf[40];
        logs_format_time(ns, buf);
        return json_string(ns ? buf : "0001-01-01T00:00:00Z");
}

static json_t *command_json(const CtrRecord *r) {
        json_t *cmd = json_object_get(json_object_get(r->config, "Config"), "Cmd");
        return cmd ? json_incref(cmd) : json_array();
}

json_t *ctr_inspect_json(const Engine *e, const CtrRecord *r) {
        _cleanup_free_ char *dir = engine_ctr_path(e, r->id, NULL);
        _cleanup_free_ char *name = NULL;
        if (!dir || asprintf(&name, "/%s", r->name) < 0)
                return NULL;
        json_t *cmd = command_json(r);
        json_t *args = json_array();
        for (size_t i = 1; i < json_array_size(cmd); i++)
                json_array_append(args, json_array_get(cmd, i));
        json_t *state = json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:i, s:i, s:s, s:o, s:o}", "Status",
                                  ctr_state_to_string(r->state), "Running", r->state == CTR_RUNNING || r->state == CTR_PAUSED,
                                  "Paused", r->state == CTR_PAUSED, "Restarting", r->state == CTR_RESTARTING, "OOMKilled",
                                  r->oom_killed, "Dead", false, "Pid", (int) r->pid, "ExitCode", r->exit_code, "Error",
                                  r->error ?: "", "StartedAt", time_json(r->started), "FinishedAt", time_json(r->finished));
        /* --health-cmd: the monitor's probes keep it in the row */
        json_t *health = json_object_get(r->config, "Health");
        if (state && json_is_object(health))
                json_object_set(state, "Health", health);
        if (state && vm_isolation_enabled(r->config)) {
                /* recorded by the monitor: kapsel-vmm spawned -> KAPSEL-INIT, -> KAPSEL-STARTED */
                _cleanup_json_ json_t *times = vm_isolation_times(dir);
                if (times)
                        json_object_update(state, times);
        }
        char upper[4096], merged[4096], work[4096], log[4096];
        snprintf(upper, sizeof(upper), "%s/diff", dir);
        snprintf(merged, sizeof(merged), "%s/rootfs", dir);
        snprintf(work, sizeof(work), "%s/work", dir);
        snprintf(log, sizeof(log), "%s/ctr.log", dir);
        json_t *mounts = json_array();
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(json_object_get(r->config, "HostConfig"), "Binds"), i, b) {
                const char *s = json_string_value(b) ?: "";
                _cleanup_free_ char *copy = strdup(s);
                char *dst = copy ? strchr(copy, ':') : NULL;
                if (!dst)
                        continue;
                *dst++ = 0;
                char *opt = strchr(dst, ':');
                if (opt)
                        *opt++ = 0;
                bool vol = copy[0] != '/';
                json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}", "Type", vol ? "volume" : "bind",
                                                        vol ? "Name" : "Source", copy, "Destination", dst, "RW",
                                                        !(opt && strstr(opt, "ro"))));
        }
        json_t *doc = json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:i, s:s, s:s, s:s, s:O, s:O, s:{s:s, s:{s:s, s:s, s:s}}, s:o}",
                         "Id", r->id, "Created", time_json(r->created), "Path",
                         json_array_size(cmd) ? json_incref(json_array_get(cmd, 0)) : json_string(""), "Args", args,
                         "State", state, "Image", r->image_id, "Name", name, "RestartCount", r->restart_count, "Driver",
                         "overlay", "Platform", "linux", "LogPath", log, "Config", json_object_get(r->config, "Config"),
                         "HostConfig", json_object_get(r->config, "HostConfig"), "GraphDriver", "Name", "overlay", "Data",
                         "UpperDir", upper, "MergedDir", merged, "WorkDir", work, "Mounts", mounts);
        json_decref(cmd);
        if (doc)
                json_object_set_new(doc, "Kind", json_string(ctr_kind_to_string(r->kind)));
        if (doc && r->kind == CTR_KIND_VM) {
                /* no image, no overlay: what a VM has instead */
                char ctl[4096];
                snprintf(ctl, sizeof(ctl), "%s/control.sock", dir);
                json_object_set_new(doc, "Image", json_string(""));
                json_object_set_new(doc, "Driver", json_string("kapsel-vmm"));
                json_object_set_new(doc, "GraphDriver", json_null());
                json_object_set_new(doc, "ControlSocket", json_string(ctl));
                json_t *snaps = NULL;
                if (vm_snapshot_list(e, r, &snaps, NULL) >= 0)
                        json_object_set_new(doc, "Snapshots", snaps);
        } else if (doc && vm_isolation_enabled(r->config)) {
                /* `kapsel checkpoint ls`'s rows (ctr-checkpoint.h) */
                json_t *ckpts = NULL;
                if (vm_snapshot_entries(e, r, &ckpts, NULL) >= 0)
                        json_object_set_new(doc, "Checkpoints", ckpts);
        }
        return doc;
}

json_t *ctr_ps_json(const CtrRecord *r, bool no_trunc) {
        char created[40], running[32];
        logs_format_time(r->created, created);
        human_duration(engine_now() - r->created, running);
        _cleanup_free_ char *status = ctr_status_text(r);
        json_t *cmd = command_json(r);
        _cleanup_free_ char *cmdline = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&cmdline, &len);
        size_t i;
        json_t *a;
        json_array_foreach(cmd, i, a) {        /* docker: arguments with a space in 'quotes' */
                const char *arg = json_string_value(a) ?: "";
                if (i && strchr(arg, ' '))
                        fprintf(f, " '%s'", arg);
                else
                        fprintf(f, "%s%s", i ? " " : "", arg);
        }
        fclose(f);
        json_decref(cmd);
        char id[65];
        snprintf(id, no_trunc ? 65 : 13, "%s", r->id);
        /* a VM's "image" is its kernel: the file name says enough in a table */
        const char *slash = r->kind == CTR_KIND_VM ? strrchr(r->image, '/') : NULL;
        const char *image = slash ? slash + 1 : r->image;
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s+, s:s, s:s, s:s}", "ID", id, "Names", r->name, "Image", image,
                         "Command", cmdline ?: "", "CreatedAt", created, "RunningFor", running, " ago", "Status",
                         status ?: "", "State", ctr_state_to_string(r->state), "Kind", ctr_kind_to_string(r->kind));
}
