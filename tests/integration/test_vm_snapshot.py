"""kapsel-vmm snapshots end to end, inside a nested VM (tests/harness/kvmsuite.py: one L1 boot, one
marker line per check). The L2 guest counts: every 0.2 s it prints
    KAPSEL-COUNT <n> up=<seconds of guest uptime>
and writes "count=<n>" into the first sector of its disk. The L1 script pauses it, snapshots it
through the control socket, stops it, and restores the snapshot in a new kapsel-vmm: the count and
the uptime must go on from where they were (no reboot: no second KAPSEL-L2-INIT) and the disk must
take the new counts. Then three clones of the same snapshot run at once, each on its own copy of the
disk, sharing the memory file. Bad snapshots are refused with a clear message. Last, the same
through the CLI (the engine in L1, engine_l1.py): `kapsel vm snapshot create` of a running VM (which
goes on), `vm restore` after a stop (the count goes back to the snapshot's, no boot), `vm clone`:
two clones of the running VM answer the host each at its own address (their taps translate);
`vm migrate` to `vm receive` of another kapsel root in another network namespace over TCP."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
import engine_l1  # noqa: E402
import guest  # noqa: E402
import kvmsuite  # noqa: E402
import nested  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(REPO, "build")
VMM = os.environ.get("KAPSEL_VMM", os.path.join(REPO, "build/src/vmm/kapsel-vmm"))
L1_TIMEOUT = 1000

CHECKS = ["snapshot-needs-pause", "snapshot-written", "snapshot-sparse", "restore-no-reboot", "restore-count-goes-on",
          "restore-uptime-goes-on", "restore-disk-works", "clones-run-at-once", "restore-bad-checksum-refused",
          "restore-memory-mismatch-refused", "cli-snapshot-create", "cli-snapshot-vm-goes-on", "cli-snapshot-ls-inspect",
          "cli-restore-goes-back", "cli-clone-runs", "cli-clones-own-address", "cli-migrate-across-netns", "cli-rm-clean", "migrate-wrong-token-refused",
          "migrate-source-ends-0", "migrate-guest-goes-on", "migrate-memory-intact", "migrate-disk-works",
          "migrate-reports-downtime"]

L2_INIT = r"""#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
echo "KAPSEL-L2-INIT cpus=$(grep -c ^processor /proc/cpuinfo)"
for m in $(cat /mods/order); do insmod /mods/$m 2>/dev/null; done
sleep 1
# on a network (kapsel vm run --net bridge): eth0 from the ip= argument kapsel puts on the command line
ipa=$(sed -n 's/.* ip=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$ipa" ] && ifconfig eth0 "$(echo "$ipa" | cut -d: -f1)" netmask "$(echo "$ipa" | cut -d: -f4)" up
# memory the guest keeps dirtying (live migration must copy it again and again), and a pattern
# whose checksum must never change
( while true; do dd if=/dev/zero of=/dirty bs=64k count=32 2>/dev/null; sleep 0.1; done ) &
dd if=/dev/urandom of=/pattern bs=64k count=64 2>/dev/null
i=0
while [ $i -lt 100000 ]; do
        i=$((i+1))
        [ $((i % 20)) = 1 ] && echo "KAPSEL-SUM $i $(md5sum < /pattern | cut -d' ' -f1)"
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
wait_for a "KAPSEL-COUNT 10 " 1500
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
rm -rf /tmp/snap /tmp/bad /tmp/clone*.img

# live migration between two kapsel-vmm processes (same disk: shared storage, no copy)
sums() { sed -n 's/^KAPSEL-SUM [0-9]* \([0-9a-f]*\).*/\1/p' /tmp/$1.out | sort -u; }
$VMM --kernel /l2/vmlinuz --initrd /l2/initrd.gz --disk /tmp/disk.img --control /tmp/m1.sock \
        --cmdline "$CMD" > /tmp/m1.out 2>&1 &
m1=$!
wait_for m1 "KAPSEL-COUNT 25 " 1500
$VMM --incoming unix:/tmp/mig0.sock --migration-token right --disk /tmp/disk.img > /tmp/m0.out 2>&1 &
m0=$!
i=0; while [ $i -lt 100 ] && [ ! -S /tmp/mig0.sock ]; do sleep 0.1; i=$((i+1)); done
bad=$(kapsel-vmm ctl /tmp/m1.sock '{"cmd":"migrate","to":"unix:/tmp/mig0.sock","token":"wrong"}')
wait $m0; m0rc=$?
a=$(last m1 | cut -d' ' -f1); sleep 1; b=$(last m1 | cut -d' ' -f1)
case "$bad" in *'"ok":false'*refused*) badok=y;; *) badok=n;; esac
if [ $badok = y ] && [ $m0rc != 0 ] && grep -q "token does not match" /tmp/m0.out && [ "$b" -gt "$a" ]; then
        report migrate-wrong-token-refused ok
