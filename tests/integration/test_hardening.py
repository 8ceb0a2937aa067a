"""What the process inside sees: capabilities, no_new_privs, seccomp, masked and read-only
paths, read-only root, user namespaces; and one test per known escape class, each of which
fails on a runtime without the corresponding defence."""
import hashlib
import os
import subprocess

import pytest
from conftest import DEFAULT_CAPS, IS_KAPSEL, RUNTIME, kv

CAP_NUMBERS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
               "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13,
               "CAP_SYS_CHROOT": 18, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31}


def mask(caps):
    return "%016x" % sum(1 << CAP_NUMBERS[c] for c in caps)


def test_capability_sets_and_no_new_privs(rt, bundle):
    caps = kv(rt("run", "--bundle", bundle(["/bin/probe", "caps"]), "c1").stdout)
    assert caps["CapBnd"] == caps["CapEff"] == caps["CapPrm"] == mask(DEFAULT_CAPS)
    assert caps["CapInh"] == "0000000000000000"      # empty unless asked
    assert caps["CapAmb"] == "0000000000000000"
    assert caps["NoNewPrivs"] == "1"


def test_ambient_and_inheritable_when_asked(rt, bundle):
    b = bundle(["/bin/probe", "caps"], process={"user": {"uid": 1000, "gid": 1000}, "capabilities": {
        k: ["CAP_NET_BIND_SERVICE"] for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}})
    caps = kv(rt("run", "--bundle", b, "c1").stdout)
    assert caps["CapAmb"] == caps["CapEff"] == mask(["CAP_NET_BIND_SERVICE"])


def test_seccomp_errno_and_argument_filter(rt, bundle):
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
        # mkdir only with mode 0700: the probe uses 0700, so it is refused; other modes pass
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
        {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
    ]}
    b = bundle(["/bin/sh", "-c", "/bin/probe syscall getppid; /bin/probe syscall mkdir /tmp/a; mkdir -m 755 /tmp/b && echo other=ok"],
               linux={"seccomp": seccomp})
    out = rt("run", "--bundle", b, "c1").stdout
    assert "errno=EXDEV" in out
    assert "errno=EPERM" in out
    assert "other=ok" in out
    assert kv(rt("run", "--bundle", bundle(["/bin/probe", "caps"], linux={"seccomp": seccomp}), "c2").stdout)["Seccomp"] == "2"


def test_masked_and_readonly_paths_and_readonly_root(rt, bundle):
    b = bundle(["/bin/sh", "-c", "wc -c < /proc/keys; /bin/probe write /proc/sys/kernel/domainname; "
                                 "touch /newfile 2>&1; /bin/probe write /tmp/x"])
    out = rt("run", "--bundle", b, "c1").stdout
    lines = out.splitlines()
    assert lines[0].strip() == "0"                                # /proc/keys masked by /dev/null
    assert lines[1] == "write=EROFS"                              # read-only /proc/sys
    assert "Read-only file system" in out                         # root.readonly
    assert lines[-1] == "write=ENOENT"                            # /tmp is a writable tmpfs (file absent)


@pytest.mark.kapsel
def test_cgroupfs_skeleton_read_only_without_cgroup_namespace(rt, bundle):
    # "rw" makes the container's own cgroup directories writable (as runc); the tmpfs that
    # holds them stays read-only, and nothing lands outside the container's cgroup
    def edit(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "cgroup"]
        cfg["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                              "options": ["nosuid", "noexec", "nodev", "relatime", "rw"]})
    b = bundle(["/bin/sh", "-c", "mkdir /sys/fs/cgroup/pids/escape 2>&1 || true; mkdir /sys/fs/cgroup/escape 2>&1; true"],
               edit=edit)
    out = rt("run", "--bundle", b, "c1").stdout
    assert "Read-only file system" in out
    assert not os.path.exists("/sys/fs/cgroup/pids/escape") and not os.path.exists("/sys/fs/cgroup/escape")
    b = bundle(["/bin/sh", "-c", "mkdir /sys/fs/cgroup/pids/escape 2>&1; true"], edit=lambda c: (edit(c), c["mounts"][-1]["options"].append("ro")))
    assert "Read-only file system" in rt("run", "--bundle", b, "c2").stdout      # "ro": own dirs too


def test_user_namespace_maps_root(rt, bundle):
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["root"]["readonly"] = False
    b = bundle(["/bin/sh", "-c", "/bin/probe ids; cat /proc/self/uid_map"], edit=edit)
    os.chown(os.path.join(b, "rootfs"), 100000, 100000)
    # the mapped root is an unprivileged host uid: it must be able to reach the bundle
    d = os.path.dirname(b)
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)
    out = rt("run", "--bundle", b, "c1").stdout
    ids = kv(out)
    assert ids["uid"] == "0" and ids["euid"] == "0"
    assert out.split()[-3:] == ["0", "100000", "65536"]


