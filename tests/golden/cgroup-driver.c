/* SPDX-License-Identifier: Apache-2.0 */
/* Golden driver: config.json linux.resources -> the cgroupfs writes planned for cgroup v1
 * and for cgroup v2 (controller, file, value, in order), or the error each version gives. */
#include <fcntl.h>
#include <stdio.h>

#include "cgroup.h"
#include "fd-util.h"

static void dump(CgroupMode mode, const SpecResources *res) {
        const char *name = mode == CGROUP_MODE_V1 ? "v1" : "v2";
        _cleanup_kerr_ KError *err = NULL;
        _cleanup_(cgroup_plan_freep) CgroupPlan *plan = NULL;
        if (cgroup_plan_resources(mode, res, &plan, &err) < 0) {
                printf("%s error: %s\n", name, err->msg);
                return;
        }
        for (size_t i = 0; i < plan->n_writes; i++)
                printf("%s %s %s = %s\n", name, plan->writes[i].controller ? plan->writes[i].controller : "-",
                       plan->writes[i].file, plan->writes[i].value);
        if (plan->needs_device_bpf)
                printf("%s device-filter bpf\n", name);
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s CONFIG.json\n", argv[0]);
                return 2;
        }
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (read_full_file_at(AT_FDCWD, argv[1], 1 << 20, &text, &len) < 0) {
                fprintf(stderr, "cannot read %s\n", argv[1]);
                return 2;
        }
        _cleanup_kerr_ KError *err = NULL;
        _cleanup_(spec_freep) Spec *spec = NULL;
        if (spec_parse(text, len, "config.json", &spec, &err) < 0) {
                printf("error: %s\n", err->msg);
                return 1;
        }
        dump(CGROUP_MODE_V1, &spec->linux_.resources);
        dump(CGROUP_MODE_V2, &spec->linux_.resources);
        return 0;
}
