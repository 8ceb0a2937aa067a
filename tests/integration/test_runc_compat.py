"""kapsel-runtime as a drop-in for runc: the command-line shapes engines and scripts parse
(help, version, list JSON key order, kill 0, --debug/--log lines, events), and behaviour
runc users rely on. Each test stands for a class of difference found by runc's own suite."""
import errno
import json
import os
import shutil
import subprocess
import time

import pytest
from conftest import DEFAULT_CAPS, IS_KAPSEL, RUNTIME, kv

pytestmark = pytest.mark.kapsel


def wait_status(rt, cid, want, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if rt.state(cid)["status"] == want:
            return
        time.sleep(0.05)
    assert rt.state(cid)["status"] == want


def test_help_and_version_shapes(rt):
    p = rt("--help")
    assert p.stdout.splitlines()[0] == "NAME:" and "Open Container Initiative runtime" in p.stdout
    p = rt("exec", "--help")
    assert p.stdout.splitlines()[0] == "NAME:" and "runc exec" in p.stdout.splitlines()[1]
    for verb in ("checkpoint", "restore", "events"):
        assert rt(verb, "-h").returncode == 0
    p = rt("foo", "-h", check=False)
    assert p.returncode != 0 and "No help topic for 'foo'" in p.stderr
    lines = rt("--version").stdout.splitlines()
    assert "version" in lines[0] and lines[1].startswith("commit:") and lines[2].startswith("spec: 1.")


def test_list_json_key_order_and_kill_zero(rt, bundle):
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    text = rt("list", "--format", "json").stdout
    assert list(json.loads(text)[0].keys())[:4] == ["ociVersion", "id", "pid", "status"]
    assert rt("kill", "c1", "0").returncode == 0
    rt("kill", "c1", "KILL")
    wait_status(rt, "c1", "stopped")
    assert rt("kill", "--all", "c1", "0").returncode == 0


def test_debug_lines_in_logrus_shape(rt, bundle, tmp_path):
    b = bundle(["/bin/true"])
    p = rt("--debug", "run", "--bundle", b, "c1")
    assert "level=debug" in p.stderr
    log = tmp_path / "log.json"
    p = rt("--debug", "--log", str(log), "--log-format", "json", "run", "--bundle", b, "c2")
    assert "level=debug" not in p.stderr
    first = json.loads(log.read_text().splitlines()[0])
    assert first["level"] == "debug" and "msg" in first and "time" in first
    log = tmp_path / "log.txt"
    rt("--debug", "--log", str(log), "run", "--bundle", b, "c3")
    assert 'level=debug msg="' in log.read_text()


def test_events_stats_and_stop(rt, bundle):
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    line = rt("events", "--stats", "c1").stdout.splitlines()[0]
    ev = json.loads(line)
    assert ev["type"] == "stats" and ev["id"] == "c1" and "memory" in ev["data"]
    assert line.startswith('{"type":"stats","id":"c1",')
    p = subprocess.Popen([RUNTIME, "--root", rt.root, "events", "--interval", "100ms", "c1"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    rt("kill", "c1", "KILL")
    out, _ = p.communicate(timeout=10)
    assert out.decode().count('"type":"stats"') >= 2


def _freezer_dir(name):
    for base in ("/sys/fs/cgroup/freezer", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(base, "freezer.state" if base.endswith("freezer") else "cgroup.freeze")) or \
                os.path.ismount(base):
            return os.path.join(base, "kapsel", name)
    pytest.skip("no freezer cgroup here")


def test_frozen_cgroup_is_refused_not_hung(rt, bundle, tmp_path):
    name = "compat-frozen-%d" % os.getpid()
    d = _freezer_dir(name)
    v1 = "/freezer/" in d
    os.makedirs(d, exist_ok=True)
    try:
        with open(os.path.join(d, "freezer.state" if v1 else "cgroup.freeze"), "w") as f:
            f.write("FROZEN" if v1 else "1")
        b = bundle(["/bin/true"], linux={"cgroupsPath": "/kapsel/" + name})
        p = rt("run", "--bundle", b, "c1", check=False, timeout=20)
        assert p.returncode == 1 and "unexpectedly frozen" in p.stderr
        assert os.path.isdir(d), "the user's cgroup must stay"
    finally:
        with open(os.path.join(d, "freezer.state" if v1 else "cgroup.freeze"), "w") as f:
            f.write("THAWED" if v1 else "0")
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except OSError:
                time.sleep(0.1)


def test_shared_cgroup_warns(rt, bundle):
    name = "compat-shared-%d" % os.getpid()
    b = bundle(["/bin/probe", "sleep", "600"], linux={"cgroupsPath": "/kapsel/" + name})
    rt("run", "--detach", "--bundle", b, "c1")
    p = rt("run", "--detach", "--bundle", b, "c2")
    assert "cgroup is not empty" in p.stderr
    rt("delete", "--force", "c2")


def _notify_config(sock, names):
    return {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "listenerMetadata": "meta",
            "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}]}


def _agent(sock_path, got):
    """A tiny seccomp agent: take the notify fd, answer every notification with ENOMEDIUM."""
    import array
    import errno
    import fcntl
    import socket
    import struct
    import threading
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        got["msg"] = json.loads(msg)
        nfd = fds[0]
        while True:
            buf = bytearray(80)
            try:
                fcntl.ioctl(nfd, 0xc0502100, buf)    # SECCOMP_IOCTL_NOTIF_RECV
            except OSError:
                break
            nid = struct.unpack_from("=Q", buf)[0]
            resp = bytearray(struct.pack("=QqiI", nid, 0, -errno.ENOMEDIUM, 0))
            try:
                fcntl.ioctl(nfd, 0xc0182101, resp)   # SECCOMP_IOCTL_NOTIF_SEND
            except OSError:
                pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv


def test_seccomp_notify_hands_fd_to_agent(rt, bundle, tmp_path):
    sock = str(tmp_path / "agent.sock")
    got = {}
    srv = _agent(sock, got)
    try:
        b = bundle(["/bin/sh", "-c", "mkdir /tmp/x; echo rc=$?"], linux={"seccomp": _notify_config(sock, ["mkdir", "mkdirat"])})
        p = rt("run", "--bundle", b, "c1", timeout=20)
        assert "No medium found" in p.stderr or "No medium found" in p.stdout
        assert got["msg"]["fds"] == ["seccompFd"] and got["msg"]["metadata"] == "meta"
    finally:
        srv.close()


def test_seccomp_notify_without_agent_fails_cleanly(rt, bundle, tmp_path):
    b = bundle(["/bin/true"], linux={"seccomp": _notify_config(str(tmp_path / "none.sock"), ["mkdir"])})
    p = rt("run", "--bundle", b, "c1", check=False, timeout=20)
    assert p.returncode != 0 and "failed to connect with seccomp agent" in p.stderr
    b = bundle(["/bin/true"], linux={"seccomp": _notify_config(str(tmp_path / "none.sock"), ["write"])})
    p = rt("run", "--bundle", b, "c2", check=False, timeout=20)
    assert p.returncode != 0 and "cannot be used for the write syscall" in p.stderr


def test_hooks_get_only_stdio(rt, bundle, tmp_path):
    out = tmp_path / "fds"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "ls /proc/self/fd > %s" % out]}
    b = bundle(["/bin/true"], hooks={"createRuntime": [hook]})
    r, w = os.pipe()   # an fd of the caller without O_CLOEXEC
    try:
        rt("run", "--bundle", b, "c1", pass_fds=(w,))
    finally:
        os.close(r)
        os.close(w)
    assert sorted(out.read_text().split()) == ["0", "1", "2", "3"]


def test_exec_tty_without_console_socket_and_nnp_default(rt, bundle):
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    p = rt("exec", "-t", "--user", "1000:1000", "c1", "/bin/sh", "-c",
           "busybox readlink /proc/self/fd/0; busybox readlink /proc/self/fd/1; stat -c %u $(busybox readlink /proc/self/fd/0)")
    lines = p.stdout.replace("\r", "").split()
    assert lines[0].startswith("/dev/pts/") and lines[1].startswith("/dev/pts/") and lines[2] == "1000"
    # the container's process has noNewPrivileges; an exec without --no-new-privs does not (runc)
    status = kv(rt("exec", "c1", "/bin/cat", "/proc/self/status").stdout.replace(":\t", "="))
    assert status["NoNewPrivs"].strip() == "0"
    status = kv(rt("exec", "--no-new-privs", "c1", "/bin/cat", "/proc/self/status").stdout.replace(":\t", "="))
    assert status["NoNewPrivs"].strip() == "1"


def test_create_killed_before_init_leaves_nothing_after_delete_force(rt, bundle, tmp_path):
    """kill -9 of create while it waits (here: on a seccomp agent whose backlog is full) after
    making the cgroup: delete --force must still find and remove everything."""
    import glob
    import signal
    import socket
    sock = str(tmp_path / "busy.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(0)
    fillers = []
    for _ in range(4):   # fill the backlog so the next connect blocks
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(sock)
        except (BlockingIOError, OSError):
            c.close()
            break
        fillers.append(c)
    cfg = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
           "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    b = bundle(["/bin/true"], linux={"seccomp": cfg})
    rt.ids.append("c1")
    p = subprocess.Popen([RUNTIME, "--root", rt.root, "create", "--bundle", b, "c1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if glob.glob("/sys/fs/cgroup/*/kapsel/c1") or glob.glob("/sys/fs/cgroup/kapsel/c1"):
                break
            time.sleep(0.05)
        time.sleep(0.2)
        assert p.poll() is None, "create should be blocked on the agent"
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert glob.glob("/sys/fs/cgroup/*/kapsel/c1") or glob.glob("/sys/fs/cgroup/kapsel/c1")
        assert rt.state("c1")["status"] == "creating"
        assert rt("delete", "c1", check=False).returncode != 0
        rt("delete", "--force", "c1")
        assert not glob.glob("/sys/fs/cgroup/*/kapsel/c1") and not glob.glob("/sys/fs/cgroup/kapsel/c1")
    finally:
        for c in fillers:
            c.close()
        srv.close()


def test_ps_passes_options_to_ps(rt, bundle):
    if not subprocess.run(["sh", "-c", "command -v ps"], stdout=subprocess.DEVNULL).returncode == 0:
        pytest.skip("no ps(1) on this host")
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    pid = rt.state("c1")["pid"]
    lines = rt("ps", "c1").stdout.splitlines()
    assert lines[0].split()[:3] == ["UID", "PID", "PPID"] and len(lines) == 2 and lines[1].split()[1] == str(pid)
    lines = rt("ps", "c1", "-o", "pid,comm").stdout.splitlines()
    assert lines[0].split() == ["PID", "COMMAND"] and lines[1].split()[0] == str(pid)
    assert json.loads(rt("ps", "--format", "json", "c1").stdout) == [pid]


def test_masked_dir_reads_empty_for_non_root(rt, bundle):
    def edit(cfg):
        cfg["linux"]["maskedPaths"].append("/etc")
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    b = bundle(["/bin/sh", "-c", "ls -a /etc; echo rc=$?"], edit=edit)
    out = rt("run", "--bundle", b, "c1").stdout
    assert "rc=0" in out and "passwd" not in out


def test_read_only_dev_with_devpts(rt, bundle):
    def edit(cfg):
        for m in cfg["mounts"]:
            if m["destination"] == "/dev":
                m["options"].append("ro")
    b = bundle(["/bin/sh", "-c", "ls /dev/pts/ptmx /dev/null >/dev/null && echo ok; touch /dev/x 2>&1; true"], edit=edit)
    out = rt("run", "--bundle", b, "c1").stdout
    assert out.startswith("ok") and "Read-only file system" in out


def test_rro_bind_is_read_only_below(rt, bundle, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(src / "sub")], check=True)
    try:
        def edit(cfg):
            cfg["mounts"].append({"destination": "/mnt", "type": "bind", "source": str(src),
                                  "options": ["rbind", "rro"]})
        b = bundle(["/bin/sh", "-c", "mkdir -p /mnt/sub/x 2>&1; mkdir -p /mnt/y 2>&1; true"], edit=edit)
        (tmp_path / b / "rootfs" / "mnt").mkdir()
        out = rt("run", "--bundle", b, "c1").stdout
        assert out.count("Read-only file system") == 2
    finally:
        subprocess.run(["umount", "-l", str(src / "sub")])


def test_device_modes_not_umasked_and_dup_namespace(rt, bundle):
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "uts"})      # listed twice, same entry
        cfg["linux"]["devices"] = [{"path": "/dev/kmsgx", "type": "c", "major": 1, "minor": 11,
                                    "fileMode": 0o660, "uid": 0, "gid": 0}]
    b = bundle(["/bin/sh", "-c", "stat -c %a /dev/tty /dev/null /dev/kmsgx"], edit=edit)
    assert rt("run", "--bundle", b, "c1").stdout.split() == ["666", "666", "660"]


def test_update_options_after_id_and_exec_exit_codes(rt, bundle, tmp_path):
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    rt("update", "c1", "--pids-limit", "50")
    p = rt("exec", "--pid-file", str(tmp_path / "no/such/dir"), "c1", "/bin/true", check=False)
    assert p.returncode == 255                   # the runtime failed, not the command
    assert rt("exec", "c1", "/bin/sh", "-c", "exit 42", check=False).returncode == 42
    rt("pause", "c1")
    assert rt("exec", "c1", "/bin/true", check=False).returncode == 255
    resume = subprocess.Popen(["sh", "-c", "sleep 1; %s --root %s resume c1" % (RUNTIME, rt.root)])
    p = rt("exec", "--ignore-paused", "c1", "/bin/echo", "ok", timeout=20)
    resume.wait()
    assert p.stdout.strip() == "ok"


def test_listed_device_needs_an_allow_rule(rt, bundle):
    # /dev/net/tun opens without capabilities: only the device cgroup decides
    def edit(cfg):
        cfg["linux"]["devices"] = [{"path": "/dev/tunx", "type": "c", "major": 10, "minor": 200}]
    b = bundle(["/bin/sh", "-c", "exec 3<>/dev/tunx; echo rc=$?"], edit=edit)
    out = rt("run", "--bundle", b, "c1", check=False)
    assert "rc=0" not in out.stdout and "not permitted" in out.stderr     # node made, access denied
    def edit_allow(cfg):
        edit(cfg)
        cfg["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 10, "minor": 200,
                                                     "access": "rw"})
    b = bundle(["/bin/sh", "-c", "exec 3<>/dev/tunx; echo rc=$?"], edit=edit_allow)
    assert "rc=0" in rt("run", "--bundle", b, "c2").stdout


def _pid_and_session(stat_line):
    fields = stat_line[stat_line.rindex(")") + 2:].split()
    return stat_line.split()[0], fields[3]          # pid, session


def test_processes_get_their_own_session(rt, bundle):
    """Pass-through stdio (terminal false) must not make the caller's terminal the
    container's controlling terminal: init and exec'd processes lead their own session."""
    out = rt("run", "--bundle", bundle(["/bin/cat", "/proc/self/stat"]), "c1").stdout
    pid, sid = _pid_and_session(out)
    assert pid == sid
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c2")
    pid, sid = _pid_and_session(rt("exec", "c2", "/bin/cat", "/proc/self/stat").stdout)
    assert pid == sid


def test_namespace_path_of_wrong_type_is_refused(rt, bundle):
    def edit(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
        cfg["linux"]["namespaces"].append({"type": "network", "path": "/proc/self/ns/ipc"})
    p = rt("run", "--bundle", bundle(["/bin/true"], edit=edit), "c1", check=False)
    assert p.returncode != 0 and "is not a network namespace" in p.stderr


def test_proc_on_a_symlink_is_refused(rt, bundle):
    b = bundle(["/bin/true"])
    proc = os.path.join(b, "rootfs", "proc")
    os.rmdir(proc)
    os.symlink("/symlink", proc)
    p = rt("run", "--bundle", b, "c1", check=False)
    assert p.returncode != 0 and "must be mounted on ordinary directory" in p.stderr


def test_create_container_hook_runs_in_the_rootfs(rt, bundle):
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "ls bin/probe > /dev/null && touch tmp/hook-was-here"]}
    def edit(cfg):
        cfg["hooks"] = {"createContainer": [hook]}
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/tmp"]
        cfg["root"]["readonly"] = False
    b = bundle(["/bin/true"], edit=edit)
    rt("run", "--bundle", b, "c1")
    assert os.path.exists(os.path.join(b, "rootfs/tmp/hook-was-here"))


