"""build: the same Dockerfiles built by `kapsel build`, `buildah bud` and, when dockerd starts here,
docker's classic builder (DOCKER_BUILDKIT=0): cold (--no-cache), a fully cached rebuild, and a
one-file change before the last COPY (only the steps after it run again). Issue 17's targets:
kapsel at most 0.7x buildah's time cold, at most 0.3x fully cached.

Each contender has a store of its own (a temporary root) with the base image in it before any
timing: busybox (kapsel's built-in image, `kapsel save`d into buildah and docker) and, when a
Debian+gcc rootfs tar is cached (test_build.py's /var/cache/kapsel-build-test/debian-gcc.tar or
$KAPSEL_DEBIAN_GCC_TAR), a multi-stage C build on it. buildah runs with its overlay driver when
that works here (else vfs, noted) and --isolation chroot (no namespaces per RUN: its fastest; kapsel
runs every RUN as a container). Runs are interleaved (bench/kbench/common.interleave)."""
import json
import os
import shutil
import signal
import subprocess
import time

from .common import Bench, Row, interleave, log, sh, timed, which
from .engines import Kapsel

NAME = "build"
SUMMARY = "image builds: kapsel build vs buildah bud (and docker build) cold, cached, one file changed"
RUNS = (5, 2)              # runs per contender: full, --quick

BUSYBOX_20 = """FROM busybox
ENV A=1
WORKDIR /app
COPY f1.txt /app/
RUN echo one > /app/one
RUN for i in $(seq 1 200); do echo line $i; done > /app/lines
ARG V=1
RUN mkdir -p /data && dd if=/dev/zero of=/data/blob bs=1k count=512 2>/dev/null
LABEL bench=build
RUN rm /app/one
COPY dir/ /app/dir/
RUN ls -R /app > /app/listing
ENV B=2
RUN echo app:x:1000:1000::/home/app:/bin/sh >> /etc/passwd && echo app:x:1000: >> /etc/group && mkdir -p /home/app
USER app
RUN id > /tmp/id
USER root
RUN chmod -R go-w /app
COPY late.txt /app/late.txt
CMD ["sh"]
"""

MULTI_C = """FROM debian-gcc AS build
WORKDIR /src
COPY hello.c util.c /src/
RUN gcc -O2 -c util.c -o util.o
RUN gcc -O2 -o hello hello.c util.o
COPY late.txt /src/late.txt
RUN cp late.txt /src/stamp

FROM debian-gcc
COPY --from=build /src/hello /usr/local/bin/hello
COPY late.txt /etc/late.txt
CMD ["hello"]
"""

HELLO_C = '#include <stdio.h>\nint twice(int);\nint main(void) { printf("hello %d\\n", twice(21)); return 0; }\n'
UTIL_C = "int twice(int x) { return 2 * x; }\n"

DEBIAN_TAR = os.environ.get("KAPSEL_DEBIAN_GCC_TAR", "/var/cache/kapsel-build-test/debian-gcc.tar")


def write_ctx(d, dockerfile, files):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(dockerfile)
    for name, text in files.items():
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    return d


def contexts(work):
    """{name: (dockerfile, files, base)}: the Dockerfiles benchmarked (the C one only with a base)."""
    files = {"f1.txt": "f1\n", "late.txt": "late\n"}
    files.update({"dir/%02d.txt" % i: "file %d\n" % i * 20 for i in range(30)})
    out = {"busybox, 20 steps": (BUSYBOX_20, files, None)}
    if os.path.exists(DEBIAN_TAR):
        out["multi-stage C on Debian"] = (MULTI_C, {"hello.c": HELLO_C, "util.c": UTIL_C, "late.txt": "late\n"},
                                          DEBIAN_TAR)
    return out


class Builder:
    """One contender: a store of its own, prepared once (base images), and a build command."""

    def __init__(self, name, root):
        self.name, self.root = name, root
        os.makedirs(root, exist_ok=True)

    def build_cmd(self, ctx, tag, no_cache):
        raise NotImplementedError

    def cleanup(self):
        pass


class KapselBuilder(Builder):
    def __init__(self, binary, root):
        super().__init__("kapsel", root)
        self.k = Kapsel(binary, root)

    def prepare(self, bases, archive):
        sh(self.k.cmd("run", "--rm", "--network", "none", "busybox", "true"))  # imports the built-in busybox
        for name, tar in bases.items():
            sh(self.k.cmd("import", tar, name), timeout=1800)

    def build_cmd(self, ctx, tag, no_cache):
        # --network none as docker build here; buildah's chroot isolation sets up no network either
        # (kapsel's default, the bridge, costs a veth and an address per RUN step)
        return self.k.cmd("build", "-q", "--network", "none", "-t", tag, *(["--no-cache"] if no_cache else []), ctx)

    def cleanup(self):
        sh(["umount", "-R", "-l", os.path.join(self.root, "build")], check=False)
        self.k.cleanup()


