"""engine: `kapsel run --rm busybox true` against `podman run --rm` with crun, with runc and
with kapsel-runtime as podman's runtime; all with --network none, interleaved."""
import os

from . import prep
from .common import Bench, interleave, log, rows_from, timed
from .engines import Kapsel, Podman

NAME = "engine"
SUMMARY = "engine: `run --rm busybox true`, kapsel vs podman (crun, runc, kapsel-runtime)"
RUNS = (20, 5)              # runs per contender: full, --quick
TARGET = 0.2        # issue 3: at most 0.2x podman's time


def run(ctx):
    b = Bench(NAME, "Engine: run --rm busybox true",
              "Wall time of the whole CLI command `run --rm --network none busybox true`: image "
              "lookup, rootfs snapshot, spec, namespaces, the container, its exit status, removal. "
              "kapsel (no daemon, runtime core in process) against podman 4.3 (also daemonless) with "
              "crun, runc and kapsel-runtime as its OCI runtime. Both engines run from temporary "
              "roots with the same busybox rootfs imported.")
    reason = Podman.available()
    bb = prep.tar_of(prep.busybox_rootfs(ctx.work), os.path.join(ctx.work, "busybox.tar"))
    k = Kapsel(ctx.kapsel, os.path.join(ctx.work, "engine-kapsel"))
    pm = Podman(os.path.join(ctx.work, "engine-podman"))
    try:
        cmds, broken = {}, {}
        kreason = k.available()
        if not kreason:
            try:
                k.import_(bb, "busybox")
                cmds["kapsel"] = k.run_cmd("busybox", ["true"])
            except RuntimeError as e:
                kreason = "import failed: %s" % e
        if kreason:
            broken["kapsel"] = kreason
        if not reason:
            pm.import_(bb, "localhost/busybox")
            for rt, path in (("crun", "crun"), ("runc", "runc"), ("kapsel-runtime", ctx.runtime)):
                cmds["podman+" + rt] = pm.run_cmd("localhost/busybox", ["true"], runtime=path)
        else:
            broken.update({"podman+" + rt: reason for rt in ("crun", "runc", "kapsel-runtime")})
        for name in list(cmds):           # warm-up: first runs fill caches, not measured
            try:
                timed(cmds[name])
            except RuntimeError as e:
                broken[name] = str(e)[:300]
                del cmds[name]
        runs = ctx.n(*RUNS)
        log("engine: %d interleaved runs of %s" % (runs, ", ".join(cmds)))
        samples, failed = interleave(cmds, runs, lambda name, i: timed(cmds[name]), log=None)
        failed.update(broken)
        t = b.table("run --rm busybox true", "ms")
        rows_from(t, ["kapsel", "podman+crun", "podman+runc", "podman+kapsel-runtime"], samples, failed,
                  scale=1000.0)
        b.claim(t, "kapsel", "podman+crun", TARGET, label="kapsel / podman (crun)")
        b.claim(t, "kapsel", "podman+runc", TARGET, label="kapsel / podman (runc)")
        b.claim(t, "podman+kapsel-runtime", "podman+crun", label="podman with kapsel-runtime / with crun")
    finally:
        k.cleanup()
        pm.cleanup()
    return b