else
        report migrate-wrong-token-refused fail "reply=$bad target rc=$m0rc $(tail -n 2 /tmp/m0.out) source counts $a $b"
fi
$VMM --incoming unix:/tmp/mig.sock --migration-token right --disk /tmp/disk.img --control /tmp/m2.sock > /tmp/m2.out 2>&1 &
m2=$!
i=0; while [ $i -lt 100 ] && [ ! -S /tmp/mig.sock ]; do sleep 0.1; i=$((i+1)); done
s=$(up)
mr=$(kapsel-vmm ctl /tmp/m1.sock '{"cmd":"migrate","to":"unix:/tmp/mig.sock","token":"right","max_downtime_ms":200}')
i=0; while [ $i -lt 1500 ] && kill -0 $m1 2>/dev/null; do sleep 0.2; i=$((i+1)); done
kill -0 $m1 2>/dev/null && kapsel-vmm ctl /tmp/m1.sock '{"cmd":"stats"}' | sed 's/^/KAPSEL-HARNESS m1 stats: /'
wait $m1; m1rc=$?
set -- $(last m1); n0=$1
wait_for m2 "KAPSEL-COUNT $((n0 + 22)) " 1500
set -- $(first m2); n1=$1
rep=$(grep "migrated to" /tmp/m1.out)
echo "KAPSEL-TIME migrate start=$s end=$(up) rc=$m1rc reply=$mr report=$rep last=$n0 first=$n1"
if [ "$m1rc" = 0 ] && [ -n "$rep" ]; then report migrate-source-ends-0 ok; else report migrate-source-ends-0 fail "rc=$m1rc reply=$mr $(tail -n 3 /tmp/m1.out)"; fi
if [ -n "$n1" ] && [ "$n1" -gt "$n0" ] && [ "$n1" -le $((n0 + 2)) ] && ! grep -q KAPSEL-L2-INIT /tmp/m2.out; then
        report migrate-guest-goes-on ok
else
        report migrate-guest-goes-on fail "last $n0 on the source, first $n1 on the target $(head -n 5 /tmp/m2.out | tr '\n' '|') $(tail -n 3 /tmp/m2.out)"
fi
s1=$(sums m1); s2=$(sums m2)
if [ -n "$s2" ] && [ "$s1" = "$s2" ]; then report migrate-memory-intact ok; else report migrate-memory-intact fail "source $s1 target $s2"; fi
d=$(disk_count /tmp/disk.img)
if [ -n "$d" ] && [ "$d" -gt "$n0" ]; then report migrate-disk-works ok; else report migrate-disk-works fail "disk count $d, last on source $n0"; fi
case "$rep" in *downtime*) report migrate-reports-downtime ok;; *) report migrate-reports-downtime fail "$rep";; esac
kapsel-vmm ctl /tmp/m2.sock '{"cmd":"stop"}' > /dev/null; wait $m2
"""

L1_CLI = r"""
K="timeout 120 kapsel --root /tmp/kr"
counts() { $K vm logs $1 2>/dev/null | sed -n 's/^KAPSEL-COUNT \([0-9]*\) .*/\1/p'; }
# (each kapsel call costs a second or two under the emulator: poll once a second)
wait_count() { i=0; while [ $i -lt $3 ]; do [ "$(counts $1 | tail -n 1)" -ge "$2" ] 2>/dev/null && return 0; sleep 1; i=$((i+1)); done; return 1; }
dd if=/dev/zero of=/tmp/vdisk.img bs=1M count=8 2>/dev/null
s=$(up)
$K vm run -d --name v1 --kernel /l2/vmlinuz --initrd /l2/initrd.gz --memory 256M --cpus 2 --cmdline "$CMD" \
        --net bridge --disk /tmp/vdisk.img > /tmp/cli-run.out 2>&1
