"""run flags of issue 14: --mount, --privileged, --device, --pid host, --network-alias, --pull.

Uses test_engine's fixtures: a temporary root per test, kapsel inside the session's network
namespace, and the leak checks after each test."""
import os
import shutil
import subprocess
import time

import pytest

import test_engine
from test_engine import KAPSEL as KAPSEL_BIN, kapsel_session, veths


@pytest.fixture(scope="session")
def flags_netns():
    """test_engine's namespace (its K runs kapsel there): made here unless its own fixture did."""
    path = "/run/netns/" + test_engine.NETNS
    made = not os.path.exists(path)
    if made:
        subprocess.run(["ip", "netns", "add", test_engine.NETNS], check=True)
        subprocess.run(["ip", "-n", test_engine.NETNS, "link", "set", "lo", "up"], check=True)
    yield path
    if made:
        subprocess.run(["ip", "netns", "del", test_engine.NETNS])


@pytest.fixture
def k(tmp_path, flags_netns):
    yield from kapsel_session(tmp_path, {"veths": veths})


def test_mount_bind_volume_tmpfs(k, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("bound\n")
    p = k("run", "--rm", "--mount", "type=bind,source=%s,target=/b,readonly" % src,
          "--mount", "type=volume,source=mv,target=/v", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
          "busybox", "sh", "-c", "cat /b/f; touch /b/x 2>/dev/null || echo ro; echo kept > /v/f; "
                                 "df -k /t | tail -1 | awk '{print $2}'")
    assert p.stdout == "bound\nro\n1024\n"
    assert "mv" in k("volume", "ls", "-q").stdout.split()
    assert k("run", "--rm", "--mount", "src=mv,dst=/v", "busybox", "cat", "/v/f").stdout == "kept\n"


@pytest.mark.parametrize("arg,needle", [
    ("type=nfs,target=/x", "expected bind, volume or tmpfs"),
    ("type=bind,source=rel,target=/x", "absolute host path"),
    ("source=/x", "target is required"),
    ("type=bind,bogus=1,target=/x", "unknown key"),
])
def test_mount_errors(k, arg, needle):
    p = k("run", "--rm", "--mount", arg, "busybox", "true", check=False)
    assert p.returncode == 125 and needle in p.stderr
    assert k("ps", "-aq").stdout == ""


def test_privileged(k):
    p = k("run", "--rm", "--privileged", "busybox", "sh", "-c",
          "grep CapEff /proc/self/status; mount | grep ' /sys ' | grep -c '(rw'; test -e /dev/loop-control && echo dev")
    with open("/proc/self/status") as f:
        bnd = [line.split()[1] for line in f if line.startswith("CapBnd")][0]
    assert p.stdout.split("\n")[0].split()[1] == bnd
    assert p.stdout.split("\n")[1:] == ["1", "dev", ""]
    # without it: docker's default set, /sys read-only, no host devices
    p = k("run", "--rm", "busybox", "sh", "-c", "grep CapEff /proc/self/status; test -e /dev/loop-control || echo nodev")
    assert p.stdout.split()[1] == "00000000a80425fb" and p.stdout.split()[2] == "nodev"


def test_device(k):
    p = k("run", "--rm", "--device", "/dev/fuse:/dev/myfuse:r", "busybox", "stat", "-c", "%t:%T", "/dev/myfuse")
    st = os.stat("/dev/fuse")
    assert p.stdout.strip() == "%x:%x" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    p = k("run", "--rm", "--device", "/etc/passwd", "busybox", "true", check=False)
    assert p.returncode == 125 and "not a character or block device" in p.stderr


def test_pid_host(k):
    n = k("run", "--rm", "--pid", "host", "busybox", "sh", "-c", "ls /proc | grep -c '^[0-9]'").stdout
    assert int(n) > 10
    assert int(k("run", "--rm", "busybox", "sh", "-c", "ls /proc | grep -c '^[0-9]'").stdout) < 5
    p = k("run", "--rm", "--pid", "container:x", "busybox", "true", check=False)
    assert p.returncode == 125 and "only \"host\"" in p.stderr


def test_network_alias(k):
    k("network", "create", "flagnet")
    k("run", "-d", "--name", "srv", "--network", "flagnet", "--network-alias", "backend", "busybox", "sleep", "100")
    p = k("run", "--rm", "--network", "flagnet", "busybox", "sh", "-c", "ping -c1 -W3 backend >/dev/null && echo ok")
    assert p.stdout == "ok\n"
    k("rm", "-f", "srv")
    k("network", "rm", "flagnet")


def test_pull_flag(k):
    p = k("run", "--rm", "--pull", "sometimes", "busybox", "true", check=False)
    assert p.returncode == 125 and "--pull" in p.stderr
    # the built-in busybox is in the store: missing and never need no registry
    assert k("run", "--rm", "--pull", "never", "busybox", "echo", "n").stdout == "n\n"
    # an image nobody has: never says so without trying a registry
    p = k("run", "--rm", "--pull", "never", "127.0.0.1:9/nothing:here", "true", check=False)
    assert p.returncode == 125 and "nothing" in p.stderr
    # missing tries the registry (nothing listens on port 9) and says both
    p = k("run", "--rm", "127.0.0.1:9/nothing:here", "true", check=False)
    assert p.returncode == 125 and "pulling it failed" in p.stderr


def _status(k, name):
    return [line.split(" ", 1)[1] for line in k("ps", "--format", "{{.Names}} {{.Status}}").stdout.splitlines()
            if line.startswith(name + " ")][0]


def test_health_states(k):
    k("run", "-d", "--name", "h1", "--health-cmd", "test -f /tmp/ok", "--health-interval", "300ms",
      "--health-retries", "2", "busybox", "sleep", "100")
    assert "(health: starting)" in _status(k, "h1")
    for _ in range(50):
        if "(unhealthy)" in _status(k, "h1"):
            break
        time.sleep(0.1)
    assert "(unhealthy)" in _status(k, "h1")
    k("exec", "h1", "touch", "/tmp/ok")
    for _ in range(50):
        if "(healthy)" in _status(k, "h1"):
            break
        time.sleep(0.1)
    health = k.inspect("h1")["State"]["Health"]
    assert health["Status"] == "healthy" and health["FailingStreak"] == 0
    assert health["Log"][-1]["ExitCode"] == 0 and health["Log"][0]["ExitCode"] == 1
    k("rm", "-f", "h1")


def test_health_errors_and_none(k):
    p = k("run", "--rm", "--health-interval", "5x", "busybox", "true", check=False)
    assert p.returncode == 125 and "duration" in p.stderr
    p = k("run", "--rm", "--health-retries", "0", "busybox", "true", check=False)
    assert p.returncode == 125 and "--health-retries" in p.stderr
    k("run", "-d", "--name", "n", "--no-healthcheck", "busybox", "sleep", "100")
    assert "health" not in _status(k, "n") and "Health" not in k.inspect("n")["State"]
    k("rm", "-f", "n")


@pytest.mark.skipif(not shutil.which("umoci"), reason="needs umoci to make an image with EXPOSE")
def test_publish_all_uses_image_expose(k, tmp_path):
    layout = tmp_path / "layout"
    shutil.copytree(os.path.join(os.path.dirname(KAPSEL_BIN), "..", "image", "busybox-image"), layout)
    subprocess.run(["umoci", "config", "--image", "%s:latest" % layout, "--tag", "exposed",
                    "--config.exposedports", "8080/tcp"], check=True, capture_output=True)
    subprocess.run(["tar", "cf", str(tmp_path / "img.tar"), "-C", str(layout), "."], check=True)
    k("load", "-i", str(tmp_path / "img.tar"))
    # the archive holds the plain busybox too: pick the image whose config exposes the port
    ids = [line.split()[2] for line in k("images").stdout.splitlines()[1:] if line.startswith("<none>")]
    ids = [i for i in ids if "8080/tcp" in k("image", "inspect", i).stdout]
    k("tag", ids[0], "exposed")
    k("run", "-d", "--name", "pe", "-P", "exposed", "httpd", "-f", "-p", "8080")
    assert k("port", "pe").stdout.startswith("8080/tcp -> 0.0.0.0:")
    k("rm", "-f", "pe")


def test_mount_anonymous_volume_only_when_valid(k):
    p = k("run", "--rm", "--mount", "type=volume,target=/x", "--cap-add", "FLY", "busybox", "true", check=False)
    assert p.returncode == 125 and "unknown capability" in p.stderr
    assert k("volume", "ls", "-q").stdout == ""
    k("run", "--name", "anon", "--mount", "type=volume,target=/x", "busybox", "touch", "/x/f")
    assert len(k("volume", "ls", "-q").stdout.split()) == 1
    k("rm", "anon")
