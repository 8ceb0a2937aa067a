"""Startup cost of the isolation kinds (bench/vm --isolation): the wall time of

    kapsel run --rm --network none busybox true                    (container)
    kapsel run --rm --network none --isolation=vm busybox true     (micro-VM)
    podman run --rm --network none <krun handler> busybox true     (podman + crun's krun, where it exists)

Without /dev/kvm (this development machine) the container and micro-VM rows are measured inside
one nested L1 VM (QEMU TCG with AMD SVM; tests/harness/ engine_l1.py + kvmsuite.py), interleaved
rounds with the start rotating, and the container row also on the host itself for reference. With
/dev/kvm every row is measured on the host, interleaved. Nested figures are inflated by the
emulation (an L2 kernel boots 10-100x slower than on hardware): compare rows of one environment
only. A contender that cannot run here is a row saying why, never a number.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

from . import prep
from .common import interleave, loadavg, log, timed
from .engines import Kapsel, Podman

CONTAINER = "kapsel run (container)"
VM = "kapsel run --isolation=vm"
KRUN = "podman run, crun krun handler"
ORDER = [CONTAINER, VM, KRUN]
ARGS = {CONTAINER: [], VM: ["--isolation=vm"]}
L2_TIMEOUT = 300        # one nested `run --isolation=vm` (an L2 boot is 20-40 s under load)


def krun_runtime():
    """(podman --runtime value, extra podman run args) for crun's krun handler, or (None, reason)."""
    reasons = []
    if not shutil.which("podman"):
        reasons.append("podman not installed")
    crun = shutil.which("crun")
    version = subprocess.run([crun, "--version"], capture_output=True, text=True).stdout if crun else ""
    first = version.splitlines()[0] if version else "no crun"
    krun = shutil.which("krun")
    runtime = args = None
    if krun:
        runtime, args = krun, []
    elif "+LIBKRUN" in version:
        runtime, args = crun, ["--annotation", "run.oci.handler=krun"]
    else:
        reasons.append("%s is built without +LIBKRUN, no krun binary (Debian 12 has no libkrun package)"
                       % first.replace(" version", ""))
    if not os.path.exists("/dev/kvm"):
        reasons.append("no /dev/kvm")
    if reasons:
        return None, "not available (%s)" % "; ".join(reasons)
    return runtime, args


def l1_script(runs):
    """L1's /init body: warm-up of each contender, then `runs` interleaved rounds, then one kept
    micro-VM run for inspect's VmBootMs/VmStartMs. One KAPSEL-BENCH line per sample."""
    import engine_l1
    import kvmsuite
    lines = [kvmsuite.L1_PRELUDE, engine_l1.ENV, r"""
mount -t cgroup2 cgroup2 /sys/fs/cgroup || echo "KAPSEL-HARNESS no cgroup2"
K="kapsel --root /tmp/kr"
# sample KIND NAME ARGS...: one `kapsel run --rm --network none ARGS busybox true`, timed
sample() {
        kind=$1; name=$2; shift 2
        s=$(up)
        timeout %d $K run --rm --network none "$@" busybox true > /tmp/o 2>&1
        rc=$?; e=$(up)
        echo "KAPSEL-BENCH $kind \"$name\" start=$s end=$e rc=$rc"
        [ $rc = 0 ] || echo "KAPSEL-BENCH-ERR \"$name\" $(tail -c 400 /tmp/o | tr '\n' '|')"
        left=$(pidof kapsel-vmm kapsel-monitor)
        [ -z "$left" ] || { echo "KAPSEL-BENCH-ERR \"$name\" left running: $left"; kill -9 $left 2>/dev/null; }
}
""" % L2_TIMEOUT]
    names = [CONTAINER, VM]
    for name in names:
        lines.append("sample warmup %s %s" % (shq(name), " ".join(ARGS[name])))
    for r in range(runs):
        lines.append("echo KAPSEL-BENCH round %d" % r)
        k = r % len(names)
        for name in names[k:] + names[:k]:
            lines.append("sample run %s %s" % (shq(name), " ".join(ARGS[name])))
    lines.append(r"""
s=$(up)
timeout %d $K run --name kept --network none --isolation=vm busybox true > /tmp/o 2>&1
e=$(up)
t=$($K inspect --format '{{.State.VmBootMs}} {{.State.VmStartMs}}' kept 2>&1)
echo "KAPSEL-BENCH inspect \"%s\" start=$s end=$e boot_ms=${t%% *} start_ms=${t#* }"
$K rm -f kept > /dev/null 2>&1
""" % (L2_TIMEOUT, VM))
    lines.append(kvmsuite.L1_END)
    return "\n".join(lines)


def shq(s):
    return "'" + s.replace("'", "'\\''") + "'"


