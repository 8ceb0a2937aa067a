"""The issue-7 guest (`kapsel run --isolation=vm`, protocol in src/engine/vm-guest.h) booted by
kapsel-vmm, inside a nested VM (tests/harness/kvmsuite.py: one L1 boot, every check in sequence,
one KAPSEL-CHECK marker each).

The host side is built here exactly as the engine builds it, by kapsel-vm-guest-tool: the guest
initramfs (kapsel-guest-init + modules), a read-only ext4 rootfs from a static busybox tree (vda),
a writable upper disk (vdb), the config disk from an OCI spec (vdc) and one ext4 disk per volume
(vdd, vde). In L1, kapsel-vmm boots each guest with the disks in that order, hvc0 written to a
file (--virtio-console-out) and ttyS0 input from a FIFO (--serial-in) for KAPSEL-SIGNAL; the
read-write volume goes back into its directory with the engine's own copy-back (debugfs) after
the VM ended.

Three guest boots:
  main     sh -c: prints id -u, pwd, $FOO to hvc0, writes a file into the rw volume, tries the
           ro volume, looks for a file that exists only in L1; exits 7
  missing  a command that does not exist: 127
  signal   sleep 1000; the host sends KAPSEL-SIGNAL 15 once it is started: 143"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
import kvmsuite  # noqa: E402
import nested  # noqa: E402
import vmguest  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(REPO, "build")
VMM = os.environ.get("KAPSEL_VMM", os.path.join(BUILD, "src/vmm/kapsel-vmm"))
TOOL = os.path.join(BUILD, "src/helpers/kapsel-vm-guest-tool")
GUEST_INIT = os.path.join(BUILD, "src/helpers/kapsel-guest-init")
L1_TIMEOUT = 290
IMAGE_ID = "sha256:" + "7" * 64
GUEST_CMDLINE = vmguest.CMDLINE       # VM_GUEST_CMDLINE of vm-guest.h, as the engine passes it

MAIN_SCRIPT = """echo "uid=$(id -u) cwd=$(pwd) foo=$FOO"
echo "disks-ro=$(for d in a b c d e; do cat /sys/block/vd$d/ro; done | tr -d '\\n')"
echo hello-from-guest > /data/w/out.txt && echo rw=written
echo "ro=$(echo x 2>&1 > /ro/w/x)"
if [ -e /l1-only-marker ]; then echo marker=visible; else echo marker=absent; fi
exit 7"""

CHECKS = ["main-exit-code", "main-vmm-status-0", "disks-in-order", "env-cwd-user", "rw-volume-round-trip", "ro-volume-refuses-writes",
          "host-file-invisible", "missing-command-127", "signal-15-gives-143", "signal-vmm-status-0"]


def oci_spec(args, uid=0, cwd="/", env=(), mounts=()):
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": uid, "gid": uid}, "args": list(args),
                    "env": ["PATH=/bin"] + list(env), "cwd": cwd},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "guest",
        "mounts": [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=1777"]}]
        + list(mounts),
    }


def bind(src, dst, ro):
    return {"destination": dst, "type": "bind", "source": src, "options": ["rbind", "ro" if ro else "rw"]}


def tool(*args):
    r = subprocess.run([TOOL, *args], capture_output=True, text=True)
    assert r.returncode == 0, "kapsel-vm-guest-tool %s: %s" % (" ".join(args), r.stderr)
    return r.stdout


def busybox_rootfs(path):
    os.makedirs(os.path.join(path, "bin"))
    shutil.copy(nested.BUSYBOX, os.path.join(path, "bin/busybox"))
    for a in subprocess.run([nested.BUSYBOX, "--list"], capture_output=True, text=True).stdout.split():
        if not os.path.exists(os.path.join(path, "bin", a)):
            os.symlink("busybox", os.path.join(path, "bin", a))
    for d in ("etc", "proc", "sys", "dev", "tmp", "work", "data", "ro"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    with open(os.path.join(path, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/:/bin/sh\nuser:x:1000:1000:user:/:/bin/sh\n")


def volume_dir(path):
    """A volume source whose w/ is writable by anyone, so only the mount mode can refuse a write."""
    os.makedirs(os.path.join(path, "w"))
    os.chmod(os.path.join(path, "w"), 0o777)
    with open(os.path.join(path, "w/from-host.txt"), "w") as f:
        f.write("host\n")


class GuestDisks:
    """The disks of one guest boot, built on this host, shipped into L1 under /vm."""

    def __init__(self, work, vm, name, spec):
        self.name, self.work, self.vm = name, work, vm
        with open(os.path.join(work, name + ".json"), "w") as f:
            json.dump(spec, f)
        config = os.path.join(work, name + "-config.img")
        vols = [json.loads(line) for line in tool("plan", os.path.join(work, name + ".json"), config).splitlines()]
        vm.add_data(config, "/vm/%s-config.img" % name)
        self.volumes, self.prepare = [], ""
        for v in vols:
            if v["readonly"]:
                image = tool("volume-prepare", v["source"], v["device"], "ro", work).strip()
                l1_image = "/vm/%s-%s.ext4" % (name, v["device"])
                vm.add_data(image, l1_image)
                os.unlink(image)
            else:
                # a rw volume has a GiB of room (sparse): too big for the L1 initramfs, so L1 makes
                # it from its own copy of the directory, as the engine would on the VMM's host
                l1_dir = "/tmp/%s-%s" % (name, v["device"])
                l1_image = "/tmp/%s-%s/vol-%s.ext4" % (name, v["device"] + "-img", v["device"])
                vm.add_tree(v["source"], "/vm/%s-%s-src" % (name, v["device"]))
                self.prepare += ("cp -a /vm/{n}-{d}-src {dir} && mkdir -p {dir}-img && "
                                 "kapsel-vm-guest-tool volume-prepare {dir} {d} rw {dir}-img >/dev/null || "
                                 "echo 'KAPSEL-HARNESS volume-prepare {dir} failed'\n").format(n=name, d=v["device"],
                                                                                                dir=l1_dir)
            self.volumes.append((v["device"], l1_image, v["readonly"]))

    def vmm_disks(self):
        """--disk arguments in the order vda, vdb, vdc, vdd..; the upper disk is a fresh copy."""
        disks = ["--disk /vm/rootfs.ext4,ro", "--disk /tmp/%s-upper.ext4" % self.name,
                 "--disk /vm/%s-config.img,ro" % self.name]
        disks += ["--disk %s%s" % (img, ",ro" if ro else "") for _, img, ro in sorted(self.volumes)]
        return " ".join(disks)


# One guest boot: NAME ARGS... Serial output in /tmp/NAME.out, hvc0 in /tmp/NAME.hvc, the guest's
# exit code (KAPSEL-EXIT) in $code, kapsel-vmm's status in $rc (143: killed after 150 s). A slow
# boot logs kapsel-vmm's stats (is the vCPU running or halted?) and the serial tail on the way.
L1_GUEST = r"""
guest() {
        name=$1; shift
        cp /vm/upper.ext4 /tmp/$name-upper.ext4
        s=$(up)
        $VMM "$@" --virtio-console-out /tmp/$name.hvc --control /tmp/$name.sock > /tmp/$name.out 2>&1 &
        pid=$!
        i=0
        while kill -0 $pid 2>/dev/null && [ $i -lt 750 ]; do
                sleep 0.2; i=$((i+1))
                case $i in 300|450|600) echo "KAPSEL-HARNESS $name slow at $(up): $(kapsel-vmm ctl /tmp/$name.sock '{"cmd":"stats"}' 2>&1 | cut -c1-400) serial: $(tail -c 300 /tmp/$name.out | tr '\n' ' ') l1 clock: $(dmesg | grep -iE 'tsc|clocksource' | tail -n 2 | tr '\n' ' ')";; esac
        done
        kill $pid 2>/dev/null; wait $pid; rc=$?
        echo "KAPSEL-TIME $name start=$s end=$(up) rc=$rc"
        code=$(sed -n 's/.*KAPSEL-EXIT \([0-9]*\).*/\1/p' /tmp/$name.out | head -n 1)
        grep -a "KAPSEL-ERROR" /tmp/$name.out | head -n 3 | sed "s/^/KAPSEL-HARNESS $name: /"
}
tail_of() { tail -n 15 /tmp/$1.out; echo "hvc0: $(cat /tmp/$1.hvc 2>/dev/null)"; }
"""

L1_SCRIPT = r"""
VMM="kapsel-vmm --kernel /vm/vmlinuz --initrd /vm/initrd.cpio --memory 256M --cpus 1"
GCMD="@CMDLINE@"
echo l1 > /l1-only-marker
@PREPARE@
# main: exit code, env/cwd/user, volumes, isolation from L1's files
guest main --cmdline "$GCMD" @MAIN_DISKS@ --serial-in none
if [ "$code" = 7 ]; then report main-exit-code ok; else report main-exit-code fail "code=$code $(tail_of main)"; fi
if [ "$rc" = 0 ]; then report main-vmm-status-0 ok; else report main-vmm-status-0 fail "rc=$rc $(tail_of main)"; fi
sed 's/^/KAPSEL-HARNESS main hvc0: /' /tmp/main.hvc
# vda rootfs ro, vdb upper rw, vdc config ro, vdd rw volume, vde ro volume: command-line order
if grep -q "disks-ro=10101" /tmp/main.hvc; then report disks-in-order ok; else report disks-in-order fail "$(tail_of main)"; fi
if grep -q "uid=1000 cwd=/work foo=bar baz" /tmp/main.hvc; then report env-cwd-user ok; else report env-cwd-user fail "$(tail_of main)"; fi
if grep -q "ro=.*Read-only file system" /tmp/main.hvc; then report ro-volume-refuses-writes ok; else report ro-volume-refuses-writes fail "$(tail_of main)"; fi
if grep -q "marker=absent" /tmp/main.hvc; then report host-file-invisible ok; else report host-file-invisible fail "$(tail_of main)"; fi
fin=$(kapsel-vm-guest-tool volume-finish /tmp/main-vdd /tmp/main-vdd-img/vol-vdd.ext4 2>&1)
if [ "$(cat /tmp/main-vdd/w/out.txt 2>/dev/null)" = hello-from-guest ] && [ -f /tmp/main-vdd/w/from-host.txt ]; then
        report rw-volume-round-trip ok
