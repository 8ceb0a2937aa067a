"""A/B of two kapseld builds (say main's and a branch's), interleaved, driven by the same docker CLI
as the daemon benchmark: wall time of `docker run --rm --network none busybox true`, and each
daemon's RSS/PSS (smaps_rollup) 2 s after a fresh start, and 2 s after one `docker run --rm` plus one
`docker pull` from a local registry (Debian's docker-registry on loopback) on a freshly started
daemon. Not one of bench/run's benchmarks (it compares kapseld with itself, not with a peer):

    cd bench && python3 -m kbench.b_daemon_ab --a /path/to/main/build --b ../build --runs 30 --out ab.json

Rounds alternate which build goes first; the load average is recorded at the start and the end."""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

from . import prep
from .b_daemon import SETTLE_S, docker_cli, docker_save_tar, memory_kib, stop_proc, umount_under, wait_ping
from .common import loadavg, sh, timed


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    def __init__(self, name, build, base):
        self.name, self.binary = name, os.path.join(build, "src/daemon/kapseld")
        self.root, self.sock = os.path.join(base, "root"), os.path.join(base, "k.sock")
        self.log = os.path.join(base, "kapseld.log")
        self.conf = os.path.join(base, "docker-config")
        os.makedirs(self.conf, exist_ok=True)
        self.proc = None

    def start(self, root=None):
        with open(self.log, "a") as lf:
            self.proc = subprocess.Popen([self.binary, "--root", root or self.root, "--host", "unix://" + self.sock],
                                         stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_ping(self.sock, self.proc, self.log)

    def stop(self):
        stop_proc(self.proc)
        self.proc = None

    def docker(self, *args):
        env = dict(os.environ, DOCKER_HOST="unix://" + self.sock, DOCKER_CONFIG=self.conf)
        return [docker_cli()] + list(args), env

    def run(self, *args, timeout=300):
        argv, env = self.docker(*args)
        return sh(argv, env=env, timeout=timeout)

    def memory(self):
        time.sleep(SETTLE_S)
        return memory_kib([self.proc.pid])


def registry(base):
    port = free_port()
    cfg = os.path.join(base, "registry.yml")
    with open(cfg, "w") as f:
        f.write("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%d\n"
                % (os.path.join(base, "registry-data"), port))
    p = subprocess.Popen(["docker-registry", "serve", cfg], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, "127.0.0.1:%d" % port
        except OSError:
            time.sleep(0.05)
    stop_proc(p)
    raise RuntimeError("docker-registry did not listen on port %d" % port)


def summary(vals, scale=1.0):
    v = [x * scale for x in vals]
    return {"n": len(v), "median": statistics.median(v), "min": min(v), "max": max(v)} if v else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="build directory of kapseld A (the baseline)")
    ap.add_argument("--b", required=True, help="build directory of kapseld B")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--starts", type=int, default=5, help="fresh starts of each for the memory rows")
    ap.add_argument("--out", help="JSON file of every sample")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kbench-ab-")
    daemons = {"A": Daemon("A", os.path.abspath(args.a), os.path.join(work, "A")),
               "B": Daemon("B", os.path.abspath(args.b), os.path.join(work, "B"))}
    res = {"load_start": loadavg(), "builds": {"A": args.a, "B": args.b}, "run_ms": {"A": [], "B": []},
           "start_kib": {"A": [], "B": []}, "run_pull_kib": {"A": [], "B": []}}
    reg = None
    try:
        bb = prep.tar_of(prep.busybox_rootfs(work), os.path.join(work, "busybox.tar"))
        image = docker_save_tar(bb, os.path.join(work, "busybox-image.tar"))
        reg, addr = registry(work)
        ref = "%s/kbench/busybox:ab" % addr
        order = ["A", "B"]
        # every daemon gets busybox once; A pushes it to the registry
        for name in order:
            d = daemons[name]
            d.start()
            d.run("load", "-i", image)
            if name == "A":
                d.run("tag", "busybox", ref)
                d.run("push", ref)
                d.run("rmi", ref)
            d.stop()
        # memory: fresh starts on an empty root; then run + pull on a fresh start of the loaded root
        for i in range(args.starts):
            for name in (order if i % 2 == 0 else order[::-1]):
                d = daemons[name]
                empty = os.path.join(work, name, "empty-%d" % i)
                d.start(root=empty)
                res["start_kib"][name].append(d.memory())
                d.stop()
                umount_under(empty)
                shutil.rmtree(empty, ignore_errors=True)
                d.start()
                d.run("run", "--rm", "--network", "none", "busybox", "true")
                d.run("pull", ref)
                res["run_pull_kib"][name].append(d.memory())
                d.run("rmi", ref)
                d.stop()
        # docker run --rm, interleaved on daemons started once
        for name in order:
            d = daemons[name]
            d.start()
            argv, env = d.docker("run", "--rm", "--network", "none", "busybox", "true")
            timed(argv, env=env, timeout=120)
            d.argv = (argv, env)
        for i in range(args.runs):
            for name in (order if i % 2 == 0 else order[::-1]):
                argv, env = daemons[name].argv
                res["run_ms"][name].append(timed(argv, env=env, timeout=120) * 1000)
        for d in daemons.values():
            d.stop()
    finally:
        for d in daemons.values():
            d.stop()
            umount_under(d.root)
        stop_proc(reg)
        shutil.rmtree(work, ignore_errors=True)
    res["load_end"] = loadavg()
    res["summary"] = {
        "run_ms": {n: summary(v) for n, v in res["run_ms"].items()},
        "start_rss_mib": {n: summary([s[0] for s in v], 1 / 1024) for n, v in res["start_kib"].items()},
        "start_pss_mib": {n: summary([s[1] for s in v], 1 / 1024) for n, v in res["start_kib"].items()},
        "run_pull_rss_mib": {n: summary([s[0] for s in v], 1 / 1024) for n, v in res["run_pull_kib"].items()},
        "run_pull_pss_mib": {n: summary([s[1] for s in v], 1 / 1024) for n, v in res["run_pull_kib"].items()},
    }
    print(json.dumps(res["summary"], indent=1))
    print("load average: start %s, end %s" % (res["load_start"], res["load_end"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
