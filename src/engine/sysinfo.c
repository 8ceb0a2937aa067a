/* SPDX-License-Identifier: Apache-2.0 */
#include "sysinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ctr-ops.h"
#include "json-util.h"
#include "prune.h"
#include "string-util.h"
#include "volume.h"

const char *sysinfo_kvm_problem(void) {
        if (access("/dev/kvm", R_OK | W_OK) < 0)
                return errno == ENOENT ? "no /dev/kvm (load kvm_intel or kvm_amd, or enable nested virtualization)"
                                       : "/dev/kvm is not accessible to this user";
        if (access("/sys/module/kvm_pvm", F_OK) == 0)
                return "/dev/kvm is the PVM variant (kvm_pvm), which cannot boot a stock kernel";
        return NULL;
}

/* PRETTY_NAME of /etc/os-release, or "Linux". */
static char *os_name(void) {
        _cleanup_fclose_ FILE *f = fopen("/etc/os-release", "re");
        char line[256];
        while (f && fgets(line, sizeof(line), f)) {
                const char *v = startswith(line, "PRETTY_NAME=");
                if (!v)
                        continue;
                v += *v == '"';
                size_t n = strcspn(v, "\"\n");
                return strndup(v, n);
        }
        return strdup("Linux");
}

static const char *go_arch(const char *machine) {
        static const struct { const char *uname, *go; } map[] = {
                { "x86_64", "amd64" }, { "aarch64", "arm64" }, { "armv7l", "arm" }, { "i686", "386" },
                { "ppc64le", "ppc64le" }, { "s390x", "s390x" }, { "riscv64", "riscv64" },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (streq(map[i].uname, machine))
                        return map[i].go;
        return machine;
}

json_t *sysinfo_version(void) {
        struct utsname u;
        if (uname(&u) < 0)
                memset(&u, 0, sizeof(u));
        const char *arch = go_arch(u.machine);
        return json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "Client", "Version", KAPSEL_VERSION,
                         "OS", "linux", "Arch", arch, "Server", "Version", KAPSEL_VERSION, "Runtime", "kapsel-runtime",
                         "Storage", "overlay2", "KernelVersion", u.release, "OS", "linux", "Arch", arch);
}

int sysinfo_info(Engine *e, json_t **ret, KError **err) {
        CtrRecord **list = NULL;
        size_t n = 0, running = 0, paused = 0, n_images = 0;
        int r = db_ctr_list(e->db, &list, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                (void) ctr_repair(e, list[i], NULL);
                running += list[i]->state == CTR_RUNNING || list[i]->state == CTR_RESTARTING;
                paused += list[i]->state == CTR_PAUSED;
        }
        ctr_record_list_free(list, n);
        ImageStore *s;
        Image **imgs = NULL;
        if (engine_images(e, &s, NULL) >= 0 && image_list(s, &imgs, &n_images, NULL) >= 0)
                image_list_free(imgs, n_images);
        struct utsname u;
        if (uname(&u) < 0)
                memset(&u, 0, sizeof(u));
        struct sysinfo si = {};
        (void) sysinfo(&si);
        _cleanup_free_ char *os = os_name();
        bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        const char *kvm = sysinfo_kvm_problem();
        *ret = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, "
                         "s:{s:b, s:s}}",
                         "Containers", (json_int_t) n, "ContainersRunning", (json_int_t) running, "ContainersPaused",
                         (json_int_t) paused, "ContainersStopped", (json_int_t) (n - running - paused), "Images",
                         (json_int_t) n_images, "ServerVersion", KAPSEL_VERSION, "Driver", "overlay2", "CgroupDriver",
                         "cgroupfs", "CgroupVersion", v2 ? "2" : "1", "KernelVersion", u.release, "OperatingSystem",
                         os ?: "Linux", "OSType", "linux", "Architecture", u.machine, "NCPU",
                         (json_int_t) sysconf(_SC_NPROCESSORS_ONLN), "MemTotal",
                         (json_int_t) ((uint64_t) si.totalram * si.mem_unit), "Name", u.nodename, "KapselRootDir",
                         e->root, "KVM", "Available", kvm == NULL, "Reason", kvm ?: "");
        return *ret ? 0 : kerr(err, -ENOMEM, "info");
}

static json_t *df_containers(Engine *e, CtrRecord **list, size_t n) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
                uint64_t sz = 0;
                _cleanup_free_ char *upper = engine_ctr_path(e, list[i]->id, "diff");
                if (upper)
                        (void) disk_usage(upper, &sz, NULL);
                json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:I}", "Id", list[i]->id, "Names", list[i]->name,
                                                   "Image", list[i]->image ?: "", "State",
                                                   ctr_state_to_string(list[i]->state), "SizeRw", (json_int_t) sz));
        }
        return a;
}

static json_t *df_images(Engine *e, CtrRecord **list, size_t n) {
        json_t *a = json_array();
        ImageStore *s;
        Image **imgs = NULL;
        size_t n_imgs = 0;
        if (engine_images(e, &s, NULL) < 0 || image_list(s, &imgs, &n_imgs, NULL) < 0)
                return a;
        for (size_t i = 0; i < n_imgs; i++) {
                json_int_t users = 0;
                for (size_t k = 0; k < n; k++)
                        users += streq_ptr(list[k]->image_id, imgs[i]->id);
                json_array_append_new(a, json_pack("{s:s, s:o, s:I, s:I, s:s}", "Id", imgs[i]->id, "RepoTags",
                                                   json_from_strv(imgs[i]->names), "Size", (json_int_t) imgs[i]->size,
                                                   "Containers", users, "Created", imgs[i]->created ?: ""));
        }
        image_list_free(imgs, n_imgs);
        return a;
}

static json_t *df_volumes(Engine *e) {
        json_t *a = json_array();
        VolRecord *vols = NULL;
        size_t n = 0;
        if (db_vol_list(e->db, &vols, &n, NULL) < 0)
                return a;
        for (size_t i = 0; i < n; i++) {
                uint64_t sz = 0;
                _cleanup_free_ char *data = volume_data_path(e, vols[i].name);
                _cleanup_strv_free_ char **users = NULL;
                if (data)
                        (void) disk_usage(data, &sz, NULL);
                (void) volume_users(e, vols[i].name, &users, NULL);
                json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "Name", vols[i].name, "Size", (json_int_t) sz,
                                                   "RefCount", (json_int_t) strv_length(users)));
        }
        vol_record_list_free(vols, n);
        return a;
}

int sysinfo_df(Engine *e, json_t **ret, KError **err) {
        CtrRecord **list = NULL;
        size_t n = 0;
        int r = db_ctr_list(e->db, &list, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                (void) ctr_repair(e, list[i], NULL);
        *ret = json_pack("{s:o, s:o, s:o, s:[]}", "Images", df_images(e, list, n), "Containers", df_containers(e, list, n),
                         "Volumes", df_volumes(e), "BuildCache");
        ctr_record_list_free(list, n);
        return *ret ? 0 : kerr(err, -ENOMEM, "system df");
}
