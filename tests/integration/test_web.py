"""kapseld's web console: login, sessions, CSRF, CSP, TLS, the terminal's WebSocket, and a real
browser (Playwright driving Debian's chromium) through create, list, graphs, terminal, stop, remove.

The daemon runs in a network namespace of this module's own and listens on its loopback; the test's
sockets are made inside that namespace by a thread that joined it (setns moves only the calling
thread), and the browser runs under nsenter."""
import base64
import ctypes
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KAPSEL_BUILD", os.path.join(REPO, "build"))
KAPSELD = os.environ.get("KAPSELD", os.path.join(BUILD, "src/daemon/kapseld"))
KAPSEL = os.environ.get("KAPSEL", os.path.join(BUILD, "src/cli/kapsel"))
WEB_SRC = os.path.join(REPO, "src/daemon/web")
NETNS = "kapsel-web-test-%d" % os.getpid()
PORT = 18443
ARTIFACTS = os.environ.get("KAPSEL_WEB_ARTIFACTS", os.path.join(BUILD, "web-artifacts"))

pytestmark = pytest.mark.skipif(not os.path.exists(KAPSELD), reason="kapseld not built at %s" % KAPSELD)

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ns_socket(family=socket.AF_INET):
    """A TCP socket made inside the test's network namespace."""
    out = {}

    def run():
        with open("/run/netns/" + NETNS) as f:
            if _libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                out["err"] = OSError(ctypes.get_errno(), "setns")
                return
        out["sock"] = socket.socket(family, socket.SOCK_STREAM)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "err" in out:
        raise out["err"]
    return out["sock"]


class NsHTTP(http.client.HTTPConnection):
    def connect(self):
        self.sock = ns_socket()
        self.sock.settimeout(20)
        self.sock.connect((self.host, self.port))


class NsHTTPS(http.client.HTTPSConnection):
    def connect(self):
        s = ns_socket()
        s.settimeout(20)
        s.connect((self.host, self.port))
        self.sock = self._context.wrap_socket(s, server_hostname=self.host)


@pytest.fixture(scope="module")
def netns():
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield NETNS
    subprocess.run(["ip", "netns", "del", NETNS])


