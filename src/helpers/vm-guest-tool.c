/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-vm-guest-tool: the host-side VM guest builders (src/engine/vm-guest.h) one at a time, so
 * the integration test boots exactly what the engine will build, and a developer can inspect each
 * piece. Not installed.
 *
 *   kernel [PATH]                          print "PATH VERSION" of the guest kernel
 *   initramfs INIT OUT [MODULES_DIR]       build an initramfs (modules of the newest kernel)
 *   rootfs CACHE_DIR IMAGE_ID LAYER...     print the cached rootfs disk (layers lowest first)
 *   upper PATH SIZE                        make the writable disk
 *   plan OCI_JSON CONFIG_DISK [ADDR/LEN GATEWAY]
 *                                          write the config disk; print the volumes, one JSON a line
 *   volume-prepare SRC DEVICE ro|rw DIR    print the volume disk made from SRC
 *   volume-finish SRC IMAGE                copy a rw volume disk back into SRC */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "json-util.h"
#include "string-util.h"
#include "vm-guest.h"

static int cmd_kernel(int argc, char **argv, KError **err) {
        _cleanup_free_ char *path = NULL, *version = NULL;
        int r = vm_guest_find_kernel(argc > 0 ? argv[0] : NULL, &path, &version, err);
        if (r >= 0)
                printf("%s %s\n", path, version);
        return r;
}

static int cmd_initramfs(int argc, char **argv, KError **err) {
        if (argc < 2)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "usage: initramfs INIT OUT [MODULES_DIR]");
        _cleanup_free_ char *kernel = NULL, *version = NULL, *mods = NULL;
        if (argc < 3) {
                int r = vm_guest_find_kernel(NULL, &kernel, &version, err);
                if (r < 0)
                        return r;
                if (asprintf(&mods, "/lib/modules/%s", version) < 0)
                        return -ENOMEM;
        }
        return vm_initramfs_build(argc >= 3 ? argv[2] : mods, argv[0], argv[1], err);
}

static int cmd_rootfs(int argc, char **argv, KError **err) {
        if (argc < 3)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "usage: rootfs CACHE_DIR IMAGE_ID LAYER...");
        _cleanup_strv_free_ char **layers = NULL;
        for (int i = 2; i < argc; i++)
                if (strv_extend(&layers, argv[i]) < 0)
                        return -ENOMEM;
        _cleanup_free_ char *path = NULL;
        int r = vm_disk_rootfs_ensure(argv[0], argv[1], layers, &path, err);
        if (r >= 0)
                printf("%s\n", path);
        return r;
}

static int cmd_upper(int argc, char **argv, KError **err) {
        uint64_t size;
        if (argc < 2 || parse_size(argv[1], &size) < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "usage: upper PATH SIZE");
        return vm_disk_upper_ensure(argv[0], size, err);
}

static int cmd_plan(int argc, char **argv, KError **err) {
        if (argc < 2)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "usage: plan OCI_JSON CONFIG_DISK [ADDR/LEN GATEWAY]");
        json_error_t je;
        _cleanup_json_ json_t *oci = json_load_file(argv[0], 0, &je);
        if (!oci)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s: %s", argv[0], je.text);
        VmGuestNet net = { .address = argc > 2 ? argv[2] : NULL, .gateway = argc > 3 ? argv[3] : NULL };
        VmGuestPlanInput in = { .oci = oci, .net = argc > 2 ? &net : NULL,
                                .hosts = "127.0.0.1\tlocalhost\n", .resolv_conf = "nameserver 10.0.2.3\n" };
        _cleanup_(vm_guest_plan_done) VmGuestPlan plan = {};
        int r = vm_guest_plan(&in, &plan, err);
        if (r >= 0)
                r = vm_disk_config_write(argv[1], plan.config, err);
        for (size_t i = 0; r >= 0 && i < plan.n_volumes; i++)
                printf("{\"device\": \"%s\", \"source\": \"%s\", \"destination\": \"%s\", \"readonly\": %s}\n",
                       plan.volumes[i].device, plan.volumes[i].source, plan.volumes[i].destination,
                       plan.volumes[i].readonly ? "true" : "false");
        return r;
}

static int cmd_volume_prepare(int argc, char **argv, KError **err) {
        if (argc < 4)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "usage: volume-prepare SRC DEVICE ro|rw DIR");
        VmVolumeDisk v = { .source = argv[0], .device = argv[1], .readonly = streq(argv[2], "ro") };
        int r = vm_disk_volume_prepare(&v, argv[3], err);
        if (r >= 0)
                printf("%s\n", v.image);
        free(v.image);
        return r;
}

static int cmd_volume_finish(int argc, char **argv, KError **err) {
        if (argc < 2)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "usage: volume-finish SRC IMAGE");
        VmVolumeDisk v = { .source = argv[0], .image = argv[1] };
        return vm_disk_volume_finish(&v, err);
}

static const struct {
        const char *name;
        int (*run)(int argc, char **argv, KError **err);
} commands[] = {
        { "kernel", cmd_kernel },     { "initramfs", cmd_initramfs },           { "rootfs", cmd_rootfs },
        { "upper", cmd_upper },       { "plan", cmd_plan },                     { "volume-prepare", cmd_volume_prepare },
        { "volume-finish", cmd_volume_finish },
};

int main(int argc, char **argv) {
        _cleanup_kerr_ KError *err = NULL;
        for (size_t i = 0; argc > 1 && i < ELEMENTSOF(commands); i++) {
                if (!streq(argv[1], commands[i].name))
                        continue;
                int r = commands[i].run(argc - 2, argv + 2, &err);
                if (r < 0) {
                        fprintf(stderr, "kapsel-vm-guest-tool: %s\n", err ? err->msg : strerror(-r));
                        return 1;
                }
                return 0;
        }
        fprintf(stderr, "usage: kapsel-vm-guest-tool kernel|initramfs|rootfs|upper|plan|volume-prepare|volume-finish ...\n");
        return 2;
}