def test_userns_bind_source_the_container_user_cannot_reach(rt, bundle, tmp_path):
    secret = tmp_path / "secret"
    (secret / "dir").mkdir(parents=True)
    (secret / "dir" / "f").write_text("visible\n")
    os.chmod(str(secret), 0o700)                       # only the host's root enters it

    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["mounts"].append({"destination": "/mnt", "type": "bind", "source": str(secret / "dir"),
                              "options": ["bind", "ro"]})
    b = bundle(["/bin/cat", "/mnt/f"], edit=edit)
    d = os.path.dirname(b)
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)
    os.chmod(str(secret), 0o700)
    os.makedirs(os.path.join(b, "rootfs", "mnt"), exist_ok=True)
    assert rt("run", "--bundle", b, "c1").stdout == "visible\n"


def test_start_container_hook_runs_under_the_process_seccomp(rt, bundle):
    def edit(cfg):
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]}
        cfg["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/foo"]}]}
    p = rt("run", "--bundle", bundle(["/bin/true"], edit=edit), "c1", check=False)
    assert p.returncode != 0
    assert "error running hook" in p.stderr and "bad system call" in p.stderr


def test_caps_the_runtime_lacks_are_left_out(rt, bundle):
    """Every capability the kernel knows, asked from a runtime that may lack some (a sandbox):
    the container starts with what the runtime has."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    names = ["CAP_" + n for n in ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
             "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE "
             "SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME "
             "SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG "
             "WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE").split()][:last + 1]
    b = bundle(["/bin/cat", "/proc/self/status"],
               process={"capabilities": {k: names for k in ("bounding", "effective", "permitted", "inheritable")}})
    status = kv(rt("run", "--bundle", b, "c1").stdout.replace(":\t", "="))
    mine = kv(open("/proc/self/status").read().replace(":\t", "="))
    assert int(status["CapEff"], 16) == int(mine["CapBnd"], 16)


def test_state_root_parents_are_made(rt, bundle, tmp_path):
    root = str(tmp_path / "exec" / "runtime-runc" / "moby")      # as dockerd passes it
    p = subprocess.run([RUNTIME, "--root", root, "run", "--bundle", bundle(["/bin/true"]), "c1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


def test_no_pivot_hides_the_hosts_proc(rt, bundle):
    if not shutil.which("unshare"):
        pytest.skip("no unshare(1)")
    b = bundle(["/bin/sh", "-c", "ls /proc/self/fd > /dev/null && echo proc-ok; "
                "busybox unshare -mrpf sh -c 'mount -t proc none /proc 2>&1 || true'"],
               process={"capabilities": {k: DEFAULT_CAPS + ["CAP_SYS_ADMIN"] for k in ("bounding", "effective", "permitted")}})
    out = rt("run", "--no-pivot", "--bundle", b, "c1").stdout
    assert "proc-ok" in out and "denied" in out.lower()


def test_seccomp_unknown_newer_syscall_gets_enosys(rt, bundle):
    allow = ["execve", "brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "mprotect",
             "mmap", "munmap", "readlink", "readlinkat", "getrandom", "fstat", "newfstatat", "write", "writev",
             "exit", "exit_group", "ioctl", "uname", "access", "faccessat", "faccessat2", "openat", "close",
             "read", "lseek", "rt_sigaction", "rt_sigprocmask", "sigaltstack", "futex", "getpid", "gettid"]
    cfg = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
           "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]}
    b = bundle(["/bin/probe", "syscall", "future"], linux={"seccomp": cfg})
    assert kv(rt("run", "--bundle", b, "c1").stdout)["errno"] == "ENOSYS"
    b = bundle(["/bin/probe", "syscall", "getppid"], linux={"seccomp": cfg})
    assert kv(rt("run", "--bundle", b, "c2").stdout)["errno"] == "EPERM"      # known, not allowed


def test_exec_cgroup_sub_cgroups(rt, bundle):
    mem = "/sys/fs/cgroup/memory"
    if not os.path.ismount(mem):
        pytest.skip("needs a cgroup v1 memory hierarchy")
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    p = rt("exec", "--cgroup", "..", "c1", "/bin/true", check=False)
    assert p.returncode == 255 and " .. is not a sub cgroup path" in p.stderr
    p = rt("exec", "--cgroup", "nosuch", "c1", "/bin/true", check=False)
    assert p.returncode == 255 and "/nosuch/cgroup.procs: no such file" in p.stderr
    p = rt("exec", "--cgroup", "whaaat:/", "c1", "/bin/true", check=False)
    assert p.returncode == 255 and "unknown controller" in p.stderr
    sub = os.path.join(mem, "kapsel/c1/sub")
    os.mkdir(sub)
    out = rt("exec", "--cgroup", "memory:sub", "c1", "/bin/cat", "/proc/self/cgroup").stdout
    lines = dict((l.split(":")[1], l.split(":")[2]) for l in out.splitlines())
    assert lines["memory"].endswith("/sub") and not lines["pids"].endswith("/sub")


def test_update_cpu_period_below_a_limited_parent(rt, bundle):
    cpu = "/sys/fs/cgroup/cpu"
    if not os.path.ismount(cpu) and not os.path.ismount("/sys/fs/cgroup/cpu,cpuacct"):
        pytest.skip("needs a cgroup v1 cpu hierarchy")
    pod = "/kapsel/compat-pod-%d" % os.getpid()
    os.makedirs(cpu + pod, exist_ok=True)
    try:
        with open(cpu + pod + "/cpu.cfs_quota_us", "w") as f:
            f.write("50000")                                  # the pod: 50% of 100 ms
        rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"],
                                                 linux={"cgroupsPath": pod + "/c1"}), "c1")
        assert rt("update", "--cpu-quota", "60000", "c1", check=False).returncode == 1   # above the pod's
        rt("update", "--cpu-period", "10000", "--cpu-quota", "3000", "c1")
        d = cpu + pod + "/c1"
        assert open(d + "/cpu.cfs_period_us").read().strip() == "10000"
        assert open(d + "/cpu.cfs_quota_us").read().strip() == "3000"
        rt("delete", "--force", "c1")
    finally:
        import glob
        for d in glob.glob("/sys/fs/cgroup/*" + pod):       # the runtime made it in the other hierarchies
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)


def test_cgroup_value_the_kernel_refuses_exits_1(rt, bundle):
    b = bundle(["/bin/true"], linux={"resources": {"cpu": {"period": 100}}})     # below the kernel's 1 ms
    p = rt("run", "--bundle", b, "c1", check=False)
    assert p.returncode == 1 and "refused" in p.stderr


def test_prestart_hook_state_says_created(rt, bundle, tmp_path):
    out = tmp_path / "prestart.json"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "cat > %s" % out]}
    rt("run", "--bundle", bundle(["/bin/true"], hooks={"prestart": [hook]}), "c1")
    st = json.loads(out.read_text())
    assert st["status"] == "created" and st["id"] == "c1" and st["pid"] > 0


def _root_mount_fields(mountinfo):
    """The optional fields (shared:N, master:N) of the container's "/" line."""
    for line in mountinfo.splitlines():
        f = line.split()
        if len(f) > 5 and f[4] == "/":
            return f[6:f.index("-")]
    raise AssertionError("no / in mountinfo:\n" + mountinfo)


