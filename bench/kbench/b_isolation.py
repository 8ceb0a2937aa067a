"""isolation: the startup cost of each isolation kind, `run --rm --network none busybox true` as a
container, as a micro-VM (`--isolation=vm`) and with podman + crun's krun handler where it exists.
bench/vm --isolation does the measuring (kbench/iso.py); without /dev/kvm it runs the container
and micro-VM rows in one nested L1 and the container row on the host too. Nested rows sit in a
table of their own: emulation inflates them, only their ratio means something."""
import json
import os
import sys

from . import iso
from .common import BENCH, Bench, Row, sh

NAME = "isolation"
SUMMARY = "isolation: `run --rm busybox true` as container, micro-VM (nested without KVM), podman+krun"
RUNS = (6, 2)       # nested interleaved rounds: full, --quick (host rows: 20, 5)


def rows(table, measured, unavailable):
    for name in iso.ORDER:
        st = measured.get(name)
        if st:
            table.add(Row(name, [s * 1000.0 for s in st["samples"]]))
        elif name in unavailable:
            table.add(Row(name, unavailable=unavailable[name]))


def run(ctx):
    b = Bench(NAME, "Isolation: startup cost of run --rm busybox true",
              "Wall time of `kapsel run --rm --network none busybox true` as a container and with "
              "`--isolation=vm` (a micro-VM: stock Debian kernel, kapsel's guest init, kapsel-vmm), "
              "interleaved, and podman with crun's krun handler where it exists. Without /dev/kvm both "
              "kapsel rows are measured inside one nested L1 VM (KVM under QEMU TCG), where the micro-VM "
              "is inflated by the emulation far more than the container: compare within one table only.")
    out = os.path.join(ctx.work, "isolation.json")
    runs = ctx.n(*RUNS)
    cmd = [sys.executable, os.path.join(BENCH, "vm"), "--isolation", "--runs", str(runs), "--json", out]
    if ctx.quick:
        cmd += ["--host-runs", "5"]
    p = sh(cmd, check=False, timeout=7200)
    if not os.path.exists(out):
        raise RuntimeError("bench/vm --isolation wrote no results (exit %d): %s" % (p.returncode, p.stderr[-600:]))
    with open(out) as f:
        r = json.load(f)
    unavail = {k[len("host: "):]: v for k, v in r["unavailable"].items() if k.startswith("host: ")}
    if not r["host_has_kvm"]:
        unavail.setdefault(iso.VM, "not available on the host (no /dev/kvm): see the nested table")
    t = b.table("run --rm busybox true, host", "ms")
    rows(t, r["host"], unavail)
    if r["host_has_kvm"]:
        b.claim(t, iso.VM, iso.CONTAINER, label="micro-VM / container (host)")
        b.claim(t, iso.KRUN, iso.CONTAINER, label="podman+krun / kapsel container (host)")
        b.claim(t, iso.VM, iso.KRUN, label="kapsel micro-VM / podman+krun (host)")
    else:
        tn = b.table("run --rm busybox true, nested L1 (emulated KVM)", "ms")
        rows(tn, {k: v for k, v in (r["nested"] or {}).items() if v},
             {iso.KRUN: "not run in the nested L1 (no podman there); host: " + unavail.get(iso.KRUN, "?")})
        b.claim(tn, iso.VM, iso.CONTAINER, label="micro-VM / container (nested L1)")
        for i in r["inspect"]:
            b.notes.append("kapsel inspect of a kept micro-VM run (nested): State.VmBootMs %s, State.VmStartMs %s"
                           % (i["VmBootMs"], i["VmStartMs"]))
    b.notes += ["bench/vm --isolation: " + e for e in r["errors"][:10]]
    return b