wait_count v1 5 240 || echo "KAPSEL-HARNESS v1 did not count: $(cat /tmp/cli-run.out) $($K vm logs v1 2>&1 | tail -n 5)"
out=$($K vm snapshot create v1 s1 2>&1); src=$?
echo "KAPSEL-TIME cli-snapshot start=$s end=$(up) rc=$src"
if [ $src = 0 ] && [ "$out" = s1 ]; then report cli-snapshot-create ok; else report cli-snapshot-create fail "rc=$src $out"; fi
a=$(counts v1 | tail -n 1); wait_count v1 $((a + 3)) 30; b=$(counts v1 | tail -n 1)
st=$($K vm inspect --format '{{.State.Status}}' v1)
if [ "$b" -ge $((a + 3)) ] && [ "$st" = running ]; then report cli-snapshot-vm-goes-on ok; else report cli-snapshot-vm-goes-on fail "counts $a -> $b, state $st"; fi
ls=$($K vm snapshot ls v1 -q); insp=$($K vm inspect v1)
case "$insp" in *'"Snapshots"'*'"s1"'*) iok=y;; *) iok=n;; esac
if [ "$ls" = s1 ] && [ $iok = y ]; then report cli-snapshot-ls-inspect ok; else report cli-snapshot-ls-inspect fail "ls=$ls inspect=$(echo "$insp" | grep -A3 Snapshots)"; fi
$K vm stop v1 > /dev/null 2>&1
last=$(counts v1 | tail -n 1); lines=$(counts v1 | wc -l); boots=$($K vm logs v1 2>/dev/null | grep -c KAPSEL-L2-INIT)
s=$(up)
rout=$($K vm restore v1 s1 2>&1); rrc=$?
i=0; while [ $i -lt 120 ] && [ "$(counts v1 | wc -l)" -le $((lines + 2)) ]; do sleep 1; i=$((i+1)); done
first=$(counts v1 | sed -n "$((lines + 1))p"); boots2=$($K vm logs v1 2>/dev/null | grep -c KAPSEL-L2-INIT)
echo "KAPSEL-TIME cli-restore start=$s end=$(up) rc=$rrc last=$last first=$first"
if [ $rrc = 0 ] && [ -n "$first" ] && [ "$first" -lt "$last" ] && [ "$boots2" = "$boots" ]; then report cli-restore-goes-back ok;
else report cli-restore-goes-back fail "rc=$rrc $rout: last $last before the stop, first $first after; boots $boots -> $boots2 $($K vm logs v1 2>&1 | tail -n 5)"; fi
cout=$($K vm clone v1 s1 v2 2>&1); crc=$?
[ $crc = 0 ] && wait_count v2 1 60
c1=$(counts v2 | head -n 1); cb=$($K vm logs v2 2>/dev/null | grep -c KAPSEL-L2-INIT)
cdisk=$($K vm inspect --format '{{json .Config.Disks}}' v2)
case "$cdisk" in *"/tmp/kr/containers/"*) dok=y;; *) dok=n;; esac
if [ $crc = 0 ] && [ -n "$c1" ] && [ "$c1" -ge 5 ] && [ "$cb" = 0 ] && [ $dok = y ]; then report cli-clone-runs ok;
else report cli-clone-runs fail "rc=$crc $cout first=$c1 boots=$cb disks=$cdisk $($K vm logs v2 2>&1 | tail -n 5)"; fi
# a third guest from the same snapshot: v1 (restored: its own address back), v2 and v3 (clones of a
# running VM: their taps translate) all answer the host, each at its own address and MAC
$K vm clone v1 s1 v3 > /tmp/clone3.out 2>&1 && wait_count v3 1 60
ips=$(for v in v1 v2 v3; do $K vm inspect --format '{{.NetworkSettings.IPAddress}}' $v; done | tr '\n' ' ')
nok=y; why=""
for ip in $ips; do busybox ping -c 1 -W 5 $ip > /dev/null 2>&1 || { nok=n; why="$why $ip:no-answer"; }; done
macs=$(for ip in $ips; do ip neigh show $ip | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p'; done | sort -u | wc -l)
uniq=$(echo $ips | tr ' ' '\n' | sort -u | wc -l)
if [ $nok = y ] && [ "$uniq" = 3 ] && [ "$macs" = 3 ]; then report cli-clones-own-address ok;
else report cli-clones-own-address fail "ips=$ips macs=$macs$why clone3=$(cat /tmp/clone3.out) $(/usr/sbin/nft list tables 2>&1 | tr '\n' ' ') $(ip neigh | tr '\n' '|')"; fi
# live migration between two kapsel roots over TCP, the target in a network namespace standing for
# another host (a veth between the two); the disk is on storage both reach, at the same path
# (iproute2 by its full path: busybox sh runs its own `ip` applet first)
IP=/usr/sbin/ip
unshare -n sleep 100000 & h2=$!
sleep 0.5
$IP link add mig0 type veth peer name mig1 netns $h2 && $IP addr add 10.99.0.1/24 dev mig0 && $IP link set mig0 up &&
        nsenter --net=/proc/$h2/ns/net sh -c "$IP addr add 10.99.0.2/24 dev mig1 && $IP link set mig1 up"
K2="timeout 120 nsenter --net=/proc/$h2/ns/net kapsel --root /tmp/kr2"
counts2() { $K2 vm logs $1 2>/dev/null | sed -n 's/^KAPSEL-COUNT \([0-9]*\) .*/\1/p'; }
dd if=/dev/zero of=/tmp/mdisk.img bs=1M count=8 2>/dev/null
$K vm run -d --name m1 --kernel /l2/vmlinuz --initrd /l2/initrd.gz --memory 256M --cpus 2 --cmdline "$CMD" \
        --net none --disk /tmp/mdisk.img > /tmp/m1-run.out 2>&1
wait_count m1 5 240
$K2 vm receive m1 --listen tcp:10.99.0.2:4444 --token mig-s3cret --kernel /l2/vmlinuz --initrd /l2/initrd.gz \
        --memory 256M --cpus 2 --cmdline "$CMD" --net none --disk /tmp/mdisk.img > /tmp/recv.out 2>&1
s=$(up); i=0
while [ $i -lt 20 ]; do
        mout=$($K vm migrate m1 --to tcp:10.99.0.2:4444 --token mig-s3cret --max-downtime 300 2>&1); mrc=$?
        case "$mout" in *"refused"*) sleep 1; i=$((i+1));; *) break;; esac
