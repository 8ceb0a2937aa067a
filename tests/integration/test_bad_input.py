"""Bad input gets its own exit code and a message naming the file, the field and the problem,
and a failed operation leaves nothing behind (the `rt` fixture checks state directories,
cgroups and mounts after every test). Exit codes: docs/kapsel-runtime.8.md."""
import json
import os

import pytest

pytestmark = pytest.mark.kapsel


def write_config(b, text):
    with open(os.path.join(b, "config.json"), "w") as f:
        f.write(text)


def test_malformed_json(rt, bundle):
    b = bundle(["/bin/true"])
    write_config(b, '{"ociVersion": "1.0.2", "process": ')
    p = rt("create", "--bundle", b, "c1", check=False)
    assert p.returncode == 3
    assert "config.json" in p.stderr and "line 1" in p.stderr


def test_invalid_field_named(rt, bundle):
    b = bundle(["/bin/true"], linux={"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "nett"}]})
    p = rt("create", "--bundle", b, "c1", check=False)
    assert p.returncode == 3
    assert "linux.namespaces[2]" in p.stderr and '"nett"' in p.stderr


def test_missing_rootfs(rt, bundle):
    b = bundle(["/bin/true"], root={"path": "no-such-rootfs"})
    p = rt("create", "--bundle", b, "c1", check=False)
    assert p.returncode == 6
    assert "no-such-rootfs" in p.stderr


def has_cap_sys_resource():
    for line in open("/proc/self/status"):
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 24))
    return False


def test_rlimit_refused_by_host(rt, bundle):
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if has_cap_sys_resource():
        pytest.skip("this host grants CAP_SYS_RESOURCE: any rlimit up to fs.nr_open is allowed")
    ask = hard + 1000
    b = bundle(["/bin/true"], process={"rlimits": [{"type": "RLIMIT_NOFILE", "soft": ask, "hard": ask}]})
    p = rt("run", "--bundle", b, "c1", check=False)
    assert p.returncode == 7
    assert "RLIMIT_NOFILE" in p.stderr and str(hard) in p.stderr


def test_duplicate_id(rt, bundle):
    b = bundle(["/bin/probe", "sleep", "600"])
    rt("create", "--bundle", b, "c1")
    p = rt("create", "--bundle", b, "c1", check=False)
    assert p.returncode == 5
    assert "c1" in p.stderr
    assert rt.state("c1")["status"] == "created"          # the first one is untouched


@pytest.mark.parametrize("args", [["state", "nope"], ["kill", "nope"], ["start", "nope"], ["pause", "nope"],
                                  ["ps", "nope"], ["exec", "nope", "/bin/true"]])
def test_missing_container(rt, args):
    p = rt(*args, check=False)
    # exec, as runc's, exits 255 for any failure of its own (the command's codes pass through)
    assert p.returncode == (255 if args[0] == "exec" else 4), p.stderr
    assert "nope" in p.stderr


def test_delete_missing_and_force(rt):
    assert rt("delete", "nope", check=False).returncode == 4
    assert rt("delete", "--force", "nope", check=False).returncode == 0


def test_wrong_state(rt, bundle):
    rt("run", "--detach", "--bundle", bundle(["/bin/true"]), "c1")
    import time
    for _ in range(100):
        if rt.state("c1")["status"] == "stopped":
            break
        time.sleep(0.05)
    p = rt("start", "c1", check=False)
    assert p.returncode == 8
    assert "stopped" in p.stderr


def test_usage_errors(rt):
    assert rt("frobnicate", check=False).returncode == 2
    assert rt("create", check=False).returncode == 2
    p = rt("--systemd-cgroup", "create", "--bundle", "/nonexistent", "c1", check=False)
    assert p.returncode != 0 and "systemd" in p.stderr.lower()


def test_failed_create_leaves_nothing_and_half_created_delete(rt, bundle):
    # program missing: create fails after namespaces, cgroup and mounts were set up
    p = rt("create", "--bundle", bundle(["/does/not/exist"]), "c1", check=False)
    assert p.returncode == 3 and "/does/not/exist" in p.stderr
    assert not os.path.isdir(rt.root) or not os.listdir(rt.root)


def test_log_file_json(rt, bundle, tmp_path):
    log = tmp_path / "log.json"
    b = bundle(["/bin/true"], root={"path": "missing"})
    p = rt("--log", str(log), "--log-format", "json", "create", "--bundle", b, "c1", check=False)
    assert p.returncode == 6
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["level"] == "error" and "missing" in e["msg"] for e in entries)
