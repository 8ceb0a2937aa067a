"""image: load/import and unpack a Debian image (minbase + build-essential, the compile study's
rootfs) with kapsel against podman and umoci. Every run starts from an empty store, made and
removed outside the timed part; `sync` before each run so no run pays the previous one's
writeback."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

from . import prep
from .common import CACHE, Bench, Row, interleave, log, rows_from, sh, timed, which
from .engines import Kapsel, Podman

NAME = "image"
SUMMARY = "images: Debian image archive to unpacked image, kapsel load/import vs podman load/import and umoci unpack"
RUNS = (3, 1)              # runs per contender: full, --quick


def oci_image(rootfs_tar):
    """An OCI layout with the rootfs as one gzip layer (umoci), and the same as an OCI archive
    (a tar of the layout, what `kapsel load` and `podman load` read). Cached."""
    base = os.path.join(CACHE, "image")

    def make(tmp):
        os.makedirs(tmp)
        layout = os.path.join(tmp, "layout")
        log("prep: umoci layout of %s (once)" % rootfs_tar)
        sh(["umoci", "init", "--layout", layout])
        sh(["umoci", "new", "--image", layout + ":bench"])
        sh(["umoci", "raw", "add-layer", "--image", layout + ":bench", rootfs_tar], timeout=1800)
        sh(["tar", "-C", layout, "-cf", os.path.join(tmp, "image.tar"), "."])
    prep._atomic_dir(base, make)
    return os.path.join(base, "layout"), os.path.join(base, "image.tar")


class Registry:
    """Debian's docker-registry (distribution 2.8) on a free loopback port, storage in the work dir."""

    def __init__(self, work):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.host = "127.0.0.1:%d" % s.getsockname()[1]
        os.makedirs(work, exist_ok=True)
        cfg = os.path.join(work, "registry.yml")
        with open(cfg, "w") as f:       # YAML is a superset of JSON
            json.dump({"version": 0.1, "log": {"level": "error"}, "http": {"addr": self.host},
                       "storage": {"filesystem": {"rootdirectory": os.path.join(work, "storage")}}}, f)
        self.logf = open(os.path.join(work, "registry.log"), "wb")
        self.proc = subprocess.Popen([which("docker-registry"), "serve", cfg], stdout=self.logf,
                                     stderr=self.logf, stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen("http://%s/v2/" % self.host, timeout=1)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("docker-registry did not start")
                time.sleep(0.2)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.logf.close()


def measure_in(scratch, ops):
    """interleave()'s measure: each run of ops[name] (a command) starts from an empty, synced
    `scratch` and leaves nothing behind (podman's storage is unmounted, the directory removed)."""
    def measure(name, i):
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)
        sh(["sync"])
        try:
            return timed(ops[name](), timeout=1800)
        finally:
            if name.startswith("podman"):
                Podman(os.path.join(scratch, "p")).cleanup()
            shutil.rmtree(scratch, ignore_errors=True)
    return measure


