"""`kapsel vm ...` on the host, without KVM: every error of `vm run`/`vm create` (a clear message,
exit 125, and nothing left behind: no row, no directory, no tap, no monitor), VMs listed with
containers (`vm ls`, `ps` KIND, inspect), removal through `vm rm` and `rm`, and the monitor's VM
payload end to end with a KVM device that is not one (kapsel-vmm starts, fails, and its exit
status and message are recorded like a container's).

KAPSEL_KVM_DEVICE is a test-only override of /dev/kvm: a regular file gets past kapsel's own
check (kapsel-vmm then fails on it), a missing path tests the "no KVM" error on any host, and a
character device that is not KVM (/dev/null) with KAPSEL_KVM_SYSFS (a module directory of the
test's own) tests the refusal of a PVM or non-hardware KVM. KAPSEL_VMM points the monitor at a fake
kapsel-vmm (a shell script) to test what happens when it is killed, fails or never boots.
The boots themselves run in the nested suite (test_vm_cli_nested.py)."""
import glob
import json
import os
import shutil
import subprocess

import pytest

from test_engine import BUSYBOX_LAYOUT, KAPSEL, NETNS, ids_of, kapsel_session, leftovers, wait_for

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VMM = os.path.join(REPO, "build/src/vmm/kapsel-vmm")
# the sanitizer build has no static helpers: --isolation=vm uses the normal build's guest init
GUEST_INIT = os.environ.setdefault("KAPSEL_GUEST_INIT", os.path.join(REPO, "build/src/helpers/kapsel-guest-init"))
KERNELS = sorted(glob.glob("/boot/vmlinuz-*"))
KERNEL = KERNELS[-1] if KERNELS else None

pytestmark = [pytest.mark.skipif(not os.path.exists(KAPSEL), reason="kapsel not built at %s" % KAPSEL),
              pytest.mark.skipif(not KERNEL, reason="no /boot/vmlinuz-* (apt-get install linux-image-amd64)")]


def taps():
    out = subprocess.run(["ip", "-n", NETNS, "-o", "link"], capture_output=True, text=True).stdout
    return [l.split(":")[1].strip() for l in out.splitlines() if ": kt" in l]


def vmms(root):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % pid)
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if exe.endswith("kapsel-vmm") and cwd.startswith(root):
            found.append(pid)
    return found


@pytest.fixture
def fake_kvm(tmp_path, monkeypatch):
    """A KVM device kapsel accepts and kapsel-vmm refuses (its API version ioctl fails)."""
    dev = tmp_path / "fake-kvm"
    dev.write_text("")
    monkeypatch.setenv("KAPSEL_KVM_DEVICE", str(dev))
    return str(dev)


@pytest.fixture(scope="module")
def vm_netns():
    """test_engine's namespace (same name): made here unless its session fixture already did."""
    made = subprocess.run(["ip", "netns", "add", NETNS], capture_output=True).returncode == 0
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield
    if made:
        subprocess.run(["ip", "netns", "del", NETNS])


@pytest.fixture
def k(tmp_path, vm_netns):
    root = str(tmp_path / "root")
    yield from kapsel_session(tmp_path, {"taps": taps, "kapsel-vmm processes": lambda: vmms(root)})


def assert_nothing_left(k):
    assert k("ps", "-aq").stdout == ""
    assert ids_of(k.root) == []
    assert taps() == []
    assert leftovers(k.root, []) == []


def vm_error(k, *args):
    p = k("vm", *args, check=False)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert_nothing_left(k)
    return p.stderr


# --- errors: a message, 125, nothing left ---

def test_missing_kernel(k, fake_kvm, tmp_path):
    err = vm_error(k, "run", "-d", "--kernel", str(tmp_path / "no-such-kernel"))
    assert "--kernel" in err and "no-such-kernel" in err and "No such file" in err


def test_kernel_is_required(k, fake_kvm):
    err = vm_error(k, "run", "-d", "--memory", "256M")
    assert "--kernel is required" in err


