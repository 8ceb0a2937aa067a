/* SPDX-License-Identifier: Apache-2.0 */
/* Golden driver: config.json -> the container plan (namespaces, mounts with parsed flags,
 * devices, device-cgroup rules, masked/read-only paths) in plan_dump()'s text form.
 * The bundle is taken to be "/bundle" so relative paths resolve the same everywhere. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "fd-util.h"
#include "plan.h"

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
        _cleanup_(plan_freep) Plan *plan = NULL;
        if (spec_parse(text, len, "config.json", &spec, &err) < 0 ||
            plan_build(spec, "/bundle", &plan, &err) < 0) {
                printf("error: %s\n", err->msg);
                return 1;
        }
        plan_dump(plan, stdout);
        return 0;
}
