"""runtime: bench/runtime (start, exec, peak RSS against crun and runc) plus the floor row."""
import json
import os
import sys

from . import prep
from .common import BENCH, Bench, Row, sh

NAME = "runtime"
SUMMARY = "OCI runtime: start (run /bin/true) and exec, peak RSS; kapsel-runtime vs crun, runc and the floor.c limit"
RUNS = (30, 8)              # runs per contender: full, --quick
RSS_TARGET_KB = 2048


def run(ctx):
    b = Bench(NAME, "OCI runtime: container start, exec and peak RSS",
              "`run` of /bin/true in a busybox bundle (pid, ipc, uts, mount, network namespaces), "
              "`exec /bin/true` into a running container, and the runtime's peak RSS "
              "(ru_maxrss, from bench/rss-launch.c), by `bench/runtime`. The floor row is "
              "bench/floor.c: clone with the same namespaces, pivot_root, /proc and /dev mounts, exec: "
              "the work no runtime can skip.")
    if not os.access(ctx.runtime, os.X_OK):
        b.error = "%s not built (meson setup build && ninja -C build)" % ctx.runtime
        return b
    runs = ctx.n(*RUNS)
    floor = prep.build_tool(ctx.work, "floor")
    out = os.path.join(ctx.work, "runtime.json")
    p = sh([sys.executable, os.path.join(BENCH, "runtime"), "-n", str(runs), "--json", out,
            "--runtime", ctx.runtime, "--floor", floor], check=False, capture_output=True)
    b.notes.append("bench/runtime output:\n\n```\n%s```" % p.stdout)
    if p.returncode:
        b.error = "bench/runtime failed: %s" % (p.stderr.strip()[-500:])
        return b
    with open(out) as f:
        res = json.load(f)
    rts = res["runtimes"]
    label = {"kapsel": "kapsel-runtime"}
    start = b.table("start: run /bin/true", "ms")
    execs = b.table("exec /bin/true into a running container", "ms")
    rss = b.table("peak RSS of the runtime process", "KiB")
    for name, r in rts.items():
        start.add(Row(label.get(name, name), r["run_ms"]["samples"]))
        execs.add(Row(label.get(name, name), r["exec_ms"]["samples"]))
        rss.add(Row(label.get(name, name), [max(r["peak_rss_kb"].values())],
                    note="the maximum over all runs", single=True))
    if "floor_run_ms" in res:
        start.add(Row("floor", res["floor_run_ms"]["samples"]))
    rss.add(Row("target", [RSS_TARGET_KB], single=True))
    for t, what in ((start, "start"), (execs, "exec")):
        b.claim(t, "kapsel-runtime", "crun", 0.6, label="%s: kapsel-runtime / crun" % what)
        b.claim(t, "kapsel-runtime", "runc", label="%s: kapsel-runtime / runc" % what)
    b.claim(start, "kapsel-runtime", "floor", label="start: kapsel-runtime / floor")
    b.claim(rss, "kapsel-runtime", "target", 1.0, label="peak RSS: kapsel-runtime / 2 MiB")
    return b