def test_kernel_not_a_bzimage(k, fake_kvm, tmp_path):
    f = tmp_path / "vmlinux"
    f.write_bytes(b"\x7fELF" + b"\0" * 4096)
    err = vm_error(k, "create", "--kernel", str(f))
    assert "not a Linux bzImage" in err


def test_bad_disk_path(k, fake_kvm, tmp_path):
    err = vm_error(k, "run", "-d", "--kernel", KERNEL, "--disk", str(tmp_path / "missing.img") + ",ro")
    assert "--disk" in err and "missing.img" in err


def test_bad_disk_option(k, fake_kvm, tmp_path):
    err = vm_error(k, "run", "-d", "--kernel", KERNEL, "--disk", "/x.img,rox")
    assert "--disk" in err and "PATH,ro" in err


def test_memory_larger_than_host(k, fake_kvm):
    err = vm_error(k, "run", "-d", "--kernel", KERNEL, "--memory", "64T")
    assert "more than this host's RAM" in err


def test_unknown_network(k, fake_kvm):
    err = vm_error(k, "run", "-d", "--kernel", KERNEL, "--net", "no-such-net")
    assert "no-such-net" in err and "not found" in err


def test_container_network_modes_refused(k, fake_kvm):
    err = vm_error(k, "create", "--kernel", KERNEL, "--net", "host")
    assert "for containers" in err


def test_no_kvm(k, tmp_path, monkeypatch):
    monkeypatch.setenv("KAPSEL_KVM_DEVICE", str(tmp_path / "kvm"))
    err = vm_error(k, "run", "-d", "--kernel", KERNEL)
    assert "micro-VMs need KVM" in err
    assert "kvm-device" not in err     # the VMM's test hook is not for users


def test_bad_numbers(k, fake_kvm):
    assert "--cpus" in vm_error(k, "create", "--kernel", KERNEL, "--cpus", "0")
    assert "--memory" in vm_error(k, "create", "--kernel", KERNEL, "--memory", "lots")


def test_duplicate_name(k, fake_kvm):
    k("vm", "create", "--name", "v1", "--kernel", KERNEL)
    p = k("vm", "create", "--name", "v1", "--kernel", KERNEL, check=False)
    assert p.returncode == 125 and "already in use" in p.stderr
    assert len(ids_of(k.root)) == 1


# --- listing, inspect, removal ---

def test_created_vm_is_listed_with_kind(k, fake_kvm, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 65536)
    vid = k("vm", "create", "--name", "v1", "--kernel", KERNEL, "--cpus", "2", "--memory", "256",
            "--disk", str(disk) + ",ro", "--net", "none").stdout.strip()
    assert len(vid) == 64
    k("run", "-d", "--name", "c1", "busybox", "sleep", "30")
    assert k("vm", "ls").stdout.count("\n") == 1            # header only: v1 is not running
    rows = k("vm", "ls", "-a", "--format", "{{.Names}} {{.Kind}} {{.State}}").stdout.split("\n")
    assert rows == ["v1 vm created", ""]
    ps = k("ps", "-a", "--format", "{{.Names}} {{.Kind}}").stdout.split()
    assert ps == ["c1", "container", "v1", "vm"]
    table = k("ps", "-a").stdout.splitlines()
    assert "KIND" in table[0]
    assert [l.split()[1] for l in table[1:]] == ["container", "vm"]
    assert k("ps", "-a", "--kind", "container", "-q").stdout.split() == [k.inspect("c1")["Id"][:12]]
    doc = k.inspect("v1")
    assert doc["Kind"] == "vm" and doc["Id"] == vid
    assert doc["Config"]["Kernel"] == os.path.realpath(KERNEL)
    assert (doc["Config"]["Cpus"], doc["Config"]["Memory"]) == (2, 256 << 20)
    assert doc["Config"]["Disks"] == [{"Path": str(disk), "ReadOnly": True}]
    assert doc["HostConfig"]["NetworkMode"] == "none"
    assert doc["State"]["Status"] == "created"
    assert json.loads(k("vm", "inspect", "v1").stdout)[0]["Id"] == vid
    assert k.inspect("c1")["Kind"] == "container"
    k("rm", "-f", "c1")