class Daemon:
    def __init__(self, tmp, *extra, root=None, wait=True, cli=False):
        self.tmp = tmp
        self.root = root or os.path.join(tmp, "root")
        self.sock = os.path.join(tmp, "d.sock")
        self.tls = "--tlscert" in extra
        self.log = open(os.path.join(tmp, "kapseld-%d.log" % time.monotonic_ns()), "w+")
        cmd = [KAPSEL, "--root", self.root, "system", "service"] if cli else [KAPSELD, "--root", self.root]
        self.proc = subprocess.Popen(["nsenter", "--net=/run/netns/" + NETNS] + cmd + ["--host", "unix://" + self.sock] +
                                     list(extra),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.cookie = None
        self.csrf = None
        if wait:
            for _ in range(300):
                if os.path.exists(self.sock) and self._port_open():
                    break
                time.sleep(0.02)
            assert self._port_open(), self.logs()

    def _port_open(self):
        try:
            s = ns_socket()
            s.settimeout(1)
            s.connect(("127.0.0.1", PORT))
            s.close()
            return True
        except OSError:
            return False

    def logs(self):
        self.log.seek(0)
        return self.log.read()

    @property
    def token(self):
        with open(os.path.join(self.root, "web/token")) as f:
            return f.read()

    def request(self, method, path, body=None, headers=None, cookie=True):
        """(status, headers dict (lower-case names), body bytes)."""
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = NsHTTPS("127.0.0.1", PORT, context=ctx, timeout=20)
        else:
            conn = NsHTTP("127.0.0.1", PORT, timeout=20)
        h = dict(headers or {})
        if cookie and self.cookie:
            h.setdefault("Cookie", self.cookie)
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        conn.close()
        return out

    def login(self, token=None):
        st, hd, body = self.request("POST", "/console/login", {"token": token or self.token}, cookie=False)
        if st == 200:
            self.cookie = hd["set-cookie"].split(";")[0]
            self.csrf = json.loads(body)["csrf"]
        return st, hd, body

    def api(self, method, path, body=None, **kw):
        h = {"X-CSRF-Token": self.csrf} if method not in ("GET", "HEAD") else {}
        st, _, data = self.request(method, "/console/api" + path, body, headers=h, **kw)
        return st, (json.loads(data) if data.strip().startswith((b"{", b"[")) else data)

    def stop(self):
        ids = subprocess.run([KAPSEL, "--root", self.root, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["nsenter", "--net=/run/netns/" + NETNS, KAPSEL, "--root", self.root, "rm", "-f"] + ids,
                           capture_output=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def d(netns, tmp_path):
    dm = Daemon(str(tmp_path), "--web-listen", "127.0.0.1:%d" % PORT)
    yield dm
    dm.stop()


# --- login and the token ---

def test_token_created_0600_and_printed_once(netns, tmp_path):
    dm = Daemon(str(tmp_path), "--web-listen", "127.0.0.1:%d" % PORT)
    try:
        path = os.path.join(dm.root, "web/token")
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert dm.token in dm.logs()
    finally:
        dm.stop()
    again = Daemon(str(tmp_path), "--web-listen", "127.0.0.1:%d" % PORT)
    try:
        assert again.token == dm.token and dm.token not in again.logs()
    finally:
        again.stop()


def test_system_service_passes_the_web_options(netns, tmp_path):
    dm = Daemon(str(tmp_path), "--web-listen", "127.0.0.1:%d" % PORT, "--web-session-ttl=60", cli=True)
    try:
        st, hd, _ = dm.login()
        assert st == 200 and "Max-Age=60" in hd["set-cookie"]
    finally:
        dm.stop()


def test_wrong_token_refused(d):
    st, hd, body = d.login("0" * 48)
    assert st == 401 and "set-cookie" not in hd and "wrong token" in json.loads(body)["message"]
    st, hd, _ = d.request("POST", "/console/login", None, cookie=False)
    assert st == 401
    # and nothing behind the login answers without a session
    assert d.request("GET", "/console/api/containers/json", cookie=False)[0] == 401
    assert d.request("GET", "/console/stats", cookie=False)[0] == 401


def test_upload_without_session_refused_before_reading(d):
    # a stranger announces a 1 GiB image upload: answered at once, the body never read
    s = ns_socket()
    s.settimeout(10)
    s.connect(("127.0.0.1", PORT))
    s.sendall(b"POST /console/api/images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n")
    head = s.recv(4096)
    s.close()
    assert head.split()[1] == b"401", head
    # an oversized login body is refused the same way
    s = ns_socket()
    s.settimeout(10)
    s.connect(("127.0.0.1", PORT))
    s.sendall(b"POST /console/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    head = s.recv(4096)
    s.close()
    assert head.split()[1] == b"401", head


def test_session_cookie_flags(d):
    st, hd, body = d.login()
    assert st == 200
    c = hd["set-cookie"]
    assert "HttpOnly" in c and "SameSite=Strict" in c and "Max-Age=" in c and "Path=/console/" in c
    st, data = d.api("GET", "/containers/json")
    assert st == 200 and data == []
    st, _, _ = d.request("POST", "/console/logout", headers={"X-CSRF-Token": d.csrf})
    assert st == 200
    assert d.api("GET", "/containers/json")[0] == 401


def test_expired_session_refused(netns, tmp_path):
    dm = Daemon(str(tmp_path), "--web-listen", "127.0.0.1:%d" % PORT, "--web-session-ttl", "2")
    try:
        assert dm.login()[0] == 200
        assert dm.api("GET", "/containers/json")[0] == 200
        time.sleep(2.5)
        st, data = dm.api("GET", "/containers/json")
        assert st == 401 and "expired" in data["message"]
    finally:
        dm.stop()


def test_forged_cross_site_requests_refused(d):
    assert d.login()[0] == 200
    body = {"Name": "forged"}
    # no CSRF header, a wrong one, a foreign Origin, a cross-site fetch: all refused, nothing made
    assert d.request("POST", "/console/api/volumes/create", body)[0] == 403
    assert d.request("POST", "/console/api/volumes/create", body, headers={"X-CSRF-Token": "0" * 64})[0] == 403
    assert d.request("POST", "/console/api/volumes/create", body,
                     headers={"X-CSRF-Token": d.csrf, "Origin": "http://evil.example"})[0] == 403
    assert d.request("POST", "/console/api/volumes/create", body,
                     headers={"X-CSRF-Token": d.csrf, "Sec-Fetch-Site": "cross-site"})[0] == 403
    assert d.request("POST", "/console/login", {"token": d.token}, headers={"Origin": "http://evil.example"},
                     cookie=False)[0] == 403
    assert d.api("GET", "/volumes")[1]["Volumes"] in (None, [])
    # the same request from the page itself goes through
    st, _, _ = d.request("POST", "/console/api/volumes/create", body,
                         headers={"X-CSRF-Token": d.csrf, "Origin": "http://127.0.0.1:%d" % PORT})
    assert st == 201
    assert [v["Name"] for v in d.api("GET", "/volumes")[1]["Volumes"]] == ["forged"]


def test_csp_and_security_headers(d):
    for path in ("/console/", "/console/assets/app.js", "/console/login"):
        st, hd, _ = d.request("GET", path, cookie=False)
        csp = hd.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert hd.get("x-content-type-options") == "nosniff"
    st, hd, body = d.request("GET", "/console/", cookie=False)
    if b"was not built" not in body:
        assert st == 200 and b"<script" in body and b"src=\"assets/app.js\"" in body
        assert b"<script>" not in body and b"style=" not in body


def test_assets_gzip_when_accepted(d):
    import gzip
    st, hd, plain = d.request("GET", "/console/assets/app.js", cookie=False)
    if not plain:
        pytest.skip("the console's files were not built (npm)")
    st2, hd2, packed = d.request("GET", "/console/assets/app.js", headers={"Accept-Encoding": "gzip, br"}, cookie=False)
    assert st == st2 == 200 and "content-encoding" not in hd and hd2["content-encoding"] == "gzip"
    assert gzip.decompress(packed) == plain and len(packed) < len(plain) / 2
    assert hd2["content-type"].startswith("text/javascript")


def test_tcp_serves_the_console_only(d):
    assert d.request("GET", "/containers/json", cookie=False)[0] == 404
    assert d.request("GET", "/_ping", cookie=False)[0] == 404
    st, hd, _ = d.request("GET", "/", cookie=False)
    assert st == 302 and hd["location"] == "/console/"
    assert d.request("GET", "/console/assets/..%2Fweb%2Ftoken", cookie=False)[0] == 404


def test_console_on_the_unix_socket_needs_login_too(d):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(d.sock)
    s.sendall(b"GET /console/api/containers/json HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    s.close()
    assert out.split()[1] == b"401"


def test_beyond_loopback_needs_tls(netns, tmp_path):
    p = subprocess.run(["nsenter", "--net=/run/netns/" + NETNS, KAPSELD, "--root", str(tmp_path / "root"), "--host",
                        "unix://%s/d.sock" % tmp_path, "--web-listen", "0.0.0.0:%d" % PORT],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0 and "--tlscert" in p.stderr
    assert not os.path.exists(tmp_path / "d.sock")


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl to make a test certificate")
def test_tls_listener(netns, tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    dm = Daemon(str(tmp_path), "--web-listen", "127.0.0.1:%d" % PORT, "--tlscert", cert, "--tlskey", key)
    try:
        st, hd, _ = dm.login()
        assert st == 200 and "Secure" in hd["set-cookie"]
        assert dm.api("GET", "/containers/json")[0] == 200
    finally:
        dm.stop()


# --- the terminal's WebSocket ---

def ws_connect(d, exec_id, origin=True, path="exec"):
    s = ns_socket()
    s.settimeout(20)
    s.connect(("127.0.0.1", PORT))
    key = base64.b64encode(os.urandom(16)).decode()
    hdr = ("GET /console/ws/%s/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nCookie: %s\r\n" % (path, exec_id, PORT, key, d.cookie))
    if origin:
        hdr += "Origin: http://127.0.0.1:%d\r\n" % PORT
    s.sendall((hdr + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            break
        head += c
    return s, head.decode(errors="replace")


def ws_send(s, data, opcode=2):
    mask = os.urandom(4)
    n = len(data)
    h = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    s.sendall(h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def ws_read_until(s, text, timeout=15):
    out, buf, end = b"", b"", time.time() + timeout
    while time.time() < end and text.encode() not in out:
        try:
            c = s.recv(65536)
        except socket.timeout:
            break
        if not c:
            break
        buf += c
        while len(buf) >= 2:
            n, off = buf[1] & 0x7f, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = struct.unpack(">H", buf[2:4])[0], 4
            if len(buf) < off + n:
                break
            if buf[0] & 0x0f == 2:
                out += buf[off:off + n]
            buf = buf[off + n:]
    return out.decode(errors="replace")


def test_websocket_exec_terminal(d):
    assert d.login()[0] == 200
    st, c = d.api("POST", "/containers/create?name=term", {"Image": "busybox", "Cmd": ["sleep", "600"]})
    assert st == 201, c
    assert d.api("POST", "/containers/term/start")[0] == 204
    st, x = d.api("POST", "/containers/term/exec", {"AttachStdin": True, "AttachStdout": True, "Tty": True,
                                                     "Cmd": ["/bin/sh"]})
    assert st == 201, x
    # a page elsewhere cannot open it: the handshake is refused without this server's Origin
    s, head = ws_connect(d, x["Id"], origin=False)
    s.close()
    assert head.startswith("HTTP/1.1 403"), head
    s, head = ws_connect(d, x["Id"])
    assert head.startswith("HTTP/1.1 101") and "Sec-WebSocket-Accept" in head, head
    ws_send(s, b'{"resize":[100,30]}', opcode=1)
    ws_send(s, b"echo web-$((6*7))\n")
    out = ws_read_until(s, "web-42")
    assert "web-42" in out, out
    ws_send(s, b"exit\n")
    ws_read_until(s, "never", timeout=3)
    s.close()


def ws_connect_attach(d, ctr_id):
    return ws_connect(d, ctr_id, path="attach")


def test_websocket_attach_console(d):
    """The console tab: the container's own stdio (for a micro-VM, its serial console)."""
    assert d.login()[0] == 200
    st, c = d.api("POST", "/containers/create?name=con", {"Image": "busybox", "Cmd": ["sh"], "Tty": True,
                                                           "OpenStdin": True, "AttachStdin": True})
    assert st == 201, c
    assert d.api("POST", "/containers/con/start")[0] == 204
    s, head = ws_connect_attach(d, c["Id"])
    assert head.startswith("HTTP/1.1 101"), head
    ws_send(s, b"echo attached-$((6*7))\n")
    out = ws_read_until(s, "attached-42")
    s.close()
    assert "attached-42" in out, out
    s, head = ws_connect(d, "con", path="attach")   # names are not taken: a full ID only
    s.close()
    assert head.startswith("HTTP/1.1 404"), head


def test_stats_snapshot(d):
    assert d.login()[0] == 200
    st, c = d.api("POST", "/containers/create?name=busy", {"Image": "busybox", "Cmd": ["sleep", "600"]})
    assert d.api("POST", "/containers/busy/start")[0] == 204
    st, _, body = d.request("GET", "/console/stats")
    s = json.loads(body)
    assert st == 200 and s["host"]["mem_total"] > 0 and s["host"]["kvm"]
    row = s["containers"][c["Id"]]
    assert row["mem"] > 0 and row["cpu_ns"] > 0 and "net_rx" in row


def test_instances_list_has_kind_and_ports(d):
    assert d.login()[0] == 200
    st, c = d.api("POST", "/containers/create?name=pub", {
        "Image": "busybox", "Cmd": ["true"], "ExposedPorts": {"80/tcp": {}},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "Memory": 64 << 20}})
    assert st == 201, c
    st, _, body = d.request("GET", "/console/instances")
    rows = json.loads(body)
    assert st == 200 and len(rows) == 1
    r = rows[0]
    assert (r["Id"], r["Name"], r["Kind"], r["State"], r["Ports"], r["MemoryLimit"]) == \
        (c["Id"], "pub", "container", "created", "8080->80/tcp", 64 << 20)
    assert d.request("GET", "/console/instances", cookie=False)[0] == 401


# --- a real browser ---

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NODE = shutil.which("node")
PLAYWRIGHT = os.path.join(WEB_SRC, "node_modules/playwright-core/index.mjs")


# --- micro-VM snapshots (docker's checkpoint routes) ---

KERNELS = sorted(glob.glob("/boot/vmlinuz-*"))


def fake_vm_with_snapshot(d, tmp_path, name="v1"):
    """A VM row made with a fake KVM device (it cannot run) and a snapshot directory laid out as
    `vm snapshot create` leaves it; returns the VM's id."""
    dev = tmp_path / "fake-kvm"
    dev.write_text("")
    env = dict(os.environ, KAPSEL_KVM_DEVICE=str(dev))
    subprocess.run([KAPSEL, "--root", d.root, "vm", "create", "--name", name, "--kernel", KERNELS[-1], "--net", "none"],
                   env=env, check=True, capture_output=True)
    vid = json.loads(subprocess.run([KAPSEL, "--root", d.root, "inspect", name], check=True, capture_output=True,
                                    text=True).stdout)[0]["Id"]
    snap = os.path.join(d.root, "containers", vid, "snapshots", "warm")
    os.makedirs(snap)
    for f in ("state", "memory"):
        open(os.path.join(snap, f), "wb").close()
    with open(os.path.join(snap, "snapshot.json"), "w") as f:
        json.dump({"Name": "warm", "Created": 1700000000, "Memory": 256 << 20, "Cpus": 1, "Disks": 0}, f)
    return vid


def fake_isolated_with_checkpoint(d, tmp_path, name="isobox"):
    """An --isolation=vm container made with a fake KVM device (it cannot run) and a checkpoint laid
    out as `checkpoint create` leaves it; returns its id."""
    dev = tmp_path / "fake-kvm-iso"
    dev.write_text("")
    env = dict(os.environ, KAPSEL_KVM_DEVICE=str(dev))
    subprocess.run([KAPSEL, "--root", d.root, "create", "--name", name, "--isolation=vm", "busybox", "sleep", "30"],
                   env=env, check=True, capture_output=True)
    cid = json.loads(subprocess.run([KAPSEL, "--root", d.root, "inspect", name], check=True, capture_output=True,
                                    text=True).stdout)[0]["Id"]
    snap = os.path.join(d.root, "containers", cid, "snapshots", "cold")
    os.makedirs(snap)
    for f in ("state", "memory", "disk-1.img"):
        open(os.path.join(snap, f), "wb").close()
    with open(os.path.join(snap, "snapshot.json"), "w") as f:
        json.dump({"Name": "cold", "Created": 1700000000, "Memory": 512 << 20, "Cpus": 1, "Disks": 1}, f)
    return cid


@pytest.mark.skipif(not KERNELS, reason="no /boot/vmlinuz-*")
def test_vm_checkpoint_routes(d, tmp_path):
    vid = fake_vm_with_snapshot(d, tmp_path)
    d.login()
    st, rows = d.api("GET", "/containers/v1/checkpoints")
    assert st == 200 and [r["Name"] for r in rows] == ["warm"]
    st, body = d.api("POST", "/containers/v1/checkpoints", {"CheckpointID": "s2"})
    assert st == 409 and "only a running or paused VM" in body["message"]
    st, body = d.api("POST", "/containers/v1/checkpoints", {})
    assert st == 400 and "CheckpointID" in body["message"]
    st, body = d.api("DELETE", "/containers/v1/checkpoints/nope")
    assert st == 404 and "nope" in body["message"]
    st, _ = d.api("DELETE", "/containers/v1/checkpoints/warm")
    assert st == 204 and not os.path.exists(os.path.join(d.root, "containers", vid, "snapshots", "warm"))
    st, rows = d.api("GET", "/containers/v1/checkpoints")
    assert st == 200 and rows == []
    # a plain container: refused, saying why and what instead
    st, c = d.api("POST", "/containers/create?name=plain", {"Image": "busybox", "Cmd": ["true"]})
    assert st == 201
    st, body = d.api("POST", "/containers/plain/checkpoints", {"CheckpointID": "x"})
    assert st == 400 and "CRIU" in body["message"]
    st, body = d.api("POST", "/containers/plain/start?checkpoint=x")
    assert st == 400 and "CRIU" in body["message"]


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no chromium (scripts/install-deps.sh test installs it)")
@pytest.mark.skipif(not NODE, reason="no node")
@pytest.mark.skipif(not os.path.exists(PLAYWRIGHT), reason="no playwright-core: run npm ci in src/daemon/web")
def test_browser_console(d, tmp_path):
    if not os.path.exists(os.path.join(BUILD, "src/daemon/web/app.js")) or \
            os.path.getsize(os.path.join(BUILD, "src/daemon/web/app.js")) == 0:
        pytest.skip("the console's files were not built (npm)")
    os.makedirs(ARTIFACTS, exist_ok=True)
    env = dict(os.environ, PLAYWRIGHT_CORE=PLAYWRIGHT, CHROMIUM=CHROMIUM, CONSOLE_URL="http://127.0.0.1:%d/console/" % PORT,
               CONSOLE_TOKEN=d.token, ARTIFACTS=ARTIFACTS, PROFILE=str(tmp_path / "profile"))
    if KERNELS:
        env["VM_ID"] = fake_vm_with_snapshot(d, tmp_path)
    env["ISO_ID"] = fake_isolated_with_checkpoint(d, tmp_path)
    p = subprocess.run(["nsenter", "--net=/run/netns/" + NETNS, NODE, os.path.join(REPO, "tests/integration/web_browser.mjs")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "%s\n%s\n--- kapseld\n%s" % (p.stdout, p.stderr, d.logs())
    assert "browser: all steps passed" in p.stdout
    for page in ("login", "overview", "create", "instances", "detail", "terminal", "images", "networks", "volumes",
                 "instances-390", "container-checkpoints") + (("vm-snapshots",) if KERNELS else ()):
        assert os.path.exists(os.path.join(ARTIFACTS, page + ".png")), page
