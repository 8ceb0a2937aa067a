"""kapsel-vmm snapshots end to end, inside a nested VM (tests/harness/kvmsuite.py: one L1 boot, one
marker line per check). The L2 guest counts: every 0.2 s it prints
    KAPSEL-COUNT <n> up=<seconds of guest uptime>
and writes "count=<n>" into the first sector of its disk. The L1 script pauses it, snapshots it
through the control socket, stops it, and restores the snapshot in a new kapsel-vmm: the count and
the uptime must go on from where they were (no reboot: no second KAPSEL-L2-INIT) and the disk must
take the new counts. Then three clones of the same snapshot run at once, each on its own copy of the
disk, sharing the memory file. Bad snapshots are refused with a clear message."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
import guest  # noqa: E402
import kvmsuite  # noqa: E402
import nested  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VMM = os.environ.get("KAPSEL_VMM", os.path.join(REPO, "build/src/vmm/kapsel-vmm"))
L1_TIMEOUT = 290

CHECKS = ["snapshot-needs-pause", "snapshot-written", "snapshot-sparse", "restore-no-reboot", "restore-count-goes-on",
          "restore-uptime-goes-on", "restore-disk-works", "clones-run-at-once", "restore-bad-checksum-refused",
          "restore-memory-mismatch-refused"]

L2_INIT = r"""#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
echo "KAPSEL-L2-INIT cpus=$(grep -c ^processor /proc/cpuinfo)"
for m in $(cat /mods/order); do insmod /mods/$m 2>/dev/null; done
sleep 1
i=0
while [ $i -lt 100000 ]; do
        i=$((i+1))
        echo "KAPSEL-COUNT $i up=$(cut -d' ' -f1 /proc/uptime)"
        echo "count=$i" | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null
        sleep 0.2
done
poweroff -f
"""

CMDLINE = "console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp quiet"

L1_SCRIPT = r"""
VMM="kapsel-vmm --memory 256M --cpus 2"
CMD="@CMDLINE@"
last() { grep KAPSEL-COUNT /tmp/$1.out | tail -n 1 | sed -n 's/KAPSEL-COUNT \([0-9]*\) up=\([0-9.]*\).*/\1 \2/p'; }
first() { grep KAPSEL-COUNT /tmp/$1.out | head -n 1 | sed -n 's/KAPSEL-COUNT \([0-9]*\) up=\([0-9.]*\).*/\1 \2/p'; }
disk_count() { dd if=$1 bs=512 count=1 2>/dev/null | tr -d '\000' | sed -n 's/count=\([0-9]*\)/\1/p'; }
wait_for() { i=0; while [ $i -lt $3 ] && ! grep -q "$2" /tmp/$1.out; do sleep 0.2; i=$((i+1)); done; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

dd if=/dev/zero of=/tmp/disk.img bs=1M count=8 2>/dev/null
mkdir -p /tmp/snap
s=$(up)
$VMM --kernel /l2/vmlinuz --initrd /l2/initrd.gz --disk /tmp/disk.img --control /tmp/a.sock \
        --cmdline "$CMD" > /tmp/a.out 2>&1 &
apid=$!
wait_for a "KAPSEL-COUNT 10 " 600
r0=$(kapsel-vmm ctl /tmp/a.sock "{\"cmd\":\"snapshot\",\"dir\":\"/tmp/snap\"}")
case "$r0" in *'must be paused'*) report snapshot-needs-pause ok;; *) report snapshot-needs-pause fail "$r0";; esac
kapsel-vmm ctl /tmp/a.sock '{"cmd":"pause"}' > /dev/null
sleep 0.5
set -- $(last a); n0=$1; u0=$2
sn=$(kapsel-vmm ctl /tmp/a.sock "{\"cmd\":\"snapshot\",\"dir\":\"/tmp/snap\"}")
cp /tmp/disk.img /tmp/disk-at-snap.img
kapsel-vmm ctl /tmp/a.sock '{"cmd":"stop"}' > /dev/null
wait $apid
echo "KAPSEL-TIME snapshot start=$s end=$(up) reply=$sn count=$n0 up=$u0"
if [ -s /tmp/snap/state ] && [ -s /tmp/snap/memory ] && case "$sn" in *'"ok":true'*) true;; *) false;; esac; then
        report snapshot-written ok
