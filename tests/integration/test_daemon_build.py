"""kapseld's build, history, import and push routes through the docker CLI, docker-py and
docker-compose: POST /build (docker's classic builder, DOCKER_BUILDKIT=0), POST /build/prune,
GET /images/{name}/history, POST /images/create?fromSrc=- (docker import) and
POST /images/{name}/push. The daemon and its fixtures are test_daemon.py's (its own network
namespace, a fresh root per test)."""
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time

import pytest

from test_daemon import DOCKER, KAPSEL, NETNS, Daemon, client, d, docker_cli, netns  # noqa: F401 (fixtures)

BUILDKIT_OFF = {"DOCKER_BUILDKIT": "0"}

DOCKERFILE = """FROM busybox
COPY hello.txt /hello.txt
RUN cat /hello.txt > /copied && echo built$((40+2))
"""


def _docker(dm, *args, check=True, timeout=120, env=None):
    """d.docker with extra environment (the legacy builder)."""
    e = dict(os.environ, DOCKER_HOST=dm.host, DOCKER_CONFIG=os.path.join(os.path.dirname(dm.sock), "dc"),
             **(env or {}))
    p = subprocess.run([DOCKER] + list(args), env=e, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError("docker %s: exit %d\n%s%s\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr,
                                                              dm.logs()))
    return p


