"""`kapsel build`: the Dockerfile corpus in tests/build/<case>/ built by kapsel and, where buildah is
installed, by `buildah bud` from the same busybox base (exported with `kapsel save`, pulled into a
throw-away buildah root): the file trees (paths, types, modes, owners, contents, link targets) and
the configs (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal,
Healthcheck) must be the same. Then kapsel's own behaviour: the cache, progress lines, errors,
contexts on stdin, and what an interrupted build leaves (nothing).

A case's build.json may give {"args": ["K=V"], "target": "stage"}."""
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KAPSEL = os.environ.get("KAPSEL", os.path.join(REPO, "build/src/cli/kapsel"))
CORPUS = os.path.join(REPO, "tests/build")
CASES = sorted(d for d in os.listdir(CORPUS) if os.path.isfile(os.path.join(CORPUS, d, "Dockerfile")))
BUILDAH = shutil.which("buildah")

pytestmark = pytest.mark.skipif(not os.path.exists(KAPSEL), reason="kapsel not built at %s" % KAPSEL)

# What a RUN step's runtime leaves by design in either builder (mount points of the sandbox).
RUNTIME_ARTIFACTS = {"etc/hosts", "etc/resolv.conf", "etc/hostname", "run/.containerenv", "dev", "proc", "sys",
                     "run", "tmp"}
CONFIG_KEYS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal",
               "Healthcheck"]


def run(cmd, check=True, timeout=300, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)
    p.stdout, p.stderr = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\nstdout: %s\nstderr: %s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


# RUN steps are on the default bridge unless told otherwise (docker's classic builder): every
# build of this module runs in a network namespace of its own, so kapsel's bridges, veths and NAT
# rules never touch the host's network. Tests that need a server on the host's loopback (a registry,
# an http server) run in the host's namespace with `--network none`.
NETNS = "kapsel-build-test-%d" % os.getpid()
IN_NETNS = ["nsenter", "--net=/run/netns/" + NETNS]


@pytest.fixture(scope="module", autouse=True)
def build_netns():
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield NETNS
    subprocess.run(["ip", "netns", "del", NETNS])


class K:
    def __init__(self, root, prefix=IN_NETNS):
        self.root = root
        self.prefix = list(prefix)     # the module's network namespace, or () for the host's

    def cmd(self, *args):
        return self.prefix + [KAPSEL, "--root", self.root] + list(args)

    def __call__(self, *args, check=True, timeout=120, input=None):
        return run(self.cmd(*args), check=check, timeout=timeout, input=input,
                   stdin=None if input is not None else subprocess.DEVNULL)


# Bases other than busybox: made once, cached outside the test's directories (debootstrap takes minutes).
DEBIAN_GCC_TAR = os.environ.get("KAPSEL_DEBIAN_GCC_TAR", "/var/cache/kapsel-build-test/debian-gcc.tar")


def debian_gcc_tar():
    """A Debian 12 rootfs tar with gcc (debootstrap --variant=minbase --include=gcc,libc6-dev): the
    cached one, or made now when KAPSEL_BUILD_DEBOOTSTRAP=1 and debootstrap is installed."""
    if os.path.exists(DEBIAN_GCC_TAR):
        return DEBIAN_GCC_TAR
    if os.environ.get("KAPSEL_BUILD_DEBOOTSTRAP") != "1" or not shutil.which("debootstrap"):
        pytest.skip("no Debian+gcc base at %s (KAPSEL_BUILD_DEBOOTSTRAP=1 makes it with debootstrap, "
                    "about 5 minutes)" % DEBIAN_GCC_TAR)
    d = os.path.dirname(DEBIAN_GCC_TAR)
    os.makedirs(d, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=d)
    run(["debootstrap", "--variant=minbase", "--include=gcc,libc6-dev", "bookworm", tmp,
         "http://deb.debian.org/debian"], timeout=1800)
    run(["tar", "-C", tmp, "-cf", DEBIAN_GCC_TAR + ".tmp", "."], timeout=600)
    os.rename(DEBIAN_GCC_TAR + ".tmp", DEBIAN_GCC_TAR)
    shutil.rmtree(tmp, ignore_errors=True)
    return DEBIAN_GCC_TAR


