"""compile: the classic study. The same C project (the upstream tree of a Debian source package)
is configured and built, `./configure && make -j2`, bare on the host and inside each kind of
container, interleaved, N runs each, reported as mean, min, max and % of bare metal.

Every run gets a fresh copy of the pristine tree (untimed); containers see it bind-mounted at
/src and build with the compiler of a Debian 12 rootfs (the same gcc 12 as the host's). The
timed command is the same string everywhere; its output goes to a log inside the tree."""
import json
import os
import shutil
import subprocess

from . import prep
from .common import Bench, Row, interleave, loadavg, log, sh, timed, which
from .engines import Kapsel, Podman

NAME = "compile"
SUMMARY = "the compile study: configure + make of a Debian source package, bare vs kapsel, crun, runc, podman, micro-VM"
RUNS = (5, 1)              # runs per contender: full, --quick
BUILD = "./configure > bench-build.log 2>&1 && make -j2 >> bench-build.log 2>&1"
PRODUCTS = {"gzip": "gzip", "sed": "sed/sed", "m4": "src/m4", "zlib": "minigzip"}   # what a successful build leaves
VM_ROW = "kapsel micro-VM"

# The published run the issue cites (GUUG 2015): % of bare metal for the same kind of study.
GUUG_2015 = [
    ("Docker", "99.5%"), ("KVM", "99.5-102%"), ("Xen HVM", "97.6-102.7%"), ("Xen PV", "83.9-86.4%"),
    ("older hardware: Xen PV", "78-87%"), ("older hardware: KVM", "64%"), ("older hardware: ESXi", "73%"),
    ("older hardware: VirtualBox", "29-33%"),
]


def bundle(path, rootfs, src, runtime_args):
    """An OCI bundle over the cached rootfs (read-only, shared by crun, runc, kapsel-runtime)
    with the tree bind-mounted read-write at /src."""
    os.makedirs(path, exist_ok=True)
    caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"]
    spec = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": runtime_args, "cwd": "/src",
                    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
                    "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
                    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                    "noNewPrivileges": True},
        "root": {"path": rootfs, "readonly": True},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
            {"destination": "/src", "type": "bind", "source": src, "options": ["rbind", "rw"]},
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
                  "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]},
    }
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f)
    return path


class Study:
    def __init__(self, ctx, rootfs, pristine):
        self.ctx, self.rootfs, self.pristine = ctx, rootfs, pristine
        self.dir = os.path.join(ctx.work, "compile")
        self.kapsel = Kapsel(ctx.kapsel, os.path.join(self.dir, "kapsel-root"))
        self.podman = Podman(os.path.join(self.dir, "podman"))
        self.cmds = {}          # contender -> function(tree) -> argv
        self.unavailable = {}
        self.cleanups = []      # runtime `delete -f` commands, run after each build
        self.log = []           # (contender, run, seconds or None, load average at start, at end)

    def tree(self, name, i):
        dst = os.path.join(self.dir, "%s-%d" % (name, i), os.path.basename(self.pristine))
        shutil.rmtree(os.path.dirname(dst), ignore_errors=True)
        os.makedirs(os.path.dirname(dst))
        sh(["cp", "-a", self.pristine, dst])      # -a keeps timestamps: make must not rerun autotools
        return dst

    def setup(self, tarball):
        self.cmds["bare"] = lambda tree: (["sh", "-c", BUILD], tree)
        reason = self.kapsel.available()
        if not reason:
            try:
                self.kapsel.import_(tarball, "kbench-build")
                self.cmds["kapsel"] = lambda tree: (self.kapsel.run_cmd(
                    "kbench-build", ["sh", "-c", BUILD], volumes=[tree + ":/src"], workdir="/src"), None)
            except RuntimeError as e:
                reason = "kapsel import failed: %s" % e
        if reason:         # the engine is not usable: the same container through kapsel-runtime
            self.unavailable["kapsel (engine)"] = reason
            self.cmds["kapsel"] = self.runtime_cmd("kapsel", self.ctx.runtime)
        for rt in ("crun", "runc"):
            if which(rt):
                self.cmds[rt] = self.runtime_cmd(rt, rt)
            else:
                self.unavailable[rt] = "%s not installed" % rt
        reason = Podman.available()
        if not reason:
            self.podman.import_(tarball, "localhost/kbench-build")
            self.cmds["podman"] = lambda tree: (self.podman.run_cmd(
                "localhost/kbench-build", ["sh", "-c", BUILD], volumes=[tree + ":/src"], workdir="/src"), None)
        else:
            self.unavailable["podman"] = reason

    def runtime_cmd(self, name, binary):
        state = os.path.join(self.dir, "state-" + name)

        def cmd(tree):
            b = bundle(os.path.join(os.path.dirname(tree), "bundle"), self.rootfs, tree, ["sh", "-c", BUILD])
            cid = "kb-compile-%s-%s" % (name, os.path.basename(os.path.dirname(tree)))
            self.cleanups.append([binary, "--root", state, "delete", "-f", cid])
            return [binary, "--root", state, "run", "--bundle", b, cid], None
        return cmd

    def measure(self, name, i):
        tree = self.tree(name, i)
        argv, cwd = self.cmds[name](tree)
        sh(["sync"])
        load0 = loadavg().split()[0]
        try:
            dt = timed(argv, cwd=cwd, timeout=3600)
            self.log.append((name, i + 1, dt, load0, loadavg().split()[0]))
            product = PRODUCTS.get(prep.COMPILE_SOURCE)
            if product and not os.access(os.path.join(tree, product), os.X_OK):
                raise RuntimeError("the build left no %s binary" % product)
            log("  compile %-8s run %d: %.1f s" % (name, i + 1, dt))
            return dt
        except (RuntimeError, subprocess.TimeoutExpired):
            logf = os.path.join(tree, "bench-build.log")
            if os.path.exists(logf):
                with open(logf, errors="replace") as f:
                    log("  %s build log tail:\n%s" % (name, f.read()[-800:]))
            raise
        finally:
            while self.cleanups:
                sh(self.cleanups.pop(), check=False)
            shutil.rmtree(os.path.dirname(tree), ignore_errors=True)

    def cleanup(self):
        self.kapsel.cleanup()
        self.podman.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


