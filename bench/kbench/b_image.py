"""image: load/import and unpack a Debian image (minbase + build-essential, the compile study's
rootfs) with kapsel against podman and umoci. Every run starts from an empty store, made and
removed outside the timed part; `sync` before each run so no run pays the previous one's
writeback."""
import os
import shutil

from . import prep
from .common import CACHE, Bench, interleave, log, rows_from, sh, timed, which
from .engines import Kapsel, Podman

NAME = "image"


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

    def fresh():
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)
        sh(["sync"])

    ops = {
        "kapsel load": lambda: Kapsel(ctx.kapsel, os.path.join(scratch, "k")).cmd("load", "-i", archive),
        "podman load": lambda: Podman(os.path.join(scratch, "p")).cmd("load", "-i", archive),
        "umoci unpack": lambda: ["umoci", "unpack", "--image", layout + ":bench", os.path.join(scratch, "u")],
        "kapsel import": lambda: Kapsel(ctx.kapsel, os.path.join(scratch, "k")).cmd("import", rootfs_tar, "bench"),
        "podman import": lambda: Podman(os.path.join(scratch, "p")).cmd("import", rootfs_tar, "localhost/bench"),
    }
    names = [n for n in ops if not (unusable and n.startswith("kapsel"))]

    def measure(name, i):
        fresh()
        try:
            return timed(ops[name](), timeout=1800)
        finally:
            if name.startswith("podman"):
                Podman(os.path.join(scratch, "p")).cleanup()
            shutil.rmtree(scratch, ignore_errors=True)

    runs = ctx.n(5, 2)
    log("image: %d interleaved runs of %s" % (runs, ", ".join(names)))
    samples, failed = interleave(names, runs, measure, log=log)
    if unusable:
        failed.update({n: unusable for n in ops if n.startswith("kapsel")})
    t = b.table("image file to unpacked image", "s")
    rows_from(t, list(ops), samples, failed)
    b.claim(t, "kapsel load", "podman load", 1.0, label="kapsel load / podman load")
    b.claim(t, "kapsel load", "umoci unpack", 1.0, label="kapsel load / umoci unpack")
    b.claim(t, "kapsel import", "podman import", 1.0, label="kapsel import / podman import")
    return b
