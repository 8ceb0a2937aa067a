"""docker's habits that kapsel must keep (issue 14, "CLI habits B"): prune prompts and selection,
load/import from stdin and save/export to stdout, login/logout with docker's config.json, the event
journal and `events`, update, diff, export, system df, info and version.

Uses test_engine's helpers (kapsel_session, its namespace's name): every test runs on a fresh root inside
that network namespace and must leave nothing behind."""
import io
import json
import os
import pty
import re
import shutil
import subprocess
import tarfile
import time

import pytest

from test_engine import KAPSEL, NETNS, K, in_ns, kapsel_session, veths, wait_for


@pytest.fixture(scope="module")
def cli_netns():
    """test_engine's namespace (same name): made here unless its session fixture already did."""
    made = subprocess.run(["ip", "netns", "add", NETNS], capture_output=True).returncode == 0
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield
    if made:
        subprocess.run(["ip", "netns", "del", NETNS])


@pytest.fixture
def k(tmp_path, cli_netns):
    yield from kapsel_session(tmp_path, {"veths": veths})

PROMPT = "Are you sure you want to continue? [y/N]"


def exited(k, name):
    k("run", "--name", name, "--network", "none", "busybox", "true")


# --- prune ---

def test_container_prune_asks_first(k):
    exited(k, "done1")
    k("run", "-d", "--name", "live", "--network", "none", "busybox", "sleep", "100")
    for answer in (None, "n\n", "\n", "whatever\n"):
        p = k("container", "prune", input=answer.encode() if answer else None)
        assert "WARNING! This will remove all stopped containers." in p.stdout and PROMPT in p.stdout
        assert "Deleted" not in p.stdout
        assert "done1" in k("ps", "-a", "--format", "{{.Names}}").stdout
    p = k("container", "prune", input=b"y\n")
    cid_gone = "Deleted Containers:\n" in p.stdout and "Total reclaimed space:" in p.stdout
    assert cid_gone, p.stdout
    assert k("ps", "-a", "--format", "{{.Names}}").stdout == "live\n"
    exited(k, "done2")
    p = k("container", "prune", "--force")
    assert PROMPT not in p.stdout and re.search(r"Total reclaimed space: \S+B\n$", p.stdout)
    assert k("ps", "-a", "--format", "{{.Names}}").stdout == "live\n"


def test_container_prune_filter_label(k):
    k("run", "--name", "keep", "-l", "keep=1", "--network", "none", "busybox", "true")
    exited(k, "drop")
    k("container", "prune", "-f", "--filter", "label!=keep")
    assert k("ps", "-a", "--format", "{{.Names}}").stdout == "keep\n"
    p = k("container", "prune", "-f", "--filter", "colour=red", check=False)
    assert p.returncode == 125 and "label=" in p.stderr


def test_volume_prune_anonymous_unless_all(k):
    k("volume", "create", "named")
    anon = k("volume", "create", "--label", "com.docker.volume.anonymous=").stdout.strip()
    k("volume", "create", "--label", "com.docker.volume.anonymous=", "used")
    k("run", "-d", "--name", "user", "--network", "none", "-v", "used:/u", "busybox", "sleep", "100")
    p = k("volume", "prune")                            # stdin at EOF: a no
    assert "anonymous local volumes" in p.stdout and PROMPT in p.stdout
    assert sorted(k("volume", "ls", "-q").stdout.split()) == sorted(["named", anon, "used"])
    p = k("volume", "prune", "-f")
    assert p.stdout.startswith("Deleted Volumes:\n%s\n\n" % anon) and "Total reclaimed space:" in p.stdout
    assert sorted(k("volume", "ls", "-q").stdout.split()) == ["named", "used"]
    p = k("volume", "prune", "-a", input=b"y\n")
    assert "all local volumes" in p.stdout and "named" in p.stdout
    assert k("volume", "ls", "-q").stdout.split() == ["used"]


def test_volume_prune_counts_the_space(k):
    k("volume", "create", "--label", "com.docker.volume.anonymous=", "big")
    k("run", "--rm", "--network", "none", "-v", "big:/b", "busybox", "sh", "-c",
      "dd if=/dev/zero of=/b/f bs=1000 count=1500 2>/dev/null")
    assert "Total reclaimed space: 1.5MB" in k("volume", "prune", "-f").stdout


