"""kapseld's idle memory: what a burst of requests allocated goes back when the daemon is idle again
(docs/daemon-memory.md). The daemon runs on a temporary root in a network namespace of the test's
own, like test_daemon.py's."""
import json
import os
import platform
import signal
import socket
import subprocess
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KAPSELD = os.environ.get("KAPSELD", os.path.join(REPO, "build/src/daemon/kapseld"))
NETNS = "kapseld-mem-%d" % os.getpid()


def sanitized(binary):
    """An ASan build has an allocator of its own (and a quarantine): RssAnon says nothing there."""
    p = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True)
    return "libasan" in p.stdout


pytestmark = [pytest.mark.skipif(not os.path.exists(KAPSELD), reason="kapseld not built at %s" % KAPSELD),
              pytest.mark.skipif(os.path.exists(KAPSELD) and sanitized(KAPSELD),
                                 reason="kapseld built with ASan: its allocator is not glibc's")]


def request(sock, method, path, data=b""):
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
    return int(out.split(b"\r\n", 1)[0].split()[1])


def anon_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon for %d" % pid)


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
        yield p, sock
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        subprocess.run(["ip", "netns", "del", NETNS])


def test_memory_of_a_burst_goes_back_when_idle(daemon):
    """Concurrent requests with 3 MiB bodies: each connection thread parses megabytes of JSON.
    Without one arena and a trim when the last connection closes, the freed megabytes stay in
    per-thread arenas (and in a heap whose trim threshold grew with the first big block)."""
    proc, sock = daemon
    assert request(sock, "GET", "/_ping") == 200
    time.sleep(0.5)
    before = anon_kib(proc.pid)
    body = json.dumps({"Image": "kapsel-test-no-such-image",
                       "Env": ["K%d=%s" % (i, "x" * 1000) for i in range(3000)]}).encode()
    statuses = []

    def client():
        for _ in range(3):
            statuses.append(request(sock, "POST", "/v1.41/containers/create", body))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses and all(s == 404 for s in statuses), statuses
    time.sleep(1)
    after = anon_kib(proc.pid)
    assert after - before < 1024, "RssAnon %d KiB before the burst, %d KiB after it" % (before, after)


def mapped(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {os.path.basename(line.split()[5]) for line in f if len(line.split()) > 5}


HEAVY = ("libcurl.so", "libarchive.so", "libcrypto.so", "libssl.so", "libsqlite3.so", "libxml2.so", "libicuuc.so",
         "libstdc++.so", "libkrb5.so", "libnss_systemd.so")


@pytest.mark.skipif(platform.machine() != "x86_64", reason="lazy binding is x86-64 only: kapseld links as usual")
def test_idle_daemon_maps_no_library_a_request_has_not_needed(daemon):
    """libcurl, libarchive, libcrypto and sqlite (with their chains) are bound on first use, and the
    socket's group is looked up by the start-up check's child: an idle daemon maps none of them
    (docs/daemon-memory.md); the first request that opens the database loads sqlite, and works."""
    proc, sock = daemon
    assert request(sock, "GET", "/_ping") == 200
    loaded = [m for m in mapped(proc.pid) if m.startswith(HEAVY)]
    assert not loaded, "an idle kapseld maps %s" % loaded
    assert request(sock, "GET", "/v1.41/containers/json?all=1") == 200
    now = mapped(proc.pid)
    assert any(m.startswith("libsqlite3.so") for m in now), sorted(now)
    assert not any(m.startswith(("libcurl.so", "libarchive.so")) for m in now), sorted(now)
