"""Nested-VM harness: build an L1 initramfs from Debian packages and the binaries under test,
boot Debian's own kernel in QEMU (TCG: software emulation, no /dev/kvm needed) and collect the
result markers its /init prints on the serial console.

The L1 kernel is a fresh, pure cgroup v2 system, which is what most users run and what this
hybrid-cgroup host cannot give us. (The KVM recipe of TESTING.md builds on the same pieces.)

    vm = L1Image(workdir)
    vm.add_binary("/path/kapsel-runtime", "/usr/bin/kapsel-runtime")   # + its shared libraries
    vm.add_tree(rootfs_dir, "/bundle/rootfs")
    vm.add_file("/bundle/config.json", text)
    vm.set_init(shell_script)
    out = vm.boot(timeout=300)
"""
import glob
import gzip
import os
import re
import select
import shutil
import socket
import stat
import subprocess
import tempfile
import time

BUSYBOX = "/bin/busybox"


def find_kernel():
    """Debian's newest installed kernel image (linux-image-amd64)."""
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    return kernels[-1] if kernels else None


def missing_prerequisites():
    """A reason string when the harness cannot run here, else None."""
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
    if not find_kernel():
        return "no /boot/vmlinuz-* (apt-get install linux-image-amd64)"
    if not os.access(BUSYBOX, os.X_OK):
        return "no static busybox (apt-get install busybox-static)"
    return None


def shared_libraries(binary):
    """Absolute paths of the shared libraries `binary` loads (ldd), including the loader."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append(parts[2])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


class L1Image:
    def __init__(self, workdir):
        self.root = os.path.join(workdir, "l1root")
        os.makedirs(self.root)
        for d in ("bin", "sbin", "usr/bin", "proc", "sys", "dev", "tmp", "run", "etc", "lib64"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        shutil.copy(BUSYBOX, os.path.join(self.root, "bin/busybox"))
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True).stdout.split()
        for a in applets:
            link = os.path.join(self.root, "bin", a)
            if not os.path.exists(link):
                os.symlink("busybox", link)
        self.workdir = workdir

    def _dest(self, path):
        d = os.path.join(self.root, path.lstrip("/"))
        os.makedirs(os.path.dirname(d), exist_ok=True)
        return d

    def add_binary(self, src, dest):
        """Copy a binary and its shared libraries. Debian's static busybox sh runs its own applet of
        the same name before any PATH lookup: scripts must call such a binary by its full path."""
        shutil.copy(src, self._dest(dest))
        for lib in shared_libraries(src):
            target = self._dest(lib)
            if not os.path.exists(target):
                shutil.copy(lib, target)

    def add_data(self, src, dest):
        """Copy one file as is (a kernel image, an initrd)."""
        shutil.copy(src, self._dest(dest))

    def add_tree(self, src, dest):
        shutil.copytree(src, self._dest(dest), symlinks=True)

    def add_file(self, dest, text, mode=0o644):
        p = self._dest(dest)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)

    # The initramfs root is rootfs (ramfs), which pivot_root(2) refuses: move everything to a
    # tmpfs and switch_root into it first, as a real distribution boot would.
    SWITCH_ROOT = """#!/bin/sh