done
echo "KAPSEL-TIME cli-migrate start=$s end=$(up) rc=$mrc $mout"
last=$(counts m1 | tail -n 1); tfirst=""; i=0
while [ $i -lt 60 ]; do tfirst=$(counts2 m1 | head -n 1); [ -n "$tfirst" ] && [ "$(counts2 m1 | tail -n 1)" -ge $((tfirst + 3)) ] && break; sleep 1; i=$((i+1)); done
tboots=$($K2 vm logs m1 2>/dev/null | grep -c KAPSEL-L2-INIT); sst=$($K vm inspect --format '{{.State.Status}}' m1 2>&1)
tst=$($K2 vm inspect --format '{{.State.Status}}' m1 2>&1)
case "$mout" in *downtime*) mok=y;; *) mok=n;; esac
if [ "$mrc" = 0 ] && [ $mok = y ] && [ -n "$tfirst" ] && [ "$tfirst" -gt "$last" ] && [ "$tfirst" -le $((last + 3)) ] &&
        [ "$tboots" = 0 ] && [ "$sst" = exited ] && [ "$tst" = running ]; then report cli-migrate-across-netns ok;
else report cli-migrate-across-netns fail "rc=$mrc $mout; source last $last ($sst: $($K vm logs m1 2>&1 | tail -n 2 | tr '\n' '|')), target first $tfirst ($tst) boots=$tboots recv=$(cat /tmp/recv.out) $($K2 vm logs m1 2>&1 | tail -n 3)"; fi
$K2 rm -f m1 > /dev/null 2>&1
kill $h2
$K rm -f v1 v2 v3 m1 > /dev/null 2>&1
left=$(ls /tmp/kr/containers 2>/dev/null; ls /tmp/kr2/containers 2>/dev/null; ps -o args | grep kapsel-vmm | grep -v grep; /usr/sbin/nft list tables 2>&1)
if [ -z "$left" ]; then report cli-rm-clean ok; else report cli-rm-clean fail "$left"; fi
"""


@pytest.fixture(scope="module")
def nested_run(tmp_path_factory):
    reason = kvmsuite.missing_prerequisites(VMM)
    if reason:
        pytest.skip(reason)
    if "virtio-blk" not in kvmsuite.vmm_devices(VMM):
        pytest.skip("kapsel-vmm built without virtio")
    reason = engine_l1.missing(BUILD)
    if reason:
        pytest.skip(reason)
    work = str(tmp_path_factory.mktemp("vmm-snapshot"))
    kernel = nested.find_kernel()
    version = guest.kernel_version(kernel)
    l2_initrd = guest.build_initramfs(work, "l2", L2_INIT, guest.module_closure(version, guest.VIRTIO_MODULES))
    # veth: the wire between the two kapsel roots of the CLI's migration
    vm = kvmsuite.l1_image(work, VMM, extra_modules=engine_l1.NET_MODULES + ["veth"] + engine_l1.L1_MODULES)
    engine_l1.add_engine(vm, BUILD)
    vm.add_binary("/usr/sbin/nft", "/usr/sbin/nft")     # to see that no bridge table is left
    vm.add_data(kernel, "/l2/vmlinuz")
    vm.add_data(l2_initrd, "/l2/initrd.gz")
    # KAPSEL_NESTED_SNAPSHOT_CLI=0 leaves the CLI part out (its checks then fail): a quicker run
    # while working on kapsel-vmm alone
    cli = L1_CLI if os.environ.get("KAPSEL_NESTED_SNAPSHOT_CLI", "1") != "0" else ""
    vm.set_init(kvmsuite.L1_PRELUDE + engine_l1.ENV + L1_SCRIPT.replace("@CMDLINE@", CMDLINE) + cli +
                kvmsuite.L1_END)
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
