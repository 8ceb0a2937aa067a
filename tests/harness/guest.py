"""L2 guest pieces for the nested VMM suite: kernel modules resolved through modules.dep (so a
module comes after everything it needs) and a tiny initramfs (static busybox + those modules + an
/init script). Everything comes from the host's Debian packages (linux-image-amd64, busybox-static).

    mods = module_closure(kernel_version(kernel), ["virtio_pci", "virtio_blk"])
    initrd = build_initramfs(workdir, "l2", init_script, mods)
"""
import gzip
import lzma
import os
import re
import shutil
import subprocess

import nested

KVM_MODULES = ["irqbypass", "ccp", "kvm", "kvm-amd"]
VIRTIO_MODULES = ["virtio_pci", "virtio_blk", "virtio_net", "virtio-rng", "virtio_balloon", "virtio_console"]


def kernel_version(kernel):
    """'6.1.0-56-amd64' from /boot/vmlinuz-6.1.0-56-amd64."""
    return os.path.basename(kernel).split("vmlinuz-", 1)[1]


def _modname(path):
    base = os.path.basename(path)
    return re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", base)


def _norm(name):
    return name.replace("-", "_")


def module_closure(version, wanted):
    """Paths of `wanted` modules and their dependencies, dependencies first (modules.dep order).
    Names the kernel has built in (or lacks) are skipped."""
    moddir = "/lib/modules/%s" % version
    deps = {}
    paths = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            name = _norm(_modname(mod))
            paths[name] = os.path.join(moddir, mod)
            deps[name] = [_norm(_modname(d)) for d in rest.split()]
    order = []

    def visit(name):
        if name in order or name not in paths:
            return
        for d in deps[name]:
            visit(d)
        order.append(name)

    for w in wanted:
        visit(_norm(w))
    return [paths[n] for n in order]


def _copy_module(src, dest_dir):
    """Copy a module, decompressing .ko.xz/.ko.gz so busybox insmod can load it."""
    name = _modname(src) + ".ko"
    dest = os.path.join(dest_dir, name)
    if src.endswith(".xz"):
        with lzma.open(src) as i, open(dest, "wb") as o:
            shutil.copyfileobj(i, o)
    elif src.endswith(".gz"):
        with gzip.open(src) as i, open(dest, "wb") as o:
            shutil.copyfileobj(i, o)
    else:
        shutil.copy(src, dest)
    return name


def build_initramfs(workdir, name, init_script, modules):
    """A gzip'ed newc cpio: busybox applets, /lib/modules-flat/*.ko, /modules.order (load order)
    and `init_script` as /init. Returns its path."""
    root = os.path.join(workdir, name + "-root")
    for d in ("bin", "proc", "sys", "dev", "tmp", "mods"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(nested.BUSYBOX, os.path.join(root, "bin/busybox"))
    for a in subprocess.run([nested.BUSYBOX, "--list"], capture_output=True, text=True).stdout.split():
        link = os.path.join(root, "bin", a)
        if not os.path.exists(link):
            os.symlink("busybox", link)
    names = [_copy_module(m, os.path.join(root, "mods")) for m in modules]
    with open(os.path.join(root, "mods/order"), "w") as f:
        f.write("\n".join(names) + "\n")
    with open(os.path.join(root, "init"), "w") as f:
        f.write(init_script)
    os.chmod(os.path.join(root, "init"), 0o755)
    out = os.path.join(workdir, name + ".cpio.gz")
    files = subprocess.run(["find", ".", "-print0"], cwd=root, capture_output=True, check=True).stdout
    cpio = subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"], cwd=root, input=files,
                          capture_output=True, check=True).stdout
    with gzip.open(out, "wb", compresslevel=6) as f:
        f.write(cpio)
    return out


# Load every module of /mods/order in order (for an /init).
LOAD_MODULES = 'for m in $(cat /mods/order); do insmod /mods/$m || echo "KAPSEL-HARNESS insmod $m failed"; done\n'
