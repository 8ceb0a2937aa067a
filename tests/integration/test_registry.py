"""Registry v2 client (src/image/registry-*.c) end to end, through tests/helpers/registry-tool.

A real registry (Debian's docker-registry, distribution 2.8) runs on 127.0.0.1 with a random port
and its storage in tmp_path; skopeo is the independent peer that pushes what we pull and pulls what
we push. Failure modes a real registry will not produce (corrupted blobs, bearer tokens) come from a
small fake registry in this process. Nothing but 127.0.0.1 is ever contacted."""
import gzip
import hashlib
import http.server
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.environ.get("KAPSEL_REGISTRY_TOOL", os.path.join(REPO, "build/tests/helpers/registry-tool"))
REGISTRY = "/usr/bin/docker-registry"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())

pytestmark = pytest.mark.skipif(not os.access(TOOL, os.X_OK), reason="registry-tool not built: %s" % TOOL)


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool(*args, timeout=60):
    return subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def tool_ok(*args):
    p = tool(*args)
    assert p.returncode == 0, "registry-tool %s failed (%d): %s" % (" ".join(map(str, args)), p.returncode, p.stderr)
    return p


def skopeo(*args):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo not installed")
    p = subprocess.run(["skopeo", "--insecure-policy"] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, "skopeo %s: %s" % (" ".join(map(str, args)), p.stderr)
    return p


# ---- OCI layouts written by hand ----

def put_blob(layout, data):
    d = sha(data)
    path = os.path.join(layout, "blobs", "sha256", d[7:])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": d, "size": len(data)}


def layer_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            t.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def make_image(layout, files, arch="amd64", variant=None):
    """One image (one gzip layer holding `files`) into `layout`'s blobs; its manifest descriptor."""
    tar = layer_tar(files)
    layer = dict(put_blob(layout, gzip.compress(tar, mtime=0)), mediaType=OCI_LAYER)
    plat = {"architecture": arch, "os": "linux"}
    if variant:
        plat["variant"] = variant
    config = dict(plat, rootfs={"type": "layers", "diff_ids": [sha(tar)]}, config={"Cmd": ["/bin/sh"]})
    cfg = dict(put_blob(layout, json.dumps(config).encode()), mediaType=OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": [layer]}
    return dict(put_blob(layout, json.dumps(manifest).encode()), mediaType=OCI_MANIFEST, platform=plat)


def write_index(layout, entries):
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, f)


def single_image_layout(path, files, tag="latest"):
    desc = make_image(str(path), files)
    desc.pop("platform")
    write_index(str(path), [dict(desc, annotations={"org.opencontainers.image.ref.name": tag})])
    return desc


def multi_arch_layout(path, tag="latest"):
    """An index of two images (amd64 and arm64/v8), each with /arch naming its platform."""
    layout = str(path)
    children = [make_image(layout, {"arch": b"amd64\n"}, "amd64"),
                make_image(layout, {"arch": b"arm64\n"}, "arm64", "v8")]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    desc = dict(put_blob(layout, json.dumps(index).encode()), mediaType=OCI_INDEX)
    write_index(layout, [dict(desc, annotations={"org.opencontainers.image.ref.name": tag})])
    return desc, children


def read_layout(path):
    """Check a pulled layout (every blob hashes to its name; all referenced blobs present) and return
    (index entry, manifest, {file: content} of the layers)."""
    blobs = os.path.join(path, "blobs", "sha256")
    for name in os.listdir(blobs):
        with open(os.path.join(blobs, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == name, "blob %s is corrupt" % name
    assert json.load(open(os.path.join(path, "oci-layout"))) == {"imageLayoutVersion": "1.0.0"}
    index = json.load(open(os.path.join(path, "index.json")))
    assert len(index["manifests"]) == 1
    entry = index["manifests"][0]
    blob = lambda d: open(os.path.join(blobs, d["digest"][7:]), "rb").read()
    manifest = json.loads(blob(entry))
    assert len(blob(manifest["config"])) == manifest["config"]["size"]
    files = {}
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(blob(layer)), mode="r:gz") as t:
            for m in t.getmembers():
                files[m.name] = t.extractfile(m).read()
    return entry, manifest, files


# ---- a real registry ----

class Registry:
    def __init__(self, tmp, htpasswd=None):
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        cfg = {"version": 0.1, "log": {"level": "error"},
               "storage": {"filesystem": {"rootdirectory": str(tmp / "storage")}},
               "http": {"addr": self.host}}
        if htpasswd:
            cfg["auth"] = {"htpasswd": {"realm": "kapsel-test", "path": htpasswd}}
        config = tmp / "registry.yml"
        config.write_text(json.dumps(cfg))      # YAML is a superset of JSON
        self.log = open(tmp / "registry.log", "wb")
        self.proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=self.log, stderr=self.log)
        deadline = time.time() + 15
        while True:
            try:
                urllib.request.urlopen("http://%s/v2/" % self.host, timeout=1)
                break
            except urllib.error.HTTPError:
                break           # 401 with auth: it is up
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("docker-registry did not start: %s" % open(tmp / "registry.log").read())
                time.sleep(0.1)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def digest_of(self, name, ref, accept=OCI_MANIFEST):
        req = urllib.request.Request("http://%s/v2/%s/manifests/%s" % (self.host, name, ref), method="GET",
                                     headers={"Accept": accept})
        return sha(urllib.request.urlopen(req, timeout=10).read())


def need_registry():
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("docker-registry not installed (Debian package docker-registry)")


@pytest.fixture
def registry(tmp_path):
    need_registry()
    (tmp_path / "reg").mkdir()
    r = Registry(tmp_path / "reg")
    yield r
    r.stop()


def push_with_skopeo(registry, layout, name, tag="latest", all_images=False):
    args = ["copy", "--dest-tls-verify=false"] + (["--all"] if all_images else [])
    skopeo(*args, "oci:%s:%s" % (layout, tag), "docker://%s/%s:%s" % (registry.host, name, tag))


# ---- pull ----

def test_pull_tag(registry, tmp_path):
    src = tmp_path / "src"
    desc = single_image_layout(src, {"etc/hello": b"hello from the registry\n"})
    push_with_skopeo(registry, src, "test/hello")
    out = tmp_path / "out"
    tool_ok("pull", "%s/test/hello:latest" % registry.host, out)
    entry, manifest, files = read_layout(out)
    assert entry["digest"] == desc["digest"] == registry.digest_of("test/hello", "latest")
    assert entry["mediaType"] == OCI_MANIFEST
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": "latest"}
    assert files == {"etc/hello": b"hello from the registry\n"}
    assert not [n for n in os.listdir(out / "blobs" / "sha256") if n.startswith(".")], "staging files left"


def test_pull_by_digest(registry, tmp_path):
    src = tmp_path / "src"
    desc = single_image_layout(src, {"a": b"A"})
    push_with_skopeo(registry, src, "bydigest")
    out = tmp_path / "out"
    tool_ok("pull", "%s/bydigest@%s" % (registry.host, desc["digest"]), out)
    entry, _, files = read_layout(out)
    assert entry["digest"] == desc["digest"]
    assert files == {"a": b"A"}


def test_pull_resumes_and_skips_present_blobs(registry, tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"f": b"x" * 100000})
    push_with_skopeo(registry, src, "resume")
    out = tmp_path / "out"
    ref = "%s/resume:latest" % registry.host
    tool_ok("pull", ref, out)
    _, manifest, _ = read_layout(out)
    blobs = out / "blobs" / "sha256"
    config = blobs / manifest["config"]["digest"][7:]
    layer = blobs / manifest["layers"][0]["digest"][7:]
    inode = os.stat(config).st_ino
    layer.unlink()
    tool_ok("pull", ref, out)
    assert os.stat(config).st_ino == inode, "a present, intact blob was downloaded again"
    assert read_layout(out)[2] == {"f": b"x" * 100000}
    # a damaged blob is not trusted: it is fetched again
    config.write_bytes(b"garbage")
    tool_ok("pull", ref, out)
    read_layout(out)


