"""Attacks on kapsel, kept: a hostile image author, a hostile container and an unprivileged host user
try what once worked (issue 15). Each test asserts the host is untouched: its terminal, its files,
its users' privileges, the store's data and commands that must not hang.

Runs on a throw-away root per test (test_engine's fixtures: kapsel inside a network namespace of
the session's, every container removed afterwards, nothing may be left)."""
import fcntl
import json
import os
import pty
import select
import shutil
import subprocess
import tarfile
import termios
import time

import pytest
from test_engine import KAPSEL, PROBE, K, ids_of, leftovers, wait_for

NOBODY = 65534
NETNS = "kapsel-attack-test-%d" % os.getpid()


@pytest.fixture(scope="session")
def netns():
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield "/run/netns/" + NETNS
    subprocess.run(["ip", "netns", "del", NETNS])


class AK(K):
    """test_engine's K in a network namespace of this module's own."""
    def cmd(self, *args):
        return ["nsenter", "--net=/run/netns/" + NETNS, KAPSEL, "--root", self.root] + list(args)


@pytest.fixture
def small_root(tmp_path):
    """The root (tmp_path/root, k's) on a tmpfs of 48 MiB that a test can fill."""
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(root)], check=True)
    yield root
    subprocess.run(["umount", "-l", str(root)])


@pytest.fixture
def k(tmp_path, netns):
    root = str(tmp_path / "root")
    kk = AK(root)
    yield kk
    known = ids_of(root)
    q = subprocess.run(kk.cmd("ps", "-aq", "--no-trunc"), capture_output=True, text=True)
    for cid in q.stdout.split():
        subprocess.run(kk.cmd("rm", "-f", cid), capture_output=True, timeout=30)
    own = "mount " + root       # small_root's tmpfs

    def left():
        return [x for x in leftovers(root, known) if x != own]
    wait_for(lambda: not left(), 5)
    assert left() == []


def running_with_probe(k, name="x", *extra):
    k("run", "-d", "--name", name, *extra, "busybox", "sleep", "1000")
    k("cp", PROBE, "%s:/probe" % name)
    return name


def as_nobody(*cmd):
    """`cmd` as an unprivileged host user (real, effective and saved ids all nobody's)."""
    return subprocess.run(["sh", "-c", '"$@" 2>&1', "sh"] + list(cmd), user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)


def open_path_to(path):
    """Let other users traverse every parent of `path` (pytest's tmp dirs are 0700), so only
    kapsel's own modes stand between them and the store."""
    p = os.path.dirname(path)
    while p not in ("/", ""):
        os.chmod(p, os.stat(p).st_mode | 0o011)
        p = os.path.dirname(p)


# --- exec must not hand over the caller's terminal or files ------------------------------------

def run_on_pty(cmd, timeout=30):
    """Run `cmd` with a new pty as its controlling terminal and stdio, as an interactive shell
    would; return (exit code, what the terminal's reader could read afterwards)."""
    master, slave = pty.openpty()

    def ctty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty, close_fds=True)
    out = b""
    deadline = time.time() + timeout
    while p.poll() is None and time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
    rc = p.wait(timeout=5)
    # what a shell reading this terminal would get next: injected input waits in the slave's queue
    attr = termios.tcgetattr(slave)
    attr[3] &= ~termios.ICANON
    termios.tcsetattr(slave, termios.TCSANOW, attr)
    injected = b""
    while select.select([slave], [], [], 0.2)[0]:
        injected += os.read(slave, 4096)
    os.close(slave)
    os.close(master)
    return rc, out.decode(errors="replace"), injected


@pytest.mark.parametrize("flags", [[], ["-i"]])
def test_exec_cannot_push_input_into_the_callers_terminal(k, flags):
    running_with_probe(k)
    rc, out, injected = run_on_pty(k.cmd("exec", *flags, "x", "/probe", "tiocsti", "id\n"))
    assert rc == 0, out
    assert b"id" not in injected, "the container pushed %r into the host terminal (%s)" % (injected, out)
    assert "sti0=ok" not in out and "sti3=ok" not in out


