"""cgroup v2 behaviour of kapsel-runtime, inside a nested VM (pure v2 kernel, see
tests/harness/nested.py): limits written and enforced, the device eBPF filter, freeze and
thaw, update, forced delete of a frozen container, nothing left after a failed create.

One L1 boot runs every check in sequence; each check prints a marker line
    KAPSEL-CHECK <name> ok | KAPSEL-CHECK <name> FAIL <details>
and each becomes its own pytest case below."""
import copy
import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
import nested  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNTIME = os.environ.get("KAPSEL_RUNTIME", os.path.join(REPO, "build/src/cli/kapsel-runtime"))
BUNDLE_ROOTFS = os.path.join(REPO, "build/busybox-bundle/rootfs")

CHECKS = ["limits-visible", "memory-oom", "pids-enforced", "devices-filter", "freeze-thaw", "update",
          "delete-frozen", "failed-create-clean"]

BASE = {
    "ociVersion": "1.1.0",
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
                "env": ["PATH=/bin:/sbin:/usr/bin"], "cwd": "/",
                "capabilities": {k: ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
                                 for k in ("bounding", "effective", "permitted")},
                "noNewPrivileges": True},
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "v2",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
    ],
    "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network", "cgroup")],
              "resources": {"devices": [{"allow": False, "access": "rwm"}]}},
}


def config(args, resources=None, extra_mounts=()):
    c = copy.deepcopy(BASE)
    c["process"]["args"] = args
    c["linux"]["resources"].update(resources or {})
    c["mounts"].extend(extra_mounts)
    return json.dumps(c)


INIT = r"""#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp; mount -t tmpfs run /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup || echo "KAPSEL-HARNESS no cgroup2"
echo "KAPSEL-HARNESS controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
R="kapsel-runtime --root /run/kr"
use() { mkdir -p /run/b/$1; ln -sfn /bundle/rootfs /run/b/$1/rootfs; cp /cfg/$1.json /run/b/$1/config.json; }
report() { if [ "$2" = ok ]; then echo "KAPSEL-CHECK $1 ok"; else echo "KAPSEL-CHECK $1 FAIL $(echo "$3" | tr '\n' '|' | head -c 600)"; fi; }
expect_eq() { if [ "$2" = "$3" ]; then report "$1" ok; else report "$1" fail "want [$3] got [$2]"; fi; }

use limits
out=$($R run --bundle /run/b/limits lim 2>&1)
expect_eq limits-visible "$(echo $out)" "67108864 32 20 50000 100000"

use oom
$R run --bundle /run/b/oom oom >/dev/null 2>&1; rc=$?
expect_eq memory-oom "$rc" 137

use pids
out=$($R run --bundle /run/b/pids pids 2>&1)
case "$out" in *"started 3"*) report pids-enforced fail "$out";; *"fork"*|*"Resource temporarily"*) report pids-enforced ok;; *) report pids-enforced fail "$out";; esac

use devices
out=$($R run --bundle /run/b/devices dev 2>&1)
case "$out" in *"null-ok"*"kmsg-denied"*) report devices-filter ok;; *) report devices-filter fail "$out";; esac

use sleeper
$R run -d --bundle /run/b/sleeper fz >/dev/null 2>&1
$R pause fz
st=$($R state fz | grep -o '"status": "[a-z]*"')
fr=$(cat /sys/fs/cgroup/kapsel/fz/cgroup.freeze 2>&1)
$R resume fz
st2=$($R state fz | grep -o '"status": "[a-z]*"')
$R kill fz KILL; sleep 0.5; $R delete fz
gone=$([ -d /sys/fs/cgroup/kapsel/fz ] && echo present || echo gone)
expect_eq freeze-thaw "$st $fr $st2 $gone" '"status": "paused" 1 "status": "running" gone'

$R run -d --bundle /run/b/sleeper up >/dev/null 2>&1
$R update --memory 52428800 --pids-limit 10 up
expect_eq update "$(cat /sys/fs/cgroup/kapsel/up/memory.max) $(cat /sys/fs/cgroup/kapsel/up/pids.max)" "52428800 10"
$R delete --force up

$R run -d --bundle /run/b/sleeper df >/dev/null 2>&1
$R pause df
timeout 20 $R delete --force df; rc=$?
left="$(ls /run/kr 2>/dev/null)$([ -d /sys/fs/cgroup/kapsel/df ] && echo cgroup-left)"
expect_eq delete-frozen "$rc [$left]" "0 []"

use bad
$R create --bundle /run/b/bad bad >/dev/null 2>&1; rc=$?
left="$(ls /run/kr 2>/dev/null)$([ -d /sys/fs/cgroup/kapsel/bad ] && echo cgroup-left)$(grep -c /run/b/bad /proc/self/mountinfo | grep -v '^0$')"
expect_eq failed-create-clean "$rc [$left]" "3 []"

echo KAPSEL-DONE
poweroff -f
"""