def test_pull_second_tag_keeps_other_entries(registry, tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"v": b"1"}, tag="one")
    push_with_skopeo(registry, src, "multi", tag="one")
    single_image_layout(src, {"v": b"2"}, tag="two")
    push_with_skopeo(registry, src, "multi", tag="two")
    out = tmp_path / "out"
    tool_ok("pull", "%s/multi:one" % registry.host, out)
    tool_ok("pull", "%s/multi:two" % registry.host, out)
    tool_ok("pull", "%s/multi:two" % registry.host, out)
    names = [m["annotations"]["org.opencontainers.image.ref.name"] for m in
             json.load(open(out / "index.json"))["manifests"]]
    assert sorted(names) == ["one", "two"]


@pytest.mark.parametrize("platform_arg,want", [(None, HOST_ARCH), ("linux/arm64", "arm64"),
                                               ("linux/arm64/v8", "arm64"), ("linux/amd64", "amd64")])
def test_pull_index_selects_platform(registry, tmp_path, platform_arg, want):
    if platform_arg is None and HOST_ARCH not in ("amd64", "arm64"):
        pytest.skip("host architecture %s is not in the test index" % HOST_ARCH)
    src = tmp_path / "src"
    index, children = multi_arch_layout(src)
    push_with_skopeo(registry, src, "multiarch", all_images=True)
    assert registry.digest_of("multiarch", "latest", OCI_INDEX) == index["digest"]
    out = tmp_path / "out"
    tool_ok("pull", "%s/multiarch:latest" % registry.host, out,
            *(["--platform", platform_arg] if platform_arg else []))
    entry, _, files = read_layout(out)
    assert files == {"arch": want.encode() + b"\n"}
    chosen = [c for c in children if c["platform"]["architecture"] == want][0]
    assert entry["digest"] == chosen["digest"]
    assert entry["platform"]["architecture"] == want