def test_system_prune(k):
    exited(k, "old")
    k("network", "create", "unused")
    p = k("system", "prune")
    assert "WARNING! This will remove:" in p.stdout and "all stopped containers" in p.stdout
    assert "anonymous volumes" not in p.stdout and PROMPT in p.stdout
    assert k("ps", "-aq").stdout.strip()
    k("volume", "create", "--label", "com.docker.volume.anonymous=", "anon1")
    p = k("system", "prune", "-f", "--volumes")
    assert "Deleted Containers:" in p.stdout and "Deleted Networks:" in p.stdout and "anon1" in p.stdout
    assert k("ps", "-aq").stdout == "" and k("volume", "ls", "-q").stdout == ""
    assert "unused" not in k("network", "ls", "--format", "{{.Name}}").stdout


def test_image_prune_asks(k):
    k("run", "--rm", "--network", "none", "busybox", "true")
    p = k("image", "prune", "-a")
    assert "WARNING! This will remove all images without at least one container" in p.stdout
    assert k("images", "-q").stdout.strip()
    k("image", "prune", "-a", "-f")
    assert k("images", "-q").stdout.strip() == ""


# --- load, save, import, export through stdio ---

def run_raw(k, *args, stdin=None, stdout=subprocess.PIPE):
    return subprocess.run(k.cmd(*args), stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=stdout,
                          stderr=subprocess.PIPE, timeout=60)


def test_save_stdout_load_stdin(k, tmp_path):
    k("run", "--rm", "--network", "none", "busybox", "true")
    p = run_raw(k, "save", "busybox")
    assert p.returncode == 0, p.stderr
    names = tarfile.open(fileobj=io.BytesIO(p.stdout)).getnames()
    assert "index.json" in names and "manifest.json" in names
    k("rmi", "busybox")
    archive = tmp_path / "bb.tar"
    archive.write_bytes(p.stdout)
    with open(archive, "rb") as f:                       # load without -i reads stdin
        q = run_raw(k, "load", stdin=f)
    assert q.returncode == 0 and b"Loaded image:" in q.stdout, q.stderr
    k("rmi", "busybox")
    r = subprocess.run(k.cmd("load", "-i", "-"), input=p.stdout, capture_output=True, timeout=60)
    assert r.returncode == 0 and b"Loaded image:" in r.stdout, r.stderr
    assert not os.listdir(os.path.join(k.root, "tmp"))  # the spool file is gone
    p = k("load", check=False)                          # stdin at EOF
    assert p.returncode == 125 and "standard input, but it is empty" in p.stderr