def test_exec_process_has_its_own_session_and_no_terminal(k):
    running_with_probe(k)
    shell, sid, tty = k("exec", "x", "sh", "-c", "echo $$; cut -d' ' -f6,7 /proc/self/stat").stdout.split()
    # a session of its own (its leader outside the container's pid namespace, 0, or the exec'd
    # shell itself), never the caller's; and no controlling terminal
    assert sid in ("0", shell) and tty == "0"
    out = k("exec", "-t", "x", "tty").stdout
    assert out.startswith("/dev/pts/")


@pytest.mark.parametrize("flags", [[], ["-i"]])
def test_exec_cannot_reach_host_files_given_as_stdio(k, tmp_path, flags):
    running_with_probe(k)
    src, dst = tmp_path / "stdin.txt", tmp_path / "stdout.txt"
    src.write_text("host input\n")
    dst.write_text("SECRET of the host\n")
    with open(src, "rb") as fin, open(dst, "r+b") as fout:
        fout.seek(0, os.SEEK_END)
        p = subprocess.run(k.cmd("exec", *flags, "x", "sh", "-c",
                                 "echo EVIL > /proc/self/fd/0; timeout 2 cat /proc/self/fd/1 >&2; "
                                 "readlink /proc/self/fd/0 /proc/self/fd/1 >&2; echo done"),
                           stdin=fin, stdout=fout, stderr=subprocess.PIPE, timeout=30)
    assert src.read_text() == "host input\n"
    assert dst.read_text() == "SECRET of the host\ndone\n"
    assert b"SECRET" not in p.stderr and str(tmp_path).encode() not in p.stderr


def test_exec_without_i_leaves_the_callers_stdin_alone(k):
    k("run", "-d", "--name", "x", "busybox", "sleep", "1000")
    # the exec'd process reads its stdin (cat): without -i that is empty, and the loop keeps its lines
    script = "printf 'a\\nb\\nc\\n' | while read l; do %s exec x sh -c \"echo got $l; cat\"; done" % " ".join(k.cmd())
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60).stdout
    assert out == "got a\ngot b\ngot c\n"
    p = k("exec", "-i", "x", "cat", input=b"line1\nline2\n")
    assert p.stdout == "line1\nline2\n"


# --- nothing under the root reachable by other host users --------------------------------------

def test_store_and_volumes_unreachable_for_other_users(k, tmp_path):
    running_with_probe(k, "x", "-v", "vol:/v")
    # a setuid-root file in a layer (commit) and in a named volume, and a device node in a layer
    k("exec", "x", "sh", "-c", "cp /probe /suid; chmod 4755 /suid; cp /probe /v/suid; chmod 4755 /v/suid; "
      "mknod /null c 1 3")
    root = k.root
    k("commit", "x", "suid:1")
    open_path_to(root)
    found = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f == "suid"]
    assert len(found) >= 2, found
    for path in found:
        p = as_nobody(path, "ids")
        assert "euid=0" not in p.stdout, "nobody ran %s as root" % path
    assert os.stat(root).st_mode & 0o077 == 0
    for sub in ("image", "image/layers", "volumes", "volumes/vol", "containers"):
        assert os.stat(os.path.join(root, sub)).st_mode & 0o007 == 0, sub
    # a root an older kapsel left open is narrowed when it is next used
    os.chmod(root, 0o711)
    os.chmod(os.path.join(root, "image/layers"), 0o755)
    k("images")
    assert os.stat(root).st_mode & 0o077 == 0
    assert os.stat(os.path.join(root, "image/layers")).st_mode & 0o077 == 0


# --- FIFOs and links where kapsel reads files it does not own ----------------------------------

