"""Inputs the benchmarks share, made once: small ones per run in the work dir, the slow ones
(Debian rootfs, compile source, image archive) cached under /var/cache/kapsel-bench and never
rebuilt. Every cached item is built under a temporary name and renamed into place, so an
interrupted build leaves no half-made cache behind."""
import glob
import os
import shutil
import subprocess
import tarfile

from .common import BENCH, CACHE, log, sh, which

MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# Debian source package of the compile study (see b_compile.py); KAPSEL_BENCH_COMPILE=sed picks
# another one (its upstream tree must build with ./configure && make)
COMPILE_SOURCE = os.environ.get("KAPSEL_BENCH_COMPILE", "gzip")


def _atomic_dir(final, build):
    """build(tmpdir) fills tmpdir; then it becomes `final`."""
    if os.path.isdir(final):
        return final
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    build(tmp)
    os.rename(tmp, final)
    return final


def busybox_rootfs(work):
    """Debian's static busybox with every applet linked by name (2 MB, 0.3 s)."""
    root = os.path.join(work, "busybox-rootfs")
    if os.path.isdir(root):
        return root
    bb = "/bin/busybox"
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "etc", "tmp", "root"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(bb, os.path.join(root, "bin/busybox"))
    applets = sh([bb, "--list-full"]).stdout.split()
    for a in applets:
        if a != "bin/busybox":
            os.symlink("/bin/busybox", os.path.join(root, a))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(root, "etc/group"), "w") as f:
        f.write("root:x:0:\n")
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    return root


def tar_of(rootfs, out):
    """An uncompressed rootfs tarball (what `kapsel import` / `podman import` read)."""
    if not os.path.exists(out):
        sh(["tar", "--numeric-owner", "-C", rootfs, "-cf", out + ".tmp", "."])
        os.rename(out + ".tmp", out)
    return out


def build_rootfs():
    """Debian 12 minbase + build-essential: the compiler image of the compile study.
    debootstrap takes ~3 minutes plus the packages; cached forever."""
    def make(tmp):
        if not which("debootstrap"):
            raise RuntimeError("debootstrap missing: apt-get install debootstrap")
        log("prep: debootstrap --variant=minbase --include=build-essential %s (a few minutes, once)" % SUITE)
        sh(["debootstrap", "--variant=minbase", "--include=build-essential", SUITE, tmp, MIRROR], timeout=3600)
        for deb in glob.glob(os.path.join(tmp, "var/cache/apt/archives/*.deb")):
            os.unlink(deb)
    return _atomic_dir(os.path.join(CACHE, "rootfs"), make)


def _deb_src_configured():
    for f in glob.glob("/etc/apt/sources.list") + glob.glob("/etc/apt/sources.list.d/*"):
        if not f.endswith((".list", ".sources")):
            continue
        with open(f) as fh:
            text = fh.read()
        if "deb-src" in text:
            return True
    return False


def _add_deb_src():
    """A deb-src entry for Debian's mirror, in a file of its own, only when the mirror answers."""
    p = subprocess.run(["apt-get", "-q", "-o", "Acquire::http::Timeout=15", "update"],
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError("the Debian mirror does not answer (apt-get update failed): cannot fetch sources")
    path = "/etc/apt/sources.list.d/kapsel-bench-src.sources"
    with open(path, "w") as f:
        f.write("Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n"
                "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n" % (MIRROR, SUITE))
    log("prep: added %s (deb-src for %s)" % (path, MIRROR))
    sh(["apt-get", "-q", "update"], timeout=600)


def compile_source():
    """The upstream tarball of the Debian source package, unpacked pristine; returns
    (tree, "package version")."""
    base = os.path.join(CACHE, "src-" + COMPILE_SOURCE)

    def make(tmp):
        os.makedirs(tmp)
        if not _deb_src_configured():
            _add_deb_src()
        log("prep: apt-get source --download-only %s" % COMPILE_SOURCE)
        p = subprocess.run(["apt-get", "source", "--download-only", COMPILE_SOURCE], cwd=tmp,
                           capture_output=True, text=True, timeout=600)
        if p.returncode:
            raise RuntimeError("apt-get source %s failed: %s" % (COMPILE_SOURCE, p.stderr.strip()[-300:]))
        # (the upstream signature, .orig.tar.xz.asc, matches the pattern too)
        orig = [f for f in glob.glob(os.path.join(tmp, "%s_*.orig.tar.*" % COMPILE_SOURCE)) if not f.endswith(".asc")]
        if not orig:
            raise RuntimeError("no upstream tarball in the %s source package" % COMPILE_SOURCE)
        with tarfile.open(orig[0]) as t:
            t.extractall(tmp, **({"filter": "tar"} if hasattr(tarfile, "data_filter") else {}))
        for f in glob.glob(os.path.join(tmp, COMPILE_SOURCE + "_*")):
            if not f.endswith(".dsc"):
                os.unlink(f)
    _atomic_dir(base, make)
    trees = [d for d in glob.glob(os.path.join(base, COMPILE_SOURCE + "-*")) if os.path.isdir(d)]
    if len(trees) != 1:
        raise RuntimeError("expected one %s-* tree in %s" % (COMPILE_SOURCE, base))
    dsc = glob.glob(os.path.join(base, "*.dsc"))
    version = os.path.basename(dsc[0])[:-4].replace("_", " ") if dsc else os.path.basename(trees[0])
    return trees[0], version


def build_tool(work, name, static=True):
    """Compile bench/NAME.c into the work dir (the floor and the RSS launcher)."""
    out = os.path.join(work, name)
    if not os.path.exists(out):
        sh(["cc", "-O2", "-Wall", "-Wextra"] + (["-static"] if static else []) +
           ["-o", out, os.path.join(BENCH, name + ".c")])
    return out


def du_mib(path):
    p = sh(["du", "-sm", path], check=False)
    return int(p.stdout.split()[0]) if p.returncode == 0 and p.stdout else None