def test_vm_rm_removes_it(k, fake_kvm):
    k("vm", "create", "--name", "v1", "--kernel", KERNEL)
    assert k("vm", "rm", "v1").stdout == "v1\n"
    assert_nothing_left(k)


def test_generic_rm_removes_a_vm(k, fake_kvm):
    k("vm", "create", "--name", "v2", "--kernel", KERNEL)
    k("rm", "v2")
    assert_nothing_left(k)


# --- the monitor's VM payload, with a KVM device kapsel-vmm refuses ---

@pytest.mark.skipif(not os.path.exists(VMM), reason="kapsel-vmm not built")
def test_failed_boot_is_recorded_and_cleaned_up(k, fake_kvm):
    vid = k("vm", "run", "-d", "--name", "v3", "--kernel", KERNEL, "--memory", "256M").stdout.strip()
    assert len(vid) == 64
    assert wait_for(lambda: k.inspect("v3")["State"]["Status"] == "exited", 10)
    st = k.inspect("v3")["State"]
    # kapsel-vmm's failure is kapsel's (docker's 125), and inspect says what it was
    assert st["ExitCode"] == 125 and st["FinishedAt"] != "0001-01-01T00:00:00Z"
    assert st["Error"].startswith("kapsel-vmm failed (exit status 1): ") and "KVM API version" in st["Error"], st
    # kapsel-vmm's own message is in the instance's log (json-file, stderr stream)
    logs = k("vm", "logs", "v3")
    assert "KVM API version" in logs.stderr
    with open(k.inspect("v3")["LogPath"]) as f:
        recs = [json.loads(l) for l in f]
    assert any(r["stream"] == "stderr" and "kapsel-vmm" in r["log"] for r in recs)
    assert "Exited (125)" in k("vm", "ls", "-a").stdout
    assert taps() == []                                     # the tap went with the VM's run
    assert wait_for(lambda: leftovers(k.root, [vid]) == [], 5)
    # start again: same monitor path, still recorded
    k("vm", "start", "v3")
    assert wait_for(lambda: k.inspect("v3")["State"]["Status"] == "exited", 10)
    k("vm", "rm", "v3")
    assert_nothing_left(k)


def test_stop_and_pause_of_a_stopped_vm(k, fake_kvm):
    k("vm", "create", "--name", "v4", "--kernel", KERNEL, "--net", "none")
    assert k("vm", "stop", "v4").returncode == 0           # stopping what is not running: no-op
    p = k("vm", "pause", "v4", check=False)
    assert p.returncode == 125 and "VM v4 is created, not running" in p.stderr
    p = k("vm", "console", "v4", check=False)
    assert p.returncode == 125 and "not running" in p.stderr


def test_console_refuses_containers(k):
    k("run", "-d", "--name", "c2", "busybox", "sleep", "30")
    p = k("vm", "console", "c2", check=False)
    assert p.returncode == 125 and "is a container" in p.stderr
    k("rm", "-f", "c2")


# --- help ---

@pytest.mark.parametrize("sub", ["run", "create", "start", "stop", "kill", "pause", "resume", "ls", "inspect",
                                 "console", "logs", "rm"])
def test_help_has_examples(k, sub):
    p = k("vm", sub, "--help")
    assert p.stdout.startswith("Usage: kapsel vm %s" % sub)
    assert "Example" in p.stdout


def test_vm_help_and_unknown(k):
    p = k("vm", "--help")
    assert "console" in p.stdout and "Examples" in p.stdout
    p = k("vm", "frobnicate", check=False)
    assert p.returncode == 125 and "unknown command" in p.stderr
    assert "vm" in k("--help").stdout


