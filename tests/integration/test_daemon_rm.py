"""`docker run --rm` through kapseld: the container's rootfs is mounted volatile, so its unmount at
exit does not sync the file system under it (docs/daemon.md), and the container is gone at its end.
The daemon runs on a temporary root in a network namespace of the test's own."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KAPSELD = os.environ.get("KAPSELD", os.path.join(REPO, "build/src/daemon/kapseld"))
NETNS = "kapseld-rm-%d" % os.getpid()

pytestmark = pytest.mark.skipif(not os.path.exists(KAPSELD), reason="kapseld not built at %s" % KAPSELD)


def request(sock, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(sock)
    s.sendall(("%s %s HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (method, path, len(data))).encode() + data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, payload = out.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        dechunked, rest = b"", payload
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            dechunked, rest = dechunked + rest[:n], rest[n + 2:]
        payload = dechunked
    return int(head.split()[1]), payload


@pytest.fixture
def daemon(tmp_path):
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    sock = str(tmp_path / "d.sock")
    log = open(tmp_path / "kapseld.log", "w+")
    p = subprocess.Popen(["nsenter", "--net=/run/netns/" + NETNS, KAPSELD, "--root", str(tmp_path / "root"),
                          "--host", "unix://" + sock], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(500):
            if os.path.exists(sock) or p.poll() is not None:
                break
            time.sleep(0.02)
        log.seek(0)
        assert os.path.exists(sock), log.read()
        yield sock, str(tmp_path / "root")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        subprocess.run(["ip", "netns", "del", NETNS])


def volatile(opts):
    """Linux shows the option as "volatile" or (6.x) "fsync=volatile"."""
    return any(o in ("volatile", "fsync=volatile") for o in opts or [])


def rootfs_options(root, cid):
    target = os.path.join(os.path.realpath(root), "containers", cid, "rootfs")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == target:
                return fields[-1].split(",")
    return None


def create_start(sock, auto_remove):
    st, body = request(sock, "POST", "/v1.41/containers/create",
                       {"Image": "busybox", "Cmd": ["sleep", "2"],
                        "HostConfig": {"NetworkMode": "none", "AutoRemove": auto_remove}})
    assert st == 201, body
    cid = json.loads(body)["Id"]
    st, body = request(sock, "POST", "/v1.41/containers/%s/start" % cid)
    assert st == 204, body
    return cid


def test_rm_container_rootfs_is_volatile_and_gone_after_exit(daemon):
    sock, root = daemon
    kept = create_start(sock, False)
    cid = create_start(sock, True)
    opts = rootfs_options(root, cid)
    assert opts is not None, "no overlay mounted for the --rm container"
    assert volatile(opts), opts
    # a container that outlives its process keeps a durable upper dir
    assert not volatile(rootfs_options(root, kept)), rootfs_options(root, kept)
    st, body = request(sock, "POST", "/v1.41/containers/%s/wait?condition=removed" % cid)
    assert st == 200, body
    assert json.loads(body)["StatusCode"] == 0
    st, _ = request(sock, "GET", "/v1.41/containers/%s/json" % cid)
    assert st == 404
    assert not os.path.exists(os.path.join(root, "containers", cid))
    assert rootfs_options(root, cid) is None
    st, body = request(sock, "POST", "/v1.41/containers/%s/wait" % kept)
    assert st == 200, body
    st, _ = request(sock, "DELETE", "/v1.41/containers/%s?force=1" % kept)
    assert st == 204
