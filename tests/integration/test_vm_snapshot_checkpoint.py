"""docker's checkpoint verbs for --isolation=vm containers on the host, without KVM: `kapsel
checkpoint create|ls|rm`, `kapsel start --checkpoint`, inspect's Checkpoints and kapseld's routes.

A fake KVM device gets kapsel past its own check (the fixtures of test_vm_cli.py); KAPSEL_VMM points
the monitor at a fake kapsel-vmm (FAKE_VMM, python) that records its arguments, answers the control
socket's pause/snapshot/resume as kapsel-vmm does (the snapshot writes a state and a memory file),
and ends the way a guest does when the stop signal reaches it (KAPSEL-EXIT on ttyS0). With it the
engine's side of a checkpoint runs whole: the directory, the upper disk's copy, the stop, the
one-shot --restore at the next start and the boot watchdog that a resumed guest must not trip.
Real guests resume in the nested suite (test_vm_cli_nested.py)."""
import json
import os
import subprocess
import sys

import pytest

from test_daemon import KAPSEL, Daemon, d, netns  # noqa: F401 (fixtures)
from test_engine import wait_for
from test_vm_cli import GUEST_INIT, KERNEL, assert_nothing_left, fake_kvm, k, vm_netns  # noqa: F401 (fixtures)

MKFS = "/usr/sbin/mkfs.ext4"


def needs_guest(f):
    """What --isolation=vm prepares before kapsel-vmm is spawned (test_vm_cli.py's marks)."""
    f = pytest.mark.skipif(not os.path.exists(MKFS), reason="no mkfs.ext4 (apt-get install e2fsprogs)")(f)
    return pytest.mark.skipif(not os.path.exists(GUEST_INIT), reason="kapsel-guest-init not built")(f)

FAKE_VMM = r'''#!%s
import json, os, socket, sys, threading
args = sys.argv[1:]
opt = lambda name: args[args.index(name) + 1] if name in args else None
with open(os.environ["FAKE_VMM_ARGS"], "a") as f:
    f.write(json.dumps(args) + "\n")
srv = socket.socket(socket.AF_UNIX)
srv.bind("control.sock")
srv.listen(4)
out = open(opt("--console-log"), "a", buffering=1)
if not opt("--restore"):
    out.write("KAPSEL-INIT\nKAPSEL-STARTED 1\n")    # a boot; a resumed guest says nothing

def control():
    while True:
        c, _ = srv.accept()
        req = json.loads(c.makefile().readline())
        with open(os.environ["FAKE_VMM_ARGS"] + ".guest", "a") as f:
            f.write(req["cmd"] + "\n")
        if req["cmd"] == "snapshot":
            for name, data in (("state", b"KVMSTATE"), ("memory", b"")):
                with open(os.path.join(req["dir"], name), "wb") as f:
                    f.write(data)
        c.sendall(b'{"ok":true}\n')
        c.close()

threading.Thread(target=control, daemon=True).start()
with open(opt("--serial-in")) as sig:
    for line in sig:
        if line.startswith("KAPSEL-SIGNAL"):
            with open(os.environ["FAKE_VMM_ARGS"] + ".guest", "a") as f:
                f.write(line)
            out.write("KAPSEL-EXIT %%d\n" %% (128 + int(line.split()[1])))
            os._exit(0)
''' % sys.executable


def err(k, *args):
    p = k(*args, check=False)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    return p.stderr


def snapshots_dir(k, ctr):
    return os.path.join(k.root, "containers", k.inspect(ctr)["Id"], "snapshots")


def lay_out_checkpoint(root, cid, name, upper=None, state=b"KVMSTATE"):
    """A checkpoint directory as `checkpoint create` leaves it."""
    d = os.path.join(root, "containers", cid, "snapshots", name)
    os.makedirs(d)
    with open(os.path.join(d, "state"), "wb") as f:
        f.write(state)
    with open(os.path.join(d, "memory"), "wb") as f:
        f.truncate(512 << 20)
    if upper is not None:
        with open(os.path.join(d, "disk-1.img"), "wb") as f:
            f.write(upper)
    with open(os.path.join(d, "snapshot.json"), "w") as f:
        json.dump({"Name": name, "Created": 1700000000, "Memory": 512 << 20, "Cpus": 1, "Disks": 1}, f)
    return d


