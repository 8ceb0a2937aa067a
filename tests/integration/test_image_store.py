# SPDX-License-Identifier: Apache-2.0
"""Image store against images made by other tools (umoci, skopeo) and the embedded busybox layout,
through tests/unit/test-image-driver (the CLI verbs come later). Root: the unpacked layers are
mounted with overlayfs and busybox runs from them."""
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KAPSEL_BUILD", os.path.join(REPO, "build"))
DRIVER = os.path.join(BUILD, "tests/unit/test-image-driver")
BUSYBOX = os.path.join(BUILD, "src/image/busybox-image")

pytestmark = pytest.mark.skipif(not os.path.exists(DRIVER) or not os.path.isdir(BUSYBOX),
                                reason="build dir lacks test-image-driver or busybox-image (run ninja -C build)")


def drv(root, *args, check=True):
    p = subprocess.run([DRIVER, str(root), *map(str, args)], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"driver {args}: rc={p.returncode} {p.stderr}")
    return p


def need(tool):
    if not shutil.which(tool):
        pytest.skip(f"{tool} not installed")


def test_busybox_layout_imports_and_runs(tmp_path):
    root = tmp_path / "store"
    drv(root, "import-oci", BUSYBOX, "busybox")
    layers = drv(root, "layers", "busybox").stdout.split()
    assert len(layers) == 1
    assert os.path.islink(os.path.join(layers[0], "bin/sh"))
    if os.geteuid() != 0:
        pytest.skip("mounting overlayfs needs root")
    merged, upper, work = tmp_path / "m", tmp_path / "u", tmp_path / "w"
    for d in (merged, upper, work):
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={layers[0]},upperdir={upper},workdir={work}", str(merged)], check=True)
    try:
        out = subprocess.run(["chroot", str(merged), "/bin/sh", "-c", "echo ok; id -un"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    assert out.split() == ["ok", "root"]


def test_skopeo_reads_our_layout_and_docker_archive_roundtrip(tmp_path):
    need("skopeo")
    root = tmp_path / "store"
    archive = tmp_path / "bb.tar"
    subprocess.run(["skopeo", "copy", "-q", f"oci:{BUSYBOX}:latest",
                    f"docker-archive:{archive}:example.org/bb:1"], check=True, timeout=120)
    names = drv(root, "load", archive).stdout.split()
    assert names == ["example.org/bb:1"]
    saved = tmp_path / "saved.tar"
    drv(root, "save", saved, "example.org/bb:1")
    out = tmp_path / "back"
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{saved}", f"oci:{out}:x"], check=True, timeout=120)
    assert (out / "index.json").exists()


def test_umoci_image_with_whiteout(tmp_path):
    need("umoci")
    if os.geteuid() != 0:
        pytest.skip("umoci unpack/repack of root-owned files needs root")
    lay = tmp_path / "lay"
    subprocess.run(["umoci", "init", "--layout", str(lay)], check=True)
    subprocess.run(["umoci", "new", "--image", f"{lay}:t"], check=True)
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{lay}:t", str(bundle)], check=True)
    (bundle / "rootfs/keep").write_text("1")
    (bundle / "rootfs/gone").write_text("2")
    subprocess.run(["umoci", "repack", "--refresh-bundle", "--image", f"{lay}:t", str(bundle)], check=True)
    (bundle / "rootfs/gone").unlink()
    subprocess.run(["umoci", "repack", "--image", f"{lay}:t", str(bundle)], check=True)
    root = tmp_path / "store"
    drv(root, "import-oci", lay, "umoci:t")
    layers = drv(root, "layers", "umoci:t").stdout.split()
    assert len(layers) == 2
    st = os.lstat(os.path.join(layers[1], "gone"))
    assert os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0 and (st.st_mode & 0o170000) == 0o020000
    assert not os.listdir(root / "tmp")


def test_bad_archive_leaves_nothing(tmp_path):
    root = tmp_path / "store"
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"\0" * 100 + b"not a tar")
    p = drv(root, "load", bad, check=False)
    assert p.returncode != 0 and "bad.tar" in p.stderr
    assert not os.listdir(root / "tmp")
    assert not os.listdir(root / "layers")
