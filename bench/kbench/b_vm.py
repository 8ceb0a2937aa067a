"""vm: the micro-VM rows of issue 5 (boot to guest init, VMM memory overhead, virtio-blk read,
against QEMU microvm and q35). They only mean something with KVM: this machine has none, and
KVM nested inside QEMU's software emulator runs everything 10-100x slower and +-30% noisy, so
numbers from there are not comparable with the host's: bench/vm (one nested L1 boot, interleaved
rounds) is called and its Markdown tables land in the notes; only its ratios mean something."""
import os
import sys

from .common import BENCH, Bench, Row, sh

NAME = "vm"
SUMMARY = "micro-VMs: boot, VMM overhead, virtio-blk vs QEMU (needs /dev/kvm)"
RUNS = ("-", "-")          # runs nothing without /dev/kvm
ROWS = ("kapsel-vmm boot to init", "QEMU microvm boot to init", "QEMU q35 boot to init",
        "kapsel-vmm memory overhead", "QEMU memory overhead", "kapsel-vmm virtio-blk read", "QEMU virtio-blk read")


def run(ctx):
    b = Bench(NAME, "Micro-VMs: boot, overhead, virtio-blk, density",
              "kapsel-vmm against QEMU `-M microvm` and `-M q35` with the same kernel and initrd "
              "(issue 5), and idle micro-VM density against QEMU.")
    vmm = os.path.join(ctx.build, "src/vmm/kapsel-vmm")
    script = os.path.join(BENCH, "vm")
    if os.path.exists("/dev/kvm"):
        reason = "not available (bench/vm measures inside a nested L1 only; direct /dev/kvm mode not written yet)"
    elif not os.access(vmm, os.X_OK):
        reason = "not available (kapsel-vmm not built on this tree)"
    elif not os.access(script, os.X_OK):
        reason = "not available (no bench/vm on this tree)"
    else:
        p = sh([sys.executable, script] + (["--quick"] if ctx.quick else []), check=False, timeout=3600)
        b.notes.append("bench/vm output:\n\n```\n%s%s```" % (p.stdout, p.stderr[-400:] if p.returncode else ""))
        reason = None if p.returncode == 0 else "bench/vm failed (exit %d)" % p.returncode
    t = b.table("micro-VM rows", "-")
    if reason:
        for r in ROWS:
            t.add(Row(r, unavailable=reason))
    return b
