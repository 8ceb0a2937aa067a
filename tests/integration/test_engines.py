"""kapsel-runtime under real engines, called exactly as they call runc: dockerd (Debian's
docker.io) with `--add-runtime kapsel=<our binary>`, and containerd's `ctr run --runc-binary`.
Each engine runs in its own network namespace with its own data root, exec root and socket
under the test's temp dir (see docs/kubernetes.md for the containerd runc shim setup).
The image is the busybox image of scripts/make-busybox-image.sh, loaded offline."""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest
from conftest import REPO, RUNTIME

pytestmark = pytest.mark.kapsel


def _need(*exes):
    for e in exes:
        if not shutil.which(e):
            pytest.skip("%s not installed (apt-get install docker.io containerd)" % e)
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not os.access(RUNTIME, os.X_OK):
        pytest.skip("runtime not built")


@pytest.fixture(scope="module")
def oci_layout(tmp_path_factory):
    d = tmp_path_factory.mktemp("img") / "busybox"
    subprocess.run(["sh", os.path.join(REPO, "scripts/make-busybox-image.sh"), str(d)], check=True,
                   stdout=subprocess.DEVNULL)
    return d


class Netns:
    def __init__(self):
        self.name = "kt-" + uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)

    def prefix(self):
        # not `ip netns exec`: it remounts /sys and hides /sys/fs/cgroup from the engine
        return ["nsenter", "--net=/run/netns/" + self.name, "unshare", "--mount", "--propagation", "slave"]

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name])


