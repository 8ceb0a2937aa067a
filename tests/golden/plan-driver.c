/* SPDX-License-Identifier: Apache-2.0 */
/* Golden driver: config.json -> the container plan (namespaces, mounts with parsed flags,
 * devices, device-cgroup rules, masked/read-only paths) in plan_dump()'s text form.
 * The bundle is taken to be "/bundle" so relative paths resolve the same everywhere. */
#include <stdio.h>

#include "golden-load.h"
#include "plan.h"

int main(int argc, char **argv) {
        _cleanup_(spec_freep) Spec *spec = NULL;
        _cleanup_(plan_freep) Plan *plan = NULL;
        _cleanup_kerr_ KError *err = NULL;
        int r = golden_load_spec(argc, argv, &spec);
        if (r != 0)
                return r;
        if (plan_build(spec, "/bundle", &plan, &err) < 0) {
                printf("error: %s\n", err->msg);
                return 1;
        }
        plan_dump(plan, stdout);
        return 0;
}