@pytest.fixture
def vmm(tmp_path, monkeypatch, fake_kvm):
    """The fake kapsel-vmm; returns a function giving the argument lists it was started with."""
    f = tmp_path / "fake-vmm"
    f.write_text(FAKE_VMM)
    f.chmod(0o755)
    calls = tmp_path / "vmm-args"
    monkeypatch.setenv("KAPSEL_VMM", str(f))
    monkeypatch.setenv("FAKE_VMM_ARGS", str(calls))

    def runs():
        return [json.loads(l) for l in calls.read_text().splitlines()] if calls.exists() else []
    return runs


def status(k, ctr):
    return k.inspect(ctr)["State"]["Status"]


# --- refusals: a clear message, exit 125, nothing left behind ---

def test_plain_container_refused(k):
    k("run", "-d", "--name", "c1", "busybox", "sleep", "30")
    for args in (("checkpoint", "create", "c1", "s1"), ("checkpoint", "ls", "c1"), ("checkpoint", "rm", "c1", "s1"),
                 ("start", "--checkpoint", "s1", "c1")):
        msg = err(k, *args)
        assert "checkpoints need --isolation=vm" in msg and "no CRIU" in msg and "c1" in msg, msg
    assert not os.path.exists(snapshots_dir(k, "c1"))
    assert status(k, "c1") == "running"
    assert "Checkpoints" not in k.inspect("c1")
    k("rm", "-f", "c1")


def test_bad_names_unknown_checkpoints_and_usage(k, fake_kvm):
    k("create", "--name", "g1", "--isolation=vm", "busybox", "sleep", "30")
    assert 'invalid checkpoint name "../x"' in err(k, "checkpoint", "create", "g1", "../x")
    assert "container g1 is created; only a running or paused container has a state to save" in \
        err(k, "checkpoint", "create", "g1", "s1")
    assert 'container g1 has no checkpoint "nope" (kapsel checkpoint ls g1)' in err(k, "checkpoint", "rm", "g1", "nope")
    assert 'container g1 has no checkpoint "nope"' in err(k, "start", "--checkpoint", "nope", "g1")
    assert 'invalid checkpoint name ".x"' in err(k, "start", "--checkpoint", ".x", "g1")
    assert "expected CONTAINER NAME" in err(k, "checkpoint", "create", "g1")
    assert "expected CONTAINER" in err(k, "checkpoint", "ls")
    assert "--checkpoint-dir is not supported" in err(k, "checkpoint", "create", "--checkpoint-dir", "/x", "g1", "s")
    assert "--checkpoint takes exactly one container" in err(k, "start", "--checkpoint", "s", "g1", "g1")
    assert status(k, "g1") == "created"
    assert not os.path.exists(snapshots_dir(k, "g1"))
    assert k("checkpoint", "ls", "g1", "--format", "json").stdout == ""
    assert k.inspect("g1")["Checkpoints"] == []
    k("rm", "g1")
    assert_nothing_left(k)


def test_listed_inspected_and_removed(k, fake_kvm):
    k("create", "--name", "g1", "--isolation=vm", "busybox", "sleep", "30")
    cid = k.inspect("g1")["Id"]
    lay_out_checkpoint(k.root, cid, "warm")
    rows = [json.loads(l) for l in k("checkpoint", "ls", "g1", "--format", "json").stdout.splitlines()]
    assert [r["Name"] for r in rows] == ["warm"] and rows[0]["SizeBytes"] < 1 << 20   # memory is a hole
    assert k("checkpoint", "ls", "-q", "g1").stdout == "warm\n"
    assert k("checkpoint", "ls", "g1").stdout.startswith("CHECKPOINT NAME")
    assert [c["Name"] for c in k.inspect("g1")["Checkpoints"]] == ["warm"]
    assert k("checkpoint", "rm", "g1", "warm").stdout == "warm\n"
    assert not os.path.exists(snapshots_dir(k, "g1"))                                  # nothing left, not even the dir
    k("rm", "g1")
    assert_nothing_left(k)