else
        report snapshot-written fail "$sn $(ls -l /tmp/snap) $(tail -n 5 /tmp/a.out)"
fi
alloc=$(du -k /tmp/snap/memory | cut -f1)
if [ "$alloc" -lt 200000 ]; then report snapshot-sparse ok; else report snapshot-sparse fail "memory file uses ${alloc} KiB of 262144"; fi

# restore: the count goes on, no second boot, the disk takes new counts
s=$(up)
$VMM --restore /tmp/snap --disk /tmp/disk.img --control /tmp/b.sock > /tmp/b.out 2>&1 &
bpid=$!
wait_for b "KAPSEL-COUNT $((n0 + 10)) " 300
set -- $(first b); n1=$1; u1=$2
set -- $(last b); n2=$1
d=$(disk_count /tmp/disk.img)
kapsel-vmm ctl /tmp/b.sock '{"cmd":"stop"}' > /dev/null
wait $bpid; brc=$?
echo "KAPSEL-TIME restore start=$s end=$(up) rc=$brc first=$n1 up=$u1 last=$n2 disk=$d"
if grep -q KAPSEL-L2-INIT /tmp/b.out; then report restore-no-reboot fail "$(head -n 20 /tmp/b.out)";
elif [ -z "$n1" ]; then report restore-no-reboot fail "no count after the restore: $(tail -n 20 /tmp/b.out)";
else report restore-no-reboot ok; fi
if [ -n "$n1" ] && [ "$n1" -gt "$n0" ] && [ "$n1" -le $((n0 + 2)) ]; then report restore-count-goes-on ok;
else report restore-count-goes-on fail "count $n0 at the snapshot, $n1 first after the restore: $(tail -n 10 /tmp/b.out)"; fi
if [ -n "$u1" ] && gt "$u1" "$u0"; then report restore-uptime-goes-on ok;
else report restore-uptime-goes-on fail "uptime $u0 at the snapshot, $u1 after"; fi
if [ -n "$d" ] && [ -n "$n2" ] && [ "$d" -gt "$n0" ]; then report restore-disk-works ok;
else report restore-disk-works fail "disk count '$d', count at snapshot $n0, last $n2"; fi

# three clones of one snapshot at once, each on its own disk
for c in 1 2 3; do
        cp /tmp/disk-at-snap.img /tmp/clone$c.img
        $VMM --restore /tmp/snap --disk /tmp/clone$c.img --control /tmp/c$c.sock > /tmp/c$c.out 2>&1 &
        eval cpid$c=$!
done
for c in 1 2 3; do wait_for c$c "KAPSEL-COUNT $((n0 + 5)) " 300; done
ok=y; why=""
for c in 1 2 3; do
        set -- $(last c$c); cn=$1
        [ -n "$cn" ] && [ "$cn" -gt $((n0 + 2)) ] || { ok=n; why="$why clone$c:count=$cn $(tail -n 3 /tmp/c$c.out)"; }
        grep -q KAPSEL-L2-INIT /tmp/c$c.out && { ok=n; why="$why clone$c:rebooted"; }
done
pss=$(for c in 1 2 3; do eval p=\$cpid$c; awk '/^Pss:/ { s += $2 } END { print s }' /proc/$p/smaps_rollup 2>/dev/null; done | tr '\n' ' ')
for c in 1 2 3; do kapsel-vmm ctl /tmp/c$c.sock '{"cmd":"stop"}' > /dev/null; eval wait \$cpid$c; done
echo "KAPSEL-TIME clones pss_kib=$pss"
if [ $ok = y ]; then report clones-run-at-once ok; else report clones-run-at-once fail "$why"; fi

