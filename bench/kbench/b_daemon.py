"""daemon: kapseld (the Docker Engine API over kapsel, issue 16) against dockerd 20.10 + containerd
1.6 from docker.io, both driven by the same docker CLI: `docker run --rm --network none busybox
true`, `docker ps -a` with 200 created containers, and each daemon's memory (RSS and PSS) right
after its start, after the run workload and after the ps workload.

Both daemons run from temporary roots with their own sockets; dockerd gets a containerd of our own
(its own root, state, socket and config: never the host's /run/containerd), both in a network
namespace of the benchmark, with --bridge=none and no iptables, so nothing touches the host's
networking. The busybox image comes from one `docker save`-format tarball, made here from the
shared busybox rootfs and loaded into both with `docker load`."""
import hashlib
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import socketserver
import tarfile
import threading
import time

from . import prep
from .common import Bench, Row, interleave, log, rmtree_when_idle, rows_from, sh, timed, wait_gone, which
from .engines import Kapsel

NAME = "daemon"
SUMMARY = "daemon: kapseld vs dockerd+containerd: docker run --rm, docker ps -a (200 containers), idle RSS/PSS"
RUNS = (20, 5)              # runs per contender: full, --quick
MEM_STARTS = (5, 3)         # fresh starts of each daemon for the "after start" memory: full, --quick
RUN_TARGET = 0.3            # issue 16: at most 0.3x dockerd's time
PS_TARGET = 0.3
RSS_TARGET_MIB = 5.0        # issue 16: kapseld idles in at most 5 MiB RSS
PS_CONTAINERS = 200
SETTLE_S = 2                # after a start or a workload, before memory is read
API = "/v1.41"


