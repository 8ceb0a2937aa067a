"""What the nested KVM suites (tests/integration/test_vmm.py, test_vm_guest.py) share: one L1 boot
(nested.py) whose /init loads kvm-amd, runs every check in sequence as a shell script and prints
one marker line per check

    KAPSEL-CHECK <name> ok | KAPSEL-CHECK <name> FAIL <details>

which the suite turns into one pytest case each (check_marker). The script starts after
L1_PRELUDE, which gives it these shell functions:

    report NAME ok|fail [DETAILS]   print the marker
    up                              seconds since L1 boot (for KAPSEL-TIME lines)
    run NAME TIMEOUT ARGS...        run ARGS with output in /tmp/NAME.out, status in $rc
    has NAME PATTERN                grep -q PATTERN /tmp/NAME.out

    vm = l1_image(workdir, vmm)     # kapsel-vmm at /usr/bin/kapsel-vmm + the KVM modules
    vm.add_data(...); vm.set_init(L1_PRELUDE + script + L1_END)
    out = boot(vm, workdir, "vmm", timeout=290)

Investigation knobs (defaults are what CI runs): KAPSEL_NESTED_ACCEL (QEMU -accel, default
tcg,thread=multi) and KAPSEL_NESTED_L1_CPUS (L1 vCPUs, default 2). With 2 L1 vCPUs under TCG,
L1 marks its TSC unsynchronized and runs on HPET. An L1 occasionally stalls as a whole (boot()
boots it again): QEMU's monitor then showed one vCPU frozen on one instruction with interrupts off
and the other spinning with interrupts off, an emulator-side hang, not a guest loop. With
thread=single an L2 guest was seen spinning with no exits. With 1 L1 vCPU, L1 keeps a stable TSC
(slower boots).
"""
import os
import re
import subprocess
import sys
import time

import guest
import nested

L1_PRELUDE = r"""#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in $(cat /l1mods/order); do insmod /l1mods/$m || echo "KAPSEL-HARNESS insmod $m failed"; done
report() { if [ "$2" = ok ]; then echo "KAPSEL-CHECK $1 ok"; else echo "KAPSEL-CHECK $1 FAIL $(echo "$3" | tr '\n' '|' | tail -c 1500)"; fi; }
if [ ! -c /dev/kvm ]; then echo "KAPSEL-HARNESS no /dev/kvm"; poweroff -f; fi
up() { cut -d' ' -f1 /proc/uptime; }
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
# L1's own clock: under heavy host load its TSC calibration (and so every L2 kvm-clock) can go
# wrong; these lines are what to look at when an L2 boot spins or L1 stalls
dmesg | grep -iE "tsc|clocksource" | tail -n 6 | sed 's/^/KAPSEL-HARNESS l1 clock: /'
# a heartbeat: a stalled L1 (the emulator, not the code under test) shows as its absence
( while sleep 30; do echo "KAPSEL-HARNESS alive at $(up)"; done ) &
"""

L1_END = """
echo "KAPSEL-HARNESS done"
poweroff -f
"""


