"""The whole kapsel engine in a nested L1 image, ready for `kapsel run` and `kapsel run
--isolation=vm` inside L1: the same pieces tests/integration/test_vm_cli_nested.py puts in its
L1 (kapsel, kapsel-monitor, the guest init, the built-in busybox image, the stock kernel under
/boot and the modules the engine packs into a guest's initramfs, mkfs.ext4, debugfs, ip). Used by
that test and by bench/vm --isolation, so both put the same engine into L1.

    vm = kvmsuite.l1_image(work, vmm, extra_modules=engine_l1.L1_MODULES)
    add_engine(vm, build)                 # build: the meson build dir
    vm.set_init(kvmsuite.L1_PRELUDE + engine_l1.ENV + script + kvmsuite.L1_END)
"""
import os

import guest
import nested

# what vm-initramfs.c packs for the guest (vm_initramfs_modules); they must exist in L1's
# /lib/modules because `run --isolation=vm` builds the guest initramfs from there
GUEST_MODULES = ["virtio_pci", "virtio_blk", "virtio_console", "virtio_net", "virtio_rng", "crc32c_generic",
                 "crc32c_intel", "ext4", "overlay"]
# L1 itself: overlayfs for container rootfs snapshots (a module in Debian's kernel)
L1_MODULES = ["overlay"]
# the network layer in L1: tun for taps, bridge for kapsel0, nf_tables and friends for its NAT table,
# nft_meta_bridge for `table bridge` (a clone's tap translates: the kernel asks modprobe for it,
# and L1 has no modprobe); crc32c_generic first: libcrc32c needs it (a soft dependency, which
# modules.dep does not list)
NET_MODULES = ["crc32c_generic", "tun", "bridge", "nf_tables", "nf_nat", "nft_chain_nat", "nft_masq", "nft_nat", "nft_ct",
               "nft_fib_ipv4", "nft_meta_bridge"]

# environment for L1's /init script (after kvmsuite.L1_PRELUDE)
ENV = """
export KAPSEL_GUEST_INIT=/usr/libexec/kapsel/kapsel-guest-init KAPSEL_BUSYBOX_IMAGE=/usr/share/kapsel/busybox-image
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
ip link set lo up 2>/dev/null
"""


def paths(build):
    """{what: path in the build tree} of everything add_engine copies."""
    src = os.path.join(build, "src")
    return {"kapsel": src + "/cli/kapsel", "kapsel-monitor": src + "/cli/kapsel-monitor",
            "kapsel-guest-init": src + "/helpers/kapsel-guest-init", "busybox image": src + "/image/busybox-image"}


def missing(build):
    """A reason why the engine cannot go into L1 from this build, else None."""
    for what, p in paths(build).items():
        if not os.path.exists(p):
            return "%s not built (%s)" % (what, p)
    for tool in ("/usr/sbin/mkfs.ext4", "/usr/sbin/debugfs", "/usr/sbin/ip"):
        if not os.path.exists(tool):
            return "%s missing (apt-get install e2fsprogs iproute2)" % tool
    return None


def add_engine(vm, build):
    """Copy the engine (and what `run --isolation=vm` needs) into an nested.L1Image."""
    p = paths(build)
    vm.add_binary(p["kapsel"], "/usr/bin/kapsel")
    vm.add_binary(p["kapsel-monitor"], "/usr/bin/kapsel-monitor")
    vm.add_binary(p["kapsel-guest-init"], "/usr/libexec/kapsel/kapsel-guest-init")
    vm.add_tree(p["busybox image"], "/usr/share/kapsel/busybox-image")
    for tool in ("/usr/sbin/mkfs.ext4", "/usr/sbin/debugfs", "/usr/sbin/ip"):
        vm.add_binary(tool, tool)
    kernel = nested.find_kernel()
    version = guest.kernel_version(kernel)
    # --isolation=vm boots the newest /boot/vmlinuz-* with modules from /lib/modules/<version>
    vm.add_data(kernel, "/boot/" + os.path.basename(kernel))
    moddir = "/lib/modules/%s" % version
    vm.add_data(moddir + "/modules.dep", moddir + "/modules.dep")
    for m in guest.module_closure(version, GUEST_MODULES):
        vm.add_data(m, m)