class BuildahBuilder(Builder):
    def __init__(self, root, driver):
        super().__init__("buildah", root)
        self.driver = driver
        self.policy = os.path.join(root, "policy.json")
        with open(self.policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        self.base = ["buildah", "--root", os.path.join(root, "root"), "--runroot", os.path.join(root, "run"),
                     "--storage-driver", driver]

    def prepare(self, bases, archive):
        sh(self.base + ["pull", "--signature-policy", self.policy, "docker-archive:" + archive], timeout=600)
        sh(self.base + ["tag", "docker.io/library/busybox:latest", "busybox"], check=False)
        for name, tar in bases.items():
            cid = sh(self.base + ["from", "--signature-policy", self.policy, "scratch"]).stdout.strip()
            mnt = sh(self.base + ["mount", cid]).stdout.strip()
            sh(["tar", "-C", mnt, "-xf", tar], timeout=1800)
            sh(self.base + ["umount", cid])
            sh(self.base + ["commit", "--signature-policy", self.policy, cid, "localhost/" + name], timeout=1800)
            sh(self.base + ["rm", cid])

    def build_cmd(self, ctx, tag, no_cache):
        return self.base + ["bud", "--signature-policy", self.policy, "--pull-never", "--format", "docker",
                            "--isolation", "chroot", "--layers", "-q", "-t", tag] + \
            (["--no-cache"] if no_cache else []) + [ctx]

    def cleanup(self):
        sh(self.base + ["rm", "--all"], check=False)
        sh(self.base + ["rmi", "--all", "--force"], check=False, timeout=600)
        sh(["umount", "-R", "-l", os.path.join(self.root, "root")], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


class DockerBuilder(Builder):
    """dockerd in a root of its own (no iptables, no bridge): docker's classic builder."""

    def __init__(self, root):
        super().__init__("docker", root)
        self.sock = os.path.join(root, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST="unix://" + self.sock, DOCKER_BUILDKIT="0",
                        DOCKER_CONFIG=os.path.join(root, "cfg"))
        self.log = open(os.path.join(root, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(["dockerd", "--data-root", os.path.join(root, "data"), "--exec-root",
                                      os.path.join(root, "exec"), "--pidfile", os.path.join(root, "dockerd.pid"),
                                      "-H", "unix://" + self.sock, "--bridge", "none", "--iptables=false",
                                      "--ip-masq=false"], stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 30
        while sh(["docker", "version"], check=False, env=self.env, timeout=30).returncode != 0:
            if self.proc.poll() is not None or time.time() > deadline:
                self.cleanup()
                raise RuntimeError("dockerd did not start (see %s/dockerd.log)" % root)
            time.sleep(0.5)

    def prepare(self, bases, archive):
        sh(["docker", "load", "-i", archive], env=self.env, timeout=600)
        for name, tar in bases.items():
            sh(["docker", "import", tar, name], env=self.env, timeout=1800)

    def build_cmd(self, ctx, tag, no_cache):
        # the daemon's environment is not the client's: DOCKER_HOST etc. go through `env`
        return ["env", "DOCKER_HOST=" + self.env["DOCKER_HOST"], "DOCKER_BUILDKIT=0",
                "DOCKER_CONFIG=" + self.env["DOCKER_CONFIG"], "docker", "build", "-q", "--network", "none",
                "-t", tag] + (["--no-cache"] if no_cache else []) + [ctx]

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        sh(["umount", "-R", "-l", os.path.join(self.root, "data")], check=False)
        sh(["umount", "-R", "-l", os.path.join(self.root, "exec")], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def buildah_driver(work, archive):
    """overlay when buildah can use it here (a build works), else vfs."""
    root = os.path.join(work, "buildah-probe")
    b = BuildahBuilder(root, "overlay")
    try:
        b.prepare({}, archive)
        ctx = write_ctx(os.path.join(work, "probe-ctx"), "FROM busybox\nRUN echo probe > /p\n", {})
        sh(b.build_cmd(ctx, "probe", True), timeout=300)
        return "overlay"
    except Exception as e:      # noqa: BLE001
        log("build: buildah's overlay driver does not work here (%s): vfs" % str(e)[:200])
        return "vfs"
    finally:
        b.cleanup()


def run(ctx):
    b = Bench(NAME, "Builds: kapsel build vs buildah bud (and docker build)",
              "Wall-clock time of the same Dockerfile built by each builder from its own store, the "
              "base images already in it. cold: `--no-cache`. cached: the same build again (every "
              "step from the cache). one file changed: the file of the last COPY changed, so only "
              "that step and the ones after it run again.")
    if not which("buildah"):
        b.error = "buildah not installed (apt-get install buildah)"
        return b
    kapsel_reason = Kapsel(ctx.kapsel, os.path.join(ctx.work, "build-avail")).available()
    if kapsel_reason:
        b.error = kapsel_reason
        return b
    work = os.path.join(ctx.work, "build")
    os.makedirs(work, exist_ok=True)
    ctxs = contexts(work)
    if len(ctxs) == 1:
        b.notes.append("The multi-stage C build on Debian is left out: no Debian+gcc rootfs tar at %s "
                       "(KAPSEL_BUILD_DEBOOTSTRAP=1 with tests/integration/test_build.py makes one)." % DEBIAN_TAR)
    bases = {"debian-gcc": DEBIAN_TAR} if len(ctxs) > 1 else {}
    builders = {}
    try:
        k = KapselBuilder(ctx.kapsel, os.path.join(work, "kapsel"))
        builders["kapsel"] = k
        k.prepare(bases, None)
        archive = os.path.join(work, "busybox.tar")
        sh(k.k.cmd("save", "-o", archive, "busybox"))
        driver = buildah_driver(work, archive)
        b.notes.append("buildah %s, storage driver %s, --isolation chroot, --layers." %
                       (sh(["buildah", "--version"]).stdout.split()[2], driver))
        builders["buildah"] = BuildahBuilder(os.path.join(work, "buildah"), driver)
        builders["buildah"].prepare(bases, archive)
        docker_reason = None
        if which("dockerd") and which("docker"):
            try:
                builders["docker"] = DockerBuilder(os.path.join(work, "docker"))
                builders["docker"].prepare(bases, archive)
            except Exception as e:      # noqa: BLE001
                docker_reason = str(e)[:300]
                if "docker" in builders:
                    builders.pop("docker").cleanup()
        else:
            docker_reason = "dockerd or the docker CLI not installed"
        if docker_reason:
            log("build: docker left out: %s" % docker_reason)
        names = list(builders)
        runs = ctx.n(*RUNS)
        for title, (dockerfile, files, _) in ctxs.items():
            dirs = {n: write_ctx(os.path.join(work, "ctx-%s-%s" % (n, len(title))), dockerfile, files) for n in names}

            def measure(name, i):
                bl, d = builders[name], dirs[name]
                late = os.path.join(d, "late.txt")
                with open(late, "w") as f:
                    f.write("late\n")
                cold = timed(bl.build_cmd(d, "bench", True), timeout=1800)
                cached = timed(bl.build_cmd(d, "bench", False), timeout=1800)
                with open(late, "w") as f:
                    f.write("changed %d\n" % i)
                changed = timed(bl.build_cmd(d, "bench", False), timeout=1800)
                return cold, cached, changed

            log("build: %s: %d interleaved runs of %s" % (title, runs, ", ".join(names)))
            samples, failed = interleave(names, runs, measure, log=log)
            for j, what in enumerate(("cold (--no-cache)", "fully cached rebuild", "one file changed before the last COPY")):
                t = b.table("%s: %s" % (title, what), "s")
                for n in ["kapsel", "buildah", "docker"]:
                    if n == "docker" and docker_reason:
                        t.add(Row("docker build", unavailable=docker_reason))
                    elif n in failed:
                        t.add(Row(n + " build" if n != "buildah" else "buildah bud", unavailable="failed: " + failed[n]))
                    else:
                        t.add(Row(n + " build" if n != "buildah" else "buildah bud", [s[j] for s in samples[n]]))
                limit = {0: 0.7, 1: 0.3}.get(j)
                b.claim(t, "kapsel build", "buildah bud", limit, label="%s, %s: kapsel / buildah" % (title, what))
                if not docker_reason:
                    b.claim(t, "kapsel build", "docker build", label="%s, %s: kapsel / docker" % (title, what))
    finally:
        for bl in builders.values():
            try:
                bl.cleanup()
            except Exception as e:      # noqa: BLE001
                log("build: cleanup of %s: %s" % (bl.name, e))
        shutil.rmtree(work, ignore_errors=True)
    return b