def case_base(k, case):
    """Import the case's base image (build.json "base") into kapsel's root; its name, or None."""
    p = os.path.join(CORPUS, case, "build.json")
    base = json.load(open(p)).get("base") if os.path.exists(p) else None
    if base == "debian-gcc" and "debian-gcc" not in k("images").stdout:
        k("import", debian_gcc_tar(), "debian-gcc", timeout=600)
    return base


def case_known_differences(case):
    p = os.path.join(CORPUS, case, "build.json")
    return json.load(open(p)).get("buildah_differs", {}) if os.path.exists(p) else {}


def case_opts(case):
    p = os.path.join(CORPUS, case, "build.json")
    j = json.load(open(p)) if os.path.exists(p) else {}
    opts = []
    for a in j.get("args", []):
        opts += ["--build-arg", a]
    if "target" in j:
        opts += ["--target", j["target"]]
    return opts


# --- image archives -> (file tree, config) ---

def _norm(name):
    name = name.lstrip("./") if name.startswith("./") else name.lstrip("/")
    return name.rstrip("/")


def apply_layer(files, data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
        members = t.getmembers()
        for m in members:
            name = _norm(m.name)
            base, parent = os.path.basename(name), os.path.dirname(name)
            if base == ".wh..wh..opq":
                for k in [k for k in files if k.startswith(parent + "/") if parent] or \
                         ([k for k in files] if not parent else []):
                    del files[k]
            elif base.startswith(".wh."):
                gone = os.path.join(parent, base[4:])
                for k in [k for k in files if k == gone or k.startswith(gone + "/")]:
                    del files[k]
        for m in members:
            name = _norm(m.name)
            if not name or os.path.basename(name).startswith(".wh."):
                continue
            if m.isdir():
                e = {"type": "dir"}
            elif m.issym():
                e = {"type": "symlink", "target": m.linkname}
            elif m.islnk():
                src = files.get(_norm(m.linkname), {})
                e = dict(src)
            elif m.isfile():
                body = t.extractfile(m).read()
                # small files by content (readable diffs), others by digest
                e = {"type": "file", "content": body.decode(errors="replace") if len(body) < 256 else
                     hashlib.sha256(body).hexdigest()}
            else:
                e = {"type": "other%d" % ord(m.type)}
            if not m.islnk():
                e.update(mode=oct(m.mode & 0o7777), uid=m.uid, gid=m.gid)
            if not m.isdir():
                for k in [k for k in files if k.startswith(name + "/")]:
                    del files[k]
            files[name] = e


def read_archive(path):
    with tarfile.open(path) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        config = json.load(outer.extractfile(manifest["Config"]))
        files = {}
        for layer in manifest["Layers"]:
            apply_layer(files, outer.extractfile(layer).read())
    return files, config


def kapsel_image(k, ref, tmp):
    out = os.path.join(tmp, "kapsel-%s.tar" % ref.replace("/", "_").replace(":", "_"))
    k("save", "-o", out, ref)
    return read_archive(out)


def norm_config(cfg):
    c = cfg.get("config") or {}
    out = {}
    for key in CONFIG_KEYS:
        v = c.get(key)
        if key == "Labels" and v:
            v = {a: b for a, b in v.items() if not a.startswith("io.buildah.")}
        if v in ([], {}, ""):
            v = None
        out[key] = v
    return out


def tree_diff(a, b):
    diffs = []
    for p in sorted(set(a) | set(b)):
        if p in RUNTIME_ARTIFACTS or p.split("/")[0] in ("dev", "proc", "sys"):
            continue
        if a.get(p) != b.get(p):
            diffs.append("%s: kapsel %s, buildah %s" % (p, a.get(p), b.get(p)))
    return diffs


# --- fixtures ---

@pytest.fixture(scope="module")
def kroot(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("kapsel-build-root"))
    yield K(root)
    run(["umount", "-R", "-l", os.path.join(root, "build")], check=False)


@pytest.fixture(scope="module")
def buildah(tmp_path_factory, kroot):
    if not BUILDAH:
        pytest.skip("buildah is not installed (scripts/install-deps.sh test installs it)")
    d = str(tmp_path_factory.mktemp("buildah"))
    policy = os.path.join(d, "policy.json")
    with open(policy, "w") as f:
        json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
    base = [BUILDAH, "--root", os.path.join(d, "root"), "--runroot", os.path.join(d, "runroot"),
            "--storage-driver", "vfs"]
    archive = os.path.join(d, "busybox.tar")
    kroot("run", "--rm", "busybox", "true")     # the built-in image is imported on first use
    kroot("save", "-o", archive, "busybox")
    run(base + ["pull", "--signature-policy", policy, "docker-archive:" + archive])
    yield base, policy, d
    run(base + ["rm", "--all"], check=False)
    run(base + ["rmi", "--all", "--force"], check=False)
    run(["umount", "-R", "-l", os.path.join(d, "root")], check=False)


# --- the corpus against buildah ---

@pytest.mark.parametrize("case", CASES)
def test_corpus_builds(kroot, case):
    case_base(kroot, case)
    p = kroot("build", "-t", "corpus-" + case, *case_opts(case), os.path.join(CORPUS, case), timeout=900)
    assert "Successfully built" in p.stdout
    assert "Successfully tagged corpus-%s" % case in p.stdout
    # built again: every step from the cache, the same image
    again = kroot("build", "-t", "corpus-" + case, *case_opts(case), os.path.join(CORPUS, case))
    assert " ---> Running in" not in again.stdout
    assert again.stdout.count(" ---> Using cache") >= again.stdout.count("Step ") - again.stdout.count(": FROM ")
    assert again.stdout.splitlines()[-2] == p.stdout.splitlines()[-2]


@pytest.mark.parametrize("case", CASES)
def test_corpus_same_as_buildah(kroot, buildah, case, tmp_path):
    base, policy, _ = buildah
    ctx = os.path.join(CORPUS, case)
    extra = case_base(kroot, case)
    if extra and not run(base + ["images", "-q", "localhost/" + extra], check=False).stdout.strip():
        archive = str(tmp_path / "base.tar")
        kroot("save", "-o", archive, extra, timeout=600)
        run(base + ["pull", "--signature-policy", policy, "docker-archive:" + archive])
        run(base + ["tag", extra, "localhost/" + extra], check=False)
    kroot("build", "-q", "-t", "cmp-" + case, *case_opts(case), ctx, timeout=900)
    ktree, kcfg = kapsel_image(kroot, "cmp-" + case, str(tmp_path))
    tag = "localhost/cmp-" + case
    run(base + ["bud", "--signature-policy", policy, "--pull-never", "--format", "docker", "--isolation", "chroot",
                "--layers", "-t", tag] + case_opts(case) + ["-f", os.path.join(ctx, "Dockerfile"), ctx], timeout=900)
    out = str(tmp_path / "buildah.tar")
    run(base + ["push", "--signature-policy", policy, tag, "docker-archive:%s:%s" % (out, tag)])
    btree, bcfg = read_archive(out)
    diffs = tree_diff(ktree, btree)
    assert not diffs, "file trees differ:\n" + "\n".join(diffs[:40])
    kc, bc = norm_config(kcfg), norm_config(bcfg)
    for key in case_known_differences(case):     # where buildah departs from docker (reason in build.json)
        kc.pop(key), bc.pop(key)
    assert kc == bc


# --- kapsel's own behaviour ---

def write_ctx(d, files):
    for name, text in files.items():
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    return str(d)


CACHE_DF = """FROM busybox
RUN echo one > /one
COPY a.txt /a.txt
RUN echo two > /two
COPY b.txt /b.txt
RUN cat /a.txt /b.txt > /ab
"""


def test_cache_reused_and_invalidated_by_content_only(tmp_path):
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": CACHE_DF, "a.txt": "a\n", "b.txt": "b\n"})
    first = k("build", "-t", "c", ctx).stdout
    assert first.count("Step ") == 6 and "Using cache" not in first
    again = k("build", "-t", "c", ctx).stdout
    assert again.count(" ---> Using cache") == 5
    # an mtime-only change keeps the cache
    os.utime(os.path.join(ctx, "b.txt"), (1, 1))
    assert k("build", "-t", "c", ctx).stdout.count(" ---> Using cache") == 5
    # a content change before the last COPY rebuilds only from that step on
    with open(os.path.join(ctx, "b.txt"), "w") as f:
        f.write("B\n")
    out = k("build", "-t", "c", ctx).stdout
    assert out.count(" ---> Using cache") == 3
    assert k("run", "--rm", "c", "cat", "/ab").stdout == "a\nB\n"
    # a mode change is a change
    os.chmod(os.path.join(ctx, "a.txt"), 0o600)
    assert k("build", "-t", "c", ctx).stdout.count(" ---> Using cache") == 1
    assert "Using cache" not in k("build", "--no-cache", "-t", "c", ctx).stdout


def test_progress_lines_and_iidfile(tmp_path):
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo hello-from-run\nCMD [\"true\"]\n"})
    iid = str(tmp_path / "iid")
    out = k("build", "-t", "x:1", "-t", "y", "--iidfile", iid, ctx).stdout.splitlines()
    assert out[0] == "Step 1/3 : FROM busybox"
    assert "Step 2/3 : RUN echo hello-from-run" in out
    assert "hello-from-run" in out
    assert any(line.startswith(" ---> Running in ") for line in out)
    image_id = open(iid).read()
    assert image_id.startswith("sha256:")
    assert out[-3] == "Successfully built %s" % image_id[7:19]
    assert out[-2:] == ["Successfully tagged x:1", "Successfully tagged y"]
    q = k("build", "-q", ctx)
    assert q.stdout.strip() == image_id