def study_table(t):
    """The study's own form: mean, min, max, and % of bare (bare mean / contender mean: 100% is
    bare speed, lower is slower), with the median and the run count beside them."""
    bare = t.row("bare")
    lines = ["| environment | runs | mean s | min s | max s | median s | % of bare |", "|---|---|---|---|---|---|---|"]
    for r in t.rows:
        if not r.ok:
            lines.append("| %s | 0 | - | - | - | - | %s |" % (r.name, r.unavailable))
            continue
        pct = "%.1f%%" % (100 * bare.stat("mean") / r.stat("mean")) if bare and bare.ok else "-"
        lines.append("| %s | %d | %.1f | %.1f | %.1f | %.1f | %s |" % (
            r.name, len(r.samples), r.stat("mean"), r.stat("min"), r.stat("max"), r.stat("median"), pct))
    return "\n".join(lines)


def run(ctx):
    b = Bench(NAME, "The compile study: configure + make, bare against containers",
              "`./configure && make -j2` of a real C project from a Debian source package, timed, "
              "bare on the host and in each container, N interleaved runs, a fresh copy of the "
              "tree each run. Read: % of bare = bare mean / environment mean (100% is bare speed).")
    rootfs = prep.build_rootfs()
    tarball = prep.tar_of(rootfs, os.path.join(prep.CACHE, "rootfs.tar"))
    pristine, version = prep.compile_source()
    b.notes.append("Project: %s (Debian source package, upstream tree), built with `%s`." % (version, BUILD))
    st = Study(ctx, rootfs, pristine)
    try:
        st.setup(tarball)
        runs = ctx.n(*RUNS)
        log("compile: %d interleaved runs of %s" % (runs, ", ".join(st.cmds)))
        samples, failed = interleave(st.cmds, runs, st.measure, log=log, deadline=ctx.deadline)
    finally:
        st.cleanup()
    done = max((len(v) for v in samples.values()), default=0)
    if done < runs:
        b.notes.append("Only %d of the %d rounds asked for were run: the next would have ended after "
                       "`--until`." % (done, runs))
    t = b.table("configure + make -j2 (%s)" % version, "s")
    labels = {"kapsel": "kapsel" if "kapsel (engine)" not in st.unavailable else "kapsel-runtime (OCI bundle)"}
    for name in st.cmds:
        if name in failed:
            t.add(Row(labels.get(name, name), unavailable="failed: " + failed[name]))
        else:
            t.add(Row(labels.get(name, name), samples[name]))
    for name, why in st.unavailable.items():
        if name != "kapsel (engine)":
            t.add(Row(name, unavailable=why))
        else:
            b.notes.append("The kapsel row ran through kapsel-runtime with an OCI bundle: the engine "
                           "was not usable (%s)." % why)
    t.add(Row(VM_ROW, unavailable=vm_reason()))
    for r in t.rows:
        if r.ok and r.name != "bare":
            b.claim(t, r.name, "bare", label="compile: %s / bare" % r.name)
    b.extra_md.append(study_table(t))
    b.extra_md.append("Every build in the order it ran, with the 1-minute load average before and after it "
                      "(other work on this machine shows here):\n\n| # | environment | run | seconds | load before | load after |\n"
                      "|---|---|---|---|---|---|\n" + "\n".join(
                          "| %d | %s | %d | %.1f | %s | %s |" % ((k + 1,) + e) for k, e in enumerate(st.log)))
    b.extra_md.append("For context, the published run of the same kind of study the issue cites "
                      "(GUUG 2015, Core2 then Xeon E3; % of bare metal):\n\n| environment | % of bare |\n|---|---|\n" +
                      "\n".join("| %s | %s |" % g for g in GUUG_2015))
    return b


def vm_reason():
    if not os.path.exists("/dev/kvm"):
        return "not available (no /dev/kvm; nested emulation would not be comparable)"
    return "not available (kapsel-vmm has no rootfs-disk compile path in this benchmark yet)"