@pytest.fixture(scope="module")
def l1_output(tmp_path_factory):
    if os.environ.get("KAPSEL_SKIP_NESTED") == "1":
        pytest.skip("KAPSEL_SKIP_NESTED=1")
    reason = nested.missing_prerequisites()
    if reason:
        pytest.skip(reason)
    if not os.access(RUNTIME, os.X_OK) or not os.path.isdir(BUNDLE_ROOTFS):
        pytest.skip("kapsel-runtime or build/busybox-bundle not built")
    work = str(tmp_path_factory.mktemp("nested-v2"))
    vm = nested.L1Image(work)
    vm.add_binary(RUNTIME, "/bin/kapsel-runtime")
    vm.add_tree(BUNDLE_ROOTFS, "/bundle/rootfs")
    sh = lambda script: ["/bin/sh", "-c", script]  # noqa: E731
    vm.add_file("/cfg/limits.json", config(
        sh("cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpu.max"),
        {"memory": {"limit": 67108864}, "pids": {"limit": 32}, "cpu": {"shares": 512, "quota": 50000, "period": 100000}}))
    # the shell holds the whole command substitution in memory: 200 MiB against a 32 MiB limit
    vm.add_file("/cfg/oom.json", config(sh("x=$(head -c 209715200 /dev/zero | tr '\\0' a); echo survived"),
                                        {"memory": {"limit": 33554432, "swap": 33554432}}))
    vm.add_file("/cfg/pids.json", config(
        sh("n=0; for i in 1 2 3; do sleep 5 & n=$((n+1)); done; echo started $n"), {"pids": {"limit": 3}}))
    vm.add_file("/cfg/devices.json", config(
        sh("echo x > /dev/null && echo null-ok; head -c 1 /dev/kmsg >/dev/null 2>&1 || echo kmsg-denied"), {},
        [{"destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]}]))
    vm.add_file("/cfg/sleeper.json", config(["/bin/sleep", "600"], {"memory": {"limit": 67108864}, "pids": {"limit": 16}}))
    vm.add_file("/cfg/bad.json", config(["/does/not/exist"], {"memory": {"limit": 67108864}}))
    vm.set_init(INIT)
    out = vm.boot(timeout=int(os.environ.get("KAPSEL_NESTED_TIMEOUT", "400")))
    with open(os.path.join(work, "console.log"), "w") as f:
        f.write(out)
    if "KAPSEL-DONE" not in out:
        pytest.fail("the nested VM did not finish its checks; console tail:\n" + out[-3000:])
    return out


@pytest.mark.parametrize("check", CHECKS)
def test_cgroup_v2(l1_output, check):
    m = re.search(r"^KAPSEL-CHECK %s (ok|FAIL.*)$" % re.escape(check), l1_output, re.M)
    assert m, "no marker for %s; console tail:\n%s" % (check, l1_output[-2000:])
    assert m.group(1) == "ok", m.group(1)
