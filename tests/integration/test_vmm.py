"""kapsel-vmm end to end, inside a nested VM (tests/harness/nested.py: QEMU TCG with AMD SVM gives
the L1 Debian kernel a working /dev/kvm). One L1 boot runs every L2 boot in sequence; each check
prints a marker line
    KAPSEL-CHECK <name> ok | KAPSEL-CHECK <name> FAIL <details>
and each becomes its own pytest case below. L2 is the same stock Debian kernel with a tiny
initramfs (static busybox + virtio modules, tests/harness/guest.py) whose /init prints
    KAPSEL-L2-INIT cpus=<n>
then runs the device checks named by kapsel.test= on its command line, and reboots or powers off.

Also a few host-side checks that need no KVM (bad kernel, missing /dev/kvm)."""
import os
import re
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
import guest  # noqa: E402
import nested  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VMM = os.environ.get("KAPSEL_VMM", os.path.join(REPO, "build/src/vmm/kapsel-vmm"))
L1_TIMEOUT = 290


def vmm_devices():
    out = subprocess.run([VMM, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"^devices: (.*)$", out, re.M)
    return set(m.group(1).split()) if m else set()


HAVE_VIRTIO = os.path.exists(VMM) and "virtio-blk" in vmm_devices()
BOOT_CHECKS = ["boot-1cpu", "reboot-status-0", "boot-2cpu", "poweroff-status-0"]
DEVICE_CHECKS = ["blk-write-read", "blk-host-sees-data", "blk-ro-refuses-writes", "net-tap-ping", "rng-feeds-guest",
                 "balloon-inflate", "pause-resume", "control-stats"]
CHECKS = BOOT_CHECKS + (DEVICE_CHECKS if HAVE_VIRTIO else [])

L2_INIT = r"""#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
echo "KAPSEL-L2-INIT cpus=$(grep -c ^processor /proc/cpuinfo)"
T=",$(sed -n 's/.*kapsel.test=\([a-z0-9,]*\).*/\1/p' /proc/cmdline),"
say() { echo "KAPSEL-L2 $*"; }
case "$T" in *,devices,*)
        for m in $(cat /mods/order); do insmod /mods/$m 2>/dev/null || say "insmod $m failed"; done
        sleep 1
        # virtio-blk: write a pattern, drop caches, read it back
        dd if=/dev/urandom of=/tmp/pat bs=4096 count=64 2>/dev/null
        want=$(md5sum < /tmp/pat | cut -d' ' -f1)
        dd if=/tmp/pat of=/dev/vda bs=4096 conv=fsync 2>/dev/null; sync
        echo 3 > /proc/sys/vm/drop_caches
        got=$(dd if=/dev/vda bs=4096 count=64 2>/dev/null | md5sum | cut -d' ' -f1)
        say "blk want=$want got=$got"
        # read-only disk: the write must fail and the data stay
        if dd if=/tmp/pat of=/dev/vdb bs=4096 count=1 conv=fsync 2>/dev/null; then say "ro write-accepted"; else say "ro write-refused"; fi
        say "ro sysfs=$(cat /sys/block/vdb/ro 2>/dev/null)"
        # virtio-net: reach the host side of the tap
        ip link set eth0 up; ip addr add 10.0.2.2/24 dev eth0
        if ping -c 2 -W 3 10.0.2.1 >/dev/null 2>&1; then say "net ping-ok"; else say "net ping-failed $(ip -o link 2>&1 | grep -o 'eth0.*state [A-Z]*') tx=$(cat /sys/class/net/eth0/statistics/tx_packets) rx=$(cat /sys/class/net/eth0/statistics/rx_packets)"; fi
        # virtio-rng
        say "rng current=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null) bytes=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | wc -c)"
        # balloon: report MemTotal until the host inflates it (the host watches these lines)
        m0=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)
        say "balloon-ready memtotal=$m0"
        i=0
        while [ $i -lt 100 ]; do
                m=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)
                echo "KAPSEL-TICK $i memtotal=$m"
                [ -e /proc/kapsel-never ] && break
                i=$((i+1)); sleep 0.2
        done
        ;;
esac
case "$T" in *,poweroff,*) poweroff -f;; *) reboot -f;; esac
"""

CMDLINE = "console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp quiet"

L1_INIT = r"""#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in $(cat /l1mods/order); do insmod /l1mods/$m || echo "KAPSEL-HARNESS insmod $m failed"; done
report() { if [ "$2" = ok ]; then echo "KAPSEL-CHECK $1 ok"; else echo "KAPSEL-CHECK $1 FAIL $(echo "$3" | tr '\n' '|' | tail -c 1500)"; fi; }
if [ ! -c /dev/kvm ]; then echo "KAPSEL-HARNESS no /dev/kvm"; poweroff -f; fi
up() { cut -d' ' -f1 /proc/uptime; }
VMM="kapsel-vmm --kernel /l2/vmlinuz --initrd /l2/initrd.gz --memory 256M"
CMD="@CMDLINE@"
# run NAME TIMEOUT ARGS...: output in /tmp/NAME.out, status in $rc, wall time in a KAPSEL-TIME line
run() {
        name=$1; t=$2; shift 2
        s=$(up); timeout $t "$@" > /tmp/$name.out 2>&1; rc=$?; e=$(up)
        echo "KAPSEL-TIME $name start=$s end=$e rc=$rc"
        # a seccomp kill (SIGSYS, 159) names the syscall in the kernel log
        [ $rc = 159 ] && dmesg | grep -i "type=1326\|seccomp" | tail -n 2 | sed 's/^/KAPSEL-HARNESS /'
        return 0
}
has() { grep -q "$2" /tmp/$1.out; }

run boot1 100 $VMM --cpus 1 --cmdline "$CMD kapsel.test=boot"
if has boot1 "KAPSEL-L2-INIT cpus=1"; then report boot-1cpu ok; else report boot-1cpu fail "$(tail -n 30 /tmp/boot1.out)"; fi
if [ $rc = 0 ]; then report reboot-status-0 ok; else report reboot-status-0 fail "rc=$rc $(tail -n 5 /tmp/boot1.out)"; fi

run boot2 100 $VMM --cpus 2 --cmdline "$CMD kapsel.test=poweroff"
if has boot2 "KAPSEL-L2-INIT cpus=2"; then report boot-2cpu ok; else report boot-2cpu fail "$(tail -n 30 /tmp/boot2.out)"; fi
if [ $rc = 0 ]; then report poweroff-status-0 ok; else report poweroff-status-0 fail "rc=$rc $(tail -n 5 /tmp/boot2.out)"; fi
@DEVICES@
echo "KAPSEL-HARNESS done"
poweroff -f
"""

L1_DEVICES = r"""
dd if=/dev/zero of=/tmp/disk.img bs=1M count=8 2>/dev/null
dd if=/dev/zero of=/tmp/ro.img bs=1M count=1 2>/dev/null
ip tuntap add dev ktap0 mode tap && ip addr add 10.0.2.1/24 dev ktap0 && ip link set ktap0 up
CTL=/tmp/vmm.sock
s=$(up)
kapsel-vmm --kernel /l2/vmlinuz --initrd /l2/initrd.gz --memory 256M --cpus 2 \
        --disk /tmp/disk.img --disk /tmp/ro.img,ro --net tap=ktap0 --rng --balloon --control $CTL \
        --cmdline "$CMD kapsel.test=devices" > /tmp/dev.out 2>&1 &
pid=$!
# wait for the guest to reach its balloon loop (device checks done before it)
i=0; while [ $i -lt 600 ] && ! has dev "balloon-ready" && kill -0 $pid 2>/dev/null; do sleep 0.2; i=$((i+1)); done
out=$(grep "KAPSEL-L2 blk" /tmp/dev.out)
w=$(echo "$out" | sed -n 's/.*want=\([0-9a-f]*\).*/\1/p'); g=$(echo "$out" | sed -n 's/.*got=\([0-9a-f]*\).*/\1/p')
if [ -n "$w" ] && [ "$w" = "$g" ]; then report blk-write-read ok; else report blk-write-read fail "$out $(tail -n 20 /tmp/dev.out)"; fi
h=$(dd if=/tmp/disk.img bs=4096 count=64 2>/dev/null | md5sum | cut -d' ' -f1)
if [ -n "$w" ] && [ "$h" = "$w" ]; then report blk-host-sees-data ok; else report blk-host-sees-data fail "host=$h guest=$w"; fi
r=$(dd if=/tmp/ro.img bs=4096 count=1 2>/dev/null | md5sum | cut -d' ' -f1); z=$(dd if=/dev/zero bs=4096 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
if has dev "KAPSEL-L2 ro write-refused" && [ "$r" = "$z" ]; then report blk-ro-refuses-writes ok; else report blk-ro-refuses-writes fail "$(grep 'KAPSEL-L2 ro' /tmp/dev.out) image-zero=$([ "$r" = "$z" ] && echo y)"; fi
if has dev "KAPSEL-L2 net ping-ok"; then report net-tap-ping ok; else report net-tap-ping fail "$(grep 'KAPSEL-L2 net' /tmp/dev.out) host-tap rx=$(cat /sys/class/net/ktap0/statistics/rx_packets) tx=$(cat /sys/class/net/ktap0/statistics/tx_packets)"; fi
if has dev "KAPSEL-L2 rng current=virtio_rng.* bytes=32"; then report rng-feeds-guest ok; else report rng-feeds-guest fail "$(grep 'KAPSEL-L2 rng' /tmp/dev.out)"; fi
st=$(kapsel-vmm ctl $CTL '{"cmd":"stats"}')
case "$st" in *'"ok":true'*'"exits"'*) report control-stats ok;; *) report control-stats fail "$st";; esac
# pause: no guest output for 2 s; resume: ticks again
p=$(kapsel-vmm ctl $CTL '{"cmd":"pause"}')
sleep 0.5; a=$(grep -c KAPSEL-TICK /tmp/dev.out); sleep 2; b=$(grep -c KAPSEL-TICK /tmp/dev.out)
q=$(kapsel-vmm ctl $CTL '{"cmd":"resume"}')
sleep 2; c=$(grep -c KAPSEL-TICK /tmp/dev.out)
if [ "$a" = "$b" ] && [ "$c" -gt "$b" ]; then report pause-resume ok; else report pause-resume fail "pause=$p resume=$q ticks $a $b $c"; fi
# balloon: 16384 pages = 64 MiB out of the guest
m0=$(sed -n 's/.*balloon-ready memtotal=\([0-9]*\).*/\1/p' /tmp/dev.out)
bl=$(kapsel-vmm ctl $CTL '{"cmd":"balloon","pages":16384}')
i=0; m1=$m0
while [ $i -lt 40 ]; do
        m1=$(grep KAPSEL-TICK /tmp/dev.out | tail -n 1 | sed -n 's/.*memtotal=\([0-9]*\).*/\1/p')
        [ -n "$m1" ] && [ "$m1" -lt $((m0 - 60000)) ] && break
        sleep 0.25; i=$((i+1))
done
if [ -n "$m1" ] && [ "$m1" -lt $((m0 - 60000)) ]; then report balloon-inflate ok; else report balloon-inflate fail "reply=$bl memtotal $m0 -> $m1"; fi
wait $pid; rc=$?; e=$(up)
echo "KAPSEL-TIME devices start=$s end=$e rc=$rc"
[ $rc = 159 ] && dmesg | grep -i "type=1326" | tail -n 1 | sed 's/^/KAPSEL-HARNESS /'
tail -n 5 /tmp/dev.out | sed 's/^/KAPSEL-HARNESS dev: /'
"""


def l1_init(with_devices):
    return (L1_INIT.replace("@CMDLINE@", CMDLINE)
            .replace("@DEVICES@", L1_DEVICES if with_devices else ""))


@pytest.fixture(scope="module")
def nested_run(tmp_path_factory):
    reason = nested.missing_prerequisites()
    if reason:
        pytest.skip(reason)
    if not os.path.exists(VMM):
        pytest.skip("kapsel-vmm not built (%s)" % VMM)
    work = str(tmp_path_factory.mktemp("vmm-nested"))
    kernel = nested.find_kernel()
    version = guest.kernel_version(kernel)
    l2_initrd = guest.build_initramfs(work, "l2", L2_INIT, guest.module_closure(version, guest.VIRTIO_MODULES))
    vm = nested.L1Image(work)
    vm.add_binary(VMM, "/usr/bin/kapsel-vmm")
    if HAVE_VIRTIO:
        vm.add_binary("/usr/sbin/ip", "/usr/sbin/ip")       # busybox ip has no tuntap
    vm.add_data(kernel, "/l2/vmlinuz")
    vm.add_data(l2_initrd, "/l2/initrd.gz")
    mods_dir = vm._dest("/l1mods/x")[:-2]
    os.makedirs(mods_dir, exist_ok=True)
    names = [guest._copy_module(m, mods_dir) for m in guest.module_closure(version, guest.KVM_MODULES + ["tun"])]
    vm.add_file("/l1mods/order", "\n".join(names) + "\n")
    vm.set_init(l1_init(HAVE_VIRTIO))
    t0 = time.monotonic()
    out = vm.boot(timeout=L1_TIMEOUT, memory="2G", cpus=2)
    took = time.monotonic() - t0
    with open(os.path.join(work, "l1-console.log"), "w") as f:
        f.write(out)
    sys.stderr.write("nested VMM suite: L1 boot took %.1f s; log %s/l1-console.log\n" % (took, work))
    for line in out.splitlines():
        if line.startswith("KAPSEL-TIME"):
            sys.stderr.write(line + "\n")
    return out


def marker(out, name):
    for line in out.splitlines():
        if line.startswith("KAPSEL-CHECK %s " % name):
            return line.split(" ", 2)[2]
    return None


@pytest.mark.kvm
@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS)
def test_nested_vmm(nested_run, check):
    if "KAPSEL-HARNESS no /dev/kvm" in nested_run:
        pytest.fail("L1 has no /dev/kvm (kvm-amd did not load):\n" + nested_run[-3000:])
    result = marker(nested_run, check)
    assert result is not None, "no marker for %s; L1 output tail:\n%s" % (check, nested_run[-4000:])
    assert result == "ok", result