def pull_table(b, ctx, layout, kapsel_reason):
    """Pull the same image from a registry on loopback: kapsel pull, podman pull (both unpack it),
    skopeo copy to an OCI layout (only fetches and stores the blobs: no unpack)."""
    t = b.table("pull from a local registry (docker-registry on loopback)", "s")
    names = ["kapsel pull", "podman pull", "skopeo copy"]
    if not which("docker-registry") or not which("skopeo"):
        for n in names:
            t.add(Row(n, unavailable="docker-registry or skopeo not installed"))
        return
    work = os.path.join(ctx.work, "registry")
    reg = Registry(work)
    scratch = os.path.join(ctx.work, "pull")
    try:
        ref = "%s/kbench/debian:bench" % reg.host
        sh(["skopeo", "copy", "--dest-tls-verify=false", "oci:%s:bench" % layout, "docker://" + ref], timeout=1800)
        ops = {
            "kapsel pull": lambda: Kapsel(ctx.kapsel, os.path.join(scratch, "k")).cmd("pull", "--tls-verify=false", ref),
            "podman pull": lambda: Podman(os.path.join(scratch, "p")).cmd("pull", "--tls-verify=false", ref),
            "skopeo copy": lambda: ["skopeo", "copy", "--src-tls-verify=false", "docker://" + ref,
                                    "oci:%s:bench" % os.path.join(scratch, "s")],
        }
        run_names = [n for n in names if not (kapsel_reason and n.startswith("kapsel"))]
        runs = ctx.n(*RUNS)
        log("image: %d interleaved pulls of %s" % (runs, ", ".join(run_names)))
        samples, failed = interleave(run_names, runs, measure_in(scratch, ops), log=log)
        if kapsel_reason:
            failed["kapsel pull"] = kapsel_reason
        rows_from(t, names, samples, failed)
        # issue 3 sets no target for pulls; skopeo only stores the blobs (no unpack)
        b.claim(t, "kapsel pull", "podman pull", label="kapsel pull / podman pull")
        b.claim(t, "kapsel pull", "skopeo copy", label="kapsel pull / skopeo copy (skopeo does not unpack)")
    finally:
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def run(ctx):
    b = Bench(NAME, "Images: load, import and unpack a Debian image",
              "Time from an image file to an unpacked, usable image in an empty store. `load`: the "
              "OCI archive (one gzip layer) by `kapsel load` and `podman load`; `umoci unpack` of the "
              "same image from its OCI layout into a bundle (the layout is already extracted: umoci "
              "skips reading the archive the others read). `import`: the plain rootfs tarball "
              "by `kapsel import` and `podman import`.")
    for tool in ("umoci", "podman"):
        if not which(tool):
            b.error = "%s not installed" % tool
            return b
    rootfs = prep.build_rootfs()
    rootfs_tar = prep.tar_of(rootfs, os.path.join(CACHE, "rootfs.tar"))
    layout, archive = oci_image(rootfs_tar)
    b.notes.append("Image: Debian %s minbase + build-essential, %s MiB unpacked, archive %s MiB (gzip layer)." %
                   (prep.SUITE, prep.du_mib(rootfs), os.path.getsize(archive) >> 20))
    scratch = os.path.join(ctx.work, "image")
    kapsel = Kapsel(ctx.kapsel, os.path.join(scratch, "k"))
    unusable = kapsel.available()

    ops = {
        "kapsel load": lambda: Kapsel(ctx.kapsel, os.path.join(scratch, "k")).cmd("load", "-i", archive),
        "podman load": lambda: Podman(os.path.join(scratch, "p")).cmd("load", "-i", archive),
        "umoci unpack": lambda: ["umoci", "unpack", "--image", layout + ":bench", os.path.join(scratch, "u")],
        "kapsel import": lambda: Kapsel(ctx.kapsel, os.path.join(scratch, "k")).cmd("import", rootfs_tar, "bench"),
        "podman import": lambda: Podman(os.path.join(scratch, "p")).cmd("import", rootfs_tar, "localhost/bench"),
    }
    names = [n for n in ops if not (unusable and n.startswith("kapsel"))]
    runs = ctx.n(*RUNS)
    log("image: %d interleaved runs of %s" % (runs, ", ".join(names)))
    samples, failed = interleave(names, runs, measure_in(scratch, ops), log=log)
    if unusable:
        failed.update({n: unusable for n in ops if n.startswith("kapsel")})
    t = b.table("image file to unpacked image", "s")
    rows_from(t, list(ops), samples, failed)
    b.claim(t, "kapsel load", "podman load", 1.0, label="kapsel load / podman load")
    b.claim(t, "kapsel load", "umoci unpack", 1.0, label="kapsel load / umoci unpack")
    b.claim(t, "kapsel import", "podman import", 1.0, label="kapsel import / podman import")
    pull_table(b, ctx, layout, unusable)
    return b