def parse(out):
    """{'warmup': {name: [s]}, 'run': {name: [s]}, 'inspect': [{...}]}, [error lines]"""
    res, errors = {"warmup": {}, "run": {}, "inspect": []}, []
    for line in out.splitlines():
        if line.startswith("KAPSEL-BENCH-ERR "):
            errors.append(line.split(" ", 1)[1])
            continue
        if not line.startswith("KAPSEL-BENCH ") or line.startswith("KAPSEL-BENCH round"):
            continue
        kind, rest = line.split(" ", 2)[1:]
        name, fields = rest[1:].split('"', 1)
        kv = dict(f.split("=", 1) for f in fields.split() if "=" in f)
        secs = float(kv["end"]) - float(kv["start"])
        if kind == "inspect":
            res["inspect"].append({"wall_s": secs, "VmBootMs": kv.get("boot_ms"), "VmStartMs": kv.get("start_ms")})
        elif kv.get("rc") == "0":
            res[kind].setdefault(name, []).append(secs)
    return res, errors


def nested_rows(repo, work, runs):
    """Boot one L1 and run the interleaved rounds there. Returns (parsed, errors, console tail or None)."""
    import engine_l1
    import kvmsuite
    build = os.path.join(repo, "build")
    vmm = os.path.join(build, "src/vmm/kapsel-vmm")
    reason = kvmsuite.missing_prerequisites(vmm) or engine_l1.missing(build)
    if reason:
        return None, ["nested L1 not possible: " + reason], None
    vm = kvmsuite.l1_image(work, vmm, extra_modules=engine_l1.L1_MODULES)
    engine_l1.add_engine(vm, build)
    vm.set_init(l1_script(runs))
    out = kvmsuite.boot(vm, work, "isolation bench", timeout=400 + runs * 2 * L2_TIMEOUT // 3)
    if "KAPSEL-HARNESS no /dev/kvm" in out:
        return None, ["L1 has no /dev/kvm (kvm-amd did not load)"], out[-3000:]
    res, errors = parse(out)
    tail = None if "KAPSEL-HARNESS done" in out else out[-3000:]
    return res, errors, tail


def host_rows(repo, work, runs):
    """Interleaved runs on the host: the container row always; with /dev/kvm also the micro-VM and
    podman + krun. Returns ({name: [s]}, {name: reason})."""
    kapsel = Kapsel(os.path.join(repo, "build/src/cli/kapsel"), os.path.join(work, "host-kapsel"))
    pm = None
    cmds, failed = {}, {}
    try:
        reason = kapsel.available()
        names = [CONTAINER] + ([VM] if os.path.exists("/dev/kvm") else [])
        for name in names:
            if reason:
                failed[name] = reason
            else:
                cmds[name] = kapsel.cmd("run", "--rm", "--network", "none", *ARGS[name], "busybox", "true")
        runtime, extra = krun_runtime()
        if runtime is None:
            failed[KRUN] = extra
        else:
            pm = Podman(os.path.join(work, "host-podman"))
            pm.import_(prep.tar_of(prep.busybox_rootfs(work), os.path.join(work, "busybox.tar")), "localhost/busybox")
            c = pm.run_cmd("localhost/busybox", ["true"], runtime=runtime)
            cmds[KRUN] = c[:c.index("run") + 1] + extra + c[c.index("run") + 1:]
        for name in list(cmds):         # warm-up (image import, caches): not measured
            try:
                timed(cmds[name], timeout=L2_TIMEOUT)
            except Exception as e:      # noqa: BLE001 - a broken contender is a row saying why
                failed[name] = "failed: " + str(e).strip()[:300]
                del cmds[name]
        samples, broken = interleave(cmds, runs, lambda name, i: timed(cmds[name], timeout=L2_TIMEOUT), log=None)
        failed.update({n: "failed: " + e for n, e in broken.items()})
        return samples, failed
    finally:
        kapsel.cleanup()
        if pm:
            pm.cleanup()


def stats(xs):
    return {"runs": len(xs), "median": statistics.median(xs), "min": min(xs), "max": max(xs), "samples": xs} if xs else None


def collect(repo, runs, host_runs, work):
    """Everything measured, as one JSON-able dict."""
    kvm = os.path.exists("/dev/kvm")
    result = {"rounds": runs, "host_runs": host_runs, "host_has_kvm": kvm, "host": {}, "nested": None,
              "unavailable": {}, "errors": [], "inspect": [], "loadavg_start": loadavg(),
              "kapsel_commit": commit(repo)}
    log("isolation: %d interleaved host runs of the host rows" % host_runs)
    samples, failed = host_rows(repo, work, host_runs)
    result["host"] = {n: stats(xs) for n, xs in samples.items() if xs}
    result["unavailable"].update({"host: " + n: r for n, r in failed.items()})
    if not kvm:
        log("isolation: no /dev/kvm: %d interleaved rounds inside one nested L1 (takes minutes)" % runs)
        res, errors, tail = nested_rows(repo, work, runs)
        result["errors"] += errors
        if tail:
            result["l1_console_tail"] = tail
        if res:
            result["nested"] = {n: stats(res["run"].get(n, [])) for n in (CONTAINER, VM)}
            result["nested_warmup"] = res["warmup"]
            result["inspect"] = res["inspect"]
    result["loadavg_end"] = loadavg()
    return result


def commit(repo):
    p = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return p.stdout.strip() or None


def fmt_ms(x):
    return "%.0f" % (x * 1000) if x >= 1 else "%.1f" % (x * 1000)


def table(title, rows, unavailable):
    out = ["### %s" % title, "", "| | runs | median ms | min ms | max ms |", "|---|---|---|---|---|"]
    for name in ORDER:
        st = rows.get(name)
        if st:
            out.append("| %s | %d | %s | %s | %s |" % (name, st["runs"], fmt_ms(st["median"]), fmt_ms(st["min"]),
                                                     fmt_ms(st["max"])))
        elif name in unavailable:
            out.append("| %s | 0 | %s | | |" % (name, unavailable[name]))
    ratio = ratio_of(rows)
    if ratio:
        out += ["", "micro-VM / container (ratio of medians): **%.1fx**" % ratio]
    return "\n".join(out) + "\n"


def ratio_of(rows):
    a, b = rows.get(VM), rows.get(CONTAINER)
    return a["median"] / b["median"] if a and b else None


def markdown(r):
    env = "the host (has /dev/kvm)" if r["host_has_kvm"] else "the host (no /dev/kvm: container row only)"
    host_unavail = {k[len("host: "):]: v for k, v in r["unavailable"].items() if k.startswith("host: ")}
    if not r["host_has_kvm"]:
        host_unavail.setdefault(VM, "measured in the nested L1 below (no /dev/kvm here)")
    parts = ["## Isolation startup cost: `run --rm --network none busybox true`", "",
             "Wall time of the whole CLI command, interleaved (the first contender rotates each round); "
             "warm-up runs are not counted.", "",
             table("On %s, %d runs each" % (env, r["host_runs"]), r["host"], host_unavail)]
    if not r["host_has_kvm"]:
        parts.append("")
        if r["nested"]:
            parts.append(table("Inside one nested L1 (QEMU TCG + AMD SVM, KVM in L1), %d interleaved rounds"
                               % r["rounds"], {k: v for k, v in r["nested"].items() if v},
                               {KRUN: "not run in L1 (no podman there); see the host row"}))
            parts.append("Nested emulation inflates the micro-VM figures far more than the container ones (an L2 "
                         "kernel boot is 10-100x slower than on hardware): the ratio holds for this run only, "
                         "compare rows within one table, never with the host table.\n")
            for i in r["inspect"]:
                parts.append("`kapsel inspect` of one kept micro-VM run (nested): State.VmBootMs %s, "
                             "State.VmStartMs %s (wall time of that run %s ms).\n"
                             % (i["VmBootMs"], i["VmStartMs"], fmt_ms(i["wall_s"])))
        else:
            parts.append("Nested rows: not measured.\n")
    if r.get("loadavg_end"):
        parts.append("kapsel %s; load average (/proc/loadavg) at start `%s`, at end `%s`.\n"
                     % (r.get("kapsel_commit"), r["loadavg_start"], r["loadavg_end"]))
    if r["errors"]:
        parts.append("Errors:\n\n" + "\n".join("- " + e for e in r["errors"][:20]) + "\n")
    if r.get("l1_console_tail"):
        parts.append("L1 did not finish; the tail of its console:\n\n```\n%s\n```\n" % r["l1_console_tail"])
    return "\n".join(parts)


def _stop(signum, frame):
    raise SystemExit("bench/vm: stopped by signal %d; cleaning up" % signum)


def main(repo, runs, host_runs, json_path=None, md_path=None):
    if os.geteuid() != 0:
        sys.exit("bench/vm --isolation: run as root (containers, KVM)")
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _stop)       # unwind through the finally below (QEMU, stores, temp dir)
    work = tempfile.mkdtemp(prefix="kapsel-isobench-")
    try:
        r = collect(repo, runs, host_runs, work)
        md = markdown(r)
        print(md)
        if json_path:
            with open(json_path, "w") as f:
                json.dump(r, f, indent=1)
        if md_path:
            with open(md_path, "w") as f:
                f.write(md)
        ok = r["host"].get(CONTAINER) and (r["host_has_kvm"] or (r["nested"] and r["nested"].get(VM)))
        return 0 if ok else 1
    finally:
        if os.environ.get("KAPSEL_BENCH_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
