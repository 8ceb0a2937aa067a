"""The two container engines, each in a temporary root of its own that is removed afterwards:
kapsel (daemonless, its own store) and podman (offline flags from shared/TESTING.md)."""
import os
import subprocess

from .common import rmtree_when_idle, sh, wait_gone, which

# podman asks for rlimits above this host's hard limits (nofile 20000) unless told
PODMAN_ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def run_argv(run, image, args, volumes, workdir, detach, rm):
    """`run` (an engine's "run" argv) + the options both engines share, without a network."""
    c = run + (["--rm"] if rm else []) + (["-d"] if detach else []) + ["--network", "none"]
    for v in volumes:
        c += ["-v", v]
    if workdir:
        c += ["-w", workdir]
    return c + [image] + list(args)


class Kapsel:
    def __init__(self, binary, root):
        self.binary, self.root = binary, root
        os.makedirs(root, exist_ok=True)

    def available(self):
        """None when usable, else the reason."""
        if not os.access(self.binary, os.X_OK):
            return "%s not built (the engine does not build on this tree)" % self.binary
        return None

    def cmd(self, *args):
        return [self.binary, "--root", self.root] + list(args)

    def import_(self, tarball, name):
        sh(self.cmd("import", tarball, name), timeout=1800)

    def run_cmd(self, image, args, volumes=(), workdir=None, detach=False, rm=True):
        return run_argv(self.cmd("run"), image, args, volumes, workdir, detach, rm)

    def rm_all(self):
        p = sh(self.cmd("ps", "-a", "-q"), check=False)
        ids = p.stdout.split() if p.returncode == 0 else []
        for i in range(0, len(ids), 50):
            sh(self.cmd("rm", "-f", *ids[i:i + 50]), check=False, timeout=600)

    def cleanup(self):
        self.rm_all()
        rmtree_when_idle(self.root)


class Podman:
    def __init__(self, root, runtime=None):
        self.base, self.runtime = root, runtime
        self.globals = ["--root", os.path.join(root, "root"), "--runroot", os.path.join(root, "run"),
                        "--tmpdir", os.path.join(root, "tmp"), "--cgroup-manager", "cgroupfs",
                        "--events-backend", "file"]
        os.makedirs(root, exist_ok=True)

    @staticmethod
    def available():
        return None if which("podman") else "podman not installed (apt-get install podman)"

    def cmd(self, *args, runtime=None):
        rt = runtime or self.runtime
        return ["podman"] + self.globals + (["--runtime", rt] if rt else []) + list(args)

    def import_(self, tarball, name):
        sh(self.cmd("import", tarball, name), timeout=1800)

    def run_cmd(self, image, args, volumes=(), workdir=None, detach=False, rm=True, runtime=None):
        return run_argv(self.cmd("run", runtime=runtime) + PODMAN_ULIMITS, image, args, volumes, workdir, detach, rm)

    def rm_all(self):
        sh(self.cmd("rm", "-a", "-f", "-t", "0"), check=False, timeout=900)

    def cleanup(self):
        self.rm_all()
        wait_gone(self.base)
        subprocess.run(self.cmd("system", "reset", "-f"), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rmtree_when_idle(self.base)