def docker_cli():
    """docker.io's own CLI (20.10) first: the client the issue names; another one may sit earlier in PATH."""
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else which("docker")


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def api(sock, method, path, body=None, timeout=120):
    """One request to a daemon's socket: (status, body bytes)."""
    c = UnixHTTP(sock, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_ping(sock, proc, logfile, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("exited with %d: %s" % (proc.returncode, tail(logfile)))
        try:
            if api(sock, "GET", "/_ping", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("no answer on %s after %d s: %s" % (sock, timeout, tail(logfile)))


def tail(path, n=400):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:].strip().replace("\n", " | ")
    except OSError:
        return ""


def memory_kib(pids):
    """(RSS, PSS) summed over pids, from smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss, pss


def stop_proc(p, timeout=30):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def umount_under(path):
    """Lazily unmount whatever a daemon left mounted under path (deepest first)."""
    prefix = os.path.realpath(path) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for mp in sorted((m for m in points if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)


def docker_save_tar(rootfs_tar, out):
    """A `docker save` archive of one layer (the rootfs tarball), tagged busybox:latest."""
    if os.path.exists(out):
        return out
    h = hashlib.sha256()
    with open(rootfs_tar, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    diff = h.hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "bench/kbench/b_daemon.py"}]},
        sort_keys=True).encode()
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": ["busybox:latest"],
                            "Layers": [diff + "/layer.tar"]}]).encode()

    def add_bytes(t, name, data):
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
        t.addfile(ti, io.BytesIO(data))

    with tarfile.open(out + ".tmp", "w") as t:
        d = tarfile.TarInfo(diff)
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        t.addfile(d)
        t.add(rootfs_tar, arcname=diff + "/layer.tar")
        add_bytes(t, diff + "/VERSION", b"1.0")
        add_bytes(t, cfg_name, config)
        add_bytes(t, "manifest.json", manifest)
    os.rename(out + ".tmp", out)
    return out


class KapselD:
    """kapseld on a temporary root."""
    name = "kapseld"

    def __init__(self, ctx, base):
        self.binary = os.path.join(ctx.build, "src/daemon/kapseld")
        self.kapsel = Kapsel(ctx.kapsel, os.path.join(base, "root"))
        self.base, self.sock = base, os.path.join(base, "k.sock")
        self.log = os.path.join(base, "kapseld.log")
        self.proc = None

    def available(self):
        if not os.access(self.binary, os.X_OK):
            return "%s not built (libmicrohttpd-dev missing, or -Ddaemon=disabled)" % self.binary
        return self.kapsel.available()

    def start(self):
        with open(self.log, "a") as lf:
            self.proc = subprocess.Popen([self.binary, "--root", self.kapsel.root, "--host", "unix://" + self.sock],
                                         stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            wait_ping(self.sock, self.proc, self.log)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError("kapseld: %s" % e)

    def pids(self):
        return [self.proc.pid]

    def stop(self):
        stop_proc(self.proc)
        self.proc = None

    def cleanup(self):
        self.stop()
        if os.access(self.kapsel.binary, os.X_OK):
            self.kapsel.rm_all()
        umount_under(self.base)
        rmtree_when_idle(self.base)


class DockerD:
    """dockerd + a containerd of its own, in a network namespace of the benchmark."""
    name = "dockerd"

    def __init__(self, base):
        self.base = base
        self.sock = os.path.join(base, "d.sock")
        self.ctr_sock = os.path.join(base, "c/containerd.sock")
        self.log = os.path.join(base, "daemons.log")
        self.netns = "kbench-dockerd-%d" % os.getpid()
        self.dockerd = self.containerd = None
        self.ns_made = False

    @staticmethod
    def available():
        for tool in ("dockerd", "containerd", "runc"):
            if not which(tool):
                return "%s not installed (apt-get install docker.io)" % tool
        return None if docker_cli() else "the docker CLI is not installed (apt-get install docker.io)"

    def _config(self):
        c = os.path.join(self.base, "c")
        os.makedirs(c, exist_ok=True)
        path = os.path.join(c, "config.toml")
        # what dockerd's own managed containerd gets: no CRI plugin; every path in our directory
        with open(path, "w") as f:
            f.write('version = 2\nroot = "%s/root"\nstate = "%s/state"\n'
                    'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                    '[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n'
                    '[debug]\n  address = ""\n[metrics]\n  address = ""\n'
                    '[plugins."io.containerd.internal.v1.opt"]\n  path = "%s/opt"\n'
                    % (c, c, self.ctr_sock, self.ctr_sock, c))
        with open(os.path.join(self.base, "daemon.json"), "w") as f:
            f.write("{}\n")
        return path

    def start(self):
        if not self.ns_made:
            sh(["ip", "netns", "add", self.netns])
            self.ns_made = True
            sh(["ip", "-n", self.netns, "link", "set", "lo", "up"])
        enter = ["nsenter", "--net=/run/netns/" + self.netns]
        config = self._config()
        with open(self.log, "a") as lf:
            self.containerd = subprocess.Popen(enter + ["containerd", "--config", config], stdin=subprocess.DEVNULL,
                                               stdout=lf, stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 30
            while not os.path.exists(self.ctr_sock):
                if self.containerd.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("containerd did not start: %s" % tail(self.log))
                time.sleep(0.05)
            d = self.base
            self.dockerd = subprocess.Popen(
                enter + ["dockerd", "--config-file", os.path.join(d, "daemon.json"), "--data-root", os.path.join(d, "data"),
                         "--exec-root", os.path.join(d, "exec"), "--pidfile", os.path.join(d, "docker.pid"),
                         "-H", "unix://" + self.sock, "--containerd", self.ctr_sock, "--bridge=none",
                         "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
                         "--userland-proxy=false"],
                stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_ping(self.sock, self.dockerd, self.log)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError("dockerd: %s" % e)

    def pids(self):
        return [self.dockerd.pid, self.containerd.pid]

    def stop(self):
        stop_proc(self.dockerd)
        stop_proc(self.containerd)
        self.dockerd = self.containerd = None

    def cleanup(self):
        self.stop()
        wait_gone(self.base)        # shims of containers still exiting
        umount_under(self.base)
        if self.ns_made:
            subprocess.run(["ip", "netns", "del", self.netns], stderr=subprocess.DEVNULL)
            self.ns_made = False
        rmtree_when_idle(self.base)


def cli(daemon, conf, *args):
    env = dict(os.environ, DOCKER_HOST="unix://" + daemon.sock, DOCKER_CONFIG=conf)
    return [docker_cli()] + list(args), env


def memory_rows(table, reasons, samples):
    """samples: {daemon name: [(rss KiB, pss KiB)]} -> RSS and PSS rows in MiB, plus the target;
    a daemon without samples gets rows "not available" with reasons[name]."""
    label = {"kapseld": "kapseld", "dockerd": "dockerd+containerd"}
    for name in ("kapseld", "dockerd"):
        for i, what in ((0, "RSS"), (1, "PSS")):
            row = "%s %s" % (label[name], what)
            if not samples.get(name):
                table.add(Row(row, unavailable=reasons[name]))
            else:
                vals = [s[i] / 1024 for s in samples[name]]
                table.add(Row(row, vals, single=len(vals) == 1,
                              note="one reading after the workload" if len(vals) == 1 else None))
    table.add(Row("target", [RSS_TARGET_MIB], single=True))


def memory_claims(b, t, when):
    b.claim(t, "kapseld RSS", "target", 1.0, label="RSS %s: kapseld / 5 MiB" % when)
    b.claim(t, "kapseld RSS", "dockerd+containerd RSS", label="RSS %s: kapseld / dockerd+containerd" % when)
    b.claim(t, "kapseld PSS", "dockerd+containerd PSS", label="PSS %s: kapseld / dockerd+containerd" % when)


def time_rows(table, samples, failed, unavailable):
    """Rows in ms; a daemon that could not run at all says why, one that failed midway says so."""
    for name, label in (("kapseld", "kapseld"), ("dockerd", "dockerd+containerd")):
        if name in unavailable:
            table.add(Row(label, unavailable=unavailable[name]))
        else:
            rows_from(table, [name], samples, failed, labels={name: label}, scale=1000.0)


class Floor:
    """The docker CLI's floor: a "daemon" that answers /_ping and /containers/json at once with a
    body recorded from a real one (so the CLI formats the same list). `docker ps -a` against it is
    what the CLI's own start, request and formatting cost: no daemon can make the command faster."""

    def __init__(self, base, body):
        self.sock = os.path.join(base, "floor.sock")
        floor = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    length = 0
                    while True:
                        h = self.rfile.readline()
                        if h in (b"\r\n", b"\n", b""):
                            break
                        if h.lower().startswith(b"content-length:"):
                            length = int(h.split(b":", 1)[1])
                    self.rfile.read(length)
                    method, path = line.split()[:2]
                    data = floor.body if b"/containers/json" in path else b"OK" if b"/_ping" in path else b"{}"
                    ctype = b"application/json" if data[:1] in (b"[", b"{") else b"text/plain"
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: %s\r\n"
                                     b"Content-Length: %d\r\n\r\n" % (ctype, len(data)))
                    if method != b"HEAD":
                        self.wfile.write(data)
                    self.wfile.flush()

        self.body = body
        self.server = socketserver.ThreadingUnixStreamServer(self.sock, Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def cleanup(self):
        self.server.shutdown()
        self.server.server_close()


def list_once(daemon):
    """Seconds for one GET /containers/json?all=1 (what docker ps -a asks), body read."""
    t0 = time.perf_counter()
    st, body = api(daemon.sock, "GET", API + "/containers/json?all=1")
    dt = time.perf_counter() - t0
    if st != 200 or len(json.loads(body)) != PS_CONTAINERS:
        raise RuntimeError("containers/json: %d, %d bytes" % (st, len(body)))
    return dt


def create_many(daemon, n):
    for i in range(n):
        st, body = api(daemon.sock, "POST", "%s/containers/create?name=kbench-ps-%03d" % (API, i),
                       {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}})
        if st != 201:
            raise RuntimeError("create kbench-ps-%03d: %d %s" % (i, st, body[:300]))


def run(ctx):
    b = Bench(NAME, "Docker Engine API daemon: kapseld vs dockerd + containerd",
              "The same docker CLI (docker.io 20.10) against kapseld and against dockerd 20.10 with "
              "containerd 1.6: wall time of `docker run --rm --network none busybox true` and of "
              "`docker ps -a` with %d created containers; the daemon's memory (RSS and PSS from "
              "smaps_rollup: kapseld's process; dockerd's plus containerd's) %d s after a fresh start, "
              "after the run workload and after the ps workload. Both load busybox from one "
              "`docker save` tarball; both run from temporary roots, dockerd in a network namespace "
              "of the benchmark with --bridge=none and no iptables." % (PS_CONTAINERS, SETTLE_S))
    base = os.path.join(ctx.work, "daemon")
    os.makedirs(base, exist_ok=True)
    conf = os.path.join(base, "docker-config")
    os.makedirs(conf, exist_ok=True)
    bb = prep.tar_of(prep.busybox_rootfs(ctx.work), os.path.join(ctx.work, "busybox.tar"))
    image = docker_save_tar(bb, os.path.join(base, "busybox-image.tar"))
    daemons = {"kapseld": KapselD(ctx, os.path.join(base, "kapseld")),
               "dockerd": DockerD(os.path.join(base, "dockerd"))}
    unavailable, floor = {}, None
    for name, d in daemons.items():
        os.makedirs(d.base, exist_ok=True)
        reason = d.available()
        if reason:
            unavailable[name] = reason
    live = [n for n in daemons if n not in unavailable]
    mem_start, mem_run, mem_ps = {n: [] for n in live}, {}, {}
    run_samples, ps_samples, api_samples, failed_run, failed_ps, failed_api = {}, {}, {}, {}, {}, {}
    try:
        # 1. memory after a fresh start, several starts each, the first daemon alternating
        for i in range(ctx.n(*MEM_STARTS)):
            for name in (live if i % 2 == 0 else live[::-1]):
                if name in unavailable:
                    continue
                d = daemons[name]
                try:
                    d.start()
                    time.sleep(SETTLE_S)
                    mem_start[name].append(memory_kib(d.pids()))
                except (RuntimeError, OSError) as e:
                    unavailable[name] = "failed: %s" % str(e).strip()[:300]
                finally:
                    d.stop()
        live = [n for n in live if n not in unavailable]
        # 2. docker run --rm, on daemons started once more and kept for the rest
        cmds = {}
        for name in live:
            d = daemons[name]
            try:
                d.start()
                argv, env = cli(d, conf, "load", "-i", image)
                sh(argv, env=env, timeout=600)
                argv, env = cli(d, conf, "run", "--rm", "--network", "none", "busybox", "true")
                timed(argv, env=env, timeout=120)        # warm-up, not counted
                cmds[name] = (argv, env)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                unavailable[name] = "failed: %s" % str(e).strip()[:300]
                d.stop()
        runs = ctx.n(*RUNS)
        if cmds:
            log("daemon: %d interleaved runs of docker run --rm through %s" % (runs, ", ".join(cmds)))
        run_samples, failed_run = interleave(
            list(cmds), runs, lambda name, i: timed(cmds[name][0], env=cmds[name][1], timeout=120), log=None)
        time.sleep(SETTLE_S)
        for name in cmds:
            if name not in failed_run:
                mem_run[name] = [memory_kib(daemons[name].pids())]
        # 3. docker ps -a with 200 created containers
        ps = {}
        for name in cmds:
            d = daemons[name]
            try:
                create_many(d, PS_CONTAINERS)
                argv, env = cli(d, conf, "ps", "-a", "-q")
                got = len(sh(argv, env=env, timeout=120).stdout.split())
                if got != PS_CONTAINERS:
                    raise RuntimeError("docker ps -a -q lists %d containers, %d created" % (got, PS_CONTAINERS))
                ps[name] = cli(d, conf, "ps", "-a")
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                failed_ps[name] = str(e)[:300]
        if "kapseld" in ps:
            try:
                st, body = api(daemons["kapseld"].sock, "GET", API + "/containers/json?all=1")
                if st != 200:
                    raise RuntimeError("containers/json: %d" % st)
                floor = Floor(daemons["kapseld"].base, body)
                ps["floor"] = cli(floor, conf, "ps", "-a")
            except (RuntimeError, OSError) as e:
                failed_ps["floor"] = str(e)[:300]
        if ps:
            log("daemon: %d interleaved runs of docker ps -a (%d containers) through %s" %
                (runs, PS_CONTAINERS, ", ".join(ps)))
        ps_samples, more = interleave(list(ps), runs, lambda name, i: timed(ps[name][0], env=ps[name][1], timeout=120),
                                      log=None)
        failed_ps.update(more)
        # the same list through the API alone: the CLI's own start and formatting (the same for
        # both daemons) left out
        api_samples, failed_api = interleave([n for n in ps if n in daemons], runs,
                                             lambda name, i: list_once(daemons[name]), log=None)
        time.sleep(SETTLE_S)
        for name in ps:
            if name in daemons and name not in failed_ps:
                mem_ps[name] = [memory_kib(daemons[name].pids())]
    finally:
        if floor:
            floor.cleanup()
        for d in daemons.values():
            d.cleanup()

    def why(n):
        f = failed_run.get(n) or failed_ps.get(n)
        return unavailable.get(n) or ("failed: " + f if f else "not measured")

    t = b.table("docker run --rm --network none busybox true", "ms")
    time_rows(t, run_samples, failed_run, unavailable)
    b.claim(t, "kapseld", "dockerd+containerd", RUN_TARGET, label="docker run --rm: kapseld / dockerd")
    t = b.table("docker ps -a with %d containers" % PS_CONTAINERS, "ms")
    time_rows(t, ps_samples, failed_ps, unavailable)
    b.claim(t, "kapseld", "dockerd+containerd", PS_TARGET, label="docker ps -a (%d): kapseld / dockerd" % PS_CONTAINERS)
    if ps_samples.get("floor"):
        rows_from(t, ["floor"], ps_samples, failed_ps, labels={"floor": "docker CLI alone (instant answer)"},
                  scale=1000.0)
        b.claim(t, "docker CLI alone (instant answer)", "dockerd+containerd",
                label="docker ps -a (%d): the CLI's floor / dockerd" % PS_CONTAINERS)
    t = b.table("GET /containers/json?all=1 with %d containers (the API alone, no CLI)" % PS_CONTAINERS, "ms")
    time_rows(t, api_samples, dict(failed_ps, **failed_api), unavailable)
    b.claim(t, "kapseld", "dockerd+containerd", label="list API (%d): kapseld / dockerd" % PS_CONTAINERS)
    for title, samples, when in (("daemon memory %d s after a fresh start" % SETTLE_S, mem_start, "after start"),
                                 ("daemon memory after the docker run workload", mem_run, "after runs"),
                                 ("daemon memory after the docker ps workload (%d containers)" % PS_CONTAINERS,
                                  mem_ps, "after ps")):
        t = b.table(title, "MiB")
        memory_rows(t, {n: why(n) for n in daemons}, samples)
        memory_claims(b, t, when)
    b.notes.append("docker ps -a through the CLI includes the CLI's own start, request and formatting, the "
                   "same for both daemons and most of the time here; the API row times the daemons alone. "
                   "\"docker CLI alone\" is the same command against a stub answering at once with kapseld's "
                   "recorded list: the floor no daemon can go under.")
    b.notes.append("RSS counts every resident page the process maps, shared libraries included (kapseld "
                   "links some 45 shared libraries: libcurl, libarchive, gnutls, OpenSSL, sqlite and their "
                   "dependencies); PSS divides each shared page by the number of processes mapping it. "
                   "Both depend on what else runs: read them side by side, in one run.")
    return b
