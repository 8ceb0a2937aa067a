"""Rootless: an unprivileged user runs a container in a user namespace of its own, with the
config `spec --rootless` writes (no cgroup, its own uid mapped to root)."""
import json
import os
import shutil
import subprocess

import pytest
from conftest import IS_KAPSEL, PROBE, RUNTIME, kv

NOBODY = 65534


def as_nobody(*cmd, **kw):
    return subprocess.run(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"] + list(cmd),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, **kw)


@pytest.fixture
def rootless_dir(tmp_path):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv missing (util-linux)")
    if as_nobody("unshare", "-U", "true").returncode != 0:
        pytest.skip("this host does not allow unprivileged user namespaces")
    d = tmp_path / "rl"
    (d / "b/rootfs/bin").mkdir(parents=True)
    for sub in ("proc", "dev", "sys", "tmp"):
        (d / "b/rootfs" / sub).mkdir()
    shutil.copy("/bin/busybox", str(d / "b/rootfs/bin/busybox"))
    os.symlink("busybox", str(d / "b/rootfs/bin/sh"))
    shutil.copy(PROBE, str(d / "b/rootfs/bin/probe"))
    subprocess.run(["chown", "-R", "%d:%d" % (NOBODY, NOBODY), str(d)], check=True)
    p = tmp_path
    while str(p) not in ("/", "/tmp"):
        os.chmod(str(p), os.stat(str(p)).st_mode | 0o011)
        p = p.parent
    yield d
    as_nobody(RUNTIME, "--root", str(d / "state"), "delete", "--force", "r1")


def test_rootless_run(rootless_dir):
    b = rootless_dir / "b"
    p = as_nobody(RUNTIME, "spec", "--rootless", "--bundle", str(b))
    assert p.returncode == 0, p.stderr
    cfg = json.loads((b / "config.json").read_text())
    assert cfg["linux"]["uidMappings"] == [{"containerID": 0, "hostID": NOBODY, "size": 1}]
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/sh", "-c", "/bin/probe ids; /bin/probe caps"]
    (b / "config.json").write_text(json.dumps(cfg))
    p = as_nobody(RUNTIME, "--root", str(rootless_dir / "state"), "run", "--bundle", str(b), "r1",
                  env={"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(rootless_dir)})
    assert p.returncode == 0, p.stderr
    out = kv(p.stdout)
    assert out["uid"] == "0" and out["euid"] == "0"
    assert out["NoNewPrivs"] == "1"
    if IS_KAPSEL:
        assert not os.listdir(str(rootless_dir / "state"))