@pytest.mark.parametrize("prop,want", [("shared", "shared:"), ("rshared", "shared:"), ("private", None)])
def test_rootfs_propagation_applies_to_the_new_root(rt, bundle, prop, want):
    # shared used to make pivot_root fail (EINVAL): the propagation goes on "/" after the pivot
    b = bundle(["/bin/cat", "/proc/self/mountinfo"], edit=lambda c: c["linux"].update(rootfsPropagation=prop))
    fields = _root_mount_fields(rt("run", "--bundle", b, "c1").stdout)
    if want:
        assert any(x.startswith(want) for x in fields), fields
    else:
        assert not fields, fields


def _without_mount_ns(cfg):
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "mount"]
    cfg["root"]["readonly"] = False


def test_no_mount_namespace_chroots_into_the_rootfs(rt, bundle):
    # runtime-spec: without a mount namespace the container inherits ours; it still runs in
    # root.path (chrooted), nothing is mounted into the host's namespace, and exec lands there too
    b = bundle(["/bin/sleep", "30"], edit=_without_mount_ns)
    (open(os.path.join(b, "rootfs", "marker"), "w")).write("in the rootfs\n")
    before = open("/proc/self/mountinfo").read().count("\n")
    rt("create", "--bundle", b, "c1")
    rt("start", "c1")
    pid = json.loads(rt("state", "c1").stdout)["pid"]
    assert os.readlink("/proc/%d/ns/mnt" % pid) == os.readlink("/proc/self/ns/mnt")
    assert os.readlink("/proc/%d/root" % pid) == os.path.join(b, "rootfs")
    assert rt("exec", "c1", "cat", "/marker").stdout == "in the rootfs\n"
    assert rt("exec", "c1", "ls", "/").stdout.split() == sorted(os.listdir(os.path.join(b, "rootfs")))
    r = rt("exec", "-t", "c1", "true", check=False)
    assert r.returncode != 0 and "has no mount namespace of its own" in r.stderr, r.stderr
    assert open("/proc/self/mountinfo").read().count("\n") == before
    rt("kill", "c1", "KILL")
    wait_status(rt, "c1", "stopped")
    rt("delete", "c1")
    # what needs mounts is refused with the reason
    b2 = bundle(["/bin/true"], edit=lambda c: (_without_mount_ns(c), c["process"].update(terminal=True)))
    r = rt("run", "--bundle", b2, "c2", check=False)
    assert r.returncode == 3 and "process.terminal needs a mount namespace" in r.stderr, r.stderr


