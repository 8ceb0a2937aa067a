"""scripts/: what the README's first command (scripts/run-default.sh) needs on a fresh Debian 12.

- every dependency meson needs for the default build comes from a package of install-deps.sh's
  `build` set (found through the .pc file meson used, and dpkg -S);
- scripts/build.sh shows the failed step's output (meson's, the compiler's) and recovers a build
  directory: after a setup that failed half-way, and when a dependency appears (cmocka hidden from
  pkg-config, then shown: the unit tests are configured without deleting anything by hand);
- -Dstatic_runtime=false links kapsel-guest-init and a dynamic kapsel-runtime;
- run-default.sh finishes on a host whose KVM cannot boot a stock kernel and says why.

The build checks configure scratch directories and build only a few targets
($KAPSEL_NINJA_TARGETS), so they take seconds with ccache, a minute or two without."""
import glob
import json
import os
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_SH = os.path.join(REPO, "scripts/build.sh")
CHEAP = "src/basic/libbasic.a"

pytestmark = pytest.mark.skipif(not shutil.which("meson") or not shutil.which("dpkg"),
                                reason="needs meson and dpkg (scripts/install-deps.sh build)")


def package_set(name):
    out = subprocess.run([os.path.join(REPO, "scripts/install-deps.sh"), "--list", name], check=True,
                         capture_output=True, text=True).stdout
    return set(out.split())


def build(dirname, *opts, targets=CHEAP, env=None):
    e = dict(os.environ, KAPSEL_NINJA_TARGETS=targets, **(env or {}))
    return subprocess.run([BUILD_SH, str(dirname)] + list(opts), capture_output=True, text=True, env=e, timeout=900)


def closure(packages):
    """`packages` and what they depend on (Depends, Pre-Depends: install-deps.sh installs without
    recommends), as installed here."""
    seen, todo = set(), set(packages)
    while todo:
        seen |= todo
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}\n"] + sorted(todo),
                             capture_output=True, text=True).stdout
        names = {alt.strip().split(" ")[0].split(":")[0] for alt in out.replace("|", ",").replace("\n", ",").split(",")}
        todo = {n for n in names if n} - seen
    return seen


def owner(path):
    """The Debian package that installed `path`."""
    p = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
    if p.returncode != 0:
        p = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    assert p.returncode == 0, "%s belongs to no package: %s" % (path, p.stderr)
    return p.stdout.split(":")[0]


def test_default_build_dependencies_are_in_the_build_set(tmp_path):
    """Configure the default build as a fresh machine gets it (no cmocka: -Dtests=auto finds none,
    which is -Dtests=disabled) and map every dependency it found to its package."""
    b = build(tmp_path / "b", "-Dtests=disabled", targets="build.ninja")
    assert b.returncode == 0, b.stderr
    deps = json.loads(subprocess.run(["meson", "introspect", str(tmp_path / "b"), "--dependencies"], check=True,
                                     capture_output=True, text=True).stdout)
    names = {d["name"] for d in deps} - {"threads"}          # threads: libc's
    assert {"jansson", "libseccomp", "sqlite3"} <= names and "cmocka" not in names, names
    wanted = closure(package_set("build"))
    missing = {}
    for name in sorted(names):
        pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", name], capture_output=True, text=True).stdout.strip()
        pkg = owner(os.path.join(pcdir, name + ".pc"))
        if pkg not in wanted:
            missing[name] = pkg
    # the tools the build runs
    for tool in ("meson", "ninja", "pkg-config"):
        pkg = owner(shutil.which(tool))
        if pkg not in wanted:
            missing[tool] = pkg
    assert missing == {}, "add to the build set of scripts/install-deps.sh: %s" % missing
    # the busybox image and bundle are made at build time from busybox-static
    assert "busybox-static" in package_set("build")
    assert "libcmocka-dev" in package_set("test") and "libcmocka-dev" not in package_set("build")


def test_build_sh_shows_meson_errors(tmp_path):
    p = build(tmp_path / "b", "-Dno_such_option=1")
    assert p.returncode == 1
    assert "meson setup failed" in p.stderr and "no_such_option" in p.stderr, p.stderr


def test_build_sh_shows_compiler_errors(tmp_path):
    """Also: an option changed since the last run is applied to the configured directory."""
    assert build(tmp_path / "b", "-Dtests=disabled").returncode == 0
    p = build(tmp_path / "b", "-Dtests=disabled", "-Dc_args=-include kapsel-no-such-header.h")
    assert p.returncode == 1
    assert "the build failed" in p.stderr and "kapsel-no-such-header.h: No such file" in p.stderr, p.stderr