# bad snapshots: refused with a clear message, nothing started
mkdir -p /tmp/bad; cp /tmp/snap/state /tmp/bad/state; ln /tmp/snap/memory /tmp/bad/memory
printf 'X' | dd of=/tmp/bad/state bs=1 seek=200 conv=notrunc 2>/dev/null
run bad 60 $VMM --restore /tmp/bad --disk /tmp/disk.img
if [ $rc != 0 ] && has bad "checksum mismatch"; then report restore-bad-checksum-refused ok;
else report restore-bad-checksum-refused fail "rc=$rc $(tail -n 3 /tmp/bad.out)"; fi
run small 60 kapsel-vmm --memory 128M --cpus 2 --restore /tmp/snap --disk /tmp/disk.img
if [ $rc != 0 ] && has small "memory size"; then report restore-memory-mismatch-refused ok;
else report restore-memory-mismatch-refused fail "rc=$rc $(tail -n 3 /tmp/small.out)"; fi
"""


@pytest.fixture(scope="module")
def nested_run(tmp_path_factory):
    reason = kvmsuite.missing_prerequisites(VMM)
    if reason:
        pytest.skip(reason)
    if "virtio-blk" not in kvmsuite.vmm_devices(VMM):
        pytest.skip("kapsel-vmm built without virtio")
    work = str(tmp_path_factory.mktemp("vmm-snapshot"))
    kernel = nested.find_kernel()
    version = guest.kernel_version(kernel)
    l2_initrd = guest.build_initramfs(work, "l2", L2_INIT, guest.module_closure(version, guest.VIRTIO_MODULES))
    vm = kvmsuite.l1_image(work, VMM)
    vm.add_data(kernel, "/l2/vmlinuz")
    vm.add_data(l2_initrd, "/l2/initrd.gz")
    vm.set_init(kvmsuite.L1_PRELUDE + L1_SCRIPT.replace("@CMDLINE@", CMDLINE) + kvmsuite.L1_END)
    return kvmsuite.boot(vm, work, "snapshot", L1_TIMEOUT)


@pytest.mark.kvm
@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS)
def test_nested_snapshot(nested_run, check):
    kvmsuite.check_marker(nested_run, check)


# ---- host-side checks: no KVM needed (a restore checks the snapshot before it opens /dev/kvm) ----

def restore(tmp_path, *args):
    import subprocess
    if not os.path.exists(VMM):
        pytest.skip("kapsel-vmm not built (%s)" % VMM)
    return subprocess.run([VMM, "--restore", str(tmp_path), "--kvm-device", str(tmp_path / "no-kvm"), *args],
                          capture_output=True, text=True, timeout=30)


def corpus(name):
    with open(os.path.join(REPO, "tests/fuzz/corpus/fuzz-vmm-state", name), "rb") as f:
        return f.read()


def test_restore_not_a_snapshot(tmp_path):
    r = restore(tmp_path)
    assert r.returncode == 1
    assert "state" in r.stderr and "No such file" in r.stderr


def test_restore_bad_checksum(tmp_path):
    (tmp_path / "state").write_bytes(corpus("bad-checksum"))
    r = restore(tmp_path)
    assert r.returncode == 1
    assert "checksum mismatch" in r.stderr


def test_restore_wrong_version(tmp_path):
    (tmp_path / "state").write_bytes(corpus("wrong-version"))
    r = restore(tmp_path)
    assert r.returncode == 1
    assert "format version 2" in r.stderr


def test_restore_memory_size_mismatch(tmp_path):
    (tmp_path / "state").write_bytes(corpus("driver-ok"))
    with open(tmp_path / "memory", "wb") as f:
        f.truncate(128 << 20)
    r = restore(tmp_path, "--memory", "256M")
    assert r.returncode == 1
    assert "memory size" in r.stderr and "134217728" in r.stderr