# --- run --isolation=vm (the boot itself is in the nested suite) ---

def test_isolation_bad_value(k):
    p = k("run", "--isolation", "hyperv", "busybox", "true", check=False)
    assert p.returncode == 125 and "--isolation" in p.stderr
    assert_nothing_left(k)


def test_isolation_vm_without_kvm(k, tmp_path, monkeypatch):
    monkeypatch.setenv("KAPSEL_KVM_DEVICE", str(tmp_path / "kvm"))
    p = k("run", "--rm", "--isolation=vm", "busybox", "true", check=False)
    assert p.returncode == 125 and "--isolation=vm" in p.stderr and "micro-VMs need KVM" in p.stderr
    assert_nothing_left(k)


@pytest.mark.skipif(not os.path.exists(VMM), reason="kapsel-vmm not built")
@pytest.mark.skipif(not os.path.exists("/usr/sbin/mkfs.ext4"), reason="no mkfs.ext4 (apt-get install e2fsprogs)")
@pytest.mark.skipif(not os.path.exists(GUEST_INIT), reason="kapsel-guest-init not built")
def test_isolation_vm_prepares_the_guest(k, fake_kvm):
    """Everything up to the boot is real: initramfs and rootfs disk in the cache, upper and config
    disks in the container's directory, a tap; kapsel-vmm then refuses the fake KVM device."""
    p = k("run", "--name", "g1", "--isolation=vm", "busybox", "echo", "hi", check=False, timeout=120)
    assert p.returncode == 125, (p.stdout, p.stderr)
    assert "KVM API version" in p.stderr                     # kapsel-vmm's own message, through the console pipe
    doc = k.inspect("g1")
    assert doc["HostConfig"]["Isolation"] == "vm" and doc["Kind"] == "container"
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 125
    d = os.path.join(k.root, "containers", doc["Id"])
    assert {"upper.ext4", "config.disk", "serial.fifo"} <= set(os.listdir(d))
    cache = os.listdir(os.path.join(k.root, "vm-cache"))
    assert any(f.startswith("initramfs-") for f in cache) and any(f.startswith("rootfs-") for f in cache)
    assert taps() == []
    k("rm", "g1")
    assert_nothing_left(k)


def test_user_network_accepted(k, fake_kvm):
    k("network", "create", "--subnet", "10.77.0.0/24", "vmnet")
    k("vm", "create", "--name", "v5", "--kernel", KERNEL, "--net", "vmnet")
    assert k.inspect("v5")["HostConfig"]["NetworkMode"] == "vmnet"
    k("vm", "rm", "v5")
    k("network", "rm", "vmnet")


# --- run --isolation=vm flags checked at create; VM verbs refuse containers ---

@pytest.mark.parametrize("mem", ["64m", "127m"])
def test_isolation_vm_memory_below_minimum(k, fake_kvm, mem):
    p = k("run", "--rm", "--isolation=vm", "--memory", mem, "busybox", "true", check=False)
    assert p.returncode == 125 and "too small for --isolation=vm" in p.stderr and "128 MiB" in p.stderr, p.stderr
    assert_nothing_left(k)


def test_isolation_vm_memory_above_host(k, fake_kvm):
    p = k("run", "--rm", "--isolation=vm", "--memory", "100000g", "busybox", "true", check=False)
    assert p.returncode == 125 and "more than this host's RAM" in p.stderr, p.stderr
    assert_nothing_left(k)


@pytest.mark.parametrize("net", ["host", "container:x"])
def test_isolation_vm_network_modes_refused(k, fake_kvm, net):
    p = k("run", "--rm", "--isolation=vm", "--network", net, "busybox", "true", check=False)
    assert p.returncode == 125 and "cannot be combined with --isolation=vm" in p.stderr, p.stderr
    assert_nothing_left(k)