def add_bytes(t, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    t.addfile(info, __import__("io").BytesIO(data))


def add_special(t, name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    t.addfile(info)


def docker_archive(path, special):
    """A docker-save archive whose member `special` is a FIFO (or "link:NAME" a symlink out)."""
    layer = __import__("io").BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as lt:
        add_bytes(lt, "hello.txt", b"hi\n")
    layer = layer.getvalue()
    diff = "sha256:" + __import__("hashlib").sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["evil:1"], "Layers": ["layer.tar"]}]).encode()
    with tarfile.open(path, "w") as t:
        for name, data in (("manifest.json", manifest), ("config.json", config), ("layer.tar", layer)):
            if name == special:
                add_special(t, name, tarfile.FIFOTYPE)
            elif special == "link:" + name:
                add_special(t, name, tarfile.SYMTYPE, "../../../../../../etc/hostname")
            else:
                add_bytes(t, name, data)


@pytest.mark.parametrize("special", ["manifest.json", "config.json", "layer.tar", "link:manifest.json"])
def test_load_of_archive_with_fifo_or_outside_link_fails_at_once(k, tmp_path, special):
    a = str(tmp_path / "evil.tar")
    docker_archive(a, special)
    t = time.time()
    p = k("load", "-i", a, check=False, timeout=20)
    assert p.returncode != 0
    assert time.time() - t < 15
    why = "outside the archive" if special.startswith("link:") else "not a regular file"
    assert why in p.stderr, p.stderr
    assert "evil" not in k("images").stdout
    # the store lock is not held: other commands work
    k("system", "check", timeout=20)