def test_killed_load_leaves_nothing_behind(k, tmp_path):
    """A load killed while it spools stdin leaves a file that the next archive verb removes."""
    k("run", "--rm", "--network", "none", "busybox", "true")
    proc = subprocess.Popen(k.cmd("load"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stdin.write(b"x" * 100000)
    proc.stdin.flush()
    spool = os.path.join(k.root, "tmp")
    assert wait_for(lambda: os.path.isdir(spool) and os.listdir(spool), 10)
    proc.kill()
    proc.wait()
    proc.stdin.close()
    assert os.listdir(spool)
    assert run_raw(k, "save", "busybox").returncode == 0
    assert os.listdir(spool) == []


def test_save_refuses_a_terminal(k):
    k("run", "--rm", "--network", "none", "busybox", "true")
    master, slave = pty.openpty()
    try:
        p = subprocess.run(k.cmd("save", "busybox"), stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                           timeout=30)
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode == 125 and b"Cowardly refusing to save to a terminal" in p.stderr


def test_import_from_stdin(k, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"imported\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    p = subprocess.run(k.cmd("import", "-", "piped:1"), input=buf.getvalue(), capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "piped" in k("images", "--format", "{{.Repository}}:{{.Tag}}").stdout


def test_export_and_diff(k, tmp_path):
    k("run", "--name", "ch", "--network", "none", "busybox", "sh", "-c",
      "echo new > /etc/added; rm /bin/ls; echo x >> /etc/passwd; mkdir /data")
    assert k("diff", "ch").stdout == "C /bin\nD /bin/ls\nA /data\nC /etc\nA /etc/added\nC /etc/passwd\n"
    k("run", "--name", "clean", "--network", "none", "busybox", "true")
    assert k("container", "diff", "clean").stdout == ""
    p = run_raw(k, "export", "ch")
    assert p.returncode == 0, p.stderr
    t = tarfile.open(fileobj=io.BytesIO(p.stdout))
    names = set(t.getnames())
    assert "etc/added" in names and "bin/sh" in names and "bin/ls" not in names
    assert t.extractfile("etc/added").read() == b"new\n"
    k("export", "-o", str(tmp_path / "ch.tar"), "ch")
    assert "etc/added" in tarfile.open(tmp_path / "ch.tar").getnames()
    assert not [l for l in open("/proc/self/mountinfo") if k.root in l]


# --- login / logout ---

def test_login_logout_with_config_json(k, tmp_path, monkeypatch):
    from test_registry import Registry, need_registry
    need_registry()
    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd not installed (Debian package apache2-utils)")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_bytes(subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], check=True,
                                        capture_output=True).stdout)
    (tmp_path / "reg").mkdir()
    reg = Registry(tmp_path / "reg", htpasswd=str(htpasswd))
    cfgdir = tmp_path / "dockercfg"
    monkeypatch.setenv("DOCKER_CONFIG", str(cfgdir))
    host_k = lambda *a, input=None: subprocess.run([KAPSEL, "--root", k.root] + list(a), capture_output=True, text=True,
                                                   timeout=120, input=input,
                                                   stdin=None if input is not None else subprocess.DEVNULL)
    try:
        k("run", "--rm", "--network", "none", "busybox", "true")
        ref = "%s/kapsel/bb:1" % reg.host
        k("tag", "busybox", ref)
        p = host_k("push", ref)
        assert p.returncode == 125 and "no credentials given" in p.stderr
        p = host_k("login", "-u", "alice", "--password-stdin", reg.host, input="wrong\n")
        assert p.returncode == 125 and "credentials rejected" in p.stderr, p.stderr
        assert not (cfgdir / "config.json").exists()
        p = host_k("login", "-u", "alice", "--password-stdin", reg.host, input="s3cret\n")
        assert p.returncode == 0 and p.stdout == "Login Succeeded\n", p.stderr
        cfg = json.load(open(cfgdir / "config.json"))
        assert cfg["auths"][reg.host]["auth"] == "YWxpY2U6czNjcmV0"      # base64("alice:s3cret")
        assert os.stat(cfgdir / "config.json").st_mode & 0o777 == 0o600
        p = host_k("push", ref)
        assert p.returncode == 0, p.stderr
        k("rmi", ref)
        p = host_k("pull", ref)
        assert p.returncode == 0, p.stderr
        p = host_k("login", "-u", "alice", reg.host)          # no terminal for the password
        assert p.returncode == 125 and "--password-stdin" in p.stderr
        p = host_k("logout", reg.host)
        assert p.stdout == "Removing login credentials for %s\n" % reg.host
        assert reg.host not in json.load(open(cfgdir / "config.json"))["auths"]
        assert host_k("logout", reg.host).stdout == "Not logged in to %s\n" % reg.host
        p = host_k("pull", ref)
        assert p.returncode == 125 and "no credentials given" in p.stderr
        out, code = login_on_a_terminal([KAPSEL, "--root", k.root, "login", reg.host], "alice", "s3cret")
        assert code == 0 and "Login Succeeded" in out, out
        assert "Username: " in out and "Password: " in out and "s3cret" not in out      # no echo
        assert host_k("pull", ref).returncode == 0
    finally:
        reg.stop()


def login_on_a_terminal(argv, user, password):
    """Run `argv` on a pseudo-terminal, answer the Username/Password prompts; (output, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    out = b""

    def read_until(want, timeout=30):
        nonlocal out
        deadline = time.time() + timeout
        while want not in out and time.time() < deadline:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk

    read_until(b"Username: ")
    os.write(fd, user.encode() + b"\n")
    read_until(b"Password: ")
    os.write(fd, password.encode() + b"\n")
    read_until(b"Login Succeeded")
    _, status = os.waitpid(pid, 0)
    try:
        while True:
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    os.close(fd)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


# --- events ---

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (\w+) (\w+) (\S+)(?: \((.*)\))?$")


def test_events_history_filters_and_format(k):
    k("run", "-d", "--name", "ev", "--network", "none", "busybox", "sleep", "100")
    k("pause", "ev")
    k("unpause", "ev")
    k("rename", "ev", "ev2")
    k("rm", "-f", "ev2")
    k("volume", "create", "evvol")
    k("volume", "rm", "evvol")
    out = k("events", "--since", "5m", "--until", "0s").stdout.splitlines()
    parsed = [LINE.match(l) for l in out]
    assert all(parsed), out
    ctr = [(m.group(2), m.group(4)) for m in parsed if m.group(1) == "container"]
    actions = [a for a, _ in ctr]
    assert actions[:6] == ["create", "start", "pause", "unpause", "rename", "kill"] and actions[-1] == "destroy", ctr
    assert "die" in actions[6:] and "oldName=ev" in ctr[4][1] and "name=ev2" in ctr[4][1]
    assert "image=busybox" in ctr[0][1] and "name=ev" in ctr[0][1]
    assert ("volume", "create") in [(m.group(1), m.group(2)) for m in parsed]
    die = k("events", "--since", "5m", "--until", "0s", "-f", "event=die", "--format", "{{json .}}").stdout
    ev = json.loads(die)
    assert ev["Type"] == "container" and ev["Action"] == "die" and ev["Actor"]["Attributes"]["name"] == "ev2"
    assert "exitCode" in ev["Actor"]["Attributes"] and ev["timeNano"] // 10**9 == ev["time"]
    only = k("events", "--since", "5m", "--until", "0s", "-f", "type=volume", "--format", "{{.Action}}").stdout
    assert only == "create\ndestroy\n"
    p = k("events", "--since", "yesterday", check=False)
    assert p.returncode == 125 and "RFC 3339" in p.stderr


def test_events_follow(k):
    proc = subprocess.Popen(k.cmd("events", "-f", "event=start", "--format", "{{.Actor.Attributes.name}}"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        k("run", "--rm", "--name", "followed", "--network", "none", "busybox", "true")
        line = proc.stdout.readline()
        assert line == b"followed\n"
    finally:
        proc.send_signal(2)
        assert proc.wait(timeout=10) == 0


# --- update ---

def cgroup_file(controller, cid, name):
    for base in ("/sys/fs/cgroup/%s/kapsel/%s" % (controller, cid), "/sys/fs/cgroup/cpu,cpuacct/kapsel/%s" % cid,
                 "/sys/fs/cgroup/kapsel/%s" % cid):
        if os.path.exists(os.path.join(base, name)):
            return open(os.path.join(base, name)).read().strip()
    return None


def test_update_running_and_created(k):
    k("run", "-d", "--name", "up", "--network", "none", "--memory", "64m", "busybox", "sleep", "100")
    cid = k.inspect("up")["Id"]
    assert k("update", "--memory", "128m", "--cpus", "0.5", "--pids-limit", "20", "--cpu-shares", "512",
             "up").stdout == "up\n"
    mem = cgroup_file("memory", cid, "memory.limit_in_bytes") or cgroup_file("memory", cid, "memory.max")
    assert mem == str(128 << 20)
    assert (cgroup_file("pids", cid, "pids.max")) == "20"
    quota = cgroup_file("cpu", cid, "cpu.cfs_quota_us")
    if quota is not None:
        assert quota == "50000" and cgroup_file("cpu", cid, "cpu.shares") == "512"
    host = k.inspect("up")["HostConfig"]
    assert host["Memory"] == 128 << 20 and host["NanoCpus"] == 500000000 and host["PidsLimit"] == 20
    p = k("update", "--memory-swap", "1m", "up", check=False)
    assert p.returncode == 125 and "at least --memory" in p.stderr
    p = k("update", "up", check=False)
    assert p.returncode == 125 and "nothing to update" in p.stderr
    k("create", "--name", "later", "--network", "none", "busybox", "sleep", "100")
    k("update", "--memory", "96m", "later")
    k("start", "later")
    lid = k.inspect("later")["Id"]
    mem = cgroup_file("memory", lid, "memory.limit_in_bytes") or cgroup_file("memory", lid, "memory.max")
    assert mem == str(96 << 20)


def test_update_restart_policy_applies_to_the_running_container(k):
    k("run", "-d", "--name", "rs", "--network", "none", "busybox", "sh", "-c", "sleep 1; exit 3")
    k("update", "--restart", "on-failure:2", "rs")
    assert wait_for(lambda: k.inspect("rs")["RestartCount"] >= 1, 20)
    p = k("update", "--restart", "sometimes", "rs", check=False)
    assert p.returncode == 125 and "on-failure" in p.stderr


# --- system df, info, version ---

def test_system_df_info_version(k):
    k("run", "--name", "dfc", "--network", "none", "busybox", "sh", "-c", "dd if=/dev/zero of=/f bs=1000 count=20")
    k("volume", "create", "dfv")
    out = k("system", "df").stdout.splitlines()
    assert out[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    rows = {l[:16].strip(): l[16:].split() for l in out[1:]}
    assert set(rows) == {"Images", "Containers", "Local Volumes", "Build Cache"}
    assert rows["Images"][:2] == ["1", "1"] and rows["Images"][3] == "0B"       # a stopped container uses it
    assert rows["Containers"][:3] == ["1", "0", "20kB"] and rows["Containers"][3] == "20kB"
    assert rows["Local Volumes"][:2] == ["1", "0"]
    assert "Containers space usage:" in k("system", "df", "-v").stdout
    assert k("system", "df", "--format", "{{.Type}}:{{.TotalCount}}").stdout == \
        "Images:1\nContainers:1\nLocal Volumes:1\nBuild Cache:0\n"
    info = k("info").stdout
    for want in ("Containers: 1\n", "  Running: 0\n", "  Stopped: 1\n", "Images: 1\n", "Storage Driver: overlay2\n",
                 "Cgroup Version: ", "Kernel Version: ", "CPUs: ", "Total Memory: ", "Kapsel Root Dir: " + k.root,
                 "KVM: "):
        assert want in info, (want, info)
    assert k("info", "--format", "{{.Containers}} {{.Images}}").stdout == "1 1\n"
    assert json.loads(k("info", "--format", "json").stdout)["Driver"] == "overlay2"
    ver = k("version").stdout
    assert ver.startswith("Client:\n Version:") and "Server:" in ver and "Engine:" in ver
    assert k("version", "--format", "{{.Client.Version}}").stdout.strip() == \
        subprocess.run([KAPSEL, "--version"], capture_output=True, text=True).stdout.split()[-1]


# --- two roots in one network namespace ---

def test_two_roots_in_one_netns_keep_apart(k, tmp_path):
    """Each root has its own default bridge and nftables table; `system check` (the network gc) of
    one keeps the other's running container reachable."""
    k2 = K(str(tmp_path / "root2"))
    try:
        k("run", "-d", "--name", "a", "busybox", "sleep", "100")
        k2("run", "-d", "--name", "b", "busybox", "sleep", "100")
        gw = "ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p'"
        ping = "ping -c 1 -W 3 $(%s) >/dev/null && echo ok" % gw
        assert k("exec", "a", "sh", "-c", ping).stdout == "ok\n"
        assert k2("exec", "b", "sh", "-c", ping).stdout == "ok\n"
        gw_a = k("exec", "a", "sh", "-c", gw).stdout
        gw_b = k2("exec", "b", "sh", "-c", gw).stdout
        assert gw_a != gw_b
        links = subprocess.run(in_ns(["ip", "-o", "link", "show", "type", "bridge"]), capture_output=True,
                               text=True).stdout
        assert len([l for l in links.splitlines() if ": kapsel0" in l]) >= 2
        tables = subprocess.run(in_ns(["nft", "list", "tables"]), capture_output=True, text=True).stdout
        assert len([t for t in tables.splitlines() if t.startswith("table ip kapsel")]) >= 2
        k2("system", "check")
        k("system", "check")
        assert k("exec", "a", "sh", "-c", ping).stdout == "ok\n"
        assert k2("exec", "b", "sh", "-c", ping).stdout == "ok\n"
    finally:
        subprocess.run(k2.cmd("rm", "-f", "b"), capture_output=True, timeout=30)


def test_rm_container_after_a_crash_is_refused_after_a_reboot(k):
    """A --rm container's rootfs is mounted volatile (no sync at its unmount). If its monitor dies
    (a crash) the row stays, exited; in the same boot the kernel still has its files and it starts
    again (volatile again); after a reboot they may be torn, so its start is refused and says
    what to do."""
    cid = k("run", "-d", "--rm", "--network", "none", "busybox", "sleep", "600").stdout.strip()
    d = os.path.join(k.root, "containers", cid)
    assert wait_for(lambda: os.path.exists(os.path.join(d, "volatile-boot")))
    subprocess.run(["pkill", "-9", "-f", "kapsel-monitor.*" + cid])
    assert wait_for(lambda: "Exited" in k("ps", "-a").stdout)
    assert os.path.exists(os.path.join(d, "work/work/incompat/volatile"))
    boot = open(os.path.join(d, "volatile-boot")).read()
    with open(os.path.join(d, "volatile-boot"), "w") as f:
        f.write("00000000-0000-0000-0000-000000000000")     # as if written before a reboot
    p = k("start", cid, check=False)
    assert p.returncode != 0 and "restarted since" in p.stderr and "kapsel rm" in p.stderr, p.stderr
    with open(os.path.join(d, "volatile-boot"), "w") as f:
        f.write(boot)
    k("start", cid)
    assert "Up" in k("ps").stdout
    k("rm", "-f", cid, check=False)
    assert wait_for(lambda: k("ps", "-aq").stdout.strip() == "")