def _wait_socket(path, proc, what, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise AssertionError("%s exited (%d) before its socket appeared" % (what, proc.returncode))
        time.sleep(0.2)
    raise AssertionError("%s socket %s did not appear" % (what, path))


def _remove_cgroup(parent):
    """The engines leave their (empty) parent cgroup behind: remove ours, never a shared one."""
    import glob
    for d in sorted(glob.glob("/sys/fs/cgroup/*" + parent) + glob.glob("/sys/fs/cgroup" + parent), reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def dockerd(tmp_path, oci_layout):
    _need("dockerd", "docker", "skopeo")
    d = tmp_path / "dk"
    d.mkdir()
    ns = Netns()
    sock = str(d / "docker.sock")
    parent = "/kt-docker-" + ns.name[3:]
    log = open(str(d / "dockerd.log"), "w")
    proc = subprocess.Popen(ns.prefix() + [
        "dockerd", "--data-root", str(d / "data"), "--exec-root", str(d / "exec"), "--pidfile", str(d / "docker.pid"),
        "-H", "unix://" + sock, "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
        "--bridge=none", "--add-runtime", "kapsel=" + RUNTIME, "--default-runtime", "runc", "--cgroup-parent", parent],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_socket(sock, proc, "dockerd")

        def docker(*args, check=True, timeout=60):
            p = subprocess.run(["docker", "-H", "unix://" + sock] + list(args), capture_output=True, text=True,
                               timeout=timeout, stdin=subprocess.DEVNULL)
            if check and p.returncode != 0:
                raise AssertionError("docker %s failed (%d): %s%s" % (" ".join(args), p.returncode, p.stdout,
                                                                     p.stderr))
            return p
        tar = str(tmp_path / "busybox.tar")
        subprocess.run(["skopeo", "copy", "--quiet", "oci:" + str(oci_layout), "docker-archive:%s:kbox:latest" % tar],
                       check=True)
        docker("load", "-i", tar)
        yield docker
    finally:
        subprocess.run(["docker", "-H", "unix://" + sock, "rm", "-f"] +
                       subprocess.run(["docker", "-H", "unix://" + sock, "ps", "-aq"], capture_output=True,
                                      text=True).stdout.split(), capture_output=True)
        _stop(proc)
        log.close()
        ns.close()
        subprocess.run(["umount", "-R", "-l", str(d)], capture_output=True)
        _remove_cgroup(parent)


def test_docker_run_exec_logs_stop(dockerd):
    d = dockerd
    assert d("run", "--rm", "--runtime", "kapsel", "--network", "none", "kbox", "echo", "hi").stdout == "hi\n"
    d("run", "-d", "--name", "c1", "--runtime", "kapsel", "--network", "none", "kbox",
      "sh", "-c", "echo started; while true; do sleep 1; done")
    assert d("exec", "c1", "cat", "/proc/1/cmdline").stdout.startswith("sh")
    assert "started" in d("logs", "c1").stdout
    d("pause", "c1")
    assert d("inspect", "-f", "{{.State.Status}}", "c1").stdout.strip() == "paused"
    d("unpause", "c1")
    stats = d("stats", "--no-stream", "--format", "{{json .}}", "c1").stdout
    assert json.loads(stats.splitlines()[0])["Name"] == "c1"
    d("restart", "-t", "1", "c1")
    assert d("inspect", "-f", "{{.State.Running}}", "c1").stdout.strip() == "true"
    d("stop", "-t", "1", "c1")
    assert d("inspect", "-f", "{{.State.Running}}", "c1").stdout.strip() == "false"
    d("start", "c1")
    d("kill", "c1")
    d("rm", "c1")


def test_docker_limits_and_tty(dockerd):
    d = dockerd
    out = d("run", "--rm", "--runtime", "kapsel", "--network", "none", "--memory", "64m", "--pids-limit", "20",
            "kbox", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
            "2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max").stdout.split()
    assert out == [str(64 << 20), "20"]
    # -t: the runtime hands docker the pty through its console socket
    out = d("run", "--rm", "-t", "--runtime", "kapsel", "--network", "none", "kbox", "tty").stdout
    assert out.strip().startswith("/dev/pts/")


@pytest.fixture
def containerd(tmp_path, oci_layout):
    _need("containerd", "ctr")
    d = tmp_path / "ctd"
    d.mkdir()
    ns = Netns()
    sock = str(d / "containerd.sock")
    cfg = d / "config.toml"
    cfg.write_text('version = 2\nroot = "%s"\nstate = "%s"\n[grpc]\n  address = "%s"\n'
                   '[plugins."io.containerd.grpc.v1.cri"]\n  disable_cgroup = true\n'
                   % (d / "root", d / "state", sock))
    log = open(str(d / "containerd.log"), "w")
    proc = subprocess.Popen(ns.prefix() + ["containerd", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_socket(sock, proc, "containerd")

        def ctr(*args, check=True, timeout=60):
            p = subprocess.run(["ctr", "-a", sock, "-n", ns.name] + list(args), capture_output=True, text=True,
                               timeout=timeout, stdin=subprocess.DEVNULL)
            if check and p.returncode != 0:
                raise AssertionError("ctr %s failed (%d): %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
            return p
        tar = str(tmp_path / "busybox-oci.tar")
        subprocess.run(["tar", "-C", str(oci_layout), "-cf", tar, "."], check=True)
        ctr("images", "import", "--base-name", "docker.io/library/kbox", "--digests", tar)
        ref = ctr("images", "ls", "-q").stdout.split()[0]
        yield ctr, ref
    finally:
        _stop(proc)
        log.close()
        ns.close()
        subprocess.run(["umount", "-R", "-l", str(d)], capture_output=True)
        _remove_cgroup("/" + ns.name)


def test_ctr_run_with_our_runc_binary(containerd):
    ctr, ref = containerd
    out = ctr("run", "--rm", "--runc-binary", RUNTIME, ref, "t1", "sh", "-c", "echo hello; cat /proc/1/cmdline")
    assert out.stdout.startswith("hello")
    ctr("run", "-d", "--runc-binary", RUNTIME, ref, "t2", "sleep", "600")
    assert "RUNNING" in ctr("tasks", "ls").stdout
    assert ctr("tasks", "exec", "--exec-id", "e1", "t2", "echo", "inside").stdout.strip() == "inside"
    ctr("tasks", "kill", "-s", "SIGKILL", "t2")
    for _ in range(50):
        if "STOPPED" in ctr("tasks", "ls").stdout:
            break
        time.sleep(0.1)
    ctr("tasks", "rm", "t2")
    ctr("containers", "rm", "t2")