@pytest.mark.skipif(not os.path.exists(VMM), reason="kapsel-vmm not built")
@pytest.mark.skipif(not os.path.exists("/usr/sbin/mkfs.ext4"), reason="no mkfs.ext4 (apt-get install e2fsprogs)")
@pytest.mark.skipif(not os.path.exists(GUEST_INIT), reason="kapsel-guest-init not built")
def test_isolation_vm_port_map_and_volume_prepared(k, fake_kvm, tmp_path):
    """-p and -v reach the guest's plan (a port map on the tap, a volume disk) and a failed boot
    leaves neither behind: no tap, no port map, the host directory unchanged."""
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "f").write_text("host")
    p = k("run", "--name", "g2", "--isolation=vm", "-p", "18099:80", "-v", "%s:/data" % vol, "busybox", "true",
          check=False, timeout=120)
    assert p.returncode == 125 and "KVM API version" in p.stderr, p.stderr
    d = os.path.join(k.root, "containers", k.inspect("g2")["Id"])
    assert "signal.fifo" in os.listdir(d)
    assert k("port", "g2").stdout == ""                      # detached from the network with its maps
    assert taps() == []
    assert os.listdir(vol) == ["f"] and (vol / "f").read_text() == "host"
    k("rm", "g2")
    assert_nothing_left(k)


def test_signals_to_a_stopped_isolated_container(k, fake_kvm):
    k("create", "--name", "g3", "--isolation=vm", "busybox", "sleep", "30")
    p = k("kill", "-s", "TERM", "g3", check=False)
    assert p.returncode == 125 and "is not running" in p.stderr
    p = k("exec", "g3", "true", check=False)
    assert p.returncode == 125 and "g3 is not running" in p.stderr, p.stderr
    assert k("stop", "g3").returncode == 0                  # stopping what is not running: no-op
    k("rm", "g3")
    assert_nothing_left(k)


def test_isolation_vm_kernel_flag(k, fake_kvm, tmp_path):
    """--kernel picks the guest's kernel: checked at create (missing, badly named, or without
    --isolation=vm is an error of run that leaves nothing), stored absolute."""
    p = k("run", "--rm", "--isolation=vm", "--kernel", "/nonexistent/vmlinuz-1", "busybox", "true", check=False)
    assert p.returncode == 125 and "guest kernel /nonexistent/vmlinuz-1" in p.stderr, p.stderr
    odd = tmp_path / "bzImage"
    odd.write_bytes(b"x")
    p = k("run", "--rm", "--isolation=vm", "--kernel", str(odd), "busybox", "true", check=False)
    assert p.returncode == 125 and "name it vmlinuz-<version>" in p.stderr, p.stderr
    p = k("run", "--rm", "--kernel", KERNEL, "busybox", "true", check=False)
    assert p.returncode == 125 and "--kernel is for --isolation=vm" in p.stderr, p.stderr
    assert k("ps", "-aq").stdout == ""
    k("create", "--name", "kk", "--isolation=vm", "--kernel", KERNEL, "busybox", "true")
    assert k.inspect("kk")["HostConfig"]["VmKernel"] == KERNEL
    k("rm", "kk")
    assert_nothing_left(k)


def test_isolation_default_from_network_label(k, fake_kvm):
    """A network labelled io.kapsel.isolation=vm makes --isolation=vm the default of its containers;
    an explicit --isolation wins; other networks are unaffected."""
    k("network", "create", "--subnet", "10.78.0.0/24", "--label", "io.kapsel.isolation=vm", "secnet")
    k("create", "--name", "d1", "--network", "secnet", "busybox", "true")
    assert k.inspect("d1")["HostConfig"]["Isolation"] == "vm"
    k("create", "--name", "d2", "--network", "secnet", "--isolation", "container", "busybox", "true")
    assert k.inspect("d2")["HostConfig"]["Isolation"] == "container"
    k("create", "--name", "d3", "--network", "none", "busybox", "true")
    assert k.inspect("d3")["HostConfig"].get("Isolation", "") in ("", "container")
    k("rm", "d1", "d2", "d3")
    k("network", "rm", "secnet")
    assert_nothing_left(k)