def test_join_a_mount_namespace_by_path(rt, bundle, tmp_path):
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "60"])
    try:
        ns = "/proc/%d/ns/mnt" % holder.pid
        for _ in range(100):
            if os.readlink(ns) != os.readlink("/proc/self/ns/mnt"):
                break
            time.sleep(0.05)

        def edit(cfg):
            for n in cfg["linux"]["namespaces"]:
                if n["type"] == "mount":
                    n["path"] = ns
        b = bundle(["/bin/sleep", "30"], edit=edit)
        rt("create", "--bundle", b, "c1")
        pid = json.loads(rt("state", "c1").stdout)["pid"]
        assert os.readlink("/proc/%d/ns/mnt" % pid) == os.readlink(ns)
        rt("delete", "--force", "c1")
    finally:
        holder.kill()
        holder.wait()


def _v1_hierarchies():
    return {m.split()[1] for m in open("/proc/self/mounts") if m.split()[2] == "cgroup"}


NET_CGROUP_SCRIPT = r"""
set -e
# /sys/fs/cgroup as a private tmpfs carrying the host's v1 hierarchies and net_cls,net_prio
M=$(awk '$3=="cgroup" && $2 ~ "^/sys/fs/cgroup/" {print $2, $4}' /proc/self/mounts)
for p in $(awk '$2 ~ "^/sys/fs/cgroup/" {print $2}' /proc/self/mounts | sort -r); do umount "$p"; done
umount /sys/fs/cgroup
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
echo "$M" | while read p o; do mkdir -p "$p"; mount -t cgroup -o "$o" cgroup "$p"; done
mkdir /sys/fs/cgroup/net_cls,net_prio
mount -t cgroup -o net_cls,net_prio cgroup /sys/fs/cgroup/net_cls,net_prio
"$RT" --root "$ROOT" create --bundle "$B" c1
cat /sys/fs/cgroup/net_cls,net_prio/kapsel/c1/net_cls.classid
grep '^lo ' /sys/fs/cgroup/net_cls,net_prio/kapsel/c1/net_prio.ifpriomap
"$RT" --root "$ROOT" delete --force c1
"""


