"""End-to-end tests of the `kapsel` engine: every container verb on a temporary root.

Each test gets its own --root under tmp_path and the built-in busybox image. kapsel runs inside a
network namespace the session creates (nsenter --net, so mounts and cgroups stay the host's):
its default bridge, NAT rules and veths never touch the host's network. After each test every
container is removed, and the test fails if anything is left behind: a monitor or container
process, an overlay mount under the root, a cgroup of one of its containers, or a veth."""
import concurrent.futures
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KAPSEL = os.environ.get("KAPSEL", os.path.join(REPO, "build/src/cli/kapsel"))
PROBE = os.path.join(REPO, "build/src/helpers/kapsel-probe")
# the sanitizer build has no static helpers: --init uses the normal build's kapsel-init
os.environ.setdefault("KAPSEL_INIT", os.path.join(REPO, "build/src/helpers/kapsel-init"))

pytestmark = pytest.mark.skipif(not os.path.exists(KAPSEL), reason="kapsel not built at %s" % KAPSEL)


NETNS = "kapsel-engine-test-%d" % os.getpid()


@pytest.fixture(scope="session")
def netns():
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield "/run/netns/" + NETNS
    subprocess.run(["ip", "netns", "del", NETNS])


def in_ns(cmd):
    return ["nsenter", "--net=/run/netns/" + NETNS] + cmd