def _context(path, dockerfile=DOCKERFILE, files=None):
    path.mkdir()
    (path / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {"hello.txt": "hello\n"}).items():
        (path / name).write_text(text)
    return str(path)


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _post_raw(dm, path, body, timeout=30):
    """POST with a tar body; (status, the open socket, what was read so far)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(dm.sock)
    s.sendall(("POST %s HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: application/x-tar\r\n"
               "Content-Length: %d\r\n\r\n"
               % (path, len(body))).encode() + body)
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    return int(out.split()[1]), s, out


def _read_all(s):
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


@docker_cli
def test_docker_build_cache_history_and_prune(d, tmp_path):
    ctx = _context(tmp_path / "ctx")
    p = _docker(d, "build", "-t", "kt/app:1", "-t", "kt/app:latest", ctx, env=BUILDKIT_OFF)
    out = p.stdout
    assert "Step 1/3 : FROM busybox" in out and "Step 3/3 : RUN" in out, out
    assert "built42" in out and "Successfully tagged kt/app:1" in out, out
    assert _docker(d, "run", "--rm", "kt/app:1", "cat", "/copied").stdout == "hello\n"
    # the same build again: every step from the cache
    out = _docker(d, "build", "-t", "kt/app:1", ctx, env=BUILDKIT_OFF).stdout
    assert out.count("Using cache") >= 2 and "built42" not in out, out
    # -q: only the id
    out = _docker(d, "build", "-q", ctx, env=BUILDKIT_OFF).stdout.strip()
    assert out.startswith("sha256:") and len(out) == 71, out
    # a changed file rebuilds from the COPY on
    (tmp_path / "ctx" / "hello.txt").write_text("changed\n")
    out = _docker(d, "build", "-t", "kt/app:2", ctx, env=BUILDKIT_OFF).stdout
    assert "built42" in out, out
    assert _docker(d, "run", "--rm", "kt/app:2", "cat", "/copied").stdout == "changed\n"
    # history: the steps, newest first, the image's id and tags on top
    rows = _docker(d, "history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "kt/app:1").stdout
    lines = rows.strip().split("\n")
    assert "cat /hello.txt > /copied" in lines[0] and "COPY" in lines[1], rows
    # the intermediate images of the build have ids; busybox's own steps are the base's
    assert lines[0].startswith("sha256:") and lines[1].startswith("sha256:"), rows
    status, body = d.http("GET", "/images/kt/app:1/history")
    hist = json.loads(body)
    assert status == 200 and hist[0]["Tags"] and "kt/app:1" in hist[0]["Tags"][0]
    assert {"Id", "Created", "CreatedBy", "Tags", "Size", "Comment"} <= set(hist[0])
    # the build cache (the intermediate images) goes with build prune; the named images stay
    status, body = d.http("POST", "/build/prune")
    assert status == 200 and json.loads(body)["SpaceReclaimed"] >= 0
    assert _docker(d, "run", "--rm", "kt/app:2", "cat", "/copied").stdout == "changed\n"


@docker_cli
def test_docker_images_filters_and_intermediates(d, tmp_path):
    """docker images -f/-a/REPO against kapseld: the same filters as `kapsel images` (issue 16)."""
    ctx = _context(tmp_path / "ctx", "FROM busybox\nLABEL tier=web\nRUN echo one > /one\n")
    _docker(d, "build", "-t", "kf/web:1", ctx, env=BUILDKIT_OFF)
    ctx2 = _context(tmp_path / "ctx2", "FROM busybox\nLABEL tier=db\n")
    _docker(d, "build", "-t", "kf/db:1", ctx2, env=BUILDKIT_OFF)

    def names(*args):
        out = _docker(d, "images", "--format", "{{.Repository}}:{{.Tag}}", *args).stdout.split()
        return sorted(n for n in out if n.startswith("kf/"))
    assert names() == ["kf/db:1", "kf/web:1"]
    assert names("-f", "label=tier=web") == ["kf/web:1"]
    assert names("-f", "label=tier") == ["kf/db:1", "kf/web:1"]
    assert names("-f", "reference=kf/d*") == ["kf/db:1"]
    assert names("kf/web") == ["kf/web:1"]
    assert names("-f", "dangling=true") == []
    # the build's step images are untagged parents: hidden, shown by -a, never dangling
    ids = lambda *a: set(_docker(d, "images", "-q", "--no-trunc", *a).stdout.split())  # noqa: E731
    hidden = ids("-a") - ids()
    assert hidden, _docker(d, "images", "-a").stdout
    assert not hidden & ids("-a", "-f", "dangling=true")
    # a tag moved to a new build leaves the old image untagged: dangling
    old = _docker(d, "images", "-q", "--no-trunc", "kf/db:1").stdout.strip()
    _docker(d, "build", "-t", "kf/db:1", _context(tmp_path / "ctx3", "FROM busybox\nLABEL tier=db2\n"),
            env=BUILDKIT_OFF)
    assert old and old in ids("-f", "dangling=true") and old not in ids("-f", "dangling=false")
    r = _docker(d, "images", "-f", "nosuch=1", check=False)
    assert r.returncode != 0 and "nosuch" in r.stderr, r.stderr
    status, body = d.http("GET", "/images/json?filters=%7Bbad")
    assert status == 400 and "filters" in json.loads(body)["message"], body


@docker_cli
def test_docker_build_errors(d, tmp_path):
    ctx = _context(tmp_path / "ctx", "FROM busybox\nRUN echo about-to-fail; exit 3\n")
    p = _docker(d, "build", ctx, check=False, env=BUILDKIT_OFF)
    assert p.returncode != 0 and "about-to-fail" in p.stdout, p.stdout + p.stderr
    assert "RUN: the command" in p.stderr and "non-zero code: 3" in p.stderr, p.stderr
    p = _docker(d, "build", "-f", "Nope", ctx, check=False, env=BUILDKIT_OFF)
    assert p.returncode != 0 and "Nope" in p.stderr, p.stderr
    # the raw API: remote contexts and empty bodies are refused before anything runs
    status, s, _ = _post_raw(d, "/v1.41/build?remote=https://example.com/x.git", b"")
    s.close()
    assert status == 400
    status, s, out = _post_raw(d, "/build", _tar({"Dockerfile": b"FROM busybox\n"}) + b"",
                               timeout=30)
    out += _read_all(s)
    assert status == 200 and b'"aux"' in out, out
    status, s, out = _post_raw(d, "/build?buildargs=%5B1%5D", _tar({"Dockerfile": b"FROM busybox\n"}))
    out += _read_all(s)
    assert status == 400 and b"buildargs" in out, out
    status, s, out = _post_raw(d, "/build?dockerfile=../../etc/passwd", _tar({"Dockerfile": b"FROM busybox\n"}))
    out += _read_all(s)
    assert status == 400, out


def _build_dirs(root):
    try:
        return [n for n in os.listdir(os.path.join(root, "build")) if n.startswith(("step-", "ctx-"))]
    except FileNotFoundError:
        return []


def _sleepers(mark):
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    if f.read() == b"sleep\x00" + mark.encode() + b"\x00":
                        found.append(p)
            except OSError:
                pass
    return found


def test_build_client_gone_stops_the_build(d):
    mark = "4%d" % (os.getpid() % 100000)
    body = _tar({"Dockerfile": ("FROM busybox\nRUN echo go$((6*7)); sleep %s\n" % mark).encode()})
    status, s, out = _post_raw(d, "/build?t=kt/never", body)
    assert status == 200
    deadline = time.time() + 30
    while b"go42" not in out and time.time() < deadline:   # the RUN step's output, not its Step line
        out += s.recv(65536)
    assert b"go42" in out, out
    for _ in range(100):       # the shell starts sleep right after the echo
        if _sleepers(mark):
            break
        time.sleep(0.05)
    assert _sleepers(mark)
    s.close()
    for _ in range(100):
        if not _sleepers(mark) and not _build_dirs(d.root):
            break
        time.sleep(0.1)
    assert not _sleepers(mark), "the RUN step still runs"
    assert not _build_dirs(d.root), _build_dirs(d.root)
    # the daemon builds again afterwards
    status, s, out = _post_raw(d, "/build", _tar({"Dockerfile": b"FROM busybox\nRUN true\n"}))
    out += _read_all(s)
    assert status == 200 and b'"aux"' in out, out


@docker_cli
def test_docker_import_with_changes(d, tmp_path):
    d.docker("run", "--name", "src", "busybox", "true")
    rootfs = str(tmp_path / "rootfs.tar")
    d.docker("export", "-o", rootfs, "src")
    d.docker("rm", "src")
    p = d.docker("import", "-c", 'CMD ["echo", "imported"]', "-c", "ENV GREETING=hi", "-c", "WORKDIR /srv",
                 rootfs, "kt/imp:1")
    assert "sha256:" in p.stdout, p.stdout
    assert d.docker("run", "--rm", "kt/imp:1").stdout == "imported\n"
    cfg = json.loads(d.docker("image", "inspect", "kt/imp:1").stdout)[0]["Config"]
    assert "GREETING=hi" in cfg["Env"] and cfg["WorkingDir"] == "/srv"
    p = d.docker("import", "-c", "RUN true", rootfs, "kt/imp:2", check=False)
    assert p.returncode != 0 and "only CMD" in p.stderr, p.stderr


@docker_cli
def test_docker_push_to_local_registry(d, tmp_path):
    registry = "/usr/bin/docker-registry"
    if not os.access(registry, os.X_OK):
        pytest.skip("needs docker-registry")
    host = "127.0.0.1:5125"
    cfg = tmp_path / "registry.yml"
    cfg.write_text(json.dumps({"version": 0.1, "log": {"level": "error"},
                               "storage": {"filesystem": {"rootdirectory": str(tmp_path / "storage")}},
                               "http": {"addr": host}}))
    reg = subprocess.Popen(["nsenter", "--net=/run/netns/" + NETNS, registry, "serve", str(cfg)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ctx = _context(tmp_path / "ctx")
        ref = host + "/kt/pushed:1"
        _docker(d, "build", "-t", ref, ctx, env=BUILDKIT_OFF)
        for _ in range(100):
            p = d.docker("push", ref, check=False, timeout=120)
            if p.returncode == 0:
                break
            time.sleep(0.1)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "The push refers to repository [%s/kt/pushed]" % host in p.stdout, p.stdout
        d.docker("rmi", ref)
        d.docker("pull", ref, timeout=120)
        assert d.docker("run", "--rm", ref, "cat", "/copied").stdout == "hello\n"
        # an image that is not there: an error before anything is sent
        p = d.docker("push", host + "/kt/ghost:1", check=False)
        assert p.returncode != 0
    finally:
        reg.kill()
        reg.wait()


def test_sdk_build_buildargs_and_failure(client, tmp_path):
    docker = pytest.importorskip("docker")
    ctx = _context(tmp_path / "ctx", "FROM busybox\nARG MSG=unset\nRUN echo $MSG > /msg\nCMD [\"cat\", \"/msg\"]\n",
                   files={})
    img, logs = client.images.build(path=ctx, tag="kt/py:1", buildargs={"MSG": "from-sdk"}, rm=True)
    assert "kt/py:1" in img.tags
    assert any("Step 3/4" in c.get("stream", "") for c in logs)
    assert client.containers.run("kt/py:1", remove=True) == b"from-sdk\n"
    bad = _context(tmp_path / "bad", "FROM busybox\nRUN echo sdk-fails; exit 5\n", files={})
    with pytest.raises(docker.errors.BuildError) as e:
        client.images.build(path=bad, tag="kt/py:bad")
    assert "5" in str(e.value)
    assert any("sdk-fails" in c.get("stream", "") for c in e.value.build_log)


COMPOSE_FILE = """version: "2.4"
services:
  app:
    build:
      context: ./app
      args:
        FLAVOR: composed
    command: ["cat", "/flavor"]