@pytest.mark.skipif(not IS_KAPSEL, reason="kapsel's cgroup layout")
def test_network_resources_set_net_cls_and_net_prio(rt, bundle, tmp_path):
    # linux.resources.network used to be accepted and silently dropped
    net = {"classID": 1048577, "priorities": [{"name": "lo", "priority": 7}]}
    b = bundle(["/bin/sleep", "30"], edit=lambda c: c["linux"]["resources"].update(network=net))
    if not any(os.path.basename(h).startswith("net_cls") for h in _v1_hierarchies()):
        # not mounted on this host: refused as runc does, not ignored
        r = rt("run", "--bundle", b, "c0", check=False)
        assert r.returncode == 7 and "net_cls" in r.stderr, r.stderr
    if "/sys/fs/cgroup/memory" not in _v1_hierarchies():
        pytest.skip("needs cgroup v1 hierarchies")
    env = dict(os.environ, RT=RUNTIME, ROOT=str(tmp_path / "netstate"), B=b)
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", NET_CGROUP_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:2] == ["1048577", "lo 7"], p.stdout
    # a name that would add lines to net_prio.ifpriomap is refused
    bad = {"priorities": [{"name": "lo 1\neth0", "priority": 1}]}
    b2 = bundle(["/bin/true"], edit=lambda c: c["linux"]["resources"].update(network=bad))
    r = rt("run", "--bundle", b2, "c2", check=False)
    assert r.returncode == 3 and "not a network interface name" in r.stderr, r.stderr