if [ ! -e /.tmpfs-root ]; then
        mkdir -p /newroot && mount -t tmpfs -o size=90%% tmpfs /newroot
        for e in /*; do [ "$e" = /newroot ] || [ "$e" = /proc ] || [ "$e" = /sys ] || [ "$e" = /dev ] || cp -a "$e" /newroot/; done
        mkdir -p /newroot/proc /newroot/sys /newroot/dev
        touch /newroot/.tmpfs-root
        exec switch_root /newroot /init
fi
"""

    def set_init(self, script):
        """`script` runs as PID 1 on a tmpfs root (so containers inside can pivot_root)."""
        body = script[script.index("\n") + 1:] if script.startswith("#!") else script
        self.add_file("/init", self.SWITCH_ROOT.replace("%%", "%") + body, 0o755)

    def pack(self):
        """newc cpio of the tree, gzip'ed."""
        out = os.path.join(self.workdir, "l1.cpio.gz")
        files = subprocess.run(["find", ".", "-print0"], cwd=self.root, capture_output=True, check=True).stdout
        cpio = subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"], cwd=self.root, input=files,
                              capture_output=True, check=True).stdout
        with gzip.open(out, "wb", compresslevel=1) as f:
            f.write(cpio)
        return out

    def boot(self, timeout=600, memory="1G", cpus=2, append="", accel="tcg,thread=multi", quiet_limit=None,
             quiet_after="KAPSEL-HARNESS"):
        """Boot L1 and return its console output. The run ends when L1 powers off, after `timeout`
        seconds, or, with `quiet_limit`, once the console has been silent that long after its first
        `quiet_after` line (from then on a script that prints a heartbeat is known to have stalled;
        before it the kernel boots quietly). The last two end with a line 'HARNESS: timeout after N s'
        or 'HARNESS: stalled: ...' and what QEMU's monitor said of the vCPUs then. QEMU's own
        stderr goes to <workdir>/qemu-stderr.log, not into the console text."""
        initrd = self.pack()
        mondir = tempfile.mkdtemp(prefix="kapsel-qmp")     # short: a unix socket path has 108 bytes
        mon = os.path.join(mondir, "monitor.sock")
        cmd = ["qemu-system-x86_64", "-M", "q35", "-accel", accel, "-cpu", "max",
               "-smp", str(cpus), "-m", memory, "-nographic", "-no-reboot", "-kernel", find_kernel(),
               "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1 " + append,
               "-monitor", "unix:%s,server=on,wait=off" % mon]
        console = Console(os.path.join(self.workdir, "l1-console.live"))
        ending = None
        with open(os.path.join(self.workdir, "qemu-stderr.log"), "wb") as err:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        try:
            start = time.monotonic()
            while console.read(p.stdout, 1.0):
                now = time.monotonic()
                armed = quiet_limit and quiet_after.encode() in console.head
                if now - start > timeout:
                    ending = "HARNESS: timeout after %d s" % timeout
                elif armed and now - console.last > quiet_limit:
                    ending = "HARNESS: stalled: no console output for %d s (at %d s)" % (quiet_limit, now - start)
                elif quiet_limit and console.lockup_s >= quiet_limit:
                    # a vCPU of L1 stuck that long (seen under TCG): L1 still prints its watchdog's
                    # complaints, so the console is not quiet, but nothing runs any more
                    ending = "HARNESS: stalled: L1 soft lockup, a CPU stuck for %d s (at %d s)" % (console.lockup_s,
                                                                                                   now - start)
                if ending:
                    # twice, 5 s apart (still reading the console): a vCPU that still runs moves its
                    # RIP and takes interrupts
                    ending += "\n" + monitor_report(mon, "t+0")
                    wait_end = time.monotonic() + 5
                    while time.monotonic() < wait_end and console.read(p.stdout, 0.5):
                        pass
                    ending += "\n" + monitor_report(mon, "t+5")
                    break
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
            console.close()
            shutil.rmtree(mondir, ignore_errors=True)
        out = console.text()
        return out + ("\n" + ending + "\n" if ending else "")


class Console:
    """What QEMU prints on the serial console: kept in memory and in a live file (tail -f it)."""

    def __init__(self, live_path):
        self.chunks = []
        self.head = b""         # the first 64 KiB, to look for the first marker
        self.last = time.monotonic()
        self.lockup_s = 0       # the longest soft lockup L1's kernel reported (s)
        self.live = open(live_path, "wb")

    def read(self, pipe, wait):
        """Wait up to `wait` s for output and keep it; False at EOF (QEMU exited)."""
        ready, _, _ = select.select([pipe], [], [], wait)
        if not ready:
            return True
        data = os.read(pipe.fileno(), 65536)
        if not data:
            return False
        self.chunks.append(data)
        if len(self.head) < 65536:
            self.head += data[:65536 - len(self.head)]
        self.live.write(data)
        self.live.flush()
        self.last = time.monotonic()
        for stuck in re.findall(rb"soft lockup - CPU#[0-9]+ stuck for ([0-9]+)s", data):
            self.lockup_s = max(self.lockup_s, int(stuck))
        return True

    def text(self):
        return b"".join(self.chunks).decode(errors="replace").replace("\r\n", "\n")

    def close(self):
        self.live.close()


# what to ask QEMU's monitor when L1 stops making progress: where each vCPU is, whether it halted
MONITOR_QUESTIONS = ("info cpus", "info registers -a", "info irq")


def monitor_report(path, tag, wait=3.0):
    """The answers of a running QEMU's human monitor on `path` to MONITOR_QUESTIONS, trimmed to the
    lines that tell a spinning vCPU from a halted one, or why there are none."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(wait)
            s.connect(path)
            s.sendall("".join(q + "\n" for q in MONITOR_QUESTIONS).encode())
            data = b""
            end = time.monotonic() + wait
            while time.monotonic() < end:
                try:
                    got = s.recv(65536)
                except socket.timeout:
                    break
                if not got:
                    break
                data += got
    except OSError as e:
        return "HARNESS: qemu monitor %s: %s" % (tag, e)
    if not data:
        return "HARNESS: qemu monitor %s: no answer in %.0f s" % (tag, wait)
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]|\r", "", data.decode(errors="replace"))
    keep = re.compile(r"^\s*(\* )?CPU ?#|^RIP=|^CS =|^CR0=|^EFER=|^IRQ statistics|^ *[0-9]+: *[0-9]+$")
    return "\n".join("HARNESS: qemu monitor %s: %s" % (tag, l) for l in text.splitlines() if keep.search(l))