def test_isolation_label_with_a_bad_value(k, fake_kvm):
    k("network", "create", "--subnet", "10.79.0.0/24", "--label", "io.kapsel.isolation=hyperv", "badnet")
    p = k("create", "--name", "d4", "--network", "badnet", "busybox", "true", check=False)
    assert p.returncode == 125, p.stderr
    assert "network badnet: label io.kapsel.isolation=hyperv: expected vm or container" in p.stderr, p.stderr
    assert k("ps", "-aq").stdout == ""
    k("network", "rm", "badnet")
    assert_nothing_left(k)


@pytest.mark.skipif(not shutil.which("umoci") or not shutil.which("skopeo"),
                    reason="umoci or skopeo not installed (scripts/install-deps.sh test)")
def test_isolation_default_from_image_label(k, fake_kvm, tmp_path):
    """An image labelled io.kapsel.isolation=vm (here by umoci) runs as a micro-VM unless told."""
    lay = tmp_path / "lay"
    shutil.copytree(BUSYBOX_LAYOUT, lay)
    subprocess.run(["umoci", "config", "--image", "%s:latest" % lay, "--tag", "vm",
                    "--config.label", "io.kapsel.isolation=vm"], check=True, timeout=60)
    arch = tmp_path / "vm.tar"
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "oci:%s:vm" % lay, "docker-archive:%s:lab/vm:1" % arch],
                   check=True, timeout=120)
    k("load", "-i", str(arch))
    k("create", "--name", "i1", "--network", "none", "lab/vm:1", "true")
    assert k.inspect("i1")["HostConfig"]["Isolation"] == "vm"
    k("create", "--name", "i2", "--network", "none", "--isolation=container", "lab/vm:1", "true")
    assert k.inspect("i2")["HostConfig"]["Isolation"] == "container"
    k("rm", "i1", "i2")


def test_exec_into_a_micro_vm_is_refused(k, fake_kvm):
    k("vm", "create", "--name", "v6", "--kernel", KERNEL)
    p = k("exec", "v6", "true", check=False)
    assert p.returncode == 125 and "v6 is not running" in p.stderr, p.stderr
    k("vm", "rm", "v6")


@pytest.mark.parametrize("sub", ["stop", "kill", "start", "rm", "inspect", "logs", "pause", "console"])
def test_vm_verbs_refuse_containers(k, sub):
    k("create", "--name", "c3", "busybox", "sleep", "30")
    p = k("vm", sub, "c3", check=False)
    verb = "attach" if sub == "console" else sub
    assert p.returncode == 125 and "c3 is a container, not a micro-VM: use 'kapsel %s c3'" % verb in p.stderr, p.stderr
    assert k.inspect("c3")["State"]["Status"] == "created"
    k("rm", "c3")


def test_no_such_names_both_kinds(k):
    for args in (["stop", "ghost"], ["vm", "stop", "ghost"], ["inspect", "ghost"]):
        p = k(*args, check=False)
        assert p.returncode != 0 and "no such container or VM: ghost" in p.stderr, (args, p.stderr)


# --- KVM that cannot boot a stock kernel: refused before anything starts ---

@pytest.fixture
def pvm_host(tmp_path, monkeypatch):
    """A character device standing in for /dev/kvm on a host whose module directory has kvm_pvm."""
    mods = tmp_path / "module"
    (mods / "kvm_pvm").mkdir(parents=True)
    (mods / "kvm").mkdir()
    monkeypatch.setenv("KAPSEL_KVM_DEVICE", "/dev/null")
    monkeypatch.setenv("KAPSEL_KVM_SYSFS", str(mods))


PVM_MESSAGE = "/dev/null is a PVM hypervisor (module kvm_pvm): it runs only PVM-enabled guest kernels"


def test_pvm_kvm_refused_by_vm_run(k, pvm_host):
    err = vm_error(k, "run", "--kernel", KERNEL, "--net", "none")
    assert PVM_MESSAGE in err and "VMX/SVM" in err