def test_joining_the_runtimes_own_mount_namespace_is_refused(rt, bundle):
    # pivot_root in our own namespace would move every host process into the container's root
    def edit(cfg):
        for n in cfg["linux"]["namespaces"]:
            if n["type"] == "mount":
                n["path"] = "/proc/%d/ns/mnt" % os.getpid()
    b = bundle(["/bin/true"], edit=edit)
    before = os.readlink("/proc/self/root"), open("/proc/self/mountinfo").read()
    r = rt("run", "--bundle", b, "c1", check=False)
    assert r.returncode == 3 and "is the runtime's own" in r.stderr, r.stderr
    assert (os.readlink("/proc/self/root"), open("/proc/self/mountinfo").read()) == before


# --- start latency: what the fast paths must keep ----------------------------------------

def _v1_members(cid):
    """{hierarchy mount point: pids in the container's cgroup there} for every mounted v1 hierarchy."""
    out = {}
    for mp in _v1_hierarchies():
        if not mp.startswith("/sys/fs/cgroup/"):
            continue
        with open(os.path.join(mp, "kapsel", cid, "cgroup.procs")) as f:
            out[mp] = {int(x) for x in f.read().split()}
    return out


@pytest.mark.parametrize("userns", [False, True])
def test_init_and_exec_are_in_every_v1_cgroup(rt, bundle, tmp_path, userns):
    """The init and exec'd processes move themselves into the container's v1 cgroups (writing 0
    to each `tasks` file the runtime opened: no RCU grace period). They must be in every
    hierarchy once `create` returns and before an exec'd process runs, in a user namespace too
    (where the process is no longer the host's root when it writes)."""
    if not _v1_hierarchies():
        pytest.skip("needs cgroup v1 hierarchies")

    def edit(cfg):
        if userns:
            cfg["linux"]["namespaces"].append({"type": "user"})
            cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b = bundle(["/bin/sleep", "600"], edit=edit)
    d = os.path.dirname(b)
    while userns and d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)
    rt("create", "--bundle", b, "c1")
    init = rt.state("c1")["pid"]
    members = _v1_members("c1")
    assert members and all(init in pids for pids in members.values()), members
    rt("start", "c1")
    pidfile = str(tmp_path / "exec.pid")
    rt("exec", "--detach", "--pid-file", pidfile, "c1", "/bin/sleep", "600")
    pid = int(open(pidfile).read())
    members = _v1_members("c1")
    assert all(pid in pids for pids in members.values()), (pid, members)
    # and the exec'd process is not left holding a host cgroup file open
    fds = [os.readlink("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)]
    assert not [f for f in fds if "cgroup" in f], fds


def test_exec_into_a_paused_container_joins_every_cgroup_before_it_runs(rt, bundle):
    """The freezer is joined last: an exec'd process that freezes on joining a paused container
    is already in every other hierarchy, and runs once resumed."""
    if not _v1_hierarchies():
        pytest.skip("needs cgroup v1 hierarchies")
    rt("run", "--detach", "--bundle", bundle(["/bin/sleep", "600"]), "c1")
    rt("pause", "c1")
    p = subprocess.Popen([RUNTIME, "--root", rt.root, "exec", "--ignore-paused", "c1", "/bin/echo", "ran"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1)
    assert p.poll() is None, "the process ran in a paused container"
    # frozen on joining the freezer: already in every other hierarchy (the init and it)
    members = _v1_members("c1")
    init = rt.state("c1")["pid"]
    assert members and all(init in pids and len(pids) == 2 for pids in members.values()), members
    rt("resume", "c1")
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0 and out == b"ran\n", err


def test_runtime_runs_from_a_read_only_overlay_not_a_copy(rt, bundle):
    """CVE-2019-5736 without copying the binary (runc 1.2's sealed overlayfs): a runtime that
    enters a container runs from a private overlayfs without an upper layer, so its
    /proc/PID/exe cannot be opened for writing (EROFS), not even by reopening an O_PATH handle,
    and no 1.2 MB copy is made per command."""
    import re
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    if not m or (int(m.group(1)), int(m.group(2))) < (6, 8):
        pytest.skip("overlayfs' lowerdir+ needs Linux 6.8: the runtime copies itself instead")
    b = bundle(["/bin/sleep", "30"])
    p = subprocess.Popen([RUNTIME, "--root", rt.root, "run", "--bundle", b, "c1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rt.ids.append("c1")
    try:
        for _ in range(100):
            if os.path.exists(os.path.join(rt.root, "c1", "state.json")) and rt.state("c1")["status"] == "running":
                break
            time.sleep(0.05)
        exe = "/proc/%d/exe" % p.pid
        assert not os.readlink(exe).startswith("/memfd:"), os.readlink(exe)
        assert os.statvfs(exe).f_flag & os.ST_RDONLY
        with pytest.raises(OSError) as e:
            os.open(exe, os.O_WRONLY)
        assert e.value.errno == errno.EROFS
        fd = os.open(exe, os.O_PATH)
        try:
            with pytest.raises(OSError) as e:
                os.open("/proc/self/fd/%d" % fd, os.O_WRONLY)
            assert e.value.errno == errno.EROFS
            assert os.stat(exe).st_size == os.stat(RUNTIME).st_size
        finally:
            os.close(fd)
    finally:
        p.kill()
        p.wait()


def test_hooks_after_start_and_delete_found_however_their_keys_are_spelled(rt, bundle, tmp_path):
    """start and delete parse the saved config only when it may hold their hooks: a key spelled
    with JSON escapes still counts."""
    log = tmp_path / "order"

    def hook(word):
        return [{"path": "/bin/sh", "args": ["sh", "-c", "echo %s >> %s" % (word, log)]}]
    b = bundle(["/bin/probe", "sleep", "600"], hooks={"poststart": hook("started"), "poststop": hook("stopped")})
    cfg = os.path.join(b, "config.json")
    text = open(cfg).read()
    assert '"poststart"' in text and '"poststop"' in text
    text = text.replace('"poststart"', '"\\u0070oststart"').replace('"poststop"', '"post\\u0073top"')
    open(cfg, "w").write(text)
    rt("create", "--bundle", b, "c1")
    rt("start", "c1")
    rt("delete", "--force", "c1")
    assert log.read_text().split() == ["started", "stopped"]
