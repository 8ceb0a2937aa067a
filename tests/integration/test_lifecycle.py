"""Container lifecycle through the runc command line: run, create/start/state/kill/delete,
exec, pause/resume, list/ps, hooks, terminal over --console-socket, update."""
import array
import json
import os
import socket
import subprocess
import time

import pytest
from conftest import IS_KAPSEL, kv


def test_run_prints_and_propagates_exit_code(rt, bundle):
    p = rt("run", "--bundle", bundle(["/bin/sh", "-c", "echo hello; hostname"]), "c1")
    assert p.stdout.split() == ["hello", "probe"]
    p = rt("run", "--bundle", bundle(["/bin/probe", "exit", "42"]), "c2", check=False)
    assert p.returncode == 42


def test_create_start_state_kill_delete(rt, bundle, tmp_path):
    b = bundle(["/bin/probe", "sleep", "600"])
    pidfile = tmp_path / "pid"
    rt("create", "--bundle", b, "--pid-file", str(pidfile), "c1")
    st = rt.state("c1")
    assert st["status"] == "created" and st["id"] == "c1" and st["bundle"] == b
    assert int(pidfile.read_text()) == st["pid"]
    rt("start", "c1")
    assert rt.state("c1")["status"] == "running"
    assert "c1" in rt("list").stdout
    assert str(st["pid"]) in rt("ps", "c1").stdout
    rt("kill", "c1", "KILL")
    for _ in range(100):
        if rt.state("c1")["status"] == "stopped":
            break
        time.sleep(0.05)
    assert rt.state("c1")["status"] == "stopped"
    rt("delete", "c1")
    assert rt("state", "c1", check=False).returncode != 0
    assert not os.path.exists("/proc/%d" % st["pid"]) or "zombie" in open("/proc/%d/status" % st["pid"]).read().lower()


def test_exec_env_cwd_user_and_exit_code(rt, bundle):
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    out = kv(rt("exec", "--env", "FOO=bar", "c1", "/bin/probe", "env", "FOO").stdout)
    assert out["FOO"] == "bar"
    assert kv(rt("exec", "--cwd", "/tmp", "c1", "/bin/probe", "cwd").stdout)["cwd"] == "/tmp"
    ids = kv(rt("exec", "--user", "1000:1000", "c1", "/bin/probe", "ids").stdout)
    assert (ids["uid"], ids["gid"]) == ("1000", "1000")
    assert rt("exec", "c1", "/bin/probe", "exit", "7", check=False).returncode == 7


