"""`kapsel vm ...` and `kapsel run --isolation=vm` end to end with real KVM, inside one nested L1 VM
(tests/harness/kvmsuite.py: one L1 boot, booted once more when L1 stalls or a check fails).

L1 gets kapsel, kapsel-monitor and kapsel-vmm (with their libraries), the netfilter/bridge/tun
modules the network layer needs, and an L2 guest: the same stock kernel with a tiny initramfs
(tests/harness/guest.py) whose /init prints
    KAPSEL-L2-INIT cpus=<n>
configures eth0 from the ip= argument kapsel puts on the kernel command line, pings the bridge,
echoes what it reads on the serial console, and ticks until it is stopped. L1's /init runs the
checks in sequence, each printing
    KAPSEL-CHECK <name> ok | KAPSEL-CHECK <name> FAIL <details>
and each becomes its own pytest case."""
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
VMM = os.path.join(BUILD, "src/vmm/kapsel-vmm")
# build --isolation=vm boots four more guests (two of them interrupted)
L1_TIMEOUT = 1600
# (no loop or ext4 module: build --isolation=vm reads a step's changes as a tar, nothing is mounted)

CHECKS = ["vm-run-detached", "vm-boots-to-init", "vm-ls-running", "vm-ps-kind", "vm-tap-on-bridge", "vm-logs-serial",
          "vm-net-ping", "vm-console-input", "vm-pause-resume", "vm-stop-records-status", "vm-rm-leaves-nothing",
          "isolation-vm-output", "isolation-vm-exit-code", "isolation-vm-network", "isolation-vm-not-found",
          "isolation-vm-rm-clean", "isolation-vm-port-map", "isolation-vm-port-cmd", "isolation-vm-inspect-times",
          "isolation-vm-stats", "isolation-vm-exec-output", "isolation-vm-exec-exit-codes", "isolation-vm-exec-env-cwd-user",
          "isolation-vm-exec-stdin", "isolation-vm-exec-detach", "isolation-vm-exec-concurrent",
          "isolation-vm-exec-slow-client", "isolation-vm-exec-stdin-window", "isolation-vm-top", "isolation-vm-exec-tty",
          "isolation-vm-stop-143", "isolation-vm-exec-after-stop", "isolation-vm-restart-policy", "isolation-vm-kill-forwards", "isolation-vm-volume-round-trip",
          "isolation-vm-volume-ro", "isolation-vm-named-volume", "isolation-vm-memory", "isolation-vm-all-clean",
          "checkpoint-create-leave-running", "checkpoint-create-stops", "checkpoint-start-resumes",
          "checkpoint-start-running-refused", "checkpoint-exec-after-resume", "checkpoint-stop-after-resume",
          "checkpoint-rm-leaves-nothing", "checkpoint-network-after-resume",
          # kapsel build --isolation=vm
          "build-vm-output", "build-vm-in-image", "build-vm-suid-owner", "build-vm-no-host-mount", "build-vm-failing-run",
          "build-vm-clean", "build-vm-interrupt-INT", "build-vm-interrupt-KILL"]

L2_INIT = r"""#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
for m in $(cat /mods/order); do insmod /mods/$m 2>/dev/null; done
echo "KAPSEL-L2-INIT cpus=$(grep -c ^processor /proc/cpuinfo)"
ipa=$(sed -n 's/.* ip=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$ipa" ]; then
        client=$(echo "$ipa" | cut -d: -f1); gw=$(echo "$ipa" | cut -d: -f3); mask=$(echo "$ipa" | cut -d: -f4)
        ifconfig eth0 "$client" netmask "$mask" up
        if ping -c 2 -W 3 "$gw" >/dev/null 2>&1; then echo "KAPSEL-L2 ping-ok $gw"
        else echo "KAPSEL-L2 ping-failed $gw from $client rx=$(cat /sys/class/net/eth0/statistics/rx_packets) tx=$(cat /sys/class/net/eth0/statistics/tx_packets)"; fi
else
        echo "KAPSEL-L2 no-ip-arg"
fi
# the console's input, line by line (a blocking reader: read -t would drop a partial line; an
# asynchronous list reads /dev/null unless told otherwise)
( while read line; do echo "KAPSEL-L2 got $line"; done ) < /dev/console &
i=0
while true; do echo "KAPSEL-TICK $i"; i=$((i+1)); sleep 1; done
"""