def test_oci_archive_with_fifo_index_fails_at_once(k, tmp_path):
    a = str(tmp_path / "oci.tar")
    with tarfile.open(a, "w") as t:
        add_bytes(t, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add_special(t, "index.json", tarfile.FIFOTYPE)
    p = k("load", "-i", a, check=False, timeout=20)
    assert p.returncode != 0 and "not a regular file" in p.stderr, p.stderr


def test_fifo_etc_passwd_does_not_hang_run_or_exec(k):
    k("run", "--name", "mk", "busybox", "sh", "-c", "rm /etc/passwd; mkfifo /etc/passwd")
    k("commit", "mk", "fifo:1")
    p = k("run", "--rm", "-u", "nobody", "fifo:1", "true", check=False, timeout=20)
    assert p.returncode == 125 and "not a regular file" in p.stderr, p.stderr
    p = k("run", "--rm", "-u", "65534:65534", "fifo:1", "grep", "^Uid", "/proc/self/status")
    assert p.stdout.split()[1] == "65534"
    # a container that makes its own /etc/group a FIFO: exec -u reads it on the host
    k("run", "-d", "--name", "c", "busybox", "sleep", "1000")
    k("exec", "c", "sh", "-c", "rm /etc/group; mkfifo /etc/group")
    p = k("exec", "-u", "nobody:nogroup", "c", "true", check=False, timeout=20)
    assert p.returncode == 125 and "not a regular file" in p.stderr, p.stderr


# --- images in use keep their layers -----------------------------------------------------------

def test_rmi_force_under_a_running_container_only_untags(k):
    k("run", "--name", "mk", "busybox", "sh", "-c", "echo kept > /data")
    k("commit", "mk", "mine:1")
    k("rm", "mk")
    k("run", "-d", "--name", "user", "mine:1", "sleep", "1000")
    k("create", "--name", "idle", "mine:1", "cat", "/data")
    p = k("rmi", "-f", "mine:1")
    assert "Untagged: " in p.stdout and "mine:1" in p.stdout
    assert "mine" not in k("images").stdout
    k("image", "prune", "-a", "-f")
    k("system", "check")
    assert k("exec", "user", "cat", "/data").stdout == "kept\n"
    k("rm", "-f", "user")
    assert k("start", "-a", "idle").stdout == "kept\n"
    out = k("system", "check").stdout
    assert "cannot fix" not in out and out.strip().endswith("no problems found"), out
    # the last user gone, a prune removes it
    k("rm", "idle")
    assert "Deleted Images: 1" in k("image", "prune", "-f").stdout


def test_system_check_notices_a_containers_missing_layers(k):
    k("run", "--name", "mk", "busybox", "sh", "-c", "echo kept > /data")
    k("commit", "mk", "mine:1")
    k("create", "--name", "idle", "mine:1", "cat", "/data")
    img = json.loads(k("image", "inspect", "mine:1").stdout)[0]
    shutil.rmtree(img["RootFS"]["Layers"][-1])
    out = k("system", "check").stdout
    assert "cannot fix: container idle: layer" in out and "1 problem needs you" in out, out


# --- what the kernel did is what inspect says --------------------------------------------------

def test_oom_killed_comes_from_the_memory_cgroup(k):
    p = k("run", "--name", "oom", "-m", "16m", "busybox", "sh", "-c",
          "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived", check=False, timeout=60)
    assert p.returncode == 137 and "survived" not in p.stdout
    st = k.inspect("oom")["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137
    # a kill -9 that is not the OOM killer's is not an OOM kill
    k("run", "-d", "--name", "k9", "-m", "16m", "busybox", "sleep", "1000")
    k("kill", "k9")
    assert k("wait", "k9").stdout.strip() == "137"
    assert k.inspect("k9")["State"]["OOMKilled"] is False
    # a new life starts clean
    k("start", "-a", "oom", check=False, timeout=60)
    k("rm", "-f", "oom")


@pytest.mark.parametrize("cpus", ["nan", "1e-300", "inf", "-1", "0x10", "100000"])
def test_cpus_out_of_range_refused(k, cpus):
    p = k("run", "--rm", "--cpus", cpus, "busybox", "true", check=False)
    assert p.returncode == 125 and "--cpus" in p.stderr, p.stderr
    assert k("ps", "-aq").stdout == ""


def test_cpus_in_range_accepted(k):
    k("create", "--name", "c", "--cpus", "0.5", "busybox", "true")
    assert k.inspect("c")["HostConfig"]["NanoCpus"] == 500000000


# --- kapsel cp: holes, the files kapsel mounts, tar streams, FIFOs -----------------------------

def test_cp_keeps_holes_of_a_sparse_file(k, tmp_path):
    k("run", "-d", "--name", "s", "busybox", "sh", "-c",
      "echo head > /sparse; dd if=/dev/zero of=/sparse bs=1 count=1 seek=4000000000 conv=notrunc 2>/dev/null; "
      "sleep 1000")
    assert wait_for(lambda: k("exec", "s", "test", "-s", "/sparse", check=False).returncode == 0)
    time.sleep(0.5)
    out = tmp_path / "sparse"
    k("cp", "s:/sparse", str(out))
    st = os.stat(out)
    assert st.st_size == 4000000001
    assert st.st_blocks * 512 < 1 << 20, "cp wrote %d bytes of a sparse file" % (st.st_blocks * 512)
    with open(out, "rb") as f:
        assert f.read(5) == b"head\n"


def test_cp_reads_the_files_kapsel_mounts(k, tmp_path):
    k("run", "-d", "--name", "h", "--hostname", "hbox", "-v", "vol:/vol", "busybox", "sh", "-c",
      "echo in-volume > /vol/f; sleep 1000")
    assert wait_for(lambda: k("exec", "h", "test", "-e", "/vol/f", check=False).returncode == 0)
    for name in ("hosts", "hostname", "resolv.conf"):
        k("cp", "h:/etc/" + name, str(tmp_path / name))
        inside = k("exec", "h", "cat", "/etc/" + name).stdout
        assert inside and (tmp_path / name).read_text() == inside
    assert (tmp_path / "hostname").read_text() == "hbox\n"
    k("cp", "h:/vol/f", str(tmp_path / "f"))
    assert (tmp_path / "f").read_text() == "in-volume\n"
    k("stop", "-t", "0", "h")
    p = k("cp", "h:/etc/hostname", str(tmp_path / "stopped"), check=False)
    assert p.returncode != 0 and "start it" in p.stderr and not (tmp_path / "stopped").exists()


def test_cp_tar_streams(k, tmp_path):
    k("run", "-d", "--name", "t", "busybox", "sh", "-c", "mkdir /d; echo one > /d/a; mkfifo /d/pipe; sleep 1000")
    assert wait_for(lambda: k("exec", "t", "test", "-p", "/d/pipe", check=False).returncode == 0)
    p = subprocess.run(k.cmd("cp", "t:/d", "-"), capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=__import__("io").BytesIO(p.stdout)) as t:
        names = {m.name: m for m in t.getmembers()}
        assert names["d/a"].isfile() and t.extractfile("d/a").read() == b"one\n"
        assert names["d/pipe"].isfifo()
    # a tar from stdin goes into a directory of the container, and nowhere else
    buf = __import__("io").BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        add_bytes(t, "x/b", b"two\n")
        add_bytes(t, "../../../../../../escaped", b"evil\n")
    p = subprocess.run(k.cmd("cp", "-", "t:/tmp"), input=buf.getvalue(), capture_output=True, timeout=20)
    assert not os.path.exists("/escaped")
    if p.returncode == 0:
        assert k("exec", "t", "cat", "/tmp/x/b").stdout == "two\n"
    assert k("exec", "t", "ls", "/").stdout.count("escaped") == 0
    buf = __import__("io").BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        add_bytes(t, "x/b", b"two\n")
    subprocess.run(k.cmd("cp", "-", "t:/tmp"), input=buf.getvalue(), check=True, timeout=20)
    assert k("exec", "t", "cat", "/tmp/x/b").stdout == "two\n"


def test_cp_into_a_fifo_or_device_the_container_made(k, tmp_path):
    k("run", "-d", "--name", "f", "busybox", "sh", "-c", "mkfifo /tmp/fifo; mknod /tmp/dev c 1 5; sleep 1000")
    assert wait_for(lambda: k("exec", "f", "test", "-c", "/tmp/dev", check=False).returncode == 0)
    src = tmp_path / "src"
    src.write_text("payload\n")
    for target in ("/tmp/fifo", "/tmp/dev"):
        p = k("cp", str(src), "f:" + target, check=False, timeout=20)
        assert p.returncode == 0, p.stderr
        assert k("exec", "f", "sh", "-c", "test -f %s && cat %s" % (target, target)).stdout == "payload\n"

# --- a full disk -------------------------------------------------------------------------------

def fill(path):
    """Write until the filesystem is full (unbuffered: a buffered file would raise again on close)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_full_disk_keeps_read_and_delete_paths_working(small_root, k, tmp_path):
    k("run", "-d", "--name", "a", "busybox", "sleep", "1000")
    k("run", "-d", "--name", "b", "busybox", "sh", "-c", "sleep 2; exit 3")
    fill(str(small_root / "fill"))
    assert os.statvfs(str(small_root)).f_bavail == 0
    assert wait_for(lambda: "Exited (3)" in k("ps", "-a").stdout, 15)
    assert k.inspect("b")["State"]["ExitCode"] == 3
    k("stop", "-t", "0", "a")
    k("rm", "-f", "a")
    k("system", "check")
    assert "Exited (3)" in k("ps", "-a").stdout
    # the reserve spent and the disk full again: reads still work (read-only)
    fill(str(small_root / "fill2"))
    assert "Exited (3)" in k("ps", "-a").stdout
    assert k.inspect("b")["State"]["ExitCode"] == 3
    os.unlink(str(small_root / "fill2"))
    # a load that cannot be stored leaves nothing behind
    arch = str(tmp_path / "img.tar")
    docker_archive(arch, None)
    p = k("load", "-i", arch, check=False)
    assert p.returncode != 0
    assert os.listdir(str(small_root / "image" / "tmp")) == []
    os.unlink(str(small_root / "fill"))
    k("rm", "b")
