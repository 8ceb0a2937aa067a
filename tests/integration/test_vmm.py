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
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
import guest  # noqa: E402
import kvmsuite  # noqa: E402
import nested  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VMM = os.environ.get("KAPSEL_VMM", os.path.join(REPO, "build/src/vmm/kapsel-vmm"))
L1_TIMEOUT = 290


HAVE_VIRTIO = os.path.exists(VMM) and "virtio-blk" in kvmsuite.vmm_devices(VMM)
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

L1_INIT = r"""
VMM="kapsel-vmm --kernel /l2/vmlinuz --initrd /l2/initrd.gz --memory 256M"
CMD="@CMDLINE@"

run boot1 100 $VMM --cpus 1 --cmdline "$CMD kapsel.test=boot"
if has boot1 "KAPSEL-L2-INIT cpus=1"; then report boot-1cpu ok; else report boot-1cpu fail "$(tail -n 30 /tmp/boot1.out)"; fi
if [ $rc = 0 ]; then report reboot-status-0 ok; else report reboot-status-0 fail "rc=$rc $(tail -n 5 /tmp/boot1.out)"; fi

run boot2 100 $VMM --cpus 2 --cmdline "$CMD kapsel.test=poweroff"
if has boot2 "KAPSEL-L2-INIT cpus=2"; then report boot-2cpu ok; else report boot-2cpu fail "$(tail -n 30 /tmp/boot2.out)"; fi
if [ $rc = 0 ]; then report poweroff-status-0 ok; else report poweroff-status-0 fail "rc=$rc $(tail -n 5 /tmp/boot2.out)"; fi
@DEVICES@
"""

L1_DEVICES = r"""
dd if=/dev/zero of=/tmp/disk.img bs=1M count=8 2>/dev/null
dd if=/dev/zero of=/tmp/ro.img bs=1M count=1 2>/dev/null
# iproute2 by full path: this busybox sh runs its own applets before any PATH lookup, and busybox ip
# has no tuntap (kapsel-vmm would then find no ktap0)
IP=/usr/sbin/ip
$IP tuntap add dev ktap0 mode tap && $IP addr add 10.0.2.1/24 dev ktap0 && $IP link set ktap0 up || echo "KAPSEL-HARNESS tap setup failed"
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
# the reply's key order is not part of the protocol: check each key on its own
case "$st" in *'"ok":true'*) ok1=y;; *) ok1=n;; esac
case "$st" in *'"exits"'*) ok2=y;; *) ok2=n;; esac
# every device model's counters (a NULL in the device table once killed kapsel-vmm here)
case "$st" in *'"virtio-net"'*'"virtio-balloon"'*|*'"virtio-balloon"'*'"virtio-net"'*) ;; *) ok2=n;; esac
case "$st" in *'"tx_packets"'*) ;; *) ok2=n;; esac
if [ $ok1 = y ] && [ $ok2 = y ]; then report control-stats ok; else report control-stats fail "$st $(dmesg | grep -iE 'type=1326|segfault|traps:|general protection' | tail -n 3) $(tail -n 5 /tmp/dev.out)"; fi
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
    return kvmsuite.L1_PRELUDE + (L1_INIT.replace("@CMDLINE@", CMDLINE)
                                  .replace("@DEVICES@", L1_DEVICES if with_devices else "")) + kvmsuite.L1_END


@pytest.fixture(scope="module")
def nested_run(tmp_path_factory):
    reason = kvmsuite.missing_prerequisites(VMM)
    if reason:
        pytest.skip(reason)
    work = str(tmp_path_factory.mktemp("vmm-nested"))
    kernel = nested.find_kernel()
    version = guest.kernel_version(kernel)
    l2_initrd = guest.build_initramfs(work, "l2", L2_INIT, guest.module_closure(version, guest.VIRTIO_MODULES))
    vm = kvmsuite.l1_image(work, VMM, extra_modules=["tun"])
    if HAVE_VIRTIO:
        vm.add_binary("/usr/sbin/ip", "/usr/sbin/ip")       # busybox ip has no tuntap
    vm.add_data(kernel, "/l2/vmlinuz")
    vm.add_data(l2_initrd, "/l2/initrd.gz")
    vm.set_init(l1_init(HAVE_VIRTIO))
    return kvmsuite.boot(vm, work, "VMM", L1_TIMEOUT)


@pytest.mark.kvm
@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS)
def test_nested_vmm(nested_run, check):
    kvmsuite.check_marker(nested_run, check)


# ---- host-side checks: no KVM needed ----

def run_vmm(*args):
    return subprocess.run([VMM, *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def vmm_bin():
    if not os.path.exists(VMM):
        pytest.skip("kapsel-vmm not built (%s)" % VMM)
    return VMM


@pytest.fixture
def kernel():
    k = nested.find_kernel()
    if not k:
        pytest.skip("no /boot/vmlinuz-*")
    return k


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


def test_missing_kvm_device(vmm_bin, kernel):
    r = run_vmm("--kernel", kernel, "--kvm-device", "/nonexistent/kvm")
    assert r.returncode == 1
    assert "no /nonexistent/kvm on this host" in r.stderr and "micro-VMs need KVM" in r.stderr


def test_too_little_memory(vmm_bin, kernel):
    r = run_vmm("--kernel", kernel, "--memory", "64M")
    assert r.returncode == 2
    assert "MiB of RAM to boot" in r.stderr


def test_bad_usage(vmm_bin):
    r = run_vmm("--cpus", "0", "--kernel", "x")
    assert r.returncode == 2
    assert "--cpus 0" in r.stderr


def test_help_names_console_options(vmm_bin):
    r = run_vmm("--help")
    assert r.returncode == 0
    for opt in ("--virtio-console-out FILE", "--serial-in PATH", "--console-log FILE"):
        assert opt in r.stdout


def test_serial_in_must_be_a_fifo_or_terminal(vmm_bin, kernel, tmp_path):
    f = tmp_path / "plain"
    f.write_text("")
    r = run_vmm("--kernel", kernel, "--serial-in", str(f), "--kvm-device", "/nonexistent/kvm")
    assert r.returncode == 2
    assert "--serial-in %s: not a FIFO or a terminal" % f in r.stderr


def test_serial_in_missing(vmm_bin, kernel, tmp_path):
    r = run_vmm("--kernel", kernel, "--serial-in", str(tmp_path / "nope"), "--kvm-device", "/nonexistent/kvm")
    assert r.returncode == 2
    assert "--serial-in %s" % (tmp_path / "nope") in r.stderr and "No such file" in r.stderr
