"""Fixtures for the runtime's integration tests.

Every test gets its own state root and throw-away bundles (busybox + the static probe) under
pytest's tmp_path; nothing of the host is used but /bin/busybox as a source of files. After
each test, every container it made is force-deleted, and for kapsel-runtime the test fails
if anything is left: state directory, cgroup directory, mount, or process.

KAPSEL_RUNTIME selects the binary (runc works too: tests of kapsel-specific behaviour are
marked `kapsel` and skipped for it)."""
import copy
import glob
import json
import os
import subprocess
import tempfile

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNTIME = os.environ.get("KAPSEL_RUNTIME", os.path.join(REPO, "build/src/cli/kapsel-runtime"))
PROBE = os.environ.get("KAPSEL_PROBE", os.path.join(REPO, "build/src/helpers/kapsel-probe"))
IS_KAPSEL = os.path.basename(RUNTIME) == "kapsel-runtime"

DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]

BASE_CONFIG = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], "cwd": "/",
        "capabilities": {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "probe",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
    ],
    "linux": {
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
        "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/bus"],
    },
}


def pytest_configure(config):
    config.addinivalue_line("markers", "kapsel: behaviour specific to kapsel-runtime (exit codes, messages)")
    config.addinivalue_line("markers", "kvm: needs KVM (runs inside the nested harness)")
    config.addinivalue_line("markers", "slow: takes minutes (a nested L1 boot)")


def pytest_collection_modifyitems(config, items):
    if IS_KAPSEL:
        return
    skip = pytest.mark.skip(reason="kapsel-specific; runtime under test is %s" % RUNTIME)
    for item in items:
        if "kapsel" in item.keywords:
            item.add_marker(skip)


class Runtime:
    def __init__(self, root, tmp):
        self.root, self.tmp, self.ids = root, tmp, []

    def __call__(self, *args, check=True, timeout=30, **kw):
        if args and args[0] in ("create", "run") and args[-1] not in self.ids:
            self.ids.append(args[-1])
        # Files, not pipes: a created container inherits stdio and keeps a pipe open forever.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errf:
            p = subprocess.run([RUNTIME, "--root", self.root] + list(args), stdout=out, stderr=errf,
                               stdin=kw.pop("stdin", subprocess.DEVNULL), timeout=timeout, **kw)
            out.seek(0)
            errf.seek(0)
            p.stdout, p.stderr = out.read().decode(errors="replace"), errf.read().decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError("%s %s failed (%d):\n%s%s" % (RUNTIME, " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def state(self, cid):
        return json.loads(self("state", cid).stdout)


def leftovers(tmp, ids):
    found = []
    for line in open("/proc/self/mountinfo"):
        if str(tmp) in line:
            found.append("mount: " + line.split()[4])
    for cid in ids:
        found += ["cgroup: " + d for d in glob.glob("/sys/fs/cgroup/*/kapsel/%s" % cid)]
        found += ["cgroup: " + d for d in glob.glob("/sys/fs/cgroup/kapsel/%s" % cid)]
    return found


@pytest.fixture
def rt(tmp_path):
    if not os.access(RUNTIME, os.X_OK):
        pytest.skip("runtime %s not built" % RUNTIME)
    r = Runtime(str(tmp_path / "state"), tmp_path)
    yield r
    for cid in r.ids:
        r("delete", "--force", cid, check=False)
    if IS_KAPSEL:
        left = leftovers(tmp_path, r.ids)
        state = os.listdir(r.root) if os.path.isdir(r.root) else []
        assert not left and not state, "left behind: %s %s" % (left, state)


def _merge(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


@pytest.fixture
def bundle(tmp_path):
    """bundle(args, **changes) -> bundle dir; `changes` merge into the config (dicts deeply)."""
    if not os.access(PROBE, os.X_OK):
        pytest.skip("probe %s not built" % PROBE)
    counter = [0]

    def make(args, edit=None, **changes):
        counter[0] += 1
        b = tmp_path / ("bundle%d" % counter[0])
        rootfs = b / "rootfs"
        for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "root"):
            (rootfs / d).mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "/bin/busybox", str(rootfs / "bin/busybox")], check=True)
        for applet in ("sh", "cat", "echo", "ls", "sleep", "touch", "wc", "id", "head", "tr", "mkdir", "stat", "true"):
            os.symlink("busybox", str(rootfs / "bin" / applet))
        subprocess.run(["cp", PROBE, str(rootfs / "bin/probe")], check=True)
        (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        cfg = copy.deepcopy(BASE_CONFIG)
        cfg["process"]["args"] = args
        _merge(cfg, changes)
        if edit:
            edit(cfg)
        (b / "config.json").write_text(json.dumps(cfg, indent=1))
        return str(b)
    return make


def kv(text):
    """Parse the probe's key=value lines."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
