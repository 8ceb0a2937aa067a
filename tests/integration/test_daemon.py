"""kapseld end to end: the docker CLI and docker-py (the SDK) against the Docker Engine API.

The daemon runs in a network namespace of the session's own, on a temporary root with the
built-in busybox image, its socket in the test's directory. Each test gets a fresh daemon and root;
after it every container is removed and its monitor must be gone."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KAPSELD = os.environ.get("KAPSELD", os.path.join(REPO, "build/src/daemon/kapseld"))
KAPSEL = os.environ.get("KAPSEL", os.path.join(REPO, "build/src/cli/kapsel"))
DOCKER = shutil.which("docker")
NETNS = "kapseld-test-%d" % os.getpid()

pytestmark = pytest.mark.skipif(not os.path.exists(KAPSELD), reason="kapseld not built at %s" % KAPSELD)


@pytest.fixture(scope="session")
def netns():
    """The daemon's namespace. Other modules import this fixture, which makes it one per importing
    module: the first makes the namespace, the others share it, its maker removes it."""
    made = subprocess.run(["ip", "netns", "add", NETNS], capture_output=True).returncode == 0
    assert made or os.path.exists("/run/netns/" + NETNS)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield NETNS
    if made:
        subprocess.run(["ip", "netns", "del", NETNS])


class Daemon:
    def __init__(self, tmp):
        self.root = os.path.join(tmp, "root")
        self.sock = os.path.join(tmp, "d.sock")
        self.host = "unix://" + self.sock
        self.log = open(os.path.join(tmp, "kapseld.log"), "w+")
        self.proc = subprocess.Popen(["nsenter", "--net=/run/netns/" + NETNS, KAPSELD, "--root", self.root,
                                      "--host", self.host], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(self.sock):
                break
            time.sleep(0.02)
        assert os.path.exists(self.sock), self.logs()

    def logs(self):
        self.log.seek(0)
        return self.log.read()

    def http(self, method, path, body=None):
        """One raw request: (status, body bytes; a chunked body is put back together)."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20)
        s.connect(self.sock)
        data = json.dumps(body).encode() if body is not None else b""
        s.sendall(("%s %s HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n" % (method, path, len(data))).encode() + data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        head, _, rest = out.partition(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in head.lower():
            body, rest = rest, b""
            while body:
                size, _, body = body.partition(b"\r\n")
                n = int(size, 16)
                if n == 0:
                    break
                rest, body = rest + body[:n], body[n + 2:]
        return int(head.split()[1]), rest

    def docker(self, *args, check=True, timeout=60, input=None):
        env = dict(os.environ, DOCKER_HOST=self.host, DOCKER_CONFIG=os.path.join(os.path.dirname(self.sock), "dc"))
        p = subprocess.run([DOCKER] + list(args), env=env, capture_output=True, text=True, timeout=timeout,
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError("docker %s: exit %d\n%s%s\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr,
                                                                  self.logs()))
        return p

    def stop(self):
        subprocess.run(["nsenter", "--net=/run/netns/" + NETNS, KAPSEL, "--root", self.root, "rm", "-f"] +
                       subprocess.run([KAPSEL, "--root", self.root, "ps", "-aq"], capture_output=True,
                                      text=True).stdout.split(), capture_output=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def d(netns, tmp_path):
    dm = Daemon(str(tmp_path))
    yield dm
    dm.stop()
    # monitors of removed containers finish on their own, briefly after the removal
    for _ in range(100):
        monitors = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, dm.root)]
        if not monitors:
            break
        time.sleep(0.05)
    assert not monitors, "left running: %s" % monitors


def _cmdline_has(pid, text):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


# --- the raw API ---

def test_ping_version_and_prefixes(d):
    assert d.http("GET", "/_ping") == (200, b"OK")
    assert d.http("HEAD", "/_ping")[0] == 200
    st, body = d.http("GET", "/v1.24/version")
    v = json.loads(body)
    assert st == 200 and v["ApiVersion"] == "1.41" and v["MinAPIVersion"] == "1.24"
    st, body = d.http("GET", "/v1.99/version")
    assert st == 400 and "version" in json.loads(body)["message"]


def test_errors_are_docker_json(d):
    st, body = d.http("GET", "/containers/ghost/json")
    assert st == 404 and json.loads(body)["message"].startswith("no such container or VM: ghost")
    st, body = d.http("POST", "/containers/create?name=bad/name", {"Image": "busybox"})
    assert st == 400 and "invalid container name" in json.loads(body)["message"]
    st, body = d.http("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"CapAdd": ["FLY"]}})
    assert st == 400 or st == 500
    assert "unknown capability" in json.loads(body)["message"]
    st, body = d.http("GET", "/nowhere")
    assert st == 404
    st, body = d.http("POST", "/containers/create", "not an object")
    assert st == 400


def test_limits_body_and_bad_requests(d):
    # a body over the cap is refused before it is read, and the daemon still answers
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(d.sock)
    s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 999999999\r\n\r\n")
    assert b" 413 " in s.recv(4096)
    s.close()
    # garbage instead of HTTP
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    s.connect(d.sock)
    s.settimeout(3)
    s.sendall(b"\x00\xff garbage\r\n\r\n")
    try:
        s.recv(4096)
    except OSError:
        pass
    s.close()
    assert d.http("GET", "/_ping") == (200, b"OK")


# --- the docker CLI ---

docker_cli = pytest.mark.skipif(not DOCKER, reason="no docker CLI (package docker.io)")


@docker_cli
def test_docker_run_rm_echo(d):
    p = d.docker("run", "--rm", "busybox", "echo", "hi")
    assert p.stdout == "hi\n"
    assert d.docker("ps", "-aq").stdout == ""


@docker_cli
def test_docker_run_exit_code_and_streams(d):
    p = d.docker("run", "--name", "c", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert p.returncode == 3 and p.stdout == "out\n" and p.stderr == "err\n"
    p = d.docker("logs", "c")
    assert p.stdout == "out\n" and p.stderr == "err\n"


@docker_cli
def test_docker_detached_lifecycle(d):
    cid = d.docker("run", "-d", "--name", "web", "-e", "GREETING=hello", "busybox", "sh", "-c",
                   "echo $GREETING; sleep 1000").stdout.strip()
    assert len(cid) == 64
    ps = d.docker("ps", "--format", "{{.Names}} {{.Status}}").stdout
    assert ps.startswith("web Up")
    assert d.docker("exec", "web", "sh", "-c", "echo $GREETING from exec").stdout == "hello from exec\n"
    assert d.docker("exec", "web", "sh", "-c", "exit 7", check=False).returncode == 7
    assert d.docker("exec", "-i", "web", "cat", input="piped\n").stdout == "piped\n"
    for _ in range(50):
        if d.docker("logs", "web").stdout == "hello\n":
            break
        time.sleep(0.1)
    assert d.docker("logs", "web").stdout == "hello\n"
    doc = json.loads(d.docker("inspect", "web").stdout)[0]
    assert doc["Id"] == cid and doc["State"]["Running"] is True
    d.docker("stop", "-t", "1", "web")
    assert json.loads(d.docker("inspect", "web").stdout)[0]["State"]["Running"] is False
    p = d.docker("rm", "ghost", check=False)
    assert p.returncode != 0 and "no such container" in p.stderr
    d.docker("rm", "web")
    assert d.docker("ps", "-aq").stdout == ""


@docker_cli
def test_docker_rm_running_needs_force(d):
    d.docker("run", "-d", "--name", "busy", "busybox", "sleep", "1000")
    p = d.docker("rm", "busy", check=False)
    assert p.returncode != 0 and "stop it first" in p.stderr
    d.docker("rm", "-f", "busy")


@docker_cli
def test_docker_images_and_inspect(d):
    d.docker("pull", "busybox")
    out = d.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "busybox:latest" in out
    d.docker("tag", "busybox", "mine:v1")
    assert "mine:v1" in d.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    d.docker("rmi", "mine:v1")
    doc = json.loads(d.docker("image", "inspect", "busybox").stdout)[0]
    assert doc["Id"].startswith("sha256:")


# --- docker-py ---

@pytest.fixture
def client(d):
    docker = pytest.importorskip("docker")
    c = docker.DockerClient(base_url=d.host, version="1.41", timeout=60)
    yield c
    c.close()


def test_sdk_containers_run_and_logs(client):
    out = client.containers.run("busybox", ["sh", "-c", "echo sdk"], remove=True)
    assert out == b"sdk\n"
    c = client.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2; sleep 1000"], detach=True, name="sdk1",
                              labels={"team": "kapsel"})
    assert c.name == "sdk1"
    assert [x.name for x in client.containers.list(filters={"label": "team=kapsel"})] == ["sdk1"]
    for _ in range(50):
        if c.logs() == b"a\nb\n":
            break
        time.sleep(0.1)
    assert c.logs(stdout=True, stderr=False) == b"a\n"
    c.reload()
    assert c.status == "running"
    res = c.exec_run(["sh", "-c", "echo in-exec; exit 2"])
    assert res.exit_code == 2 and res.output == b"in-exec\n"
    c.kill()
    assert c.wait()["StatusCode"] == 137
    c.remove()
    assert client.containers.list(all=True) == []


def test_sdk_wait_and_errors(client):
    docker = pytest.importorskip("docker")
    c = client.containers.create("busybox", ["sh", "-c", "exit 9"], name="w")
    c.start()
    assert c.wait(condition="not-running")["StatusCode"] == 9
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("ghost")
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.create("busybox", name="w")
    assert e.value.status_code == 409 and "already in use" in str(e.value)
    c.remove()
    assert client.version()["ApiVersion"] == "1.41"
    assert client.ping()


def test_sdk_pause_rename(client):
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="p1")
    c.pause()
    c.reload()
    assert c.status == "paused"
    c.unpause()
    c.rename("p2")
    assert client.containers.get("p2").id == c.id
    c.remove(force=True)


@docker_cli
def test_docker_networks_volumes_and_aliases(d):
    d.docker("network", "create", "appnet")
    assert "appnet" in d.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    net = json.loads(d.docker("network", "inspect", "appnet").stdout)[0]
    assert net["Driver"] == "bridge" and net["IPAM"]["Config"][0]["Subnet"]
    d.docker("volume", "create", "vol1")
    assert json.loads(d.docker("volume", "inspect", "vol1").stdout)[0]["Name"] == "vol1"
    d.docker("run", "-d", "--name", "srv", "--network", "appnet", "--network-alias", "backend", "-v", "vol1:/data",
             "busybox", "sh", "-c", "echo kept > /data/f; sleep 1000")
    p = d.docker("run", "--rm", "--network", "appnet", "-v", "vol1:/data", "busybox", "sh", "-c",
                 "ping -c1 -W3 backend >/dev/null && ping -c1 -W3 srv >/dev/null && echo both; cat /data/f")
    assert p.stdout == "both\nkept\n"
    p = d.docker("network", "rm", "appnet", check=False)
    assert p.returncode != 0
    d.docker("rm", "-f", "srv")
    d.docker("volume", "rm", "vol1")
    d.docker("network", "rm", "appnet")
    assert "appnet" not in d.docker("network", "ls", "--format", "{{.Name}}").stdout.split()


COMPOSE_FILE = """
version: "3.8"
services:
  backend:
    image: busybox
    command: sh -c 'mkdir -p /srv; echo backend-data > /srv/index.html; httpd -f -p 8000 -h /srv'
    restart: unless-stopped
    networks: [appnet]
  web:
    image: busybox
    command: sh -c 'while true; do nc -w 2 backend 8000 </dev/null >/dev/null && echo reached; sleep 1; done'
    depends_on: [backend]
    ports: ["18081:8080"]
    volumes: ["data:/data"]
    networks: [appnet]
  worker:
    image: busybox
    command: sh -c 'echo $$GREETING > /data/g; sleep 1000'
    environment:
      GREETING: from-worker
    volumes: ["data:/data"]
    networks: [appnet]
volumes:
  data:
networks:
  appnet:
"""


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="no docker-compose (package docker-compose)")
def test_compose_three_services(d, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "docker-compose.yml").write_text(COMPOSE_FILE)
    env = dict(os.environ, DOCKER_HOST=d.host, COMPOSE_PROJECT_NAME="kt")

    def compose(*args, timeout=120):
        p = subprocess.run(["docker-compose"] + list(args), cwd=proj, env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, "%s\n%s\n%s" % (p.stdout, p.stderr, d.logs())
        return p.stdout

    compose("up", "-d")
    ps = compose("ps")
    assert ps.count(" Up ") == 3 or ps.count("Up") >= 3, ps
    assert "18081->8080" in ps
    # web reaches the backend by its service name on the project network
    for _ in range(100):
        if "reached" in compose("logs", "web"):
            break
        time.sleep(0.2)
    assert "reached" in compose("logs", "web")
    assert compose("exec", "-T", "worker", "cat", "/data/g") == "from-worker\n"
    compose("restart", "worker")
    compose("down", "-v")
    assert d.docker("ps", "-aq").stdout == ""
    assert "kt_data" not in d.docker("volume", "ls", "-q").stdout


@docker_cli
def test_docker_publish_expose_and_health(d):
    d.docker("run", "-d", "--name", "pp", "-P", "--expose", "8080", "--health-cmd", "true", "--health-interval",
             "300ms", "busybox", "httpd", "-f", "-p", "8080")
    assert d.docker("port", "pp").stdout.startswith("8080/tcp -> 0.0.0.0:")
    for _ in range(50):
        if "(healthy)" in d.docker("ps", "--format", "{{.Status}}").stdout:
            break
        time.sleep(0.1)
    ps = d.docker("ps", "--format", "{{.Status}}|{{.Ports}}").stdout
    assert "(healthy)" in ps and "->8080/tcp" in ps
    assert d.docker("inspect", "-f", "{{.State.Health.Status}}", "pp").stdout == "healthy\n"
    d.docker("rm", "-f", "pp")


@docker_cli
def test_docker_save_load(d, tmp_path):
    d.docker("pull", "busybox")
    d.docker("tag", "busybox", "saved:v1")
    d.docker("run", "--name", "user", "saved:v1", "true")
    archive = str(tmp_path / "s.tar")
    d.docker("save", "-o", archive, "saved:v1")
    assert "manifest.json" in subprocess.run(["tar", "tf", archive], capture_output=True, text=True).stdout
    # a second name of an image in use is only untagged
    assert d.docker("rmi", "saved:v1").stdout == "Untagged: saved:v1\n"
    assert d.docker("load", "-i", archive).stdout == "Loaded image: saved:v1\n"
    assert "saved:v1" in d.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert not os.listdir(os.path.join(d.root, "image", "tmp")) if os.path.isdir(os.path.join(d.root, "image", "tmp")) else True


@docker_cli
def test_kill9_daemon_keeps_containers_and_restart_policies(d, tmp_path):
    d.docker("run", "-d", "--name", "keep", "busybox", "sleep", "1000")
    d.docker("run", "-d", "--name", "ra", "--restart", "always", "busybox", "sleep", "1000")
    d.docker("run", "-d", "--name", "ru", "--restart", "unless-stopped", "busybox", "sleep", "1000")
    d.docker("run", "-d", "--name", "rs", "--restart", "unless-stopped", "busybox", "sleep", "1000")
    d.docker("stop", "-t", "0", "rs")
    # kill -9 of the daemon: containers live on under their monitors
    d.proc.kill()
    d.proc.wait()
    os.unlink(d.sock)
    pids = {}
    for name in ("keep", "ra", "ru"):
        doc = json.loads(subprocess.run([KAPSEL, "--root", d.root, "inspect", name], capture_output=True,
                                        text=True).stdout)[0]
        assert doc["State"]["Running"], name
        pids[name] = doc["State"]["Pid"]
    # as after a reboot: the monitors of ra and ru die too
    for name in ("ra", "ru"):
        mons = [int(p) for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, d.root) and
                _cmdline_has(p, json.loads(subprocess.run([KAPSEL, "--root", d.root, "inspect", name],
                                                          capture_output=True, text=True).stdout)[0]["Id"])]
        for m in mons:
            os.kill(m, signal.SIGKILL)
        os.kill(pids[name], signal.SIGKILL)
    time.sleep(0.3)
    d2 = Daemon(str(tmp_path))
    d.proc, d.log = d2.proc, d2.log
    state = {line.split()[0]: line.split()[1] for line in
             d.docker("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.splitlines()}
    assert state == {"keep": "running", "ra": "running", "ru": "running", "rs": "exited"}, state


@docker_cli
def test_docker_stats_and_top(d):
    d.docker("run", "-d", "--name", "busy", "busybox", "sh", "-c", "while :; do :; done")
    out = d.docker("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.PIDs}}").stdout.split()
    assert out[0] == "busy" and out[1].endswith("%") and float(out[1][:-1]) > 5 and out[2] == "1"
    top = d.docker("top", "busy").stdout.splitlines()
    assert top[0].split() == ["PID", "USER", "CMD"] and "while :; do :; done" in top[1]
    p = d.docker("top", "ghost", check=False)
    assert p.returncode != 0 and "no such container" in p.stderr
    d.docker("rm", "-f", "busy")


def test_system_service_runs_kapseld(netns, tmp_path):
    sock = str(tmp_path / "svc.sock")
    p = subprocess.Popen(["nsenter", "--net=/run/netns/" + NETNS, KAPSEL, "--root", str(tmp_path / "root"), "system",
                          "service", "--host", "unix://" + sock], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(sock)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.close()
        assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
    finally:
        p.terminate()
        p.wait(10)
    assert not os.path.exists(sock)
    bad = subprocess.run([KAPSEL, "--root", str(tmp_path / "root"), "system", "service", "--host", "tcp://0.0.0.0:2375"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "only with mutual TLS" in bad.stderr


@docker_cli
def test_docker_network_connect_disconnect(d):
    d.docker("network", "create", "net2")
    d.docker("run", "-d", "--name", "c", "busybox", "sleep", "1000")
    d.docker("network", "connect", "net2", "c")
    nets = json.loads(d.docker("inspect", "c").stdout)[0]["NetworkSettings"]["Networks"]
    assert nets["net2"]["IPAddress"]
    assert "eth1" in d.docker("exec", "c", "ip", "-o", "link").stdout
    d.docker("network", "disconnect", "net2", "c")
    assert "net2" not in json.loads(d.docker("inspect", "c").stdout)[0]["NetworkSettings"]["Networks"]
    # a created container, as compose connects a service's second network before its start
    d.docker("create", "--name", "late", "busybox", "sleep", "1000")
    d.docker("network", "connect", "--alias", "late-alias", "net2", "late")
    d.docker("start", "late")
    assert "eth1" in d.docker("exec", "late", "ip", "-o", "link").stdout
    assert d.docker("exec", "c", "true").returncode == 0
    d.docker("network", "connect", "net2", "c")
    assert d.docker("exec", "c", "ping", "-c", "1", "-W", "2", "late-alias").returncode == 0
    d.docker("rm", "-f", "c", "late")
    d.docker("network", "rm", "net2")


@docker_cli
def test_docker_update_diff_export(d, tmp_path):
    d.docker("run", "-d", "--name", "u", "busybox", "sh", "-c", "echo x > /made; rm /etc/hostname.x 2>/dev/null;"
             " sleep 1000")
    d.docker("update", "--memory", "64m", "--cpus", "0.5", "--restart", "on-failure:3", "u")
    host = json.loads(d.docker("inspect", "u").stdout)[0]["HostConfig"]
    assert host["Memory"] == 64 << 20 and host["NanoCpus"] == 500000000
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    p = d.docker("update", "--memory", "64m", "ghost", check=False)
    assert p.returncode != 0 and "no such container" in p.stderr
    for _ in range(50):
        if "A /made" in d.docker("diff", "u").stdout.splitlines():
            break
        time.sleep(0.1)
    assert "A /made" in d.docker("diff", "u").stdout.splitlines()
    out = str(tmp_path / "u.tar")
    d.docker("export", "-o", out, "u")
    import tarfile
    with tarfile.open(out) as t:
        names = {n.lstrip("./") for n in t.getnames()}
        assert "made" in names and "bin/busybox" in names
    d.docker("rm", "-f", "u")


@docker_cli
def test_docker_system_df_and_prunes(d):
    d.docker("run", "--name", "done", "busybox", "true")
    d.docker("volume", "create", "junk")
    d.docker("network", "create", "spare")
    df = d.docker("system", "df", "--format", "{{.Type}} {{.TotalCount}}").stdout.splitlines()
    assert "Containers 1" in df and "Local Volumes 1" in df
    assert any(line.startswith("Images ") for line in df)
    cid = json.loads(d.docker("inspect", "done").stdout)[0]["Id"]
    out = d.docker("container", "prune", "-f").stdout
    assert cid in out and "Total reclaimed space" in out
    assert d.docker("ps", "-aq").stdout == ""
    assert "junk" in d.docker("volume", "prune", "-f").stdout
    assert d.docker("volume", "ls", "-q").stdout == ""
    assert "spare" in d.docker("network", "prune", "-f").stdout
    assert "spare" not in d.docker("network", "ls").stdout
    assert "Total reclaimed space" in d.docker("image", "prune", "-f").stdout
    status, body = d.http("POST", "/v1.41/containers/prune?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D")
    assert status == 200 and json.loads(body)["ContainersDeleted"] == []


@docker_cli
def test_docker_events_history_and_follow(d):
    start = time.time()
    follow = subprocess.Popen([DOCKER, "events", "--filter", "type=container", "--filter", "event=start"],
                              env=dict(os.environ, DOCKER_HOST=d.host), stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        cid = d.docker("run", "--name", "ev", "busybox", "true").stdout.strip()
        cid = json.loads(d.docker("inspect", "ev").stdout)[0]["Id"]
        line = follow.stdout.readline()
        assert " container start %s " % cid in line and "name=ev" in line
    finally:
        follow.terminate()
        follow.wait(10)
    out = d.docker("events", "--since", str(int(start) - 1), "--until", str(int(time.time()) + 1),
                   "--filter", "container=ev", timeout=20).stdout.splitlines()
    actions = [line.split()[2] for line in out]
    assert actions[:2] == ["create", "start"] and "die" in actions
    p = d.docker("events", "--since", "yesterday-ish", "--until", "0s", check=False, timeout=20)
    assert p.returncode != 0
    d.docker("rm", "ev")


def test_sdk_events(client):
    since = int(time.time()) - 1
    client.containers.run("busybox", "true", name="sdkev", remove=True)
    evs = list(client.events(since=since, until=int(time.time()) + 1, decode=True,
                             filters={"type": "container", "container": "sdkev"}))
    assert [e["Action"] for e in evs][:2] == ["create", "start"]
    assert all(e["Actor"]["Attributes"]["name"] == "sdkev" for e in evs)
    assert "destroy" in [e["Action"] for e in evs]


@docker_cli
def test_docker_login_and_pull_with_registry_auth(d, tmp_path):
    """docker login checks the credentials through POST /auth; docker pull sends them as
    X-Registry-Auth. The registry runs in the daemon's network namespace."""
    registry = "/usr/bin/docker-registry"
    if not os.access(registry, os.X_OK) or not shutil.which("htpasswd"):
        pytest.skip("needs docker-registry and htpasswd (apache2-utils)")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_bytes(subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], check=True,
                                        capture_output=True).stdout)
    host = "127.0.0.1:5123"
    cfg = tmp_path / "registry.yml"
    cfg.write_text(json.dumps({"version": 0.1, "log": {"level": "error"},
                               "storage": {"filesystem": {"rootdirectory": str(tmp_path / "storage")}},
                               "http": {"addr": host},
                               "auth": {"htpasswd": {"realm": "kapsel-test", "path": str(htpasswd)}}}))
    reg = subprocess.Popen(["nsenter", "--net=/run/netns/" + NETNS, registry, "serve", str(cfg)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            p = d.docker("login", "-u", "alice", "--password-stdin", host, input="s3cret\n", check=False)
            if p.returncode == 0:
                break
            time.sleep(0.1)
        assert p.returncode == 0 and "Login Succeeded" in p.stdout, p.stderr
        p = d.docker("login", "-u", "alice", "--password-stdin", host, input="wrong\n", check=False)
        assert p.returncode != 0 and "credentials rejected" in p.stderr
        # an image in the registry, pushed by the kapsel CLI (in the same namespace)
        ns_k = ["nsenter", "--net=/run/netns/" + NETNS, KAPSEL, "--root", d.root]
        env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "kcfg"))
        ref = host + "/kapsel/bb:1"
        d.docker("pull", "busybox")
        subprocess.run(ns_k + ["tag", "busybox", ref], check=True, env=env)
        subprocess.run(ns_k + ["login", "-u", "alice", "--password-stdin", host], input="s3cret\n", text=True,
                       check=True, env=env, capture_output=True)
        subprocess.run(ns_k + ["push", ref], check=True, env=env, capture_output=True)
        subprocess.run(ns_k + ["rmi", ref], check=True, env=env)
        d.docker("pull", ref, timeout=120)      # the docker CLI's config.json has alice: X-Registry-Auth
        assert ref in d.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        d.docker("rmi", ref)
        d.docker("logout", host)
        p = d.docker("pull", ref, check=False, timeout=120)
        assert p.returncode != 0
        status, body = d.http("POST", "/v1.41/auth", {"username": "", "password": ""})
        assert status == 400 and b"must not be empty" in body
    finally:
        reg.kill()
        reg.wait()


@docker_cli
def test_docker_cp_both_ways(d, tmp_path):
    d.docker("run", "-d", "--name", "cpc", "busybox", "sh", "-c", "mkdir -p /data/sub; echo inside > /data/sub/f;"
             " sleep 1000")
    for _ in range(50):
        if d.docker("exec", "cpc", "cat", "/data/sub/f", check=False).stdout == "inside\n":
            break
        time.sleep(0.1)
    out = tmp_path / "out"
    d.docker("cp", "cpc:/data/sub/f", str(out))
    assert out.read_text() == "inside\n"
    d.docker("cp", "cpc:/data", str(tmp_path / "tree"))
    assert (tmp_path / "tree" / "sub" / "f").read_text() == "inside\n"
    src = tmp_path / "host.txt"
    src.write_text("from host\n")
    d.docker("cp", str(src), "cpc:/data/")                     # into a directory: keeps its name
    d.docker("cp", str(src), "cpc:/data/renamed.txt")          # to a new name
    assert d.docker("exec", "cpc", "cat", "/data/host.txt", "/data/renamed.txt").stdout == "from host\n" * 2
    p = d.docker("cp", "cpc:/nowhere/x", str(tmp_path / "no"), check=False)
    assert p.returncode != 0 and "/nowhere" in p.stderr, p.stderr
    # a stopped container: its rootfs is mounted for the copy, and unmounted after
    d.docker("stop", "-t", "1", "cpc")
    d.docker("cp", "cpc:/data/host.txt", str(tmp_path / "again"))
    assert (tmp_path / "again").read_text() == "from host\n"
    with open("/proc/self/mountinfo") as f:
        assert d.root not in f.read()
    d.docker("rm", "cpc")


def test_sdk_archive_df_prune_update(client):
    import io
    import tarfile
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="sdkar")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"sdk bytes\n"
        info = tarfile.TarInfo("put.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    assert c.put_archive("/tmp", buf.getvalue())
    stream, stat = c.get_archive("/tmp/put.txt")
    assert stat["name"] == "put.txt" and stat["size"] == 10
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
        assert t.extractfile("put.txt").read() == b"sdk bytes\n"
    c.update(mem_limit="32m")
    c.reload()
    assert c.attrs["HostConfig"]["Memory"] == 32 << 20
    assert {"Path": "/tmp/put.txt", "Kind": 1} in c.diff()
    df = client.df()
    assert [x["Id"] for x in df["Containers"]] == [c.id] and df["Containers"][0]["Names"] == ["/sdkar"]
    c.stop(timeout=1)
    assert client.containers.prune()["ContainersDeleted"] == [c.id]