# --- escape classes ---------------------------------------------------------------------

def test_cve_2019_5736_runtime_binary_never_writable(rt, bundle):
    before = hashlib.sha256(open(RUNTIME, "rb").read()).hexdigest()
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c1")
    # exec'd processes race the runtime's own exec: try from inside while an exec is set up
    out = rt("exec", "c1", "/bin/probe", "exe-write").stdout
    res = kv(out)
    for key in ("self", "parent", "init"):
        assert res[key] != "ok", out
    after = hashlib.sha256(open(RUNTIME, "rb").read()).hexdigest()
    assert before == after


def test_cve_2024_21626_no_leaked_fds(rt, bundle, tmp_path):
    secret = open(str(tmp_path / "host-file"), "w")
    hostdir = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        p = rt("run", "--bundle", bundle(["/bin/probe", "fds"]), "c1", pass_fds=(secret.fileno(), hostdir))
    finally:
        os.close(hostdir)
        secret.close()
    assert p.stdout.strip() == "fds=done", p.stdout
    rt("run", "--detach", "--bundle", bundle(["/bin/probe", "sleep", "600"]), "c2")
    assert rt("exec", "c2", "/bin/probe", "fds").stdout.strip() == "fds=done"


@pytest.mark.parametrize("cwd", ["/proc/self/fd/3", "/proc/self/fd/7", "/proc/self/cwd"])
def test_cve_2024_21626_cwd_cannot_escape(rt, bundle, cwd):
    p = rt("run", "--bundle", bundle(["/bin/probe", "cwd"], process={"cwd": cwd}), "c1", check=False)
    if p.returncode == 0:
        # if a runtime accepts it, the cwd must still be inside the container's root
        assert kv(p.stdout)["cwd"].startswith("/") and "(unreachable)" not in p.stdout
    else:
        assert IS_KAPSEL is False or "cwd" in p.stderr.lower() or "proc" in p.stderr


def test_symlinked_mount_destination_stays_in_rootfs(rt, bundle, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    def edit(cfg):
        cfg["mounts"].append({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"})
        cfg["root"]["readonly"] = False
    b = bundle(["/bin/sh", "-c", "touch /evil/marker && echo wrote"], edit=edit)
    os.symlink(str(outside), os.path.join(b, "rootfs", "evil"))        # absolute: points at the host dir
    p = rt("run", "--bundle", b, "c1", check=False)
    assert os.listdir(str(outside)) == []
    assert not os.path.ismount(str(outside))


def test_dev_null_symlink_not_followed_for_masking(rt, bundle, tmp_path):
    """CVE-2025-31133 class: a rootfs whose /dev/null points elsewhere must not make the runtime
    bind something else over masked paths or write through it."""
    target = tmp_path / "target"
    target.write_text("host data\n")
    def edit(cfg):
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] not in ("/dev", "/dev/pts", "/dev/shm")]
        cfg["root"]["readonly"] = False
    b = bundle(["/bin/sh", "-c", "cat /proc/keys | wc -c"], edit=edit)
    os.symlink(str(target), os.path.join(b, "rootfs", "dev", "null"))
    rt("run", "--bundle", b, "c1", check=False)
    assert target.read_text() == "host data\n"
    assert not os.path.ismount(str(target))


def test_proc_writes_resolved_in_container(rt, bundle):
    """sysctl writes go through the container's procfs, never a path the rootfs controls."""
    b = bundle(["/bin/sh", "-c", "cat /proc/sys/net/ipv4/ip_forward"], linux={"sysctl": {"net.ipv4.ip_forward": "1"}})
    host = open("/proc/sys/net/ipv4/ip_forward").read()
    out = rt("run", "--bundle", b, "c1").stdout
    assert out.strip() == "1"
    assert open("/proc/sys/net/ipv4/ip_forward").read() == host


def test_non_namespaced_sysctl_refused(rt, bundle):
    p = rt("run", "--bundle", bundle(["/bin/true"], linux={"sysctl": {"kernel.panic": "1"}}), "c1", check=False)
    assert p.returncode != 0
