#!/bin/sh
# make-busybox-bundle.sh OUT_DIR [PROBE]
# Builds the embedded default OCI bundle from Debian's busybox-static: OUT_DIR/rootfs holds
# busybox with every applet linked, OUT_DIR/config.json runs a short greeting. Run by the build.
set -eu
out=$1
probe=${2:-}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "make-busybox-bundle: $busybox missing: apt-get install busybox-static" >&2; exit 1; }
file -b "$busybox" 2>/dev/null | grep -q "statically linked" || true

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/sbin" "$tmp/rootfs/usr/bin" "$tmp/rootfs/usr/sbin" \
         "$tmp/rootfs/proc" "$tmp/rootfs/sys" "$tmp/rootfs/dev" "$tmp/rootfs/etc" "$tmp/rootfs/tmp" \
         "$tmp/rootfs/root"
cp "$busybox" "$tmp/rootfs/bin/busybox"
chroot_free_install() {
        # busybox --install needs /proc/self/exe to be busybox: link applets by name instead
        for applet in $("$busybox" --list-full); do
                case "$applet" in bin/busybox) continue ;; esac
                ln -sf /bin/busybox "$tmp/rootfs/$applet"
        done
}
chroot_free_install
[ -n "$probe" ] && [ -x "$probe" ] && cp "$probe" "$tmp/rootfs/bin/probe"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$tmp/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$tmp/rootfs/etc/group"
chmod 1777 "$tmp/rootfs/tmp"

cat > "$tmp/config.json" <<'JSON'
{
  "ociVersion": "1.1.0",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": ["/bin/sh", "-c", "echo \"Hello from a kapsel container: $(hostname), pid $$, $(id)\"; echo 'namespaces:'; ls -l /proc/self/ns | awk '{print \"  \" $9 \" \" $11}'; echo 'rootfs:'; ls /"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "kapsel",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] },
    { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"] }
  ],
  "linux": {
    "resources": { "memory": { "limit": 67108864 }, "pids": { "limit": 64 } },
    "namespaces": [ { "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" } ],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON
rm -rf "$out"
mv "$tmp" "$out"