def test_failing_run_shows_command_output_and_status(tmp_path):
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo visible-output; exit 7\n"})
    p = k("build", ctx, check=False)
    assert p.returncode != 0
    assert "visible-output" in p.stdout
    assert "Dockerfile:2" in p.stderr and "echo visible-output; exit 7" in p.stderr
    assert "non-zero code: 7" in p.stderr
    assert_nothing_left(k)


@pytest.mark.parametrize("df,expect", [
    ("FROM busybox\nFROBNICATE x\n", "Dockerfile:2: unknown instruction: FROBNICATE"),
    ("FROM busybox\nCOPY ../outside /x\n", "outside the build context"),
    ("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\n", "cycle"),
    ("FROM busybox AS a\nFROM b\nFROM busybox AS b\n", "cycle"),
    ("RUN true\nFROM busybox\n", "only ARG may come before the first FROM"),
    ("FROM busybox\nENV\n", "Dockerfile:2: ENV"),
    ("FROM busybox\nCOPY missing.txt /x\n", "missing.txt: file not found"),
    ("FROM busybox\nRUN true\nFROM nosuchimage:1\n", "nosuchimage"),
    ("FROM busybox\nRUN true\nCOPY --from=nosuchimage /a /b\n", "nosuchimage"),
])
def test_bad_dockerfiles_refused(tmp_path, df, expect):
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": df})
    p = k("build", ctx, check=False)
    assert p.returncode != 0
    assert expect in p.stderr
    if "cycle" in expect or "unknown" in expect or "nosuch" in expect:
        assert "Step" not in p.stdout       # refused before anything ran
    assert_nothing_left(k)


