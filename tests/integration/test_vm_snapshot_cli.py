"""`kapsel vm snapshot|restore|clone` on the host, without KVM (the fixtures of test_vm_cli.py: a
fake KVM device gets past kapsel's own check). Every refusal is a clear message with exit 125 and
nothing left behind; a snapshot directory laid out by hand shows in `snapshot ls` and inspect, and a
restore or clone from it starts kapsel-vmm with --restore (which refuses the bogus state: the
message lands in the VM's log). The real snapshots run in the nested suite (test_vm_snapshot.py)."""
import json
import os

import pytest

from test_engine import ids_of, wait_for
from test_vm_cli import KERNEL, VMM, assert_nothing_left, fake_kvm, k, vm_netns  # noqa: F401 (fixtures)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def err(k, *args):
    p = k(*args, check=False)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    return p.stderr


def fake_snapshot(k, vm, name, disk_bytes=None):
    """A snapshot directory as `snapshot create` leaves it, with a state kapsel-vmm refuses."""
    d = os.path.join(k.root, "containers", k.inspect(vm)["Id"], "snapshots", name)
    os.makedirs(d)
    with open(os.path.join(REPO, "tests/fuzz/corpus/fuzz-vmm-state/bad-checksum"), "rb") as f:
        state = f.read()
    with open(os.path.join(d, "state"), "wb") as f:
        f.write(state)
    with open(os.path.join(d, "memory"), "wb") as f:
        f.truncate(256 << 20)
    if disk_bytes is not None:
        with open(os.path.join(d, "disk-0.img"), "wb") as f:
            f.write(disk_bytes)
    with open(os.path.join(d, "snapshot.json"), "w") as f:
        json.dump({"Name": name, "Created": 1700000000, "Memory": 256 << 20, "Cpus": 1, "Disks": 1}, f)
    return d


def test_snapshot_of_a_stopped_vm_refused(k, fake_kvm):
    k("vm", "create", "--name", "v1", "--kernel", KERNEL, "--net", "none")
    assert "VM v1 is created; only a running or paused VM" in err(k, "vm", "snapshot", "create", "v1", "s1")
    assert not os.path.exists(os.path.join(k.root, "containers", k.inspect("v1")["Id"], "snapshots", "s1"))


def test_names_and_missing_snapshots(k, fake_kvm):
    k("vm", "create", "--name", "v1", "--kernel", KERNEL, "--net", "none")
    assert "invalid snapshot name" in err(k, "vm", "snapshot", "create", "v1", "../x")
    assert 'has no snapshot "nope"' in err(k, "vm", "restore", "v1", "nope")
    assert 'has no snapshot "nope"' in err(k, "vm", "clone", "v1", "nope", "v2")
    assert 'has no snapshot "nope"' in err(k, "vm", "snapshot", "rm", "v1", "nope")
    assert "unknown command" in err(k, "vm", "snapshot", "frob", "v1")
    assert "expected" in err(k, "vm", "restore", "v1")
    # --format json: one object a line, as docker 28's listings (none: no line)
    assert k("vm", "snapshot", "ls", "v1", "--format", "json").stdout.strip() == ""
    assert k.inspect("v1")["Snapshots"] == []
    assert len(ids_of(k.root)) == 1                         # no clone row was made


def test_snapshot_of_a_container_refused(k):
    k("run", "-d", "--name", "c1", "busybox", "sleep", "30")
    assert "c1 is a container, not a micro-VM" in err(k, "vm", "snapshot", "create", "c1", "s1")
    k("rm", "-f", "c1")


def test_listed_and_inspected_and_removed(k, fake_kvm):
    k("vm", "create", "--name", "v1", "--kernel", KERNEL, "--net", "none")
    d = fake_snapshot(k, "v1", "warm")
    rows = [json.loads(l) for l in k("vm", "snapshot", "ls", "v1", "--format", "json").stdout.splitlines()]
    assert [r["Name"] for r in rows] == ["warm"]
    assert rows[0]["SizeBytes"] < 1 << 20                   # the memory file is a hole
    assert k("vm", "snapshot", "ls", "v1", "-q").stdout == "warm\n"
    assert [s["Name"] for s in k.inspect("v1")["Snapshots"]] == ["warm"]
    assert k("vm", "snapshot", "rm", "v1", "warm").stdout == "warm\n"
    assert not os.path.exists(d)