else
        report rw-volume-round-trip fail "finish: $fin; dir: $(ls -lR /tmp/main-vdd); $(tail_of main)"
fi

# missing: docker's 127
guest missing --cmdline "$GCMD" @MISSING_DISKS@ --serial-in none
if [ "$code" = 127 ]; then report missing-command-127 ok; else report missing-command-127 fail "code=$code rc=$rc $(tail_of missing)"; fi

# signal: KAPSEL-SIGNAL 15 through ttyS0 once the process runs
mkfifo /tmp/signal.fifo
(
        i=0
        while [ $i -lt 600 ] && ! grep -q "KAPSEL-STARTED" /tmp/signal.out 2>/dev/null; do sleep 0.2; i=$((i+1)); done
        sleep 1
        echo "KAPSEL-SIGNAL 15" > /tmp/signal.fifo
) &
guest signal --cmdline "$GCMD" @SIGNAL_DISKS@ --serial-in /tmp/signal.fifo
if [ "$code" = 143 ]; then report signal-15-gives-143 ok; else report signal-15-gives-143 fail "code=$code rc=$rc $(tail_of signal)"; fi
if [ "$rc" = 0 ]; then report signal-vmm-status-0 ok; else report signal-vmm-status-0 fail "rc=$rc $(tail_of signal)"; fi
"""


@pytest.fixture(scope="module")
def nested_run(tmp_path_factory):
    reason = kvmsuite.missing_prerequisites(VMM) or vmguest.missing_prerequisites()
    if reason:
        pytest.skip(reason)
    for b in (TOOL, GUEST_INIT):
        if not os.path.exists(b):
            pytest.skip("%s not built" % b)
    work = str(tmp_path_factory.mktemp("vm-guest-nested"))
    kernel = nested.find_kernel()
    vm = kvmsuite.l1_image(work, VMM)
    vm.add_binary(TOOL, "/usr/bin/kapsel-vm-guest-tool")
    vm.add_binary(shutil.which("debugfs") or "/usr/sbin/debugfs", "/usr/sbin/debugfs")
    vm.add_data(kernel, "/vm/vmlinuz")
    initrd = os.path.join(work, "initrd.cpio")
    tool("initramfs", GUEST_INIT, initrd)
    vm.add_data(initrd, "/vm/initrd.cpio")

    rootfs = os.path.join(work, "rootfs")
    busybox_rootfs(rootfs)
    vm.add_data(tool("rootfs", os.path.join(work, "cache"), IMAGE_ID, rootfs).strip(), "/vm/rootfs.ext4")
    upper = os.path.join(work, "upper.ext4")
    tool("upper", upper, "32M")
    vm.add_data(upper, "/vm/upper.ext4")

    volrw, volro = os.path.join(work, "volrw-src"), os.path.join(work, "volro-src")
    volume_dir(volrw)
    volume_dir(volro)
    vm.add_binary("/usr/sbin/mke2fs", "/usr/sbin/mkfs.ext4")
    vm.add_data("/etc/mke2fs.conf", "/etc/mke2fs.conf")
    main = GuestDisks(work, vm, "main", oci_spec(["/bin/sh", "-c", MAIN_SCRIPT], uid=1000, cwd="/work",
                                                 env=["FOO=bar baz"],
                                                 mounts=[bind(volrw, "/data", False), bind(volro, "/ro", True)]))
    missing = GuestDisks(work, vm, "missing", oci_spec(["/bin/no-such-command"]))
    signal = GuestDisks(work, vm, "signal", oci_spec(["/bin/sleep", "1000"]))
    script = (L1_GUEST + L1_SCRIPT).replace("@CMDLINE@", GUEST_CMDLINE) \
        .replace("@MAIN_DISKS@", main.vmm_disks()).replace("@MISSING_DISKS@", missing.vmm_disks()) \
        .replace("@SIGNAL_DISKS@", signal.vmm_disks()).replace("@PREPARE@", main.prepare)
    vm.set_init(kvmsuite.L1_PRELUDE + script + kvmsuite.L1_END)
    return kvmsuite.boot(vm, work, "vm-guest", L1_TIMEOUT)


@pytest.mark.kvm
@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS)
def test_vm_guest_nested(nested_run, check):
    kvmsuite.check_marker(nested_run, check)


def test_cmdline_matches_engine():
    """The harnesses boot the guest with the engine's own command line (VM_GUEST_CMDLINE)."""
    with open(os.path.join(REPO, "src/engine/vm-guest.h")) as f:
        m = re.search(r'#define VM_GUEST_CMDLINE "([^"]*)"', f.read())
    assert m and m.group(1) == GUEST_CMDLINE