L1_SCRIPT = r"""
K="timeout 60 kapsel --root /tmp/kr"
echo "KAPSEL-HARNESS up=$(up) entropy=$(cat /proc/sys/kernel/random/entropy_avail)"
# which kapsel processes exist every 20 s, in case a step hangs
( while sleep 20; do echo "KAPSEL-HARNESS up=$(up) ps: $(ps -o pid,stat,args | grep -E 'kapsel' | grep -v grep | tr '\n' '|' | cut -c1-600)"; done ) &
CMD="console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp quiet"
# wait_log PATTERN SECONDS: until the VM's log (kapsel vm logs) shows PATTERN
wait_log() { i=0; while [ $i -lt $(($2 * 5)) ]; do $K vm logs v1 2>/dev/null | grep -q "$1" && return 0; sleep 0.2; i=$((i+1)); done; return 1; }
ticks() { $K vm logs v1 2>/dev/null | grep -c KAPSEL-TICK; }

s=$(up)
$K vm run -d --name v1 --kernel /l2/vmlinuz --initrd /l2/initrd.gz --memory 256M --cpus 1 --cmdline "$CMD" --net bridge > /tmp/run.out 2>&1
id=$(cat /tmp/run.out)
echo "KAPSEL-TIME vm-run start=$s end=$(up) out=$(echo $id | tail -c 300)"
case "$id" in [0-9a-f]*) [ ${#id} = 64 ] && report vm-run-detached ok || report vm-run-detached fail "$id";; *) report vm-run-detached fail "$id";; esac

if wait_log "KAPSEL-L2-INIT cpus=1" 150; then report vm-boots-to-init ok; else report vm-boots-to-init fail "$($K vm ls -a) $($K vm logs v1 2>&1 | tail -n 20)"; fi
echo "KAPSEL-TIME vm-boot start=$s end=$(up)"

ls_out=$($K vm ls --format '{{.Names}} {{.Kind}} {{.State}}' 2>&1)
[ "$ls_out" = "v1 vm running" ] && report vm-ls-running ok || report vm-ls-running fail "$ls_out"
ps_out=$($K ps 2>&1)
echo "$ps_out" | grep -q " vm .*v1$" && echo "$ps_out" | head -n 1 | grep -q KIND && report vm-ps-kind ok || report vm-ps-kind fail "$ps_out"

tap=$(ls /sys/class/net | grep '^kt' | head -n 1)
master=$(basename "$(readlink /sys/class/net/$tap/master 2>/dev/null)" 2>/dev/null)
if [ -n "$tap" ] && [ "${master%%-*}" = kapsel0 ]; then report vm-tap-on-bridge ok; else report vm-tap-on-bridge fail "tap=$tap master=$master links=$(ls /sys/class/net | tr '\n' ' ')"; fi

$K vm logs v1 2>/dev/null | grep -q "KAPSEL-L2-INIT" && report vm-logs-serial ok || report vm-logs-serial fail "$($K vm logs v1 2>&1 | tail -n 5)"

if wait_log "KAPSEL-L2 ping-" 30 && $K vm logs v1 | grep -q "KAPSEL-L2 ping-ok"; then report vm-net-ping ok
else report vm-net-ping fail "$($K vm logs v1 2>&1 | grep 'KAPSEL-L2 ping') tap rx=$(cat /sys/class/net/$tap/statistics/rx_packets) tx=$(cat /sys/class/net/$tap/statistics/tx_packets) br=$(ip -o addr show $master 2>&1 | tr '\n' ' ')"; fi

(echo hello-console; sleep 3) | timeout 6 $K vm console v1 > /tmp/console.out 2>&1
if wait_log "KAPSEL-L2 got hello-console" 10; then report vm-console-input ok; else report vm-console-input fail "$(tail -c 300 /tmp/console.out)"; fi

p=$($K vm pause v1 2>&1); st=$($K inspect --format '{{.State.Status}}' v1)
sleep 1; a=$(ticks); sleep 3; b=$(ticks)
q=$($K vm resume v1 2>&1); sleep 3; c=$(ticks); st2=$($K inspect --format '{{.State.Status}}' v1)
if [ "$st" = paused ] && [ "$a" = "$b" ] && [ "$c" -gt "$b" ] && [ "$st2" = running ]; then report vm-pause-resume ok
else report vm-pause-resume fail "pause=$p state=$st resume=$q state=$st2 ticks $a $b $c"; fi

s=$(up)
o=$($K vm stop -t 10 v1 2>&1)
echo "KAPSEL-TIME vm-stop start=$s end=$(up)"
st=$($K inspect --format '{{.State.Status}} {{.State.ExitCode}}' v1 2>&1)
vmms=$(pidof kapsel-vmm)
if [ "$o" = v1 ] && [ "$st" = "exited 0" ] && [ -z "$vmms" ]; then report vm-stop-records-status ok
else report vm-stop-records-status fail "stop=$o inspect=$st vmm=$vmms"; fi

o=$($K vm rm v1 2>&1)
left="$(ls /sys/class/net | grep '^kt') $(pidof kapsel-monitor kapsel-vmm) $(ls /tmp/kr/containers)"
if [ "$o" = v1 ] && [ -z "$(echo $left)" ] && [ -z "$($K ps -aq)" ]; then report vm-rm-leaves-nothing ok
else report vm-rm-leaves-nothing fail "rm=$o left=$left"; fi

# --- kapsel run --isolation=vm: the image's process in a micro-VM (guest init, rootfs disk, config disk)
s=$(up)
timeout 150 kapsel --root /tmp/kr run --name g1 --isolation=vm busybox sh -c 'echo hello-from-guest; uname -r; exit 3' > /tmp/g1.out 2> /tmp/g1.err
rc=$?
echo "KAPSEL-TIME isolation-vm-run start=$s end=$(up) rc=$rc"
if grep -q hello-from-guest /tmp/g1.out && grep -q "$(uname -r)" /tmp/g1.out; then report isolation-vm-output ok
else report isolation-vm-output fail "out=$(head -c 400 /tmp/g1.out) err=$(tail -c 600 /tmp/g1.err) log=$($K logs g1 2>&1 | tail -c 600)"; fi
st=$($K inspect --format '{{.State.ExitCode}} {{.HostConfig.Isolation}}' g1 2>&1)
[ $rc = 3 ] && [ "$st" = "3 vm" ] && report isolation-vm-exit-code ok || report isolation-vm-exit-code fail "rc=$rc inspect=$st"
timeout 150 kapsel --root /tmp/kr run --rm --isolation=vm busybox sh -c 'ip -o -4 addr show eth0; ping -c 1 -W 5 $(ip route | sed -n "s/^default via \([0-9.]*\).*/\1/p") >/dev/null && echo guest-ping-ok' > /tmp/g2.out 2>&1
if grep -q "inet 10\." /tmp/g2.out && grep -q guest-ping-ok /tmp/g2.out; then report isolation-vm-network ok; else report isolation-vm-network fail "$(tail -c 600 /tmp/g2.out)"; fi
# a command the image lacks: docker's 127, and the guest's error reaches the user's stderr
timeout 150 kapsel --root /tmp/kr run --rm --isolation=vm --network none busybox /no/such/cmd > /tmp/g3.out 2> /tmp/g3.err
rc=$?
if [ $rc = 127 ] && grep -q "kapsel: .*no/such/cmd" /tmp/g3.err; then report isolation-vm-not-found ok; else report isolation-vm-not-found fail "rc=$rc err=$(tail -c 400 /tmp/g3.err) out=$(tail -c 200 /tmp/g3.out)"; fi
o=$($K rm g1 2>&1)
left="$(ls /sys/class/net | grep '^kt') $(pidof kapsel-monitor kapsel-vmm) $(ls /tmp/kr/containers)"
if [ "$o" = g1 ] && [ -z "$(echo $left)" ]; then report isolation-vm-rm-clean ok; else report isolation-vm-rm-clean fail "rm=$o left=$left"; fi

# --- a detached guest: port map, kapsel port, inspect's startup times, stats, stop -> 143 for sleep
wait_ctr_log() { i=0; while [ $i -lt $(($3 * 5)) ]; do $K logs $1 2>&1 | grep -q "$2" && return 0; sleep 0.2; i=$((i+1)); done; return 1; }
s=$(up)
o=$($K run -d --name g2 --isolation=vm -p 18080:8080 busybox sh -c 'mkdir -p /www && echo port-map-ok > /www/index.html && httpd -p 8080 -h /www && echo httpd-up && exec sleep 600' 2>&1)
wait_ctr_log g2 httpd-up 150
echo "KAPSEL-TIME isolation-vm-detached start=$s end=$(up) run=$(echo $o | tail -c 200)"
got=""; i=0
# busybox's nc, not its wget (which crashes in L1's static busybox)
while [ $i -lt 10 ]; do got=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 busybox nc 127.0.0.1 18080 2>&1); echo "$got" | grep -q port-map-ok && break; sleep 1; i=$((i+1)); done
echo "$got" | grep -q port-map-ok && report isolation-vm-port-map ok || report isolation-vm-port-map fail "wget=$got logs=$($K logs g2 2>&1 | tail -c 300) nft=$(nft list ruleset 2>&1 | grep -c 18080)"
o=$($K port g2 2>&1)
echo "$o" | grep -q "8080/tcp -> 0.0.0.0:18080" && report isolation-vm-port-cmd ok || report isolation-vm-port-cmd fail "$o"
t=$($K inspect --format '{{.State.VmBootMs}} {{.State.VmStartMs}}' g2 2>&1)
b=${t% *}; st=${t#* }
if [ "$b" -gt 0 ] 2>/dev/null && [ "$st" -ge "$b" ] 2>/dev/null; then report isolation-vm-inspect-times ok; echo "KAPSEL-TIME isolation-vm-times boot_ms=$b start_ms=$st"
else report isolation-vm-inspect-times fail "$t"; fi
o=$($K stats --no-stream g2 2>&1)
row=$(echo "$o" | grep " g2 ")
set -- $row
if [ -n "$row" ] && [ "$4" != 0B ] && [ "$6" = 512.00MiB ]; then report isolation-vm-stats ok; else report isolation-vm-stats fail "$o"; fi
# --- exec through the guest agent (hvc1): output, the main process's files, exit codes, flags
s=$(up)
o=$($K exec g2 sh -c 'echo exec-ok; cat /www/index.html; ps' 2>&1); rc=$?
echo "KAPSEL-TIME isolation-vm-exec start=$s end=$(up)"
[ $rc = 0 ] && echo "$o" | grep -q exec-ok && echo "$o" | grep -q port-map-ok && echo "$o" | grep -q "sleep 600" && report isolation-vm-exec-output ok || report isolation-vm-exec-output fail "rc=$rc out=$o"
$K exec g2 sh -c 'exit 7' > /dev/null 2>&1; a=$?
$K exec g2 /no/such/cmd > /tmp/e127.out 2>&1; b=$?
$K exec g2 sh -c 'kill -9 $$' > /dev/null 2>&1; c=$?
[ $a = 7 ] && [ $b = 127 ] && grep -q "no/such/cmd" /tmp/e127.out && [ $c = 137 ] && report isolation-vm-exec-exit-codes ok || report isolation-vm-exec-exit-codes fail "exit7=$a notfound=$b ($(cat /tmp/e127.out)) kill9=$c"
o=$($K exec -e FOO=bar -w /www -u 1000:1001 g2 sh -c 'echo "$FOO $(pwd) $(id -u):$(id -g)"' 2>&1)
[ "$o" = "bar /www 1000:1001" ] && report isolation-vm-exec-env-cwd-user ok || report isolation-vm-exec-env-cwd-user fail "$o"
o=$(printf 'line1\nline2\n' | $K exec -i g2 sh -c 'cat; echo stdin-eof' 2>&1); o2=$(echo ignored | $K exec g2 sh -c 'cat; echo no-stdin' 2>&1)
[ "$o" = "$(printf 'line1\nline2\nstdin-eof')" ] && [ "$o2" = no-stdin ] && report isolation-vm-exec-stdin ok || report isolation-vm-exec-stdin fail "i=$o noi=$o2"
o=$($K exec -d g2 sh -c 'sleep 1; echo detached > /tmp/d' 2>&1); rc=$?; sleep 3
got=$($K exec g2 cat /tmp/d 2>&1)
[ $rc = 0 ] && [ -z "$o" ] && [ "$got" = detached ] && report isolation-vm-exec-detach ok || report isolation-vm-exec-detach fail "rc=$rc out=$o got=$got"
# two at once: the second returns while the first still runs (streams are independent)
$K exec g2 sh -c 'sleep 10; echo slow-done' > /tmp/slow.out 2>&1 & sp=$!
sleep 1; o=$($K exec g2 echo fast-done 2>&1); early=$(cat /tmp/slow.out); wait $sp; src=$?
[ "$o" = fast-done ] && [ -z "$early" ] && [ $src = 0 ] && grep -q slow-done /tmp/slow.out && report isolation-vm-exec-concurrent ok || report isolation-vm-exec-concurrent fail "fast=$o early=$early slow=$(cat /tmp/slow.out) rc=$src"
# flow control: a client that stops reading holds up its own exec only (the other one returns at
# once), and loses nothing; stdin far past the agent's window reaches a process that reads it late
( $K exec g2 sh -c 'yes x | head -c 3000000; echo big-done' | (sleep 12; cat) > /tmp/big.out 2>&1 ) & bp=$!
sleep 4; t0=$(up); o=$($K exec g2 echo while-stalled 2>&1); t1=$(up); wait $bp
n=$(wc -c < /tmp/big.out)
quick=$(awk -v a=$t0 -v b=$t1 'BEGIN { print (b - a < 6) ? "yes" : "no" }')
[ "$o" = while-stalled ] && [ $quick = yes ] && [ "$n" = 3000009 ] && tail -n 1 /tmp/big.out | grep -q big-done && report isolation-vm-exec-slow-client ok || report isolation-vm-exec-slow-client fail "other=$o took $t0..$t1 bytes=$n tail=$(tail -c 100 /tmp/big.out)"
o=$(head -c 1000000 /dev/zero | $K exec -i g2 sh -c 'sleep 5; wc -c' 2>&1)
# and a process that echoes its stdin: input and output windows at once, neither side stuck
o2=$(head -c 3000000 /dev/zero | $K exec -i g2 cat | wc -c)
[ "$(echo $o)" = 1000000 ] && [ "$(echo $o2)" = 3000000 ] && report isolation-vm-exec-stdin-window ok || report isolation-vm-exec-stdin-window fail "late-reader=$o echo=$o2"
# top: the guest agent lists the container's processes (the main one, what it started), not init
o=$($K top g2 2>&1); rc=$?
[ $rc = 0 ] && echo "$o" | head -n 1 | grep -q "^PID  *USER  *CMD$" && echo "$o" | grep -q "^[0-9][0-9]*  *0  *sleep 600$" && echo "$o" | grep -q "httpd -p 8080" && [ $(echo "$o" | grep -c "^1 ") = 0 ] && report isolation-vm-top ok || report isolation-vm-top fail "rc=$rc $o"
o=$($K exec -t g2 sh -c 'tty; test -t 0 && echo is-a-tty' 2>&1 < /dev/null)
echo "$o" | grep -q "/dev/pts/" && echo "$o" | grep -q is-a-tty && report isolation-vm-exec-tty ok || report isolation-vm-exec-tty fail "$o"
s=$(up)
o=$($K stop -t 20 g2 2>&1)
st=$($K inspect --format '{{.State.ExitCode}}' g2 2>&1)
echo "KAPSEL-TIME isolation-vm-stop start=$s end=$(up)"
[ "$o" = g2 ] && [ "$st" = 143 ] && [ -z "$(pidof kapsel-vmm)" ] && report isolation-vm-stop-143 ok || report isolation-vm-stop-143 fail "stop=$o exit=$st vmm=$(pidof kapsel-vmm)"
o=$($K exec g2 true 2>&1); rc=$?
[ $rc = 125 ] && echo "$o" | grep -q "is not running" && report isolation-vm-exec-after-stop ok || report isolation-vm-exec-after-stop fail "rc=$rc $o"
$K rm g2 > /dev/null 2>&1

# --- a restart policy on a VM-isolated container: on-failure:1 boots it twice, then it stays exited
$K run -d --name g4 --isolation=vm --network none --restart on-failure:1 busybox sh -c 'echo boot-run; exit 3' > /dev/null 2>&1
i=0; while [ $i -lt 200 ]; do st=$($K inspect --format '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}' g4 2>&1); [ "$st" = "exited 1 3" ] && break; sleep 1; i=$((i+1)); done
n=$($K logs g4 2>&1 | grep -c boot-run)
[ "$st" = "exited 1 3" ] && [ "$n" = 2 ] && [ -z "$(pidof kapsel-vmm)" ] && report isolation-vm-restart-policy ok || report isolation-vm-restart-policy fail "state=$st runs=$n vmm=$(pidof kapsel-vmm) logs=$($K logs g4 2>&1 | tail -c 300)"
$K rm -f g4 > /dev/null 2>&1

# --- one detached guest with volumes (copied back after exit), a read-only one, a named one and
# --memory; kill -s USR1 reaches its trap, kill -s KILL ends it with 137
mkdir -p /tmp/vol /tmp/rovol; echo from-host > /tmp/vol/in; echo ro-content > /tmp/rovol/r
$K run -d --name g3 --isolation=vm --network none --memory 200M -v /tmp/vol:/data -v /tmp/rovol:/ro:ro -v nv1:/nv busybox \
        sh -c 'cat /data/in; echo from-guest > /data/out; cat /ro/r; (echo x > /ro/w) 2>/dev/null && echo ro-writable || echo ro-refused; echo named > /nv/f; grep MemTotal /proc/meminfo; trap "echo got-usr1" USR1; echo trap-set; while :; do sleep 1; done' > /dev/null 2>&1
wait_ctr_log g3 trap-set 150
k=$($K kill -s USR1 g3 2>&1)
wait_ctr_log g3 got-usr1 15; seen=$?
k2=$($K kill -s KILL g3 2>&1)
$K wait g3 > /dev/null 2>&1
st=$($K inspect --format '{{.State.ExitCode}}' g3 2>&1)
$K logs g3 > /tmp/g3.out 2>&1
[ $seen = 0 ] && [ "$st" = 137 ] && report isolation-vm-kill-forwards ok || report isolation-vm-kill-forwards fail "kill=$k $k2 seen=$seen exit=$st logs=$(tail -c 300 /tmp/g3.out)"
grep -q from-host /tmp/g3.out && [ "$(cat /tmp/vol/out 2>&1)" = from-guest ] && report isolation-vm-volume-round-trip ok || report isolation-vm-volume-round-trip fail "out=$(tail -c 500 /tmp/g3.out) host=$(ls /tmp/vol)"
grep -q ro-content /tmp/g3.out && grep -q ro-refused /tmp/g3.out && [ ! -e /tmp/rovol/w ] && report isolation-vm-volume-ro ok || report isolation-vm-volume-ro fail "$(tail -c 500 /tmp/g3.out) host=$(ls /tmp/rovol)"
nvf=$(cat /tmp/kr/volumes/nv1/_data/f 2>&1)
[ "$nvf" = named ] && report isolation-vm-named-volume ok || report isolation-vm-named-volume fail "$nvf $($K volume ls 2>&1)"
mt=$(sed -n 's/^MemTotal: *\([0-9]*\) kB.*/\1/p' /tmp/g3.out)
[ -n "$mt" ] && [ "$mt" -gt 120000 ] && [ "$mt" -lt 204800 ] && report isolation-vm-memory ok || report isolation-vm-memory fail "memtotal=$mt $(tail -c 300 /tmp/g3.out)"
$K rm -f g3 > /dev/null 2>&1
left="$(ls /sys/class/net | grep '^kt') $(pidof kapsel-monitor kapsel-vmm) $(ls /tmp/kr/containers) $(nft list ruleset 2>/dev/null | grep -c 18080 | grep -v '^0$')"
[ -z "$(echo $left)" ] && [ -z "$($K ps -aq)" ] && report isolation-vm-all-clean ok || report isolation-vm-all-clean fail "left=$left ps=$($K ps -a)"

# --- docker's checkpoint verbs: a guest that counts; checkpoint it (once leaving it running, once
# stopping it), start it from the checkpoint: the count and the guest's uptime go on (no boot, no
# second tick-0), its log, exec and stop work, and removing it all leaves nothing
s=$(up)
$K run -d --name c1 --isolation=vm --network none --memory 256M busybox sh -c 'i=0; while :; do echo tick-$i; echo $i > /tmp/count; i=$((i+1)); sleep 1; done' > /dev/null 2>&1
wait_ctr_log c1 tick-3 150
cid=$($K inspect --format '{{.Id}}' c1 2>&1)
echo "KAPSEL-TIME checkpoint-run start=$s end=$(up)"
s=$(up)
o=$($K checkpoint create --leave-running c1 warm 2>&1); rc=$?
st=$($K inspect --format '{{.State.Status}}' c1 2>&1); a=$($K exec c1 cat /tmp/count 2>&1); sleep 2; b=$($K exec c1 cat /tmp/count 2>&1)
echo "KAPSEL-TIME checkpoint-create start=$s end=$(up)"
[ $rc = 0 ] && [ "$o" = warm ] && [ "$st" = running ] && [ "$b" -gt "$a" ] 2>/dev/null && [ -s /tmp/kr/containers/$cid/snapshots/warm/state ] && report checkpoint-create-leave-running ok || report checkpoint-create-leave-running fail "rc=$rc out=$o state=$st count $a $b files=$(ls /tmp/kr/containers/$cid/snapshots/warm 2>&1 | tr '\n' ' ')"
n1=$($K exec c1 cat /tmp/count 2>&1); u1=$($K exec c1 cut -d. -f1 /proc/uptime 2>&1)
s=$(up)
o=$($K checkpoint create c1 cp1 2>&1); rc=$?
echo "KAPSEL-TIME checkpoint-create-stop start=$s end=$(up)"
st=$($K inspect --format '{{.State.Status}}' c1 2>&1); ls=$($K checkpoint ls -q c1 2>&1 | tr '\n' ' ')
[ $rc = 0 ] && [ "$o" = cp1 ] && [ "$st" = exited ] && [ -z "$(pidof kapsel-vmm)" ] && [ "$ls" = "warm cp1 " ] && report checkpoint-create-stops ok || report checkpoint-create-stops fail "rc=$rc out=$o state=$st ls=$ls vmm=$(pidof kapsel-vmm)"
s=$(up)
o=$($K start --checkpoint cp1 c1 2>&1); rc=$?
sleep 3
echo "KAPSEL-TIME checkpoint-start start=$s end=$(up)"
st=$($K inspect --format '{{.State.Status}}' c1 2>&1); n2=$($K exec c1 cat /tmp/count 2>&1); u2=$($K exec c1 cut -d. -f1 /proc/uptime 2>&1)
# the log goes on too (a tick printed after the checkpoint and before the stop is printed again)
zeros=$($K logs c1 2>&1 | grep -c '^tick-0$'); last=$($K logs c1 2>&1 | grep '^tick-' | tail -n 1)
[ $rc = 0 ] && [ "$st" = running ] && [ "$n2" -gt "$n1" ] 2>/dev/null && [ "$u2" -ge "$u1" ] 2>/dev/null && [ "$zeros" = 1 ] && [ "${last#tick-}" -ge "$n2" ] 2>/dev/null && report checkpoint-start-resumes ok || report checkpoint-start-resumes fail "rc=$rc out=$o state=$st count $n1 -> $n2 uptime $u1 -> $u2 tick-0s=$zeros last=$last log=$($K logs c1 2>&1 | tail -c 300)"
o=$($K start --checkpoint cp1 c1 2>&1); rc=$?
[ $rc = 125 ] && echo "$o" | grep -q "is running: stop it first" && report checkpoint-start-running-refused ok || report checkpoint-start-running-refused fail "rc=$rc $o"
o=$($K exec c1 sh -c 'echo exec-after-resume; cat /tmp/count' 2>&1); rc=$?
[ $rc = 0 ] && echo "$o" | grep -q exec-after-resume && report checkpoint-exec-after-resume ok || report checkpoint-exec-after-resume fail "rc=$rc $o"
o=$($K stop -t 20 c1 2>&1)
st=$($K inspect --format '{{.State.Status}} {{.State.ExitCode}}' c1 2>&1)
[ "$o" = c1 ] && [ "$st" = "exited 143" ] && [ -z "$(pidof kapsel-vmm)" ] && report checkpoint-stop-after-resume ok || report checkpoint-stop-after-resume fail "stop=$o state=$st vmm=$(pidof kapsel-vmm)"
o=$($K checkpoint rm c1 warm cp1 2>&1 | tr '\n' ' '); sn=$(ls /tmp/kr/containers/$cid/snapshots 2>&1)
$K rm -f c1 > /dev/null 2>&1
left="$(ls /sys/class/net | grep '^kt') $(pidof kapsel-monitor kapsel-vmm) $(ls /tmp/kr/containers)"
[ "$o" = "warm cp1 " ] && echo "$sn" | grep -q "No such file" && [ -z "$(echo $left)" ] && [ -z "$($K ps -aq)" ] && report checkpoint-rm-leaves-nothing ok || report checkpoint-rm-leaves-nothing fail "rm=$o snapshots=$sn left=$left"
# on the default network: the resumed guest reaches its gateway through the new tap
$K run -d --name c2 --isolation=vm --memory 256M busybox sh -c 'echo net-up; exec sleep 600' > /dev/null 2>&1
wait_ctr_log c2 net-up 150
a=$($K checkpoint create c2 n1 2>&1); b=$($K start --checkpoint n1 c2 2>&1); sleep 2
o=$($K exec c2 sh -c 'ping -c 1 -W 5 $(ip route | sed -n "s/^default via \([0-9.]*\).*/\1/p") > /dev/null && echo resumed-ping-ok' 2>&1)
[ "$o" = resumed-ping-ok ] && report checkpoint-network-after-resume ok || report checkpoint-network-after-resume fail "create=$a start=$b exec=$o addr=$($K exec c2 ip -o -4 addr 2>&1 | tr '\n' ' ') inspect=$($K inspect --format '{{.NetworkSettings.IPAddress}}' c2 2>&1)"
$K rm -f c2 > /dev/null 2>&1
# --- kapsel build --isolation=vm: each RUN step in a micro-VM; its changes (a new file, a deleted
# one, a setuid file of another owner) come back as a tar and become the step's layer; the guest's
# own /etc files do not. Nothing the guest wrote is mounted on L1 (the host here): a watcher samples
# the loop devices' backing files and L1's mounts while the build runs.
mkdir -p /tmp/bctx
printf 'FROM busybox\nRUN echo from-vm-build; echo built > /built; tr "\\0" " " < /proc/1/cmdline > /pid1; rm /etc/group; echo s > /suid; chown 1:1 /suid; chmod 4755 /suid\n' > /tmp/bctx/Dockerfile
rm -f /tmp/bwatch.stop
( while [ ! -e /tmp/bwatch.stop ]; do
        cat /sys/block/loop*/loop/backing_file 2>/dev/null; grep -e upper.ext4 -e changes.tar -e ' /dev/loop' /proc/self/mountinfo
        sleep 0.1 2>/dev/null || sleep 1
  done > /tmp/bwatch.out 2>&1 ) &
wpid=$!
s=$(up)
timeout 400 kapsel --root /tmp/kr build --isolation=vm --network none -t bvm /tmp/bctx > /tmp/b1.out 2> /tmp/b1.err
rc=$?
touch /tmp/bwatch.stop; wait $wpid
[ $rc = 0 ] && [ ! -s /tmp/bwatch.out ] && report build-vm-no-host-mount ok || report build-vm-no-host-mount fail "rc=$rc seen=$(head -c 400 /tmp/bwatch.out)"
echo "KAPSEL-TIME build-vm start=$s end=$(up) rc=$rc"
[ $rc = 0 ] && grep -q "^from-vm-build" /tmp/b1.out && grep -q "Successfully tagged bvm" /tmp/b1.out && report build-vm-output ok || report build-vm-output fail "rc=$rc out=$(tail -c 600 /tmp/b1.out) err=$(tail -c 600 /tmp/b1.err)"
# (L1 has no cgroups for a container: the image is checked in a micro-VM too)
o=$(timeout 150 kapsel --root /tmp/kr run --rm --isolation=vm --network none bvm sh -c 'cat /built; test -e /etc/group && echo group-present || echo group-gone; cat /pid1' 2>&1)
# pid 1 of the step was the guest's init, not the RUN's shell (as it is in a container)
echo "$o" | grep -q "^built$" && echo "$o" | grep -q group-gone && ! echo "$o" | tail -n 1 | grep -q "^/bin/sh" && report build-vm-in-image ok || report build-vm-in-image fail "$o"
o=$(timeout 150 kapsel --root /tmp/kr run --rm --isolation=vm --network none bvm stat -c '%a %u:%g' /suid 2>&1)
[ "$o" = "4755 1:1" ] && report build-vm-suid-owner ok || report build-vm-suid-owner fail "$o"
printf 'FROM busybox\nRUN echo about-to-fail; exit 7\n' > /tmp/bctx/Dockerfile
timeout 400 kapsel --root /tmp/kr build --isolation=vm --network none /tmp/bctx > /tmp/b2.out 2> /tmp/b2.err
rc=$?
[ $rc != 0 ] && grep -q about-to-fail /tmp/b2.out && grep -q "non-zero code: 7" /tmp/b2.err && report build-vm-failing-run ok || report build-vm-failing-run fail "rc=$rc out=$(tail -c 400 /tmp/b2.out) err=$(tail -c 400 /tmp/b2.err)"
$K rmi bvm > /dev/null 2>&1
left="$(pidof kapsel-monitor kapsel-vmm) $(ls /tmp/kr/containers) $(ls /tmp/kr/build | grep -v '^cache$') $(grep /tmp/kr /proc/mounts | cut -d' ' -f2) $(cat /sys/block/loop*/loop/backing_file 2>/dev/null)"
chk=$($K system check 2>&1)
[ -z "$(echo $left)" ] && [ -z "$($K ps -aq)" ] && echo "$chk" | grep -q "no problems found" && report build-vm-clean ok || report build-vm-clean fail "left=$left ps=$($K ps -a) check=$chk"
# an interrupted VM build leaves nothing: Ctrl-C (the builder ends the step's VM itself), and
# kill -9 of the builder (its VM runs on under its monitor until `system check` ends it)
printf 'FROM busybox\nRUN echo vm-step-started; sleep 300\n' > /tmp/bctx/Dockerfile
for sig in INT KILL; do
        rm -f /tmp/b3.out /tmp/b3.err      # (the last round's output must not satisfy the wait below)
        kapsel --root /tmp/kr build --isolation=vm --network none /tmp/bctx > /tmp/b3.out 2> /tmp/b3.err &
        bp=$!
        n=0; while ! grep -q "^vm-step-started" /tmp/b3.out && [ $n -lt 300 ]; do sleep 1; n=$((n+1)); done
        kill -$sig $bp; wait $bp; rc=$?
        chk=""; [ $sig = KILL ] && chk=$($K system check 2>&1)
        n=0; while [ -n "$(pidof kapsel-monitor kapsel-vmm)" ] && [ $n -lt 30 ]; do sleep 1; n=$((n+1)); done
        left="$(pidof kapsel-monitor kapsel-vmm) $(ls /tmp/kr/containers) $(ls /tmp/kr/build | grep -v '^cache$') $(grep /tmp/kr /proc/mounts | cut -d' ' -f2) $(cat /sys/block/loop*/loop/backing_file 2>/dev/null)"
        chk2=$($K system check 2>&1)
        grep -q "^vm-step-started" /tmp/b3.out && [ $rc != 0 ] && [ -z "$(echo $left)" ] && [ -z "$($K ps -aq)" ] && echo "$chk2" | grep -q "no problems found" && report build-vm-interrupt-$sig ok || report build-vm-interrupt-$sig fail "rc=$rc left=$left check=$chk check2=$chk2 out=$(tail -c 300 /tmp/b3.out) err=$(tail -c 300 /tmp/b3.err)"
done
"""