@pytest.mark.skipif(not os.path.exists(VMM), reason="kapsel-vmm not built")
def test_restore_puts_the_disk_back_and_starts_kapsel_vmm_restoring(k, fake_kvm, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"now" + b"\0" * 4093)
    k("vm", "create", "--name", "v1", "--kernel", KERNEL, "--net", "none", "--disk", str(disk))
    fake_snapshot(k, "v1", "s1", b"then" + b"\0" * 4092)
    assert k("vm", "restore", "v1", "s1").stdout == "v1\n"
    assert disk.read_bytes()[:4] == b"then"
    assert wait_for(lambda: k.inspect("v1")["State"]["Status"] == "exited", 10)
    # kapsel-vmm got --restore and refused the damaged state before touching KVM
    assert "checksum mismatch" in k("vm", "logs", "v1").stderr
    # the restore is for one start only: the next start boots (and fails on the fake KVM device)
    k("vm", "start", "v1")
    assert wait_for(lambda: k.inspect("v1")["State"]["Status"] == "exited", 10)
    assert "KVM API version" in k("vm", "logs", "v1").stderr


@pytest.mark.skipif(not os.path.exists(VMM), reason="kapsel-vmm not built")
def test_clone_gets_its_own_disk(k, fake_kvm, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"src" + b"\0" * 4093)
    k("vm", "create", "--name", "v1", "--kernel", KERNEL, "--net", "none", "--disk", str(disk))
    fake_snapshot(k, "v1", "s1", b"snap" + b"\0" * 4092)
    cid = k("vm", "clone", "v1", "s1", "v2").stdout.strip()
    assert len(cid) == 64
    doc = k.inspect("v2")
    own = doc["Config"]["Disks"][0]["Path"]
    assert own.startswith(os.path.join(k.root, "containers", cid))
    with open(own, "rb") as f:
        assert f.read(4) == b"snap"
    assert disk.read_bytes()[:3] == b"src"                  # the source's disk is untouched
    assert wait_for(lambda: k.inspect("v2")["State"]["Status"] == "exited", 10)
    assert "checksum mismatch" in k("vm", "logs", "v2").stderr
    assert "already in use" in err(k, "vm", "clone", "v1", "s1", "v2")


def test_help(k):
    for sub in ("snapshot", "restore", "clone"):
        p = k("vm", sub, "--help")
        assert p.stdout.startswith("Usage: kapsel vm %s" % sub) and "Example" in p.stdout
    assert "snapshot" in k("vm", "--help").stdout


# --- live migration: the refusals (the migration itself runs in the nested suite) ---

def test_migrate_needs_a_running_vm(k, fake_kvm):
    k("vm", "create", "--name", "v1", "--kernel", KERNEL, "--net", "none")
    assert "only a running VM migrates" in err(k, "vm", "migrate", "v1", "--to", "unix:/tmp/x", "--token", "t")
    assert "expected VM --to" in err(k, "vm", "migrate", "v1")
    assert "--max-downtime 0" in err(k, "vm", "migrate", "v1", "--to", "unix:/x", "--max-downtime", "0")


def test_receive_refusals_leave_nothing(k, fake_kvm):
    assert "expected NAME --listen" in err(k, "vm", "receive", "v9", "--kernel", KERNEL)
    assert "expected unix:PATH or tcp" in err(k, "vm", "receive", "v9", "--listen", "udp:1", "--token", "t",
                                              "--kernel", KERNEL, "--net", "none")
    assert "--token of 1 to 256" in err(k, "vm", "receive", "v9", "--listen", "unix:/tmp/x.sock", "--kernel", KERNEL,
                                        "--net", "none")
    assert_nothing_left(k)


@pytest.mark.skipif(not os.path.exists(VMM), reason="kapsel-vmm not built")
def test_receive_starts_kapsel_vmm_incoming(k, fake_kvm, tmp_path):
    sock = tmp_path / "mig.sock"
    vid = k("vm", "receive", "v9", "--listen", "unix:%s" % sock, "--token", "s3cret", "--kernel", KERNEL,
            "--memory", "256M", "--net", "none").stdout.strip()
    assert len(vid) == 64
    # the fake KVM device stops kapsel-vmm before it listens: recorded like any failed start
    assert wait_for(lambda: k.inspect("v9")["State"]["Status"] == "exited", 10)
    assert "KVM API version" in k("vm", "logs", "v9").stderr
    assert not sock.exists()


def test_migrate_help(k):
    for sub in ("migrate", "receive"):
        p = k("vm", sub, "--help")
        assert p.stdout.startswith("Usage: kapsel vm %s" % sub) and "Example" in p.stdout