class K:
    def __init__(self, root):
        self.root = root

    def cmd(self, *args):
        return in_ns([KAPSEL, "--root", self.root] + list(args))

    def __call__(self, *args, check=True, timeout=30, input=None):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(self.cmd(*args), stdout=out, stderr=err,
                               input=input, stdin=None if input is not None else subprocess.DEVNULL,
                               timeout=timeout)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read().decode(), err.read().decode()
        if check and p.returncode != 0:
            raise AssertionError("kapsel %s: exit %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def inspect(self, name):
        return json.loads(self("inspect", name).stdout)[0]


def ids_of(root):
    d = os.path.join(root, "containers")
    return os.listdir(d) if os.path.isdir(d) else []


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def leftovers(root, known_ids):
    found = []
    with open("/proc/self/mountinfo") as f:
        found += ["mount " + l.split()[4] for l in f if root in l.split()[4]]
    for cid in known_ids:
        for cg in ("/sys/fs/cgroup/pids/kapsel/" + cid, "/sys/fs/cgroup/memory/kapsel/" + cid,
                   "/sys/fs/cgroup/kapsel/" + cid):
            if os.path.exists(cg):
                found.append("cgroup " + cg)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = open("/proc/%s/cmdline" % pid, "rb").read()
            except OSError:
                continue
            if root.encode() in cmd and b"kapsel-monitor" in cmd and alive(int(pid)):
                found.append("monitor %s" % pid)
    return found


def veths():
    out = subprocess.run(["ip", "-n", NETNS, "-o", "link"], capture_output=True, text=True).stdout
    return [l.split(":")[1].strip().split("@")[0] for l in out.splitlines() if ": kv" in l]


def kapsel_session(tmp_path, strays):
    """A K on a fresh root for one test (a generator for fixtures); afterwards every container is
    removed with rm -f, and neither the host (processes, mounts, cgroups) nor `strays` (name ->
    function returning what is left, e.g. veths) may keep anything of it."""
    root = str(tmp_path / "root")
    kk = K(root)
    yield kk
    known = ids_of(root)
    q = subprocess.run(kk.cmd("ps", "-aq", "--no-trunc"), capture_output=True, text=True)
    for cid in q.stdout.split():
        subprocess.run(kk.cmd("rm", "-f", cid), capture_output=True, timeout=30)
    wait_for(lambda: not (leftovers(root, known) or any(f() for f in strays.values())), 5)
    assert leftovers(root, known) == []
    for name, f in strays.items():
        assert f() == [], "%s left behind" % name


@pytest.fixture
def k(tmp_path, netns):
    yield from kapsel_session(tmp_path, {"veths": veths})


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


# --- run, exit codes, --rm ---

def test_run_echo_and_rm_leaves_nothing(k):
    p = k("run", "--rm", "busybox", "echo", "hello")
    assert p.stdout == "hello\n"
    assert k("ps", "-aq").stdout == ""
    assert ids_of(k.root) == []


def test_run_exit_code_and_streams(k):
    p = k("run", "--name", "e", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
    st = k.inspect("e")["State"]
    assert (st["Status"], st["ExitCode"], st["Running"]) == ("exited", 3, False)


def test_exit_codes_like_docker(k):
    assert k("run", "--rm", "busybox", "nonexistent-cmd", check=False).returncode == 127
    assert k("run", "--rm", "busybox", "/etc/passwd", check=False).returncode == 126
    assert k("run", "--bogus-flag", "busybox", check=False).returncode == 125
    # (the container's pid 1 cannot SIGKILL itself: a child does it)
    assert k("run", "--rm", "busybox", "sh", "-c", "sh -c 'kill -9 $$'; exit $?", check=False).returncode == 137


def test_stdin_interactive(k):
    p = k("run", "-i", "--rm", "busybox", "sh", "-c", "read x; echo got-$x", input=b"abc\n")
    assert p.stdout == "got-abc\n"


def test_tty_via_script(k):
    cmd = " ".join(k.cmd("run", "-it", "--rm", "busybox", "sh", "-c", "'tty; exit 5'"))
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=30)
    assert "/dev/pts/0" in p.stdout
    assert p.returncode == 5


# --- detached lifecycle ---

def test_detached_logs_ps_stop_rm(k):
    cid = k("run", "-d", "--name", "web", "busybox", "sh", "-c",
            "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done").stdout.strip()
    assert len(cid) == 64
    assert wait_for(lambda: "started" in k("logs", "web").stdout)
    rows = [json.loads(l) for l in k("ps", "--format", "json").stdout.splitlines()]   # docker: one a line
    assert [r["Names"] for r in rows] == ["web"] and rows[0]["State"] == "running"
    assert k("ps", "--format", "{{.Names}}:{{.State}}").stdout == "web:running\n"
    t = time.time()
    k("stop", "-t", "5", "web")
    assert time.time() - t < 4, "the TERM trap should end it at once"
    assert "bye" in k("logs", "web").stdout
    st = k.inspect("web")["State"]
    assert (st["Status"], st["ExitCode"]) == ("exited", 0)
    assert k("ps", "-q").stdout == ""
    k("rm", "web")
    assert k("ps", "-aq").stdout == ""


def test_stop_escalates_to_kill(k):
    k("run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
    t = time.time()
    k("stop", "-t", "1", "stubborn")
    assert 0.9 < time.time() - t < 6
    assert k.inspect("stubborn")["State"]["ExitCode"] == 137


def test_logs_tail_timestamps_follow(k):
    k("run", "-d", "--name", "l", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 0.5; echo last")
    assert wait_for(lambda: "line5" in k("logs", "l").stdout)
    assert k("logs", "--tail", "2", "l").stdout in ("line4\nline5\n", "line5\nlast\n")
    ts = k("logs", "-t", "--tail", "1", "l").stdout
    assert ts[:4].isdigit() and "T" in ts.split()[0] and ts.split()[0].endswith("Z")
    p = k("logs", "-f", "l", timeout=15)      # returns when the container exits
    assert p.stdout.endswith("last\n")


def test_exec_env_cwd_user(k):
    k("run", "-d", "--name", "x", "-e", "BASE=1", "busybox", "sleep", "100")
    p = k("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "x", "sh", "-c", "echo $BASE $FOO $(pwd) $(id -u)")
    assert p.stdout == "1 bar /tmp 65534\n"
    assert k("exec", "x", "sh", "-c", "exit 4", check=False).returncode == 4
    k("stop", "-t", "0", "x")
    p = k("exec", "x", "true", check=False)
    assert p.returncode == 125 and "not running" in p.stderr


def test_pause_unpause_wait_kill(k):
    k("run", "-d", "--name", "p", "busybox", "sh", "-c", "while true; do sleep 0.1; done")
    k("pause", "p")
    assert k.inspect("p")["State"]["Status"] == "paused"
    k("unpause", "p")
    assert k.inspect("p")["State"]["Status"] == "running"
    waiter = subprocess.Popen(k.cmd("wait", "p"), stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    k("kill", "-s", "KILL", "p")
    assert waiter.communicate(timeout=10)[0] == "137\n"


# --- attach ---

def test_attach_output_and_exit_code(k):
    k("run", "-d", "--name", "a", "busybox", "sh", "-c", "sleep 1; echo late; echo err >&2; exit 5")
    p = k("attach", "a", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (5, "late\n", "err\n")


def test_attach_client_that_stops_reading(k):
    """A client that stops reading makes the container wait on its output (the monitor holds a
    bounded backlog), but does not hold up the monitor: stop works, the state is recorded."""
    k("run", "-d", "--name", "y", "busybox", "sh", "-c", "yes hello")
    stalled = subprocess.Popen(k.cmd("attach", "y"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # the monitor stops reading once the client is a backlog behind: the log stops growing (once
        # the client is attached; a sanitizer build takes seconds to get there)
        log = os.path.join(k.root, "containers", k.inspect("y")["Id"], "ctr.log")
        sizes = [os.path.getsize(log)]

        def log_still():
            time.sleep(0.5)
            sizes.append(os.path.getsize(log))
            return sizes[-1] == sizes[-2]
        assert wait_for(log_still, 20), sizes[-4:]
        t0 = time.monotonic()
        k("stop", "-t", "1", "y", timeout=20)
        assert time.monotonic() - t0 < 8
        assert k.inspect("y")["State"]["Status"] == "exited"
    finally:
        stalled.kill()
        stalled.wait()


def test_foreground_run_slow_reader_gets_everything(k):
    cmd = " ".join(shlex.quote(a) for a in k.cmd("run", "--rm", "busybox", "sh", "-c",
                                                  "yes abc | head -c 3000000; echo end; exit 4"))
    p = subprocess.run(["bash", "-c", cmd + " | (sleep 2; wc -c); exit ${PIPESTATUS[0]}"], capture_output=True,
                       text=True, timeout=60)
    assert (p.returncode, p.stdout.split()) == (4, ["3000004"]), p.stderr


def test_restart_policy_on_failure(k):
    k("run", "-d", "--name", "r", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo try; exit 1")
    def done():
        doc = k.inspect("r")
        return doc["State"]["Status"] == "exited" and doc["RestartCount"] == 2
    assert wait_for(done)
    assert k("logs", "r").stdout == "try\ntry\ntry\n"


def test_restart_always_survives_kill_but_not_stop(k):
    k("run", "-d", "--name", "a", "--restart", "always", "busybox", "sleep", "100")
    pid = k.inspect("a")["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)
    def back():
        doc = k.inspect("a")
        return doc["RestartCount"] == 1 and doc["State"]["Running"]
    assert wait_for(back)
    k("stop", "-t", "1", "a")
    time.sleep(0.5)
    assert k.inspect("a")["State"]["Status"] == "exited"


def test_start_restart_rename_create(k):
    cid = k("create", "--name", "c", "busybox", "sh", "-c", "echo run-$$").stdout.strip()
    assert k.inspect("c")["State"]["Status"] == "created"
    assert k("start", "-a", "c").stdout.startswith("run-")
    k("rename", "c", "c2")
    assert k.inspect("c2")["Id"] == cid
    assert k("start", "-a", "c2").stdout.count("run-") == 1
    assert len(k("logs", "c2").stdout.splitlines()) == 2


def test_init_reaps_and_forwards(k):
    p = k("run", "--rm", "--init", "busybox", "sh", "-c", "echo $$; ps -o comm | head -2 | tail -1")
    assert p.stdout.splitlines() == ["2", "kapsel-init"]


# --- configuration flags ---

def test_env_file_hostname_entrypoint_workdir(k, tmp_path):
    ef = tmp_path / "env"
    ef.write_text("# comment\nA=1\nB=two words\n")
    p = k("run", "--rm", "--env-file", str(ef), "--hostname", "box1", "-w", "/etc", "--entrypoint", "sh", "busybox",
          "-c", 'echo "$A|$B|$(hostname)|$(pwd)|$(cat /etc/hostname)"')
    assert p.stdout == "1|two words|box1|/etc|box1\n"


def test_bind_mounts_and_read_only(k, tmp_path):
    d = tmp_path / "share"
    d.mkdir()
    (d / "in.txt").write_text("from host")
    k("run", "--rm", "-v", "%s:/data" % d, "busybox", "sh", "-c", "cat /data/in.txt > /data/out.txt")
    assert (d / "out.txt").read_text() == "from host"
    p = k("run", "--rm", "-v", "%s:/data:ro" % d, "busybox", "touch", "/data/x", check=False)
    assert p.returncode != 0 and "Read-only" in p.stderr
    p = k("run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
          "touch /scratch/ok && echo tmpfs-ok && touch /nope", check=False)
    assert "tmpfs-ok" in p.stdout and p.returncode != 0


def test_named_volume_outlives_containers(k):
    k("run", "--rm", "-v", "vol1:/v", "busybox", "sh", "-c", "echo kept > /v/f")
    assert k("run", "--rm", "-v", "vol1:/v:ro", "busybox", "cat", "/v/f").stdout == "kept\n"
    assert "vol1" in k("volume", "ls", "-q").stdout.split()
    info = json.loads(k("volume", "inspect", "vol1").stdout)[0]
    assert info["Mountpoint"].startswith(k.root) and info["Driver"] == "local"
    k("run", "-d", "--name", "user", "-v", "vol1:/v", "busybox", "sleep", "100")
    p = k("volume", "rm", "vol1", check=False)
    assert p.returncode == 125 and "in use by container user" in p.stderr
    k("rm", "-f", "user")
    k("volume", "rm", "vol1")
    assert k("volume", "ls", "-q").stdout == ""


def test_limits_in_cgroup(k):
    k("run", "-d", "--name", "lim", "--memory", "64m", "--pids-limit", "7", "--cpus", "0.5", "busybox", "sleep", "100")
    cid = k.inspect("lim")["Id"]
    if os.path.exists("/sys/fs/cgroup/memory/kapsel"):
        assert open("/sys/fs/cgroup/memory/kapsel/%s/memory.limit_in_bytes" % cid).read().strip() == str(64 << 20)
        assert open("/sys/fs/cgroup/pids/kapsel/%s/pids.max" % cid).read().strip() == "7"
        cpu = "/sys/fs/cgroup/cpu" if os.path.exists("/sys/fs/cgroup/cpu/kapsel") else "/sys/fs/cgroup/cpu,cpuacct"
        assert open("%s/kapsel/%s/cpu.cfs_quota_us" % (cpu, cid)).read().strip() == "50000"
    p = k("exec", "lim", "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait", check=False)
    assert "fork" in (p.stderr + p.stdout).lower()


def test_capabilities_and_seccomp_defaults(k):
    p = k("run", "--rm", "busybox", "sh", "-c", "grep CapEff /proc/self/status")
    assert p.stdout.split()[1] == "00000000a80425fb"      # docker's default set
    p = k("run", "--rm", "--cap-drop", "ALL", "busybox", "grep", "CapEff", "/proc/self/status")
    assert p.stdout.split()[1] == "0000000000000000"
    p = k("run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "nobody", "/tmp", check=False)
    assert p.returncode != 0
    p = k("run", "--rm", "busybox", "sh", "-c", "grep Seccomp: /proc/self/status")
    assert p.stdout.split()[1] == "2"


# --- inspection ---

def test_inspect_top_stats(k):
    k("run", "-d", "--name", "i", "-l", "team=a", "busybox", "sleep", "100")
    doc = k.inspect("i")
    assert doc["Name"] == "/i" and doc["Config"]["Labels"] == {"team": "a"}
    assert doc["State"]["Pid"] > 0 and doc["Driver"] == "overlay"
    assert k("inspect", "-f", "{{.State.Status}}", "i").stdout == "running\n"
    top = k("top", "i").stdout.splitlines()
    assert top[0].split() == ["PID", "USER", "CMD"], top
    assert [r.split(None, 2)[1:] for r in top[1:]] == [["0", "sleep 100"]], top
    stats = k("stats", "--no-stream").stdout
    assert "i" in stats.split() and "MEM USAGE / LIMIT" in stats


def test_cp_both_ways_and_symlink_escape(k, tmp_path):
    k("run", "-d", "--name", "cp", "busybox", "sh", "-c", "echo inside > /f; ln -s / /rootlink; sleep 100")
    assert wait_for(lambda: k("exec", "cp", "cat", "/f", check=False).returncode == 0)
    k("cp", "cp:/f", str(tmp_path / "f"))
    assert (tmp_path / "f").read_text() == "inside\n"
    (tmp_path / "h").write_text("host")
    k("cp", str(tmp_path / "h"), "cp:/tmp/")
    assert k("exec", "cp", "cat", "/tmp/h").stdout == "host"
    # a symlink inside the container resolves against the container's root, never the host's
    k("cp", str(tmp_path / "h"), "cp:/rootlink/tmp/h2")
    assert not os.path.exists("/tmp/h2") and k("exec", "cp", "cat", "/tmp/h2").stdout == "host"


def test_container_prune(k):
    k("run", "--name", "done1", "busybox", "true")
    k("run", "-d", "--name", "live", "busybox", "sleep", "100")
    k("container", "prune", "-f")
    assert k("ps", "-a", "--format", "{{.Names}}").stdout == "live\n"


# --- bad input ---

def test_bad_input_messages(k):
    cases = [
        (["run", "nosuchimage"], "nosuchimage"),
        (["run", "-v", "relative/path:/x", "busybox"], "invalid volume"),
        (["run", "--memory", "1k", "busybox", "true"], "6 MiB"),
        (["run", "--restart", "sometimes", "busybox"], "--restart"),
        (["run", "--cap-add", "FLY", "busybox", "true"], "unknown capability"),
        (["run", "--network", "nonet", "busybox", "true"], "network 'nonet' not found"),
        (["logs", "ghost"], "no such container or VM: ghost"),
        (["run", "--name", "bad/name", "busybox", "true"], "invalid container name"),
    ]
    for args, needle in cases:
        p = k(*args, check=False)
        assert p.returncode == 125, args
        assert needle in p.stderr, (args, p.stderr)
    k("run", "--name", "dup", "busybox", "true")
    p = k("run", "--name", "dup", "busybox", "true", check=False)
    assert p.returncode == 125 and "already in use" in p.stderr
    p = k("rm", "ghost", check=False)
    assert p.returncode == 125
    # nothing half-made by the failures
    assert k("ps", "-aq").stdout.split() == [k.inspect("dup")["Id"][:12]]


# --- crash safety and concurrency ---

def test_kill9_monitor_then_system_check(k):
    k("run", "-d", "--name", "victim", "busybox", "sleep", "100")
    doc = k.inspect("victim")
    monitors = [int(p) for p in os.listdir("/proc") if p.isdigit() and
                b"kapsel-monitor" in open("/proc/%s/cmdline" % p, "rb").read() and k.root.encode() in open("/proc/%s/cmdline" % p, "rb").read()]
    assert len(monitors) == 1
    os.kill(monitors[0], signal.SIGKILL)
    out = k("system", "check").stdout
    assert "monitor died" in out
    assert not wait_for(lambda: alive(doc["State"]["Pid"]), timeout=0.5) or not alive(doc["State"]["Pid"])
    assert k.inspect("victim")["State"]["Status"] == "exited"
    assert k("system", "check").stdout.strip().endswith("no problems found")


def test_exited_means_released(k):
    """Once `run`, `start -a` or `wait` reports an exit, the container holds no mount and no runtime
    state: `system check` run at once finds nothing (its monitor released before recording the exit)."""
    k("create", "--name", "r", "busybox", "true")
    cid = k.inspect("r")["Id"]
    rootfs = os.path.join(k.root, "containers", cid, "rootfs")
    for _ in range(8):
        k("start", "-a", "r")
        assert rootfs not in open("/proc/self/mountinfo").read()
        assert not os.path.exists(os.path.join(k.root, "runtime", cid))
    k("start", "r")
    k("wait", "r")
    assert rootfs not in open("/proc/self/mountinfo").read()
    assert k("system", "check", "--dry-run").stdout.strip().endswith("no problems found")


def test_system_check_collects_orphans(k):
    k("run", "--name", "o", "busybox", "true")
    cid = k.inspect("o")["Id"]
    os.makedirs(os.path.join(k.root, "containers", "f" * 64, "diff"))
    os.makedirs(os.path.join(k.root, "volumes", "ghostvol", "_data"))
    out = k("system", "check", "--dry-run").stdout
    assert "orphan container directory" in out and "volume directory without its row" in out
    k("system", "check")
    assert sorted(ids_of(k.root)) == [cid]
    assert not os.path.exists(os.path.join(k.root, "volumes", "ghostvol"))


def test_parallel_runs(k):
    def one(i):
        return k("run", "--rm", "--name", "par%d" % i, "busybox", "echo", str(i)).stdout
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        outs = list(ex.map(one, range(16)))
    assert outs == ["%d\n" % i for i in range(16)]
    assert k("ps", "-aq").stdout == ""


# --- networks (inside the test's network namespace) ---

def test_default_bridge_port_map_and_port(k):
    k("run", "-d", "--name", "srv", "-p", "127.0.0.1:18080:8080", "busybox", "sh", "-c",
      "echo hello-from-srv > /tmp/index.html; httpd -f -p 8080 -h /tmp")
    assert k("port", "srv").stdout == "8080/tcp -> 127.0.0.1:18080\n"
    url = "http://127.0.0.1:18080/index.html"
    fetch = in_ns(["python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode(), end='')", url])
    assert wait_for(lambda: subprocess.run(fetch, capture_output=True).returncode == 0)
    assert subprocess.run(fetch, capture_output=True, text=True).stdout == "hello-from-srv\n"
    doc = k.inspect("srv")
    assert doc["HostConfig"]["NetworkMode"] == "default"
    assert doc["NetworkSettings"]["IPAddress"].startswith("10.") and "bridge" in doc["NetworkSettings"]["Networks"]
    p = k("run", "--rm", "-p", "127.0.0.1:18080:80", "busybox", "true", check=False)
    assert p.returncode == 125 and "18080" in p.stderr


def test_user_network_by_name_and_isolation(k):
    k("network", "create", "--subnet", "10.77.0.0/24", "backend")
    assert "backend" in k("network", "ls", "-q").stdout.split()
    k("run", "-d", "--name", "db", "--network", "backend", "busybox", "sh", "-c",
      "echo db-data > /tmp/x; httpd -f -p 80 -h /tmp")
    p = k("run", "--rm", "--network", "backend", "busybox", "sh", "-c",
          "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://db/x && exit 0; sleep 0.2; done; exit 1")
    assert p.stdout == "db-data\n"
    ip = json.loads(k("network", "inspect", "backend").stdout)[0]["Containers"]
    assert any(c["Name"] == "db" and c["IPv4Address"].startswith("10.77.0.") for c in ip.values())
    # a container on the default network cannot reach it
    addr = [c["IPv4Address"].split("/")[0] for c in ip.values() if c["Name"] == "db"][0]
    p = k("run", "--rm", "busybox", "wget", "-T", "2", "-qO-", "http://%s/x" % addr, check=False)
    assert p.returncode != 0
    p = k("network", "rm", "backend", check=False)
    assert p.returncode == 125 and "db" in p.stderr + p.stdout or p.returncode == 125
    k("rm", "-f", "db")
    k("network", "rm", "backend")


def test_network_connect_is_kept_and_works_before_start(k):
    """docker keeps a container's connections: connecting a created container (compose does, for a
    service on two networks) takes effect at its start, with its aliases, and every later start."""
    k("network", "create", "front")
    k("network", "create", "back")
    k("create", "--name", "api", "--network", "front", "busybox", "sh", "-c", "echo api-up > /tmp/x; httpd -f -p 80 -h /tmp")
    k("network", "connect", "--alias", "service-api", "back", "api")
    k("start", "api")
    fetch = "for i in $(seq 1 25); do wget -qO- http://%s/x && exit 0; sleep 0.2; done; exit 1"
    for name in ("api", "service-api"):
        assert k("run", "--rm", "--network", "back", "busybox", "sh", "-c", fetch % name).stdout == "api-up\n"
    nets = lambda: sorted(c["Name"] for n in ("front", "back")
                          for c in json.loads(k("network", "inspect", n).stdout)[0]["Containers"].values() if c["Name"] == "api")
    assert nets() == ["api", "api"]
    k("stop", "-t", "1", "api")
    k("start", "api")
    assert k("run", "--rm", "--network", "back", "busybox", "sh", "-c", fetch % "service-api").stdout == "api-up\n"
    # disconnected while stopped: gone at the next start
    k("stop", "-t", "1", "api")
    k("network", "disconnect", "back", "api")
    k("start", "api")
    p = k("run", "--rm", "--network", "back", "busybox", "wget", "-T", "2", "-qO-", "http://api/x", check=False)
    assert p.returncode != 0
    # what cannot be connected says so
    k("create", "--name", "hostnet", "--network", "host", "busybox", "true")
    p = k("network", "connect", "back", "hostnet", check=False)
    assert p.returncode == 125 and "--network host" in p.stderr
    p = k("network", "connect", "nosuchnet", "api", check=False)
    assert p.returncode != 0 and "nosuchnet" in p.stderr
    k("rm", "-f", "api", "hostnet")
    k("network", "rm", "front", "back")


def test_network_none_and_host(k):
    p = k("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert [l.split(":")[1].strip() for l in p.stdout.splitlines()] == ["lo"]
    ours = subprocess.run(in_ns(["ip", "-o", "link"]), capture_output=True, text=True).stdout
    p = k("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link")
    assert sorted(l.split(":")[1].strip() for l in p.stdout.splitlines()) == \
        sorted(l.split(":")[1].strip() for l in ours.splitlines())


def test_network_container_mode_and_etc_files(k):
    k("run", "-d", "--name", "first", "--hostname", "h1", "--add-host", "db.local:10.9.9.9", "--dns", "10.0.0.53",
      "busybox", "sh", "-c", "httpd -f -p 8081 -h /etc")
    doc = k("run", "--rm", "--name", "second", "--network", "container:first", "busybox", "sh", "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8081/hostname && exit 0; sleep 0.2; done")
    assert doc.stdout == "h1\n"
    p = k("exec", "first", "sh", "-c", "cat /etc/hosts /etc/resolv.conf")
    assert "10.9.9.9" in p.stdout and "db.local" in p.stdout and "nameserver 10.0.0.53" in p.stdout


def test_every_verb_has_help(k):
    top = k("--help").stdout
    verbs = re.findall(r"^  ([a-z][a-z-]+)\s{2,}\S", top.split("Commands:")[1].split("\n\n")[0], re.M)
    assert len(verbs) > 25, top
    for verb in verbs:
        for flag in ("--help", "-h"):
            p = k(verb, flag, check=False)
            assert p.returncode == 0, (verb, flag, p.stderr)
            assert p.stdout.startswith("Usage: kapsel %s " % verb), (verb, flag, p.stdout)
    # the management spellings reach the same help
    assert k("image", "ls", "--help").stdout.startswith("Usage: kapsel image ls")


BUSYBOX_LAYOUT = os.path.join(REPO, "build/src/image/busybox-image")


def test_images_made_by_skopeo_and_umoci_run(k, tmp_path):
    """Images written by the peers' tools, loaded with `kapsel load` and run: a docker-save archive
    from skopeo, and an OCI archive whose second layer (umoci) deletes a file (a whiteout)."""
    for tool in ("skopeo", "umoci"):
        if not shutil.which(tool):
            pytest.skip("%s not installed" % tool)
    arch = tmp_path / "skopeo.tar"
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "oci:%s:latest" % BUSYBOX_LAYOUT,
                    "docker-archive:%s:peer/skopeo:1" % arch], check=True, timeout=120)
    assert "peer/skopeo:1" in k("load", "-i", str(arch)).stdout
    assert k("run", "--rm", "--network", "none", "peer/skopeo:1", "echo", "skopeo-ok").stdout == "skopeo-ok\n"

    lay, bundle = tmp_path / "lay", tmp_path / "bundle"
    shutil.copytree(BUSYBOX_LAYOUT, lay)
    subprocess.run(["umoci", "unpack", "--image", "%s:latest" % lay, str(bundle)], check=True, timeout=120)
    (bundle / "rootfs/etc/umoci-was-here").write_text("umoci\n")
    (bundle / "rootfs/etc/group").unlink()
    subprocess.run(["umoci", "repack", "--image", "%s:umoci" % lay, str(bundle)], check=True, timeout=120)
    oci_tar = tmp_path / "umoci.tar"
    subprocess.run(["tar", "-C", str(lay), "-cf", str(oci_tar), "."], check=True)
    loaded = k("load", "-i", str(oci_tar)).stdout
    # umoci's ref names are bare tags ("latest", "umoci"), not image names: find the image by its id
    index = json.load(open(lay / "index.json"))
    entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "umoci")
    manifest = json.load(open(lay / "blobs/sha256" / entry["digest"][7:]))
    umoci_ref = manifest["config"]["digest"]
    assert umoci_ref in loaded
    out = k("run", "--rm", "--network", "none", umoci_ref, "sh", "-c",
            "cat /etc/umoci-was-here; test -e /etc/group && echo group-present || echo group-gone").stdout
    assert out == "umoci\ngroup-gone\n"
    assert len(json.loads(k("image", "inspect", umoci_ref).stdout)[0]["RootFS"]["Layers"]) == 2


def test_push_pull_registry_then_run(k, tmp_path):
    """kapsel push to Debian's docker-registry on 127.0.0.1, rmi, kapsel pull, run. The registry and
    the push/pull live on the host's loopback; the container runs in the test's namespace."""
    from test_registry import Registry, need_registry
    need_registry()
    (tmp_path / "reg").mkdir()
    reg = Registry(tmp_path / "reg")
    try:
        host_k = lambda *a: subprocess.run([KAPSEL, "--root", k.root] + list(a), capture_output=True, text=True,
                                           timeout=120, stdin=subprocess.DEVNULL)
        k("run", "--rm", "--network", "none", "busybox", "true")            # imports the built-in image
        ref = "%s/kapsel/bb:1" % reg.host
        k("tag", "busybox", ref)
        p = host_k("push", "--tls-verify=false", ref)
        assert p.returncode == 0, p.stderr
        assert reg.digest_of("kapsel/bb", "1")
        k("rmi", ref)
        p = host_k("pull", "--tls-verify=false", ref)
        assert p.returncode == 0, p.stderr
        assert k("run", "--rm", "--network", "none", ref, "echo", "pulled-ok").stdout == "pulled-ok\n"
        p = host_k("pull", "--tls-verify=false", "%s/kapsel/nope:1" % reg.host)
        assert p.returncode == 125 and "kapsel/nope" in p.stderr
    finally:
        reg.stop()


def test_monitor_runs_from_a_trimmed_sealed_copy(k):
    """The monitor (the container init's parent) runs from a sealed memfd copy of itself
    (CVE-2019-5736), holding only what execve needs: smaller than its file when that has debug
    info, and never writable."""
    cid = k("run", "-d", "--network", "none", "busybox", "sleep", "60").stdout.strip()
    mons = [p for p in os.listdir("/proc") if p.isdigit() and cid.encode() in _cmdline(p) and
            b"kapsel-monitor" in _cmdline(p).split(b"\0")[0]]
    assert len(mons) == 1, mons
    exe = "/proc/%s/exe" % mons[0]
    assert os.readlink(exe).startswith("/memfd:kapsel-runtime")
    binary = os.path.join(os.path.dirname(os.path.realpath(KAPSEL)), "kapsel-monitor")
    assert os.stat(exe).st_size < os.stat(binary).st_size     # section headers (and debug info) left out
    with pytest.raises(OSError):
        open(exe, "r+b")                    # ETXTBSY while it runs; the seals hold after that
    fd = os.open(exe, os.O_RDONLY)
    try:
        seals = fcntl.fcntl(fd, 1034)       # F_GET_SEALS
    finally:
        os.close(fd)
    assert seals & 0x0f == 0x0f, seals      # SEAL, SHRINK, GROW, WRITE


def _cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""