def test_pull_index_no_such_platform(registry, tmp_path):
    src = tmp_path / "src"
    multi_arch_layout(src)
    push_with_skopeo(registry, src, "multiarch", all_images=True)
    out = tmp_path / "out"
    p = tool("pull", "%s/multiarch:latest" % registry.host, out, "--platform", "linux/s390x")
    assert p.returncode != 0
    assert "no image for platform linux/s390x" in p.stderr
    assert "linux/amd64, linux/arm64/v8" in p.stderr
    assert not out.exists()


def test_pull_docker_schema2(registry, tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"d": b"docker\n"})
    skopeo("copy", "--dest-tls-verify=false", "--format", "v2s2", "oci:%s:latest" % src,
           "docker://%s/dockerfmt:latest" % registry.host)
    out = tmp_path / "out"
    tool_ok("pull", "%s/dockerfmt:latest" % registry.host, out)
    entry, manifest, files = read_layout(out)
    docker = "application/vnd.docker.distribution.manifest.v2+json"
    assert entry["mediaType"] == manifest["mediaType"] == docker      # kept as-is, not converted
    assert entry["digest"] == registry.digest_of("dockerfmt", "latest", docker)
    assert files == {"d": b"docker\n"}


def test_progress_only_on_a_tty(registry, tmp_path):
    import pty
    src = tmp_path / "src"
    single_image_layout(src, {"random": os.urandom(3 << 20)})
    push_with_skopeo(registry, src, "progress")
    ref = "%s/progress:latest" % registry.host
    p = tool("pull", ref, tmp_path / "quiet", "--progress")
    assert p.returncode == 0 and p.stderr == "", "progress printed although stderr is no tty: %r" % p.stderr
    master, slave = pty.openpty()
    try:
        p = subprocess.run([TOOL, "pull", ref, str(tmp_path / "tty"), "--progress"], stdout=subprocess.DEVNULL,
                           stderr=slave, timeout=60)
        os.close(slave)
        slave = None
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    assert p.returncode == 0
    layer = read_layout(tmp_path / "tty")[1]["layers"][0]["digest"]
    text = out.decode(errors="replace")
    assert layer[7:26] in text and "/s" in text and "MiB" in text, text