"""


def test_compose_build_service(d, tmp_path):
    if not shutil.which("docker-compose"):
        pytest.skip("no docker-compose")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "docker-compose.yml").write_text(COMPOSE_FILE)
    _context(proj / "app", "FROM busybox\nARG FLAVOR\nRUN echo $FLAVOR > /flavor\n", files={})
    env = dict(os.environ, DOCKER_HOST=d.host, COMPOSE_PROJECT_NAME="kb", COMPOSE_DOCKER_CLI_BUILD="0",
               DOCKER_BUILDKIT="0")

    def compose(*args, timeout=180):
        p = subprocess.run(["docker-compose"] + list(args), cwd=proj, env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, "%s\n%s\n%s" % (p.stdout, p.stderr, d.logs())
        return p.stdout + p.stderr

    compose("build")
    assert "composed\n" in compose("run", "--rm", "app")
    compose("down")


def test_sigterm_stops_kapseld_during_a_build(d):
    """The build leaves the daemon's signal handlers alone: SIGTERM ends kapseld also while a RUN
    step runs, and `kapsel system check` sweeps what the build left."""
    mark = "5%d" % (os.getpid() % 100000)
    body = _tar({"Dockerfile": ("FROM busybox\nRUN echo go$((6*7)); sleep %s\n" % mark).encode()})
    status, s, out = _post_raw(d, "/build", body)
    deadline = time.time() + 30
    while b"go42" not in out and time.time() < deadline:
        out += s.recv(65536)
    assert b"go42" in out, out
    d.proc.send_signal(signal.SIGTERM)
    d.proc.wait(10)
    s.close()
    subprocess.run(["nsenter", "--net=/run/netns/" + NETNS, KAPSEL, "--root", d.root, "system", "check"],
                   capture_output=True, timeout=60)
    for _ in range(100):
        if not _sleepers(mark) and not _build_dirs(d.root):
            break
        time.sleep(0.1)
    assert not _sleepers(mark) and not _build_dirs(d.root)


def _veths():
    out = subprocess.run(["ip", "-n", NETNS, "-o", "link"], capture_output=True, text=True).stdout
    return sorted(l.split(":")[1].strip().split("@")[0] for l in out.splitlines() if ": kv" in l)


@docker_cli
def test_docker_build_network_user_network(d, tmp_path):
    """docker build --network NAME (POST /build?networkmode=NAME): RUN steps on a user network reach
    its containers by name; their veth and address go when the step ends."""
    _docker(d, "network", "create", "bnet")
    _docker(d, "run", "-d", "--name", "srv", "--network", "bnet", "busybox", "sh", "-c",
            "echo srv-data > /tmp/x; httpd -f -p 80 -h /tmp")
    srv_veths = _veths()
    fetch = "for i in $(seq 1 25); do wget -qO- http://srv/x && exit 0; sleep 0.2; done; exit 1"
    ctx = _context(tmp_path / "ctx", "FROM busybox\nRUN (%s) > /got\n" % fetch, files={})
    _docker(d, "build", "--network", "bnet", "-t", "net-built", ctx, env=BUILDKIT_OFF)
    assert _docker(d, "run", "--rm", "net-built", "cat", "/got").stdout == "srv-data\n"
    assert _veths() == srv_veths
    # the default is the default bridge, as docker's classic builder: an address of its own, but
    # not bnet's names; none cannot reach anything; an unknown network is refused before a step runs
    ctx2 = _context(tmp_path / "ctx2", "FROM busybox\nRUN ip -4 -o addr show eth0 > /addr\n", files={})
    _docker(d, "build", "-t", "on-default", ctx2, env=BUILDKIT_OFF)
    assert " inet 10." in _docker(d, "run", "--rm", "on-default", "cat", "/addr").stdout
    addr = json.loads(_docker(d, "inspect", "srv").stdout)[0]["NetworkSettings"]["Networks"]["bnet"]["IPAddress"]
    # (busybox's wget may crash on its -T timeout: any failure is exit 9)
    ctx3 = _context(tmp_path / "ctx3", "FROM busybox\nRUN wget -T 2 -qO- http://%s/x || exit 9\n" % addr, files={})
    for flags in ([], ["--network", "none"]):
        p = _docker(d, "build", "--no-cache", *flags, ctx3, check=False, env=BUILDKIT_OFF)
        assert p.returncode != 0 and "non-zero code: 9" in p.stderr, p.stdout + p.stderr
    p = _docker(d, "build", "--network", "nosuch", ctx, check=False, env=BUILDKIT_OFF)
    assert p.returncode != 0 and "nosuch" in p.stderr and "Step 1" not in p.stdout, p.stdout + p.stderr
    _docker(d, "rm", "-f", "srv")
    _docker(d, "network", "rm", "bnet")
    assert _veths() == []