def test_help(k):
    for sub in ("create", "ls", "rm"):
        p = k("checkpoint", sub, "--help")
        assert p.stdout.startswith("Usage: kapsel checkpoint %s" % sub) and "Example" in p.stdout
    assert "checkpoint" in k("checkpoint", "--help").stdout
    assert "--checkpoint NAME" in k("start", "--help").stdout


# --- the whole round with a fake kapsel-vmm ---

@needs_guest
def test_create_stops_and_start_resumes(k, vmm):
    k("run", "-d", "--name", "g1", "--isolation=vm", "--network", "none", "busybox", "sleep", "300", timeout=120)
    assert wait_for(lambda: status(k, "g1") == "running", 10)
    cid = k.inspect("g1")["Id"]
    upper = os.path.join(k.root, "containers", cid, "upper.ext4")
    with open(upper, "r+b") as f:
        f.write(b"THEN")
    assert k("checkpoint", "create", "g1", "c1", timeout=60).stdout == "c1\n"
    # the guest ended paused, right after the save: it never ran again, so no stop signal reached
    # its processes (their shutdown would happen after the saved state)
    assert open(os.environ["FAKE_VMM_ARGS"] + ".guest").read().split("\n")[-3:] == ["pause", "snapshot", ""]
    snap = os.path.join(snapshots_dir(k, "g1"), "c1")
    assert {"state", "memory", "disk-1.img", "snapshot.json"} <= set(os.listdir(snap))
    with open(os.path.join(snap, "disk-1.img"), "rb") as f:
        assert f.read(4) == b"THEN"
    assert status(k, "g1") == "exited"                      # docker's default: stopped afterwards
    assert [c["Name"] for c in k.inspect("g1")["Checkpoints"]] == ["c1"]
    # what the guest wrote later is undone by the start from the checkpoint
    with open(upper, "r+b") as f:
        f.write(b"LATE")
    k("start", "--checkpoint", "c1", "g1")
    assert wait_for(lambda: status(k, "g1") == "running", 10)
    with open(upper, "rb") as f:
        assert f.read(4) == b"THEN"
    assert wait_for(lambda: len(vmm()) == 2, 10)           # the fake records its arguments as it starts
    args = vmm()[-1]
    assert args[args.index("--restore") + 1] == snap
    assert "--restore" not in vmm()[0]
    assert "container g1 is running: stop it first (kapsel stop g1)" in err(k, "start", "--checkpoint", "c1", "g1")
    # --leave-running: a second checkpoint, and the container goes on
    assert k("checkpoint", "create", "--leave-running", "g1", "c2", timeout=60).stdout == "c2\n"
    assert status(k, "g1") == "running"
    assert 'already has a checkpoint "c1"' in err(k, "checkpoint", "create", "--leave-running", "g1", "c1")
    assert sorted(k("checkpoint", "ls", "-q", "g1").stdout.split()) == ["c1", "c2"]
    k("stop", "g1", timeout=60)
    # start -a --checkpoint: the resumed guest starts when the attach asks (no output lost)
    a = subprocess.Popen(k.cmd("start", "-a", "--checkpoint", "c2", "g1"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert wait_for(lambda: len(vmm()) == 3, 10)
    assert vmm()[-1][vmm()[-1].index("--restore") + 1] == os.path.join(snapshots_dir(k, "g1"), "c2")
    k("stop", "g1", timeout=60)
    a.communicate(timeout=30)
    # the restore was for that one start: the next boots
    k("start", "g1")
    assert wait_for(lambda: len(vmm()) == 4, 10)
    assert "--restore" not in vmm()[-1]
    k("rm", "-f", "g1")
    assert_nothing_left(k)


@needs_guest
def test_writable_volumes_refuse_a_checkpoint(k, vmm, tmp_path):
    """A checkpoint does not hold a volume: starting from one would make the volume's disk anew
    under a guest that still has the old one mounted, then copy that back over the host's files."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "keep").write_text("host data\n")
    k("run", "-d", "--name", "g1", "--isolation=vm", "--network", "none", "-v", "%s:/data" % data,
      "-v", "%s:/ro:ro" % data, "busybox", "sleep", "300", timeout=120)
    assert wait_for(lambda: status(k, "g1") == "running", 10)
    msg = err(k, "checkpoint", "create", "g1", "c1")
    assert "writable volume %s:/data" % data in msg and ":ro" in msg, msg
    assert status(k, "g1") == "running" and not os.path.exists(snapshots_dir(k, "g1"))
    k("rm", "-f", "g1")
    # read-only volumes only: allowed
    k("run", "-d", "--name", "g2", "--isolation=vm", "--network", "none", "-v", "%s:/ro:ro" % data,
      "busybox", "sleep", "300", timeout=120)
    assert wait_for(lambda: status(k, "g2") == "running", 10)
    assert k("checkpoint", "create", "g2", "c1", timeout=60).stdout == "c1\n"
    k("rm", "-f", "g2")
    assert (data / "keep").read_text() == "host data\n"
    assert_nothing_left(k)


@needs_guest
def test_start_from_checkpoint_keeps_the_guest_address(k, vmm):
    """The resumed guest still has the address it had: the start asks its network for that one, and
    when another container took it meanwhile, the tap gets its own address and translates."""
    ip = lambda c: k.inspect(c)["NetworkSettings"]["IPAddress"]  # noqa: E731
    k("run", "-d", "--name", "g1", "--isolation=vm", "busybox", "sleep", "300", timeout=120)
    assert wait_for(lambda: status(k, "g1") == "running", 10)
    old = ip("g1")
    assert old and k("checkpoint", "create", "g1", "c1", timeout=60).stdout == "c1\n"
    with open(os.path.join(snapshots_dir(k, "g1"), "c1", "snapshot.json")) as f:
        assert json.load(f)["Address"] == old
    k("run", "-d", "--name", "g2", "--isolation=vm", "busybox", "sleep", "300", timeout=120)
    assert wait_for(lambda: status(k, "g2") == "running", 10) and ip("g2") == old    # the first free one
    k("start", "--checkpoint", "c1", "g1")
    assert wait_for(lambda: status(k, "g1") == "running", 10) and ip("g1") not in (old, "")
    net = k.inspect("g1")["NetworkSettings"]["Networks"]["bridge"]
    assert net["GuestIPAddress"] == old, net
    k("stop", "g1")
    k("rm", "-f", "g2")
    k("start", "--checkpoint", "c1", "g1")
    assert wait_for(lambda: status(k, "g1") == "running", 10) and ip("g1") == old
    k("rm", "-f", "g1")
    assert_nothing_left(k)


@needs_guest
def test_resumed_guest_is_not_killed_by_the_boot_watchdog(k, vmm):
    """A resumed guest's init does not announce itself again: with --boot-timeout 2 a boot that says
    nothing is stopped, a resume is not."""
    k("create", "--name", "g1", "--isolation=vm", "--network", "none", "--boot-timeout", "2", "busybox", "sleep", "300")
    lay_out_checkpoint(k.root, k.inspect("g1")["Id"], "warm", upper=b"\0" * 4096)
    k("start", "--checkpoint", "warm", "g1", timeout=120)
    assert wait_for(lambda: status(k, "g1") == "running", 10)
    assert not wait_for(lambda: status(k, "g1") != "running", 4)
    k("rm", "-f", "g1")
    assert_nothing_left(k)


@needs_guest
def test_failed_checkpoint_leaves_nothing(k, fake_kvm, monkeypatch, tmp_path):
    """A kapsel-vmm that has no control socket: the checkpoint fails, its directory goes, the
    container keeps running."""
    f = tmp_path / "mute-vmm"
    f.write_text("#!/bin/sh\nlog=/dev/null\nwhile [ $# -gt 0 ]; do [ \"$1\" = --console-log ] && log=$2; shift; done\n"
                 "echo KAPSEL-INIT >> $log\nexec sleep 300\n")
    f.chmod(0o755)
    monkeypatch.setenv("KAPSEL_VMM", str(f))
    k("run", "-d", "--name", "g1", "--isolation=vm", "--network", "none", "busybox", "sleep", "300", timeout=120)
    assert wait_for(lambda: status(k, "g1") == "running", 10)
    msg = err(k, "checkpoint", "create", "g1", "c1")
    assert "checkpoint c1 of container g1" in msg and "control socket" in msg, msg
    assert not os.path.exists(snapshots_dir(k, "g1"))
    assert status(k, "g1") == "running"
    k("rm", "-f", "g1")
    assert_nothing_left(k)


# --- kapseld: docker's routes over the same engine functions ---

def cli(d, *args, env=None):
    return subprocess.run([KAPSEL, "--root", d.root] + list(args), env=env, check=True, capture_output=True, text=True)


def api(d, method, path, body=None):
    st, raw = d.http(method, path, body)
    return st, json.loads(raw) if raw.strip() else None


def test_daemon_routes_for_an_isolated_container(d, tmp_path):
    dev = tmp_path / "fake-kvm"
    dev.write_text("")
    env = dict(os.environ, KAPSEL_KVM_DEVICE=str(dev))
    cli(d, "create", "--name", "g1", "--isolation=vm", "busybox", "sleep", "30", env=env)
    cid = json.loads(cli(d, "inspect", "g1").stdout)[0]["Id"]
    lay_out_checkpoint(d.root, cid, "warm")
    st, rows = api(d, "GET", "/containers/g1/checkpoints")
    assert st == 200 and [r["Name"] for r in rows] == ["warm"], rows
    st, body = api(d, "POST", "/containers/g1/checkpoints", {"CheckpointID": "s2"})
    assert st == 409 and "only a running or paused container" in body["message"], body
    st, body = api(d, "POST", "/containers/g1/checkpoints", {"CheckpointID": "../x"})
    assert st == 400 and "invalid checkpoint name" in body["message"], body
    st, body = api(d, "POST", "/containers/g1/start?checkpoint=nope")
    assert st == 404 and 'no checkpoint "nope"' in body["message"], body
    # docker's checkpoint directory is refused by name, never ignored (warm would be used instead)
    for method, path, body in (("GET", "/containers/g1/checkpoints?dir=/srv/ck", None),
                               ("POST", "/containers/g1/checkpoints", {"CheckpointID": "s3", "CheckpointDir": "/srv/ck"}),
                               ("POST", "/containers/g1/start?checkpoint=warm&checkpoint-dir=/srv/ck", None),
                               ("DELETE", "/containers/g1/checkpoints/warm?dir=/srv/ck", None)):
        st, b = api(d, method, path, body)
        assert st == 400 and "--checkpoint-dir is not supported" in b["message"], (path, b)
    st, body = api(d, "DELETE", "/containers/g1/checkpoints/nope")
    assert st == 404 and "nope" in body["message"], body
    st, _ = api(d, "DELETE", "/containers/g1/checkpoints/warm")
    assert st == 204 and not os.path.exists(os.path.join(d.root, "containers", cid, "snapshots"))
    st, rows = api(d, "GET", "/containers/g1/checkpoints")
    assert st == 200 and rows == []
    # a plain container: refused, saying why and what instead
    cli(d, "create", "--name", "plain", "busybox", "true")
    for method, path, body in (("GET", "/containers/plain/checkpoints", None),
                               ("POST", "/containers/plain/checkpoints", {"CheckpointID": "x"}),
                               ("POST", "/containers/plain/start?checkpoint=x", None)):
        st, b = api(d, method, path, body)
        assert st == 400 and "need --isolation=vm" in b["message"] and "CRIU" in b["message"], (path, b)
