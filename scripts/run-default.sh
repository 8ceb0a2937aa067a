#!/bin/sh
# The main job on the embedded default (README's first command): install what is needed, build,
# then run containers from the built-in busybox image with `kapsel` (no registry, no network),
# and the same busybox bundle with the bare OCI runtime. Needs root on Debian 12.
# A micro-VM (run --isolation=vm) runs too where KVM can boot a stock kernel; elsewhere the script
# says why it skips it.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh build
root=$(mktemp -d /tmp/kapsel-demo.XXXXXX)
k="build/src/cli/kapsel --root $root"
cleanup() {
        $k rm -f $($k ps -aq) >/dev/null 2>&1 || true
        rm -rf "$root"
}
trap cleanup EXIT
# --network none: the demo leaves the host's network alone (the default would create kapsel0)
$k run --rm --network none busybox echo "hello from a kapsel container"
$k run -d --name demo --network none --memory 64m busybox sh -c 'while true; do date; sleep 1; done' >/dev/null
sleep 1.5
$k ps
$k logs --tail 2 demo
$k exec demo uname -a
$k stop -t 1 demo >/dev/null && $k rm demo >/dev/null
build/src/cli/kapsel-runtime --root "$root/runtime-demo" run --bundle build/busybox-bundle "demo-$$" </dev/null
# The same image behind the hypervisor boundary, where this machine's KVM can boot a stock kernel:
# kapsel-vmm says why not (no /dev/kvm, a PVM hypervisor, no VMX/SVM) and the demo is skipped
if ! why=$(build/src/vmm/kapsel-vmm check-kvm 2>&1); then
        echo "(skipping the micro-VM demo: ${why#kapsel-vmm: })"
elif ! ls /boot/vmlinuz-* >/dev/null 2>&1; then
        echo "(skipping the micro-VM demo: no guest kernel in /boot; apt-get install linux-image-amd64)"
else
        $k run --rm --isolation=vm --network none busybox sh -c 'echo "hello from a kapsel micro-VM, kernel $(uname -r)"'
fi