def test_build_sh_quiet_on_success(tmp_path):
    p = build(tmp_path / "b", "-Dtests=disabled")
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    p = build(tmp_path / "b", "-Dtests=disabled")
    assert p.returncode == 0 and p.stdout == "" and p.stderr == ""


def test_build_dir_recovers_from_a_failed_setup(tmp_path):
    assert build(tmp_path / "b", "-Dno_such_option=1").returncode == 1
    assert os.path.isdir(tmp_path / "b" / "meson-private") or os.path.isdir(tmp_path / "b" / "meson-logs")
    p = build(tmp_path / "b", "-Dtests=disabled")
    assert p.returncode == 0, p.stderr


def test_build_dir_recovers_when_cmocka_appears(tmp_path):
    """The issue's case: configured without cmocka, then libcmocka-dev installed. Here pkg-config is
    shown every module but cmocka first (PKG_CONFIG_LIBDIR), then all of them."""
    out = subprocess.run(["pkg-config", "--variable=pc_path", "pkg-config"], capture_output=True, text=True).stdout
    pcdirs = [d for d in out.strip().split(":") if os.path.isdir(d)]
    if not any(os.path.exists(os.path.join(d, "cmocka.pc")) for d in pcdirs):
        pytest.skip("cmocka is not installed (scripts/install-deps.sh test)")
    without = tmp_path / "pc-without-cmocka"
    without.mkdir()
    for d in pcdirs:
        for pc in glob.glob(os.path.join(d, "*.pc")):
            if os.path.basename(pc) != "cmocka.pc" and not (without / os.path.basename(pc)).exists():
                os.symlink(pc, without / os.path.basename(pc))
    # meson would find cmocka's CMake package too: no cmake for this part
    nocmake = tmp_path / "bin"
    nocmake.mkdir()
    (nocmake / "cmake").write_text("#!/bin/sh\nexit 1\n")
    (nocmake / "cmake").chmod(0o755)
    b = tmp_path / "b"

    def unit_tests_configured():
        tests = json.loads(subprocess.run(["meson", "introspect", str(b), "--tests"], check=True,
                                          capture_output=True, text=True).stdout)
        return any(t["name"] == "test-basic" for t in tests)

    p = build(b, env={"PKG_CONFIG_LIBDIR": str(without), "PATH": "%s:%s" % (nocmake, os.environ["PATH"])})
    assert p.returncode == 0, p.stderr
    assert not unit_tests_configured()
    p = build(b)                                             # cmocka "installed"
    assert p.returncode == 0, p.stderr
    assert "dependencies changed" in p.stderr
    assert unit_tests_configured()


def test_static_runtime_false_links(tmp_path):
    """The README's -Dstatic_runtime=false: kapsel-guest-init stays static (it is the guest's pid 1),
    kapsel-runtime becomes dynamic."""
    b = tmp_path / "b"
    p = build(b, "-Dtests=disabled", "-Dstatic_runtime=false",
              targets="src/helpers/kapsel-guest-init src/cli/kapsel-runtime")
    assert p.returncode == 0, p.stderr
    ldd = subprocess.run(["ldd", str(b / "src/cli/kapsel-runtime")], capture_output=True, text=True).stdout
    assert "libjansson" in ldd
    ldd = subprocess.run(["ldd", str(b / "src/helpers/kapsel-guest-init")], capture_output=True, text=True)
    assert "not a dynamic executable" in ldd.stdout + ldd.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="run-default.sh needs root")
@pytest.mark.skipif(not os.path.exists(os.path.join(REPO, "build/build.ninja")), reason="no build/ (scripts/build.sh build)")
def test_run_default_finishes_and_says_why_the_vm_demo_is_skipped():
    """On this kind of host (no /dev/kvm, or a PVM one) the first README command must end, with 0,
    and name the reason; where KVM works it runs the micro-VM instead."""
    vmm = os.path.join(REPO, "build/src/vmm/kapsel-vmm")
    usable = subprocess.run([vmm, "check-kvm"], capture_output=True, text=True, timeout=30)
    p = subprocess.run([os.path.join(REPO, "scripts/run-default.sh")], capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-2000:])
    assert "hello from a kapsel container" in p.stdout
    if usable.returncode != 0:
        reason = usable.stderr.strip().replace("kapsel-vmm: ", "")
        assert "(skipping the micro-VM demo: %s)" % reason in p.stdout, p.stdout[-2000:]
        if os.path.exists("/sys/module/kvm_pvm"):
            assert "PVM hypervisor" in p.stdout