def test_unknown_target_refused(tmp_path):
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox AS a\n"})
    p = k("build", "--target", "nope", ctx, check=False)
    assert p.returncode != 0 and "--target nope" in p.stderr


def test_dockerfile_from_stdin_and_context_tar_on_stdin(tmp_path):
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"f.txt": "from tar\n", "Dockerfile": "FROM busybox\nCOPY f.txt /f\n"})
    out = k("build", "-t", "s1", "-f", "-", ctx, input=b"FROM busybox\nCOPY f.txt /g\n").stdout
    assert "COPY f.txt /g" in out
    assert k("run", "--rm", "s1", "cat", "/g").stdout == "from tar\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(ctx, arcname=".")
    k("build", "-t", "s2", "-", input=buf.getvalue())
    assert k("run", "--rm", "s2", "cat", "/f").stdout == "from tar\n"
    assert_nothing_left(k)


def test_build_args_labels_and_unused_warning(tmp_path):
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nARG A\nRUN echo $A $HTTP_PROXY > /a\n"})
    p = k("build", "-t", "ba", "--build-arg", "A=1", "--build-arg", "HTTP_PROXY=http://p:1", "--build-arg", "UNUSED=1",
          "--label", "org.example=yes", ctx)
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in p.stderr
    assert k("run", "--rm", "ba", "cat", "/a").stdout == "1 http://p:1\n"
    cfg = json.loads(k("image-inspect", "ba").stdout)[0]["Config"]
    assert cfg.get("Labels", {}).get("org.example") == "yes"