def vmm_devices(vmm):
    """The device names `kapsel-vmm --version` lists."""
    out = subprocess.run([vmm, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"^devices: (.*)$", out, re.M)
    return set(m.group(1).split()) if m else set()


def missing_prerequisites(vmm):
    """A reason to skip the nested suite here, else None."""
    if os.environ.get("KAPSEL_SKIP_NESTED") == "1":
        return "KAPSEL_SKIP_NESTED=1"
    reason = nested.missing_prerequisites()
    if reason:
        return reason
    if not os.path.exists(vmm):
        return "kapsel-vmm not built (%s)" % vmm
    return None


def l1_image(workdir, vmm, extra_modules=()):
    """An L1 image with kapsel-vmm and the KVM modules (+ extra_modules) listed in /l1mods/order."""
    version = guest.kernel_version(nested.find_kernel())
    vm = nested.L1Image(workdir)
    vm.add_binary(vmm, "/usr/bin/kapsel-vmm")
    mods_dir = vm._dest("/l1mods/x")[:-2]
    os.makedirs(mods_dir, exist_ok=True)
    names = [guest._copy_module(m, mods_dir) for m in guest.module_closure(version, guest.KVM_MODULES +
                                                                            list(extra_modules))]
    vm.add_file("/l1mods/order", "\n".join(names) + "\n")
    return vm


# the heartbeat comes every 30 s: this long without any console output means L1 stopped running
QUIET_LIMIT = 120


def l1_stalled(out, timeout):
    """True when the whole nested emulator stopped making progress (seen in CI and under heavy host
    load, with no kernel message): the console went silent (nested.L1Image.boot's quiet_limit), or
    L1 timed out with its heartbeat long gone; as opposed to a check that hangs while L1 keeps
    running."""
    if "HARNESS: stalled" in out:
        return True
    if "KAPSEL-HARNESS done" in out or "HARNESS: timeout" not in out:
        return False
    beats = [float(m) for m in re.findall(r"^KAPSEL-HARNESS alive at ([0-9.]+)", out, re.M)]
    # L1's clock starts some 10-25 s after QEMU; a live L1 beats every 30 s
    return (beats[-1] if beats else 0.0) < timeout - 100


# boots of one suite at most: the emulator stalls seen here come in runs on a busy day (three in
# five suites once), and a stalled boot says nothing about the code under test
MAX_BOOTS = 3


def boot(vm, workdir, name, timeout, cpus=2):
    """Boot L1, keep its console in workdir/l1-console[-retryN].log, report timings on stderr. An L1
    that stalled as a whole (l1_stalled: detected after QUIET_LIMIT seconds of silence, with QEMU's
    view of the vCPUs in the log), or one where any check failed, is booted again, up to MAX_BOOTS
    times, and says so (l1-retried.txt): a rare early reboot of an L2 guest (a triple fault at the
    reset vector, seen in both VMM suites) or a stall must not hide every other result; a real
    failure fails every time. What the last boot printed is the suite's result."""
    accel = os.environ.get("KAPSEL_NESTED_ACCEL", "tcg,thread=multi")
    whys = []
    for attempt in range(1, MAX_BOOTS + 1):
        t0 = time.monotonic()
        out = vm.boot(timeout=timeout, memory="2G", cpus=int(os.environ.get("KAPSEL_NESTED_L1_CPUS", cpus)), accel=accel,
                      quiet_limit=QUIET_LIMIT)
        took = time.monotonic() - t0
        log = os.path.join(workdir, "l1-console%s.log" % ("" if attempt == 1 else "-retry%d" % (attempt - 1)))
        with open(log, "w") as f:
            f.write(out)
        sys.stderr.write("nested %s suite: L1 boot took %.1f s; log %s\n" % (name, took, log))
        for line in out.splitlines():
            if line.startswith(("KAPSEL-TIME", "KAPSEL-HARNESS alive", "HARNESS: ")):
                sys.stderr.write(line + "\n")
        failed = [l for l in out.splitlines() if l.startswith("KAPSEL-CHECK ") and " FAIL" in l]
        stalled = l1_stalled(out, timeout)
        # an L1 that reset itself (QEMU runs with -no-reboot, so it just exits) before its script's
        # end: neither stalled nor failed, yet every later check is missing
        ended = "KAPSEL-HARNESS done" in out or "HARNESS: timeout" in out
        if attempt == MAX_BOOTS or not (stalled or failed or not ended):
            return out
        why = ("L1 stalled" + (" after: " if failed else "")) if stalled else \
            "checks failed: " if failed else "L1 ended before its script did"
        whys.append("boot %d: %s%s" % (attempt, why, "; ".join(failed)[:2000]))
        sys.stderr.write("nested %s suite: %s: booting it again\n" % (name, whys[-1]))
        with open(os.path.join(workdir, "l1-retried.txt"), "w") as f:
            f.write("\n".join(whys) + "\n")
    return out


def marker(out, name):
    """The text after 'KAPSEL-CHECK <name> ' ('ok' or 'FAIL ...'), or None."""
    for line in out.splitlines():
        if line.startswith("KAPSEL-CHECK %s " % name):
            return line.split(" ", 2)[2]
    return None


def check_marker(out, name):
    """Assert that check `name` passed in an L1 run's output."""
    if "KAPSEL-HARNESS no /dev/kvm" in out:
        raise AssertionError("L1 has no /dev/kvm (kvm-amd did not load):\n" + out[-3000:])
    result = marker(out, name)
    assert result is not None, "no marker for %s; L1 output tail:\n%s" % (name, out[-4000:])
    assert result == "ok", result