def test_pvm_kvm_refused_by_isolation_vm(k, pvm_host):
    p = k("run", "--rm", "--isolation=vm", "--network", "none", "busybox", "true", check=False, timeout=30)
    assert p.returncode == 125 and "--isolation=vm: " + PVM_MESSAGE in p.stderr, p.stderr
    assert_nothing_left(k)


def test_kvm_without_hardware_virtualization_refused(k, tmp_path, monkeypatch):
    (tmp_path / "module" / "kvm").mkdir(parents=True)
    monkeypatch.setenv("KAPSEL_KVM_DEVICE", "/dev/null")
    monkeypatch.setenv("KAPSEL_KVM_SYSFS", str(tmp_path / "module"))
    if any(f in open("/proc/cpuinfo").read().split() for f in ("vmx", "svm")):
        err = vm_error(k, "create", "--kernel", KERNEL)
        assert "/dev/null is not a KVM device" in err
    else:
        err = vm_error(k, "create", "--kernel", KERNEL)
        assert "neither kvm_intel nor kvm_amd" in err and "no vmx/svm flag" in err


@pytest.mark.skipif(not os.path.exists("/sys/module/kvm_pvm"), reason="not a PVM host (no /sys/module/kvm_pvm)")
@pytest.mark.skipif(not os.path.exists(VMM), reason="kapsel-vmm not built")
def test_this_pvm_host_is_refused_at_once(k, monkeypatch):
    """No override: this host's own /dev/kvm; before the probe, each of these spun forever."""
    monkeypatch.delenv("KAPSEL_KVM_DEVICE", raising=False)
    p = k("run", "--rm", "--isolation=vm", "--network", "none", "busybox", "true", check=False, timeout=20)
    assert p.returncode == 125 and "/dev/kvm is a PVM hypervisor" in p.stderr, p.stderr
    err = vm_error(k, "run", "--kernel", KERNEL, "--net", "none")
    assert "/dev/kvm is a PVM hypervisor" in err
    r = subprocess.run([VMM, "--kernel", KERNEL], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and "/dev/kvm is a PVM hypervisor" in r.stderr
    r = subprocess.run([VMM, "check-kvm"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and "/dev/kvm is a PVM hypervisor" in r.stderr


# --- a kapsel-vmm that dies, fails or never boots (a fake one) ---

FAKE_CONSOLE = """#!/bin/sh
# a fake kapsel-vmm: the console is stdout (vm run) or --console-log FILE (--isolation=vm's ttyS0)
log=/dev/stdout
while [ $# -gt 0 ]; do [ "$1" = --console-log ] && log=$2; shift; done
"""


@pytest.fixture
def fake_vmm(tmp_path, monkeypatch, fake_kvm):
    def make(body):
        f = tmp_path / "fake-vmm"
        f.write_text(FAKE_CONSOLE + body)
        f.chmod(0o755)
        monkeypatch.setenv("KAPSEL_VMM", str(f))
    return make


def test_killed_vmm_is_137_for_run_rm_isolation_vm(k, fake_vmm):
    fake_vmm("kill -KILL $$\n")
    p = k("run", "--rm", "--isolation=vm", "--network", "none", "busybox", "true", check=False, timeout=120)
    assert p.returncode == 137, (p.returncode, p.stderr)
    assert_nothing_left(k)


def test_killed_vmm_is_recorded(k, fake_vmm):
    fake_vmm("kill -KILL $$\n")
    p = k("run", "--name", "g5", "--isolation=vm", "--network", "none", "busybox", "true", check=False, timeout=120)
    assert p.returncode == 137
    st = k.inspect("g5")["State"]
    assert (st["Status"], st["ExitCode"], st["Error"]) == ("exited", 137, "kapsel-vmm killed by SIGKILL"), st
    p = k("vm", "run", "--name", "v7", "--kernel", KERNEL, "--net", "none", check=False, timeout=60)
    assert p.returncode == 137
    st = k.inspect("v7")["State"]
    assert (st["ExitCode"], st["Error"]) == (137, "kapsel-vmm killed by SIGKILL"), st


def test_vmm_ending_without_the_guests_exit_is_125(k, fake_vmm):
    fake_vmm("exit 0\n")
    p = k("run", "--name", "g6", "--isolation=vm", "--network", "none", "busybox", "true", check=False, timeout=120)
    assert p.returncode == 125
    st = k.inspect("g6")["State"]
    assert st["ExitCode"] == 125 and "before its process reported an exit status" in st["Error"], st
    # a `vm run` guest that powers off is a success
    assert k("vm", "run", "--name", "v8", "--kernel", KERNEL, "--net", "none", timeout=60).returncode == 0
    assert k.inspect("v8")["State"]["Error"] == ""


HANG = 'echo "[    0.000000] Linux version fake" >> $log\necho "[    0.200000] fake-last-line" >> $log\nexec sleep 60\n'


def test_boot_timeout_isolation_vm(k, fake_vmm):
    fake_vmm(HANG)
    p = k("run", "--rm", "--boot-timeout", "2", "--isolation=vm", "--network", "none", "busybox", "true",
          check=False, timeout=120)
    assert p.returncode == 125, (p.returncode, p.stderr)
    assert "did not boot within 2 s (--boot-timeout)" in p.stderr and "kapsel's init" in p.stderr, p.stderr
    assert "fake-last-line" in p.stderr                      # the console's last lines
    assert_nothing_left(k)


def test_boot_timeout_vm_run(k, fake_vmm, tmp_path):
    fake_vmm(HANG)
    p = k("vm", "run", "--name", "v9", "--boot-timeout", "2s", "--boot-ready", "login:", "--kernel", KERNEL,
          "--net", "none", check=False, timeout=60)
    assert p.returncode == 125 and 'its console did not show "login:"' in p.stderr, p.stderr
    st = k.inspect("v9")["State"]
    assert st["ExitCode"] == 125 and "did not boot within 2 s" in st["Error"]
    assert wait_for(lambda: vmms(k.root) == [], 5)
    # silence: the console printed nothing at all
    fake_vmm("exec sleep 60\n")
    p = k("vm", "run", "--boot-timeout", "1", "--kernel", KERNEL, "--net", "none", check=False, timeout=60)
    assert p.returncode == 125 and "printed nothing on its console" in p.stderr, p.stderr


def test_booted_guest_is_not_stopped(k, fake_vmm):
    """Guest init's KAPSEL-INIT ends the watchdog: the process then runs past the limit."""
    fake_vmm('echo KAPSEL-INIT >> $log\nsleep 3\necho "KAPSEL-EXIT 0" >> $log\nexit 0\n')
    p = k("run", "--rm", "--boot-timeout", "1", "--isolation=vm", "--network", "none", "busybox", "true",
          check=False, timeout=120)
    assert p.returncode == 0, (p.returncode, p.stderr)
    # any console output is a `vm run` guest's boot
    fake_vmm('echo "hello from the guest"\nsleep 3\nexit 0\n')
    p = k("vm", "run", "--boot-timeout", "1", "--kernel", KERNEL, "--net", "none", check=False, timeout=60)
    assert p.returncode == 0 and "hello from the guest" in p.stdout, (p.returncode, p.stdout, p.stderr)


@pytest.mark.parametrize("bad", ["-1", "soon", "10h", "1.5"])
def test_bad_boot_timeout(k, fake_kvm, bad):
    err = vm_error(k, "run", "--boot-timeout", bad, "--kernel", KERNEL)
    assert "--boot-timeout" in err and "expected seconds" in err
    p = k("run", "--rm", "--isolation=vm", "--boot-timeout", bad, "busybox", "true", check=False)
    assert p.returncode == 125 and "expected seconds" in p.stderr