def test_network_none_and_host_run(tmp_path):
    """--network none: only lo; host: the builder's own namespace (here the module's, with a veth
    pair of the test's)."""
    k = K(str(tmp_path / "root"))
    subprocess.run(["ip", "-n", NETNS, "link", "add", "kbt-dummy0", "type", "veth", "peer", "name", "kbt-dummy1"],
                   check=True)
    try:
        ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN ls /sys/class/net > /nets\n"})
        k("build", "--network", "none", "-t", "nn", ctx)
        assert k("run", "--rm", "--network", "none", "nn", "cat", "/nets").stdout.split() == ["lo"]
        k("build", "--no-cache", "--network", "host", "-t", "nh", ctx)
        assert "kbt-dummy0" in k("run", "--rm", "--network", "none", "nh", "cat", "/nets").stdout.split()
    finally:
        subprocess.run(["ip", "-n", NETNS, "link", "del", "kbt-dummy0"])


# --- RUN steps on the default bridge and on user networks (in the module's network namespace) ---

@pytest.fixture
def nk(tmp_path):
    k = K(str(tmp_path / "root"))
    yield k
    run(k.cmd("rm", "-f", "srv"), check=False)
    run(k.cmd("network", "rm", "bnet"), check=False)


def veths():
    out = subprocess.run(["ip", "-n", NETNS, "-o", "link"], capture_output=True, text=True).stdout
    return sorted(l.split(":")[1].strip().split("@")[0] for l in out.splitlines() if ": kv" in l)


FETCH = "for i in $(seq 1 25); do wget -qO- http://$PEER/x && exit 0; sleep 0.2; done; exit 1"


