/* SPDX-License-Identifier: Apache-2.0 */
/* Golden driver: config.json linux.resources -> the cgroupfs writes planned for cgroup v1
 * and for cgroup v2 (controller, file, value, in order), or the error each version gives. */
#include <stdio.h>

#include "cgroup.h"
#include "golden-load.h"

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
        _cleanup_(spec_freep) Spec *spec = NULL;
        int r = golden_load_spec(argc, argv, &spec);
        if (r != 0)
                return r;
        dump(CGROUP_MODE_V1, &spec->linux_.resources);
        dump(CGROUP_MODE_V2, &spec->linux_.resources);
        return 0;
}
