"""The machine description the report begins with: hardware, kernel, distribution, cgroup
layout and the version of every contender, so a reader can tell whose numbers these are."""
import os
import platform
import subprocess

from .common import REPO, loadavg, which


def _first(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _out(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr).strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def cgroup_layout():
    """v2 (unified), v1, or hybrid (v1 controllers plus a cgroup2 tree), from /proc/self/mounts
    of the host's mount namespace (bench/run records it before entering its own)."""
    v1, v2 = [], []
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                v2.append(mnt)
            elif fstype == "cgroup":
                v1.append(os.path.basename(mnt))
    if v2 and not v1:
        return "cgroup v2 (unified) at " + v2[0]
    if v1 and v2:
        return "hybrid: v1 controllers (%s), cgroup2 at %s" % (", ".join(sorted(v1)), v2[0])
    if v1:
        return "cgroup v1 (%s)" % ", ".join(sorted(v1))
    return "no cgroup file system mounted"


def describe():
    mem_kb = int((_first("/proc/meminfo", "MemTotal") or "0 kB").split()[0])
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = None
    versions = {
        "kapsel": _out(["git", "-C", REPO, "describe", "--always", "--dirty", "--tags"]),
        "crun": _out(["crun", "--version"]) if which("crun") else None,
        "runc": _out(["runc", "--version"]) if which("runc") else None,
        "podman": _out(["podman", "--version"]) if which("podman") else None,
        "qemu": _out(["qemu-system-x86_64", "--version"]) if which("qemu-system-x86_64") else None,
        "umoci": _out(["umoci", "--version"]) if which("umoci") else None,
        "iperf3": _out(["iperf3", "--version"]) if which("iperf3") else None,
        "gcc": _out(["gcc", "--version"]) if which("gcc") else None,
        "python": platform.python_version(),
    }
    return {
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1048576, 1),
        "kernel": platform.release(),
        "debian": debian,
        "cgroups": cgroup_layout(),
        "kvm": os.path.exists("/dev/kvm"),
        "load_at_start": os.getloadavg(),
        "loadavg": loadavg(),
        "versions": versions,
    }