# ---- push ----

def test_push_then_pull_with_skopeo(registry, tmp_path):
    src = tmp_path / "src"
    desc = single_image_layout(src, {"etc/os-release": b"ID=kapsel\n", "bin/tool": b"\x7fELF" + b"\0" * 5000})
    ref = "%s/pushed/app:v1" % registry.host
    tool_ok("push", src, ref)
    assert registry.digest_of("pushed/app", "v1") == desc["digest"]
    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", "docker://" + ref, "oci:%s:v1" % back)
    index = json.load(open(back / "index.json"))
    assert index["manifests"][0]["digest"] == desc["digest"]
    for name in os.listdir(src / "blobs" / "sha256"):
        assert (back / "blobs" / "sha256" / name).read_bytes() == (src / "blobs" / "sha256" / name).read_bytes()
    # again: every blob exists now (HEAD 200), only the manifest is put
    tool_ok("push", src, ref)


def test_push_index(registry, tmp_path):
    src = tmp_path / "src"
    index, children = multi_arch_layout(src)
    tool_ok("push", src, "%s/pushed/multi:latest" % registry.host)
    assert registry.digest_of("pushed/multi", "latest", OCI_INDEX) == index["digest"]
    out = tmp_path / "out"
    tool_ok("pull", "%s/pushed/multi:latest" % registry.host, out, "--platform", "linux/arm64")
    assert read_layout(out)[2] == {"arch": b"arm64\n"}


def test_push_missing_blob_names_it(registry, tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"f": b"data"})
    manifest = json.loads(open(src / "blobs" / "sha256" / json.load(open(src / "index.json"))["manifests"][0]["digest"][7:]).read())
    layer = manifest["layers"][0]["digest"]
    (src / "blobs" / "sha256" / layer[7:]).unlink()
    p = tool("push", src, "%s/broken:latest" % registry.host)
    assert p.returncode != 0
    assert layer in p.stderr and "No such file" in p.stderr


# ---- errors ----

def test_unknown_repository(registry, tmp_path):
    out = tmp_path / "out"
    p = tool("pull", "%s/nope:latest" % registry.host, out)
    assert p.returncode == 4, p.stderr      # KERR_NOT_FOUND
    assert ("pull %s/nope:latest: manifest unknown (HTTP 404 from http://%s/v2/nope/manifests/latest)"
            % (registry.host, registry.host)) in p.stderr
    assert not out.exists()


def test_unknown_tag(registry, tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"a": b"A"})
    push_with_skopeo(registry, src, "known")
    out = tmp_path / "out"
    p = tool("pull", "%s/known:missing" % registry.host, out)
    assert p.returncode == 4
    assert "HTTP 404 from http://%s/v2/known/manifests/missing" % registry.host in p.stderr
    assert not out.exists()


def test_connection_refused(tmp_path):
    port = free_port()
    p = tool("pull", "127.0.0.1:%d/x:latest" % port, tmp_path / "out")
    assert p.returncode != 0
    assert "GET http://127.0.0.1:%d/v2/" % port in p.stderr
    assert "onnect" in p.stderr


def test_invalid_reference(tmp_path):
    p = tool("pull", "127.0.0.1:5000/UPPER:latest", tmp_path / "out")
    assert p.returncode == 2
    assert "invalid image reference" in p.stderr