@pytest.fixture(scope="module")
def nested_run(tmp_path_factory):
    reason = kvmsuite.missing_prerequisites(VMM) or engine_l1.missing(BUILD)
    if reason:
        pytest.skip(reason)
    work = str(tmp_path_factory.mktemp("vm-cli-nested"))
    kernel = nested.find_kernel()
    version = guest.kernel_version(kernel)
    l2_initrd = guest.build_initramfs(work, "l2", L2_INIT, guest.module_closure(version, guest.VIRTIO_MODULES))
    vm = kvmsuite.l1_image(work, VMM, extra_modules=engine_l1.NET_MODULES + engine_l1.L1_MODULES)
    # kapsel, its monitor, guest init, the busybox image, /boot + the guest's modules, e2fsprogs, ip
    engine_l1.add_engine(vm, BUILD)
    vm.add_data(kernel, "/l2/vmlinuz")
    vm.add_data(l2_initrd, "/l2/initrd.gz")
    vm.set_init(kvmsuite.L1_PRELUDE + engine_l1.ENV + L1_SCRIPT + kvmsuite.L1_END)
    return kvmsuite.boot(vm, work, "vm CLI", L1_TIMEOUT)


@pytest.mark.kvm
@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS)
def test_nested_vm_cli(nested_run, check):
    kvmsuite.check_marker(nested_run, check)