def test_exec_process_json(rt, bundle, tmp_path):
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    proc = {"args": ["/bin/probe", "caps"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "noNewPrivileges": True}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    caps = kv(rt("exec", "--process", str(tmp_path / "p.json"), "c1").stdout)
    assert caps["CapEff"] == "%016x" % (1 << 5)
    assert caps["NoNewPrivs"] == "1"


def test_pause_resume(rt, bundle):
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    rt("pause", "c1")
    assert rt.state("c1")["status"] == "paused"
    rt("resume", "c1")
    assert rt.state("c1")["status"] == "running"
    # a paused container is deleted with --force without hanging
    rt("pause", "c1")
    rt("delete", "--force", "c1", timeout=20)


def test_hooks_order_and_state(rt, bundle, tmp_path):
    log = tmp_path / "hooks"
    log.mkdir()

    def hook(kind):
        # startContainer runs inside the container, after pivot_root: it sees the bind mount
        target = "/hooks" if kind == "startContainer" else str(log)
        return {"path": "/bin/sh", "args": ["sh", "-c", "cat > %s/%s.json; echo %s >> %s/order" % (target, kind, kind, target)]}

    def edit(cfg):
        cfg["hooks"] = {k: [hook(k)] for k in ("prestart", "createRuntime", "createContainer", "startContainer",
                                                "poststart", "poststop")}
        cfg["mounts"].append({"destination": "/hooks", "type": "bind", "source": str(log), "options": ["rbind", "rw"]})
        cfg["root"]["readonly"] = False
    b = bundle(["/bin/probe", "sleep", "600"], edit=edit)
    rt("create", "--bundle", b, "c1")
    created = rt.state("c1")
    rt("start", "c1")
    rt("delete", "--force", "c1")
    order = (log / "order").read_text().split()
    assert order == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart"):
        st = json.loads((log / (kind + ".json")).read_text())
        assert st["id"] == "c1" and st["pid"] == created["pid"] and st["bundle"] == b


def test_failing_prestart_hook_fails_create_and_cleans_up(rt, bundle):
    b = bundle(["/bin/true"], hooks={"prestart": [{"path": "/bin/false"}]})
    p = rt("create", "--bundle", b, "c1", check=False)
    assert p.returncode != 0
    assert rt("state", "c1", check=False).returncode != 0   # the fixture checks cgroups and mounts


def test_console_socket_passes_pty(rt, bundle, tmp_path):
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    b = bundle(["/bin/probe", "tty"], process={"terminal": True})
    p = subprocess.Popen([rt_bin(), "--root", rt.root, "create", "--bundle", b, "--console-socket", path, "c1"])
    rt.ids.append("c1")
    srv.settimeout(20)
    conn, _ = srv.accept()
    msg, fds = recv_fd(conn)
    assert p.wait(timeout=20) == 0
    master = fds[0]
    rt("start", "c1")
    out = b""
    deadline = time.time() + 10
    while b"tty2=" not in out and time.time() < deadline:
        try:
            out += os.read(master, 4096)
        except OSError:
            break
    os.close(master)
    got = kv(out.decode().replace("\r", ""))
    assert got["tty0"].startswith("/dev/pts/") and got["tty1"] == got["tty0"]


def rt_bin():
    from conftest import RUNTIME
    return RUNTIME


def recv_fd(conn):
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_LEN(4 * fds.itemsize))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    return msg, list(fds)


def test_update_changes_cgroup_limits(rt, bundle):
    if not os.path.isdir("/sys/fs/cgroup/memory"):
        pytest.skip("no cgroup v1 memory hierarchy here (v2 is covered by test_cgroup_v2)")
    b = bundle(["/bin/probe", "sleep", "600"], linux={"resources": {"memory": {"limit": 67108864}, "pids": {"limit": 20}}})
    rt("run", "--detach", "--bundle", b, "c1")
    cg = "/sys/fs/cgroup/memory/kapsel/c1" if IS_KAPSEL else None
    if cg is None:
        pytest.skip("cgroup path layout is runtime-specific")
    assert open(cg + "/memory.limit_in_bytes").read().strip() == "67108864"
    assert open("/sys/fs/cgroup/pids/kapsel/c1/pids.max").read().strip() == "20"
    rt("update", "--memory", "33554432", "--pids-limit", "10", "c1")
    assert open(cg + "/memory.limit_in_bytes").read().strip() == "33554432"
    assert open("/sys/fs/cgroup/pids/kapsel/c1/pids.max").read().strip() == "10"


def test_memory_limit_enforced_oom(rt, bundle):
    b = bundle(["/bin/sh", "-c", "x=$(head -c 209715200 /dev/zero | tr '\\0' a); echo survived"],
               linux={"resources": {"memory": {"limit": 33554432}}})
    p = rt("run", "--bundle", b, "c1", check=False, timeout=60)
    assert p.returncode == 137 and "survived" not in p.stdout


def test_pids_limit_enforced(rt, bundle):
    b = bundle(["/bin/sh", "-c", "for i in 1 2 3 4 5 6; do sleep 5 & done; echo started"],
               linux={"resources": {"pids": {"limit": 4}}})
    p = rt("run", "--bundle", b, "c1", check=False, timeout=60)
    assert "fork" in p.stderr + p.stdout or "Resource temporarily unavailable" in p.stderr + p.stdout