def test_basic_auth(tmp_path):
    need_registry()
    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd not installed (Debian package apache2-utils)")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_bytes(subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], check=True,
                                        capture_output=True).stdout)
    (tmp_path / "reg").mkdir()
    reg = Registry(tmp_path / "reg", htpasswd=str(htpasswd))
    try:
        src = tmp_path / "src"
        single_image_layout(src, {"secret": b"only for alice\n"})
        ref = "%s/private/img:latest" % reg.host
        tool_ok("push", src, ref, "--user", "alice", "--password", "s3cret")
        p = tool("pull", ref, tmp_path / "anon")
        assert p.returncode != 0
        assert "authentication required (HTTP 401 from http://%s/v2/private/img/manifests/latest); no credentials given" \
            % reg.host in p.stderr
        p = tool("pull", ref, tmp_path / "wrong", "--user", "alice", "--password", "nope")
        assert p.returncode != 0 and "credentials rejected" in p.stderr
        assert not (tmp_path / "anon").exists() and not (tmp_path / "wrong").exists()
        tool_ok("pull", ref, tmp_path / "out", "--user", "alice", "--password", "s3cret")
        assert read_layout(tmp_path / "out")[2] == {"secret": b"only for alice\n"}
    finally:
        reg.stop()


# ---- a fake registry for what a real one does not do ----

class FakeRegistry:
    """Serves `routes` (path -> (status, headers, body)); records requests. With `token`, every /v2/
    path wants "Bearer <token>" and /token hands it out to `creds` (user, password) or anyone."""

    def __init__(self, routes, token=None, creds=None):
        self.routes, self.token, self.creds, self.requests = routes, token, creds, []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                fake.requests.append((self.command, self.path, dict(self.headers)))
                status, headers, body = fake.route(self.path, self.headers)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, path, headers):
        if self.token and path.startswith("/token"):
            import base64
            want = "Basic " + base64.b64encode(("%s:%s" % self.creds).encode()).decode() if self.creds else None
            if want and headers.get("Authorization") != want:
                return 401, {}, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
            return 200, {"Content-Type": "application/json"}, json.dumps({"token": self.token}).encode()
        if self.token and headers.get("Authorization") != "Bearer " + self.token:
            challenge = 'Bearer realm="http://%s/token",service="fake-registry"' % self.host
            return 401, {"WWW-Authenticate": challenge}, b'{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}'
        if path == "/v2/":
            return 200, {}, b"{}"
        if path in self.routes:
            return self.routes[path]
        return 404, {}, b'{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}'

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def fake_routes(layout, name, tamper=None):
    """Routes serving the single image of `layout` as `name:latest`; tamper(digest, data) may alter blobs."""
    routes = {}
    blobs = os.path.join(layout, "blobs", "sha256")
    entry = json.load(open(os.path.join(layout, "index.json")))["manifests"][0]
    for hexd in os.listdir(blobs):
        data = open(os.path.join(blobs, hexd), "rb").read()
        digest = "sha256:" + hexd
        if tamper:
            data = tamper(digest, data)
        routes["/v2/%s/blobs/%s" % (name, digest)] = (200, {"Content-Type": "application/octet-stream"}, data)
    manifest = open(os.path.join(blobs, entry["digest"][7:]), "rb").read()
    routes["/v2/%s/manifests/latest" % name] = (200, {"Content-Type": OCI_MANIFEST}, manifest)
    return routes, json.loads(manifest)


def test_corrupted_blob_is_rejected(tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"f": b"genuine content\n" * 100})
    layer = None

    def tamper(digest, data):
        if digest == layer:
            return bytes([data[0] ^ 0xff]) + data[1:]          # same size, wrong bytes
        return data

    _, manifest = fake_routes(str(src), "evil")
    layer = manifest["layers"][0]["digest"]
    fake = FakeRegistry(fake_routes(str(src), "evil", tamper)[0])
    try:
        out = tmp_path / "out"
        p = tool("pull", "%s/evil:latest" % fake.host, out)
        assert p.returncode != 0
        assert "blob %s: digest mismatch" % layer in p.stderr
        blobs = os.listdir(out / "blobs" / "sha256")
        assert layer[7:] not in blobs
        assert not [b for b in blobs if b.startswith(".")], "staging file left: %s" % blobs
        assert not (out / "index.json").exists()
    finally:
        fake.stop()


