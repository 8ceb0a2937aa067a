/* SPDX-License-Identifier: Apache-2.0 */
/* /_ping, /version, /info: what clients ask first (version negotiation, the storage driver). */
#include <errno.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "daemon.h"

#ifndef KAPSEL_VERSION
#define KAPSEL_VERSION "0"
#endif

int api_ping(ApiReq *rq, ApiResp *rs, KError **err) {
        (void) err;
        bool head = strcmp(rq->method, "HEAD") == 0;
        rs->status = 200;
        rs->raw = MHD_create_response_from_buffer(head ? 0 : 2, (char *) "OK", MHD_RESPMEM_PERSISTENT);
        if (!rs->raw)
                return -ENOMEM;
        MHD_add_response_header(rs->raw, "Content-Type", "text/plain; charset=utf-8");
        MHD_add_response_header(rs->raw, "Cache-Control", "no-cache, no-store, must-revalidate");
        MHD_add_response_header(rs->raw, "Docker-Experimental", "false");
        MHD_add_response_header(rs->raw, "Ostype", "linux");
        return 0;
}

static const char *go_arch(const char *machine) {
        return strcmp(machine, "x86_64") == 0 ? "amd64" : strcmp(machine, "aarch64") == 0 ? "arm64" : machine;
}

int api_version(ApiReq *rq, ApiResp *rs, KError **err) {
        (void) rq, (void) err;
        struct utsname u;
        uname(&u);
        return api_json(rs, 200,
                        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}],"
                                  " s:{s:s}}",
                                  "Version", KAPSEL_VERSION, "ApiVersion", API_VERSION, "MinAPIVersion", API_MIN_VERSION,
                                  "GitCommit", "kapsel", "GoVersion", "none (C)", "Os", "linux", "Arch", go_arch(u.machine),
                                  "KernelVersion", u.release, "Components", "Name", "Engine", "Version", KAPSEL_VERSION,
                                  "Details", "ApiVersion", API_VERSION, "MinAPIVersion", API_MIN_VERSION, "GitCommit",
                                  "kapsel", "Os", "linux", "Arch", go_arch(u.machine), "KernelVersion", u.release,
                                  "Platform", "Name", "kapsel"));
}

int api_info(ApiReq *rq, ApiResp *rs, KError **err) {
        Engine *e;
        int r = api_engine(rq, &e, err);
        if (r < 0)
                return r;
        CtrRecord **list = NULL;
        size_t n = 0;
        if ((r = db_ctr_list(e->db, &list, &n, err)) < 0)
                return r;
        int running = 0, paused = 0, stopped = 0;
        for (size_t i = 0; i < n; i++) {
                if (list[i]->state == CTR_RUNNING)
                        running++;
                else if (list[i]->state == CTR_PAUSED)
                        paused++;
                else
                        stopped++;
        }
        ctr_record_list_free(list, n);
        struct utsname u;
        uname(&u);
        char host[256] = "";
        (void) gethostname(host, sizeof(host) - 1);
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        long long mem = (long long) sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
        return api_json(rs, 200,
                        json_pack("{s:s, s:I, s:i, s:i, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s,"
                                  " s:s, s:[], s:{}}",
                                  "ID", "kapsel", "Containers", (json_int_t) n, "ContainersRunning", running,
                                  "ContainersPaused", paused, "ContainersStopped", stopped, "Driver", "overlay2",
                                  "LoggingDriver", "json-file", "CgroupDriver", "cgroupfs", "CgroupVersion",
                                  access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "2" : "1",
                                  "KernelVersion", u.release, "OperatingSystem", "kapsel", "OSType", "linux",
                                  "Architecture", u.machine, "NCPU", (json_int_t) ncpu, "MemTotal", (json_int_t) mem,
                                  "Name", host, "ServerVersion", KAPSEL_VERSION, "DockerRootDir", rq->cfg->root,
                                  "DefaultRuntime", "kapsel", "Warnings", "Runtimes"));
}