def test_network_bridge_and_user_network_run(nk, tmp_path):
    k = nk
    k("network", "create", "--subnet", "10.78.0.0/24", "bnet")
    k("run", "-d", "--name", "srv", "--network", "bnet", "busybox", "sh", "-c",
      "echo srv-data > /tmp/x; httpd -f -p 80 -h /tmp")
    srv_veths = veths()
    nets = json.loads(k("inspect", "srv").stdout)[0]["NetworkSettings"]["Networks"]
    addr = nets["bnet"]["IPAddress"]
    assert addr.startswith("10.78.0.")
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nARG PEER\nRUN (%s) > /got\n"
                                                     "RUN ls /sys/class/net > /nets\n" % FETCH})
    # a RUN step on the user network reaches the server by its name and by its address
    for peer, tag in (("srv", "by-name"), (addr, "by-addr")):
        k("build", "--network", "bnet", "--build-arg", "PEER=" + peer, "-t", tag, ctx)
        assert k("run", "--rm", tag, "cat", "/got").stdout == "srv-data\n"
        assert k("run", "--rm", tag, "cat", "/nets").stdout.split() == ["eth0", "lo"]
        assert veths() == srv_veths
    # the network's files are mounted for the step, not part of its layer
    etc = lambda ref: sorted(p for p in kapsel_image(k, ref, str(tmp_path))[0] if p.startswith("etc"))
    assert etc("by-name") == etc("busybox") and "etc/hosts" not in etc("busybox")
    # the default bridge (with no --network, as docker's classic builder): an address of its own,
    # but not the user network's peers
    one = "FROM busybox\nRUN ip -4 -o addr show eth0 > /addr; wget -T 2 -qO- http://%s/x > /got || echo none > /got\n"
    ctx2 = write_ctx(tmp_path / "ctx2", {"Dockerfile": one % addr})
    k("build", "-t", "on-bridge", ctx2)
    assert " inet 10." in k("run", "--rm", "on-bridge", "cat", "/addr").stdout
    assert k("run", "--rm", "on-bridge", "cat", "/got").stdout == "none\n"
    # --network none cannot reach it
    p = k("build", "--no-cache", "--network", "none", "--build-arg", "PEER=" + addr, ctx, check=False)
    assert p.returncode != 0 and "returned a non-zero code: 1" in p.stdout + p.stderr
    # a failing RUN and an interrupted one on the network give their veth and address back
    ctx3 = write_ctx(tmp_path / "ctx3", {"Dockerfile": "FROM busybox\nRUN wget -qO- http://srv/x && exit 3\n"})
    p = k("build", "--network", "bnet", ctx3, check=False)
    assert p.returncode != 0 and "returned a non-zero code: 3" in p.stdout + p.stderr
    assert veths() == srv_veths
    ctx4 = write_ctx(tmp_path / "ctx4", {"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
    b = subprocess.Popen(k.cmd("build", "--network", "bnet", ctx4), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = b""
    deadline = time.time() + 30
    while line != b"started\n" and time.time() < deadline:
        line = b.stdout.readline()
    assert line == b"started\n" and len(veths()) == len(srv_veths) + 1
    b.send_signal(signal.SIGINT)
    b.communicate(timeout=30)
    assert b.returncode != 0 and veths() == srv_veths
    # an unknown network is refused before anything runs
    p = k("build", "--network", "nosuch", ctx, check=False)
    assert p.returncode == 125 and "nosuch" in p.stderr and "Step 1" not in p.stdout
    k("rm", "-f", "srv")
    assert_nothing_left(k)
    assert k("system", "check").stdout.strip().endswith("no problems found")
    assert veths() == []


def bridged_build_started(k, ctx):
    """`build --network bridge CTX` in the background, once its RUN step printed "started" (with
    its one veth); the Popen."""
    b = subprocess.Popen(k.cmd("build", "--network", "bridge", ctx), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = b""
    deadline = time.time() + 30
    while line != b"started\n" and time.time() < deadline:
        line = b.stdout.readline()
    assert line == b"started\n" and len(veths()) == 1
    return b


def killed_bridged_build(k, tmp_path, sleep):
    """A bridged build killed with SIGKILL while its RUN step (`sleep SLEEP`) runs."""
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo started; sleep %d\n" % sleep})
    k("images")
    b = bridged_build_started(k, ctx)
    b.kill()
    b.communicate(timeout=30)


def test_network_killed_build_released_by_system_check(nk, tmp_path):
    k = nk
    killed_bridged_build(k, tmp_path, 60)
    out = k("system", "check").stdout
    assert "interrupted builds removed" in out and "network leftover" not in out
    assert veths() == []
    assert_nothing_left(k)
    assert k("system", "check").stdout.strip().endswith("no problems found")


def test_network_step_without_its_work_dir_is_a_leftover(nk, tmp_path):
    """A bridged RUN step whose builder died and whose work directory is gone, so build_gc() has
    nothing to find: `system check` still ends its process and gives back its veth and address
    (it used to keep everything named kbuild-* for ever)."""
    k = nk
    killed_bridged_build(k, tmp_path, 67)
    base = os.path.join(k.root, "build")
    steps = [d for d in os.listdir(base) if d.startswith("step-")]
    assert len(steps) == 1
    for m in reversed(mounts_under(os.path.join(base, steps[0]))):
        run(["umount", "-l", m])
    shutil.rmtree(os.path.join(base, steps[0]))
    out = k("system", "check").stdout
    assert "orphan runtime state" in out and "network leftover" in out, out
    assert veths() == []
    assert subprocess.run(["pgrep", "-f", "sleep 67"], capture_output=True).returncode == 1
    assert_nothing_left(k)
    assert k("system", "check").stdout.strip().endswith("no problems found")


def test_network_system_check_during_a_build_leaves_its_step_alone(nk, tmp_path):
    """`system check` while a bridged RUN step runs: the step has no container row, yet its veth is
    not a leftover; the step keeps its network and the build succeeds."""
    k = nk
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo started; sleep 4; "
                                                     "grep -q eth0 /proc/net/dev && echo still-up\n"})
    b = bridged_build_started(k, ctx)
    out = k("system", "check").stdout
    assert "network leftover" not in out and len(veths()) == 1, out
    rest, err = b.communicate(timeout=60)
    assert b.returncode == 0 and b"still-up" in rest, (rest, err)
    assert veths() == []
    assert_nothing_left(k)


def test_network_step_linking_etc_to_the_host_touches_nothing_there(nk, tmp_path):
    """A bridged RUN step that swaps its /etc for a link to a host directory: the clean-up of the
    network's /etc stubs must not follow it (it once unlinked empty host files by those names)."""
    k = nk
    host = tmp_path / "hostetc"
    host.mkdir()
    for f in ("hosts", "resolv.conf", "hostname"):
        (host / f).write_text("")
    # (on a network, as in docker, the step's /etc/hosts, resolv.conf and hostname are mounts)
    k("build", "--network", "none", "-t", "noetc",
      write_ctx(tmp_path / "c1", {"Dockerfile": "FROM busybox\nRUN rm -rf /etc\n"}))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM noetc\nRUN mv /etc /etc2 && ln -s %s /etc\n" % host})
    k("build", "--network", "bridge", "-t", "etclink", ctx)
    assert sorted(os.listdir(host)) == ["hostname", "hosts", "resolv.conf"]
    k("rmi", "etclink", "noetc")
    assert_nothing_left(k)


def test_pull_missing_and_always(tmp_path):
    """A base image not in the store is pulled from its registry (docker's classic builder); --pull
    fetches it again even when present. The registry (Debian's docker-registry) is on 127.0.0.1."""
    from test_registry import Registry, need_registry
    need_registry()
    (tmp_path / "reg").mkdir()
    reg = Registry(tmp_path / "reg")
    try:
        # the registry listens on the host's loopback: the host's namespace, RUN steps without network
        src, k = K(str(tmp_path / "src"), prefix=()), K(str(tmp_path / "root"), prefix=())
        ref = "%s/t/base:1" % reg.host

        def publish(v):
            src("build", "--network", "none", "-t", ref, write_ctx(tmp_path / ("pub-" + v), {"Dockerfile": "FROM busybox\nRUN echo %s > /v\n" % v}))
            src("push", ref)

        publish("v1")
        ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM %s\nRUN cat /v > /seen\n" % ref})
        out = k("build", "--network", "none", "-t", "a", ctx).stdout
        assert "Pulled " + ref in out
        assert k("run", "--rm", "--network", "none", "a", "cat", "/seen").stdout == "v1\n"
        publish("v2")
        # without --pull the store's copy is used; --pull fetches the registry's
        out = k("build", "--network", "none", "-t", "b", ctx).stdout
        assert "Pulled" not in out and out.count("Using cache") == 1
        assert k("run", "--rm", "--network", "none", "b", "cat", "/seen").stdout == "v1\n"
        out = k("build", "--network", "none", "--pull", "-t", "c", ctx).stdout
        assert "Pulled " + ref in out and "Using cache" not in out
        assert k("run", "--rm", "--network", "none", "c", "cat", "/seen").stdout == "v2\n"
        # a base the registry does not have fails before any step, naming it
        bad = write_ctx(tmp_path / "bad", {"Dockerfile": "FROM %s/t/nope:1\nRUN true\n" % reg.host})
        for flags in ([], ["--pull"]):
            p = k("build", "--network", "none", *flags, bad, check=False)
            assert p.returncode != 0 and "t/nope" in p.stderr and "Step 1" not in p.stdout, p.stderr
        assert_nothing_left(k)
    finally:
        reg.stop()


def test_isolation_vm_refused_without_kvm(tmp_path):
    """--isolation=vm runs each RUN step in a micro-VM (end to end: test_vm_cli_nested.py); where
    micro-VMs cannot run it is refused before any step, as `run --isolation=vm` is."""
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo ran > /ran\n"})
    env = dict(os.environ, KAPSEL_KVM_DEVICE=str(tmp_path / "no-kvm"))
    p = run(k.cmd("build", "--isolation=vm", "-t", "v", ctx), check=False, env=env)
    assert p.returncode == 125 and "--isolation=vm" in p.stderr and "Step 1" not in p.stdout, p.stderr
    assert "KVM" in p.stderr or "kvm" in p.stderr or "kernel" in p.stderr, p.stderr
    p = k("build", "--isolation=vm", "--network", "host", ctx, check=False)
    assert p.returncode == 125 and "--network host" in p.stderr
    p = run(k.cmd("build", "--isolation=vm", "--network", "nosuch", ctx), check=False, env=env)
    assert p.returncode == 125 and "--network nosuch" in p.stderr, p.stderr
    p = k("build", "--isolation=hyperv", ctx, check=False)
    assert p.returncode == 125 and "expected container or vm" in p.stderr
    assert k("images", "-q", "v").stdout == "" and k("ps", "-aq").stdout == ""
    assert_nothing_left(k)
    # container isolation (docker's default/process) is the default
    k("build", "--isolation=default", "-t", "c", ctx)
    assert k("run", "--rm", "--network", "none", "c", "cat", "/ran").stdout == "ran\n"


def mounts_under(root):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(root)]


def assert_nothing_left(k):
    b = os.path.join(k.root, "build")
    left = [d for d in os.listdir(b) if d != "cache"] if os.path.isdir(b) else []
    assert left == [], "build work directories left: %s" % left
    assert mounts_under(k.root) == []
    rt = os.path.join(k.root, "runtime")
    assert not [d for d in (os.listdir(rt) if os.path.isdir(rt) else []) if d.startswith("kbuild-")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_build_leaves_nothing(tmp_path, sig):
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
    k("images")     # the store and the built-in busybox exist before the build starts
    p = subprocess.Popen(k.cmd("build", ctx), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = b""
    deadline = time.time() + 30
    while line != b"started\n" and time.time() < deadline:     # the RUN's output, not its Step line
        line = p.stdout.readline()
    assert line == b"started\n"
    p.send_signal(sig)
    p.communicate(timeout=30)
    assert p.returncode != 0
    if sig == signal.SIGKILL:
        # a killed builder's container, mount and work directory: `system check` removes them
        out = k("system", "check").stdout
        assert "interrupted builds removed" in out
    assert_nothing_left(k)


def test_system_check_leaves_a_running_build_alone(tmp_path):
    k = K(str(tmp_path / "root"))
    ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo started; sleep 2; echo done > /done\n"})
    k("images")
    p = subprocess.Popen(k.cmd("build", "-t", "live", ctx), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = b""
    while line != b"started\n":
        line = p.stdout.readline()
        assert line or p.poll() is None
    k("system", "check")
    p.communicate(timeout=60)
    assert p.returncode == 0
    assert k("run", "--rm", "live", "cat", "/done").stdout == "done\n"
    assert_nothing_left(k)


def test_add_url_downloads_over_loopback(tmp_path):
    """ADD of an http URL: fetched by the builder (libcurl), 0600, named by the URL's last element."""
    import http.server
    import threading
    site = tmp_path / "site"
    site.mkdir()
    (site / "payload.txt").write_text("over http\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(site), **kw)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/payload.txt" % srv.server_address[1]
        k = K(str(tmp_path / "root"), prefix=())      # the server is on the host's loopback
        ctx = write_ctx(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nADD %s /dl/\nADD %s /named\n" % (url, url)})
        k("build", "--network", "none", "-t", "u", ctx)
        out = k("run", "--rm", "--network", "none", "u", "sh", "-c", "cat /dl/payload.txt /named; stat -c %a /dl/payload.txt").stdout
        assert out == "over http\nover http\n600\n"
        bad = write_ctx(tmp_path / "bad", {"Dockerfile": "FROM busybox\nADD %s/missing /x\n" % url.rsplit("/", 1)[0]})
        p = k("build", "--network", "none", bad, check=False)
        assert p.returncode != 0 and "download failed" in p.stderr
        assert_nothing_left(k)
    finally:
        srv.shutdown()


def test_user_of_built_image_applies_at_run(kroot):
    """USER by name from the image's passwd: RUN steps ran as it, and `kapsel run` does too (-u wins)."""
    kroot("build", "-q", "-t", "corpus-user-by-name", os.path.join(CORPUS, "user-by-name"))
    assert kroot("run", "--rm", "corpus-user-by-name", "id", "-u").stdout == "1234\n"
    assert kroot("run", "--rm", "corpus-user-by-name", "id", "-g").stdout == "4321\n"
    assert kroot("run", "--rm", "-u", "0", "corpus-user-by-name", "id", "-u").stdout == "0\n"
    assert kroot("run", "--rm", "corpus-user-by-name", "cat", "/home/app/uid").stdout == "1234\n"
