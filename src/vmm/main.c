/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-vmm: one process per micro-VM. Parse, create, run, report once. */
#include <stdio.h>
#include <stdlib.h>

#include "control.h"
#include "migration.h"
#include "kvm-probe.h"
#include "string-util.h"
#include "vm.h"

#ifdef VMM_HAVE_VIRTIO
#define VMM_DEVICES "serial i8042 rtc pci virtio-blk virtio-net virtio-rng virtio-balloon virtio-console"
#else
#define VMM_DEVICES "serial i8042 rtc"
#endif

/* `kapsel-vmm ctl SOCKET JSON`: one request to a running VM's control socket; prints the reply and
 * exits 0 when it says ok. */
static int main_ctl(int argc, char **argv) {
        _cleanup_kerr_ KError *err = NULL;
        if (argc != 4) {
                fputs("Usage: kapsel-vmm ctl SOCKET '{\"cmd\":\"stats\"}'\n", stderr);
                return 2;
        }
        _cleanup_free_ char *reply = NULL;
        /* the confined VMM opens no connection: for a migration we open it and pass it along */
        _cleanup_close_ int conn = -1;
        json_t *req = json_loads(argv[3], 0, NULL);
        const char *cmd = json_string_value(json_object_get(req, "cmd"));
        const char *to = json_string_value(json_object_get(req, "to"));
        if (cmd && streq(cmd, "migrate") && to && (conn = mig_connect(to, &err)) < 0) {
                json_decref(req);
                fprintf(stderr, "kapsel-vmm: %s\n", err->msg);
                return 1;
        }
        json_decref(req);
        if (control_request_fd(argv[2], argv[3], conn, &reply, &err) < 0) {
                fprintf(stderr, "kapsel-vmm: %s\n", err->msg);
                return 1;
        }
        puts(reply);
        return strstr(reply, "\"ok\":true") ? 0 : 1;
}

/* `kapsel-vmm check-kvm [DEVICE]`: can this host boot a micro-VM (kvm-probe.h)? Says why not. */
static int main_check_kvm(int argc, char **argv) {
        _cleanup_kerr_ KError *err = NULL;
        const char *dev = argc > 2 ? argv[2] : "/dev/kvm";
        if (kvm_probe(dev, &err) < 0) {
                fprintf(stderr, "kapsel-vmm: %s\n", err->msg);
                return 1;
        }
        printf("%s: usable for micro-VMs\n", dev);
        return 0;
}

int main(int argc, char **argv) {
        VmmConfig cfg;
        _cleanup_kerr_ KError *err = NULL;
        if (argc > 1 && streq(argv[1], "ctl"))
                return main_ctl(argc, argv);
        if (argc > 1 && streq(argv[1], "check-kvm"))
                return main_check_kvm(argc, argv);
        int r = vmm_config_parse(argc, argv, &cfg, &err);
        if (r < 0) {
                fprintf(stderr, "kapsel-vmm: %s\n", err->msg);
                vmm_config_done(&cfg);
                return 2;
        }
        if (cfg.help || cfg.version) {
                fputs(cfg.help ? vmm_config_usage : "kapsel-vmm " KAPSEL_VERSION "\ndevices: " VMM_DEVICES "\n", stdout);
                vmm_config_done(&cfg);
                return 0;
        }
        Vm *vm = NULL;
        r = vm_create(&cfg, &vm, &err);
        if (r < 0) {
                fprintf(stderr, "kapsel-vmm: %s\n", err ? err->msg : "VM setup failed");
                vmm_config_done(&cfg);
                return err && err->kind == KERR_USAGE ? 2 : 1;
        }
        int status = vm_run(vm, &err);
        if (err)
                fprintf(stderr, "kapsel-vmm: %s\n", err->msg);
        else if (status != 0)
                fprintf(stderr, "kapsel-vmm: %s\n", vm->exit_reason);
        else if (vm->exit_report || getenv("KAPSEL_VMM_VERBOSE"))
                fprintf(stderr, "kapsel-vmm: %s\n", vm->exit_reason);
        vm_free(vm);
        vmm_config_done(&cfg);
        return err ? 1 : status;
}