# ---- host-side checks: no KVM needed ----

def run_vmm(*args):
    return subprocess.run([VMM, *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def vmm_bin():
    if not os.path.exists(VMM):
        pytest.skip("kapsel-vmm not built (%s)" % VMM)
    return VMM


def test_not_a_bzimage(vmm_bin, tmp_path):
    p = tmp_path / "k"
    p.write_bytes(b"\0" * 4096)
    r = run_vmm("--kernel", str(p))
    assert r.returncode == 2
    assert "not a bzImage" in r.stderr


def test_missing_kernel(vmm_bin):
    r = run_vmm("--kernel", "/nonexistent/vmlinuz")
    assert r.returncode == 2
    assert "kernel '/nonexistent/vmlinuz'" in r.stderr and "No such file" in r.stderr


def test_missing_kvm_device(vmm_bin):
    kernel = nested.find_kernel()
    if not kernel:
        pytest.skip("no /boot/vmlinuz-*")
    r = run_vmm("--kernel", kernel, "--kvm-device", "/nonexistent/kvm")
    assert r.returncode == 1
    assert "/nonexistent/kvm missing" in r.stderr


def test_too_little_memory(vmm_bin):
    kernel = nested.find_kernel()
    if not kernel:
        pytest.skip("no /boot/vmlinuz-*")
    r = run_vmm("--kernel", kernel, "--memory", "64M")
    assert r.returncode == 2
    assert "MiB of RAM to boot" in r.stderr


def test_bad_usage(vmm_bin):
    r = run_vmm("--cpus", "0", "--kernel", "x")
    assert r.returncode == 2
    assert "--cpus 0" in r.stderr
