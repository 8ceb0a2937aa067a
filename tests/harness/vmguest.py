"""Boot a kapsel VM guest (issue 7) in QEMU with TCG: no /dev/kvm needed, slow (~10-20 s a boot)
but the same guest side kapsel-vmm will boot later. The disks and the initramfs come from
kapsel-vm-guest-tool (the engine's own builders); this module only assembles QEMU's command line
and reads the guest protocol of src/engine/vm-guest.h:

    ttyS0 (QEMU's stdio): kernel messages + KAPSEL-INIT / -STARTED <pid> / -ERROR <msg> / -EXIT <code>;
                          input lines KAPSEL-SIGNAL <n> reach guest init
    hvc0 (virtconsole):   the process's stdout+stderr, written to a file here

    g = GuestBoot(kernel, initrd, disks=[(rootfs, True), (upper, False), (config, True)], workdir=d)
    res = g.run(timeout=120)           # res.exit_code, res.errors, res.hvc, res.serial, res.times
"""
import os
import re
import select
import shutil
import subprocess
import time

CMDLINE = "console=ttyS0 quiet panic=-1 rdinit=/init"   # VM_GUEST_CMDLINE in vm-guest.h
MARKER = re.compile(r"KAPSEL-(INIT|STARTED|ERROR|EXIT|WARNING)(?: (.*))?$")


def missing_prerequisites():
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
    if not any(n.startswith("vmlinuz-") for n in os.listdir("/boot")):
        return "no /boot/vmlinuz-* (apt-get install linux-image-amd64)"
    for tool in ("mkfs.ext4", "debugfs"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool) and not os.path.exists("/sbin/" + tool):
            return "%s missing (apt-get install e2fsprogs)" % tool
    return None


def qemu_argv(kernel, initrd, disks, hvc_path, netdev=None, memory="512M", cmdline=CMDLINE):
    """disks: [(path, readonly)] in the order vda, vdb, ... (explicit PCI slots keep that order).
    netdev: a QEMU -netdev value (e.g. "tap,id=n0,ifname=tap0,script=no,downscript=no") or None."""
    argv = ["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-cpu", "max", "-m", memory, "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio",
            "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
            "-device", "virtio-serial-pci,id=vser,addr=0x8",
            "-chardev", "file,id=hvc0,path=%s" % hvc_path, "-device", "virtconsole,chardev=hvc0,bus=vser.0"]
    for i, (path, readonly) in enumerate(disks):
        argv += ["-drive", "file=%s,if=none,id=d%d,format=raw,readonly=%s" % (path, i, "on" if readonly else "off"),
                 "-device", "virtio-blk-pci,drive=d%d,addr=0x%x" % (i, 0x10 + i)]
    if netdev:
        argv += ["-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,addr=0x9"]
    return argv


class Result:
    def __init__(self):
        self.serial, self.hvc = "", b""
        self.exit_code, self.errors, self.times, self.qemu_status = None, [], {}, None

    def __repr__(self):
        return "exit=%s errors=%s times=%s\n--- serial ---\n%s\n--- hvc0 ---\n%s" % (
            self.exit_code, self.errors, self.times, self.serial[-3000:], self.hvc[-2000:].decode(errors="replace"))


class GuestBoot:
    def __init__(self, kernel, initrd, disks, workdir, netdev=None, wrap=None):
        self.hvc_path = os.path.join(workdir, "hvc0.out")
        self.argv = (wrap or []) + qemu_argv(kernel, initrd, disks, self.hvc_path, netdev)

    def run(self, timeout=180, on_started=None):
        """Boot, read the markers until QEMU ends. on_started(send) runs once at KAPSEL-STARTED;
        send(line) writes a control line to the guest's ttyS0."""
        res, start = Result(), time.monotonic()
        p = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        def send(line):
            p.stdin.write(line.encode())
            p.stdin.flush()

        buf = b""
        try:
            while True:
                left = start + timeout - time.monotonic()
                if left <= 0:
                    raise TimeoutError("guest did not finish in %d s:\n%s" % (timeout, res.serial + buf.decode(errors="replace")))
                ready, _, _ = select.select([p.stdout], [], [], left)
                if not ready:
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode(errors="replace").rstrip("\r")
                    res.serial += text + "\n"
                    self._marker(res, text, time.monotonic() - start, on_started, send)
        finally:
            if p.poll() is None:
                p.kill()
            res.qemu_status = p.wait()
        res.serial += buf.decode(errors="replace")
        res.times["end"] = time.monotonic() - start
        if os.path.exists(self.hvc_path):
            with open(self.hvc_path, "rb") as f:
                res.hvc = f.read()
        return res

    @staticmethod
    def _marker(res, text, t, on_started, send):
        m = MARKER.search(text)
        if not m:
            return
        kind, arg = m.group(1), m.group(2)
        res.times.setdefault(kind.lower(), t)
        if kind == "EXIT" and res.exit_code is None:
            res.exit_code = int(arg)
        elif kind == "ERROR":
            res.errors.append(arg)
        elif kind == "STARTED" and on_started:
            on_started(send)