def test_oversized_blob_is_cut_off(tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"f": b"x"})
    _, manifest = fake_routes(str(src), "big")
    config = manifest["config"]["digest"]
    fake = FakeRegistry(fake_routes(str(src), "big", lambda d, data: data + b"\0" * 1000000 if d == config else data)[0])
    try:
        p = tool("pull", "%s/big:latest" % fake.host, tmp_path / "out")
        assert p.returncode != 0
        assert "larger than the expected %d bytes" % manifest["config"]["size"] in p.stderr
        assert config in p.stderr
    finally:
        fake.stop()


def test_manifest_digest_mismatch(tmp_path):
    src = tmp_path / "src"
    desc = single_image_layout(src, {"f": b"x"})
    routes, _ = fake_routes(str(src), "lie")
    status, headers, body = routes["/v2/lie/manifests/latest"]
    routes["/v2/lie/manifests/" + desc["digest"]] = (status, headers, body + b" ")
    fake = FakeRegistry(routes)
    try:
        p = tool("pull", "%s/lie@%s" % (fake.host, desc["digest"]), tmp_path / "out")
        assert p.returncode != 0
        assert "manifest digest mismatch: expected %s" % desc["digest"] in p.stderr
        assert not (tmp_path / "out").exists()
    finally:
        fake.stop()


def test_bearer_token_flow(tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"tok": b"behind a token\n"})
    fake = FakeRegistry(fake_routes(str(src), "private/x")[0], token="t0k3n", creds=("bob", "pw"))
    try:
        p = tool("pull", "%s/private/x:latest" % fake.host, tmp_path / "anon")
        assert p.returncode != 0
        assert "get token: bad credentials (HTTP 401 from http://%s/token?service=fake-registry&scope=repository" \
            % fake.host in p.stderr
        fake.requests.clear()
        tool_ok("pull", "%s/private/x:latest" % fake.host, tmp_path / "out", "--user", "bob", "--password", "pw")
        assert read_layout(tmp_path / "out")[2] == {"tok": b"behind a token\n"}
        token_requests = [path for _, path, _ in fake.requests if path.startswith("/token")]
        assert token_requests == ["/token?service=fake-registry&scope=repository%3aprivate%2fx%3apull"], \
            "token not fetched exactly once for the pull scope: %s" % token_requests
        authorized = [h.get("Authorization") for _, path, h in fake.requests if path.startswith("/v2/private/")]
        assert authorized and all(a == "Bearer t0k3n" for a in authorized)
    finally:
        fake.stop()


def test_anonymous_bearer_token(tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"pub": b"public\n"})
    fake = FakeRegistry(fake_routes(str(src), "pub")[0], token="anon-token")
    try:
        tool_ok("pull", "%s/pub:latest" % fake.host, tmp_path / "out")
        assert read_layout(tmp_path / "out")[2] == {"pub": b"public\n"}
        assert all("Authorization" not in h for _, path, h in fake.requests if path.startswith("/token"))
    finally:
        fake.stop()


def test_blob_redirect_is_followed(tmp_path):
    src = tmp_path / "src"
    single_image_layout(src, {"r": b"redirected\n"})
    routes, manifest = fake_routes(str(src), "redir")
    for d in [manifest["config"]] + manifest["layers"]:
        path = "/v2/redir/blobs/" + d["digest"]
        routes["/cdn/" + d["digest"][7:]] = routes[path]
        routes[path] = (307, {"Location": "/cdn/" + d["digest"][7:]}, b"")
    fake = FakeRegistry(routes)
    try:
        tool_ok("pull", "%s/redir:latest" % fake.host, tmp_path / "out")
        assert read_layout(tmp_path / "out")[2] == {"r": b"redirected\n"}
        assert [p for _, p, _ in fake.requests if p.startswith("/cdn/")]
    finally:
        fake.stop()
