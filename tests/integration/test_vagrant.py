"""Vagrant's docker provider against kapseld: up, status, docker-exec, halt, destroy of a Vagrantfile
that runs busybox. Vagrant drives the docker CLI with DOCKER_HOST pointing at kapseld's socket; the
daemon runs in test_daemon's network namespace on a root of its own."""
import os
import shutil
import subprocess

import pytest

from test_daemon import DOCKER, d, netns  # noqa: F401 (fixtures)

VAGRANT = shutil.which("vagrant")

pytestmark = [
    pytest.mark.skipif(not VAGRANT, reason="vagrant is not installed (Debian package vagrant)"),
    pytest.mark.skipif(not DOCKER, reason="vagrant's docker provider runs the docker CLI"),
]

VAGRANTFILE = """
Vagrant.configure("2") do |config|
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.provider "docker" do |d|
    d.image = "busybox"
    d.cmd = ["sleep", "3600"]
    d.name = "kapsel-vagrant"
    d.remains_running = true
    d.has_ssh = false
  end
end
"""


@pytest.fixture
def vagrant(d, tmp_path):  # noqa: F811
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Vagrantfile").write_text(VAGRANTFILE)
    env = dict(os.environ, DOCKER_HOST=d.host, DOCKER_CONFIG=str(tmp_path / "dc"), VAGRANT_HOME=str(tmp_path / "vh"),
               VAGRANT_CHECKPOINT_DISABLE="1", VAGRANT_DEFAULT_PROVIDER="docker", VAGRANT_CWD=str(proj),
               VAGRANT_NO_PLUGINS="1", HOME=str(tmp_path))

    def run(*args, check=True, timeout=180):
        p = subprocess.run([VAGRANT] + list(args), env=env, cwd=str(proj), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError("vagrant %s: exit %d\n%s%s\n--- kapseld ---\n%s" %
                                 (" ".join(args), p.returncode, p.stdout, p.stderr, d.logs()))
        return p
    yield run
    run("destroy", "-f", check=False)


def test_vagrant_docker_provider_lifecycle(vagrant, d):  # noqa: F811
    up = vagrant("up", "--provider=docker")
    assert "kapsel-vagrant" in d.docker("ps", "--format", "{{.Names}}").stdout, up.stdout
    st = vagrant("status")
    assert "running" in st.stdout, st.stdout
    # -t: Debian's vagrant 2.3.4 under Ruby 3.1 breaks docker-exec without a pty (it hands a Hash
    # to childprocess as an argument); with -t it execs `docker exec -t` itself
    ex = vagrant("docker-exec", "-t", "--", "echo", "hello from vagrant")
    assert "hello from vagrant" in ex.stdout, ex.stdout + ex.stderr
    vagrant("halt")
    st = vagrant("status")
    assert "stopped" in st.stdout, st.stdout
    vagrant("destroy", "-f")
    assert "kapsel-vagrant" not in d.docker("ps", "-a", "--format", "{{.Names}}").stdout
    st = vagrant("status")
    assert "not created" in st.stdout, st.stdout
