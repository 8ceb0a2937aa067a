"""Podman end to end with kapsel-runtime as its OCI runtime: an image imported offline from a
throw-away rootfs, then run, exec (with and without a tty), stop and rm. Podman's storage and
state live in the test's temp dir; no network namespace is made (--network none)."""
import os
import shutil
import subprocess
import tempfile

import pytest
from conftest import PROBE, RUNTIME

pytestmark = pytest.mark.kapsel


@pytest.fixture
def podman(tmp_path):
    exe = shutil.which("podman")
    if not exe:
        pytest.skip("podman not installed (apt-get install podman)")
    if not os.access(RUNTIME, os.X_OK):
        pytest.skip("runtime not built")
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", str(rootfs / "bin/busybox"))
    for a in ("sh", "echo", "sleep", "id", "hostname", "tty", "cat"):
        os.symlink("busybox", str(rootfs / "bin" / a))
    shutil.copy(PROBE, str(rootfs / "bin/probe"))
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tmp_path / "rootfs.tar"), "."], check=True)
    short = tempfile.mkdtemp(prefix="kp-", dir="/tmp")     # podman wants a runroot under 50 chars
    base = [exe, "--root", str(tmp_path / "r"), "--runroot", short + "/rr", "--tmpdir", short + "/t",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", RUNTIME]

    def run(*args, check=True, timeout=90):
        p = subprocess.run(base + list(args), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError("podman %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
        return p
    run("import", str(tmp_path / "rootfs.tar"), "localhost/kbox")
    yield run
    run("rm", "-af", "-t", "0", check=False)
    run("system", "reset", "-f", check=False)
    subprocess.run(["umount", "-R", str(tmp_path / "r")], capture_output=True)
    shutil.rmtree(short, ignore_errors=True)


LIMITS = ["--network", "none", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def test_podman_run_rm(podman):
    p = podman("run", "--rm", *LIMITS, "localhost/kbox", "sh", "-c", "echo hello from podman; id -u")
    assert p.stdout.split() == ["hello", "from", "podman", "0"]
    p = podman("run", "--rm", *LIMITS, "localhost/kbox", "sh", "-c", "exit 3", check=False)
    assert p.returncode == 3


def test_podman_exec_stop_rm(podman):
    podman("run", "-d", "--name", "web", *LIMITS, "localhost/kbox", "sleep", "600")
    assert podman("exec", "web", "hostname").stdout.strip() != ""
    assert podman("exec", "-e", "X=42", "web", "sh", "-c", "echo $X").stdout.strip() == "42"
    assert podman("exec", "-t", "web", "tty").stdout.strip().startswith("/dev/pts/")
    podman("stop", "-t", "1", "web")
    ps = podman("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert "web Exited" in ps
    podman("rm", "web")
    assert "web" not in podman("ps", "-a", "--format", "{{.Names}}").stdout
