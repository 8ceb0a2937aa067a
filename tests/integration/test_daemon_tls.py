"""kapseld over TCP: only with mutual TLS, as dockerd's --tlsverify.

Certificates are made with openssl in the test's directory (a CA, a server certificate for
127.0.0.1, a client certificate; a second CA with a client certificate of its own). The daemon
listens on a unix socket and on 127.0.0.1 inside a network namespace of the session's own; every
client (the docker CLI, curl) runs in that namespace too."""
import os
import shutil
import signal
import subprocess
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KAPSELD = os.environ.get("KAPSELD", os.path.join(REPO, "build/src/daemon/kapseld"))
KAPSEL = os.environ.get("KAPSEL", os.path.join(REPO, "build/src/cli/kapsel"))
DOCKER = shutil.which("docker")
NETNS = "kapseld-tls-%d" % os.getpid()
PORT = 2376

pytestmark = [
    pytest.mark.skipif(not os.path.exists(KAPSELD), reason="kapseld not built at %s" % KAPSELD),
    pytest.mark.skipif(not shutil.which("openssl") or not shutil.which("curl"),
                       reason="openssl and curl make and try the certificates"),
]


@pytest.fixture(scope="module")
def netns():
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield NETNS
    subprocess.run(["ip", "netns", "del", NETNS])


def in_ns(args, **kw):
    return subprocess.run(["nsenter", "--net=/run/netns/" + NETNS] + args, capture_output=True, text=True, **kw)


def _ossl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def _ca(d, name):
    _ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
          "-subj", "/CN=%s" % name, "-keyout", name + "-key.pem", "-out", name + ".pem", cwd=d)


def _leaf(d, ca, name, ext):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write(ext + "\n")
    _ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=" + name,
          "-keyout", name + "-key.pem", "-out", name + ".csr", cwd=d)
    _ossl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + "-key.pem", "-set_serial",
          str(int(time.time() * 1000)), "-days", "1", "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
    os.chmod(os.path.join(d, name + "-key.pem"), 0o600)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    _ca(d, "ca")
    _ca(d, "otherca")
    _leaf(d, "ca", "server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    _leaf(d, "ca", "client", "extendedKeyUsage=clientAuth")
    _leaf(d, "otherca", "stranger", "extendedKeyUsage=clientAuth")
    return lambda name: os.path.join(d, name)


def tls_args(c):
    return ["--tlsverify", "--tlscacert", c("ca.pem"), "--tlscert", c("server.pem"), "--tlskey", c("server-key.pem")]


class TlsDaemon:
    def __init__(self, tmp, certs):
        self.tmp = tmp
        self.root = os.path.join(tmp, "root")
        self.sock = os.path.join(tmp, "d.sock")
        self.certs = certs
        self.log = open(os.path.join(tmp, "kapseld.log"), "w+")
        # TCP first: once the unix socket shows, both listen
        self.proc = subprocess.Popen(["nsenter", "--net=/run/netns/" + NETNS, KAPSELD, "--root", self.root,
                                      "--host", "tcp://127.0.0.1:%d" % PORT, "--host", "unix://" + self.sock] +
                                     tls_args(certs), stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            if os.path.exists(self.sock) or self.proc.poll() is not None:
                break
            time.sleep(0.02)
        assert os.path.exists(self.sock), self.logs()

    def logs(self):
        self.log.seek(0)
        return self.log.read()

    def docker(self, *args, cert="client", check=True, timeout=60):
        c = self.certs
        env = dict(os.environ, DOCKER_CONFIG=os.path.join(self.tmp, "dc"), DOCKER_CERT_PATH=self.tmp)
        env.pop("DOCKER_HOST", None)
        p = in_ns([DOCKER, "--tlsverify", "--tlscacert", c("ca.pem"), "--tlscert", c(cert + ".pem"), "--tlskey",
                   c(cert + "-key.pem"), "-H", "tcp://127.0.0.1:%d" % PORT] + list(args), env=env, timeout=timeout,
                  stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError("docker %s: exit %d\n%s%s\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr,
                                                                  self.logs()))
        return p

    def curl(self, *args):
        return in_ns(["curl", "-sS", "--max-time", "10"] + list(args), timeout=30)

    def stop(self):
        ids = subprocess.run([KAPSEL, "--root", self.root, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            in_ns([KAPSEL, "--root", self.root, "rm", "-f"] + ids)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def td(netns, certs, tmp_path):
    dm = TlsDaemon(str(tmp_path), certs)
    yield dm
    dm.stop()
    assert not os.path.exists(dm.sock)


@pytest.mark.skipif(not DOCKER, reason="no docker CLI")
def test_docker_cli_over_mutual_tls_runs_a_container(td):
    assert td.docker("run", "--rm", "busybox", "echo", "hello over tls").stdout == "hello over tls\n"
    cid = td.docker("run", "-d", "--name", "tlsd", "busybox", "sleep", "1000").stdout.strip()
    assert td.docker("exec", "tlsd", "echo", "in").stdout == "in\n"
    assert cid[:12] in td.docker("ps", "-q").stdout
    td.docker("rm", "-f", "tlsd")
    # the unix socket of the same daemon serves as before, with no certificate
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "--unix-socket", td.sock, "http://d/_ping"],
                       capture_output=True, text=True)
    assert p.stdout == "OK"


def test_client_certificate_of_the_ca_is_served(td):
    c = td.certs
    p = td.curl("--cacert", c("ca.pem"), "--cert", c("client.pem"), "--key", c("client-key.pem"),
                "https://127.0.0.1:%d/_ping" % PORT)
    assert p.returncode == 0 and p.stdout == "OK", p.stderr + td.logs()
    # the web console on the same listener, behind the same certificates
    p = td.curl("--cacert", c("ca.pem"), "--cert", c("client.pem"), "--key", c("client-key.pem"), "-o", "/dev/null",
                "-w", "%{http_code}", "https://127.0.0.1:%d/console/" % PORT)
    assert p.returncode == 0 and p.stdout == "200", p.stdout + p.stderr
    p = td.curl("--cacert", c("ca.pem"), "https://127.0.0.1:%d/console/" % PORT)
    assert p.returncode != 0 and p.stdout == ""


def test_client_without_certificate_is_refused(td):
    p = td.curl("--cacert", td.certs("ca.pem"), "https://127.0.0.1:%d/_ping" % PORT)
    assert p.returncode != 0 and p.stdout == "", p.stdout


def test_certificate_of_another_ca_is_refused(td):
    c = td.certs
    p = td.curl("--cacert", c("ca.pem"), "--cert", c("stranger.pem"), "--key", c("stranger-key.pem"),
                "https://127.0.0.1:%d/_ping" % PORT)
    assert p.returncode != 0 and p.stdout == "", p.stdout
    if DOCKER:
        d = td.docker("ps", cert="stranger", check=False)
        assert d.returncode != 0


def test_plain_http_to_the_tls_port_fails(td):
    p = td.curl("http://127.0.0.1:%d/_ping" % PORT)
    assert p.returncode != 0 and "OK" not in p.stdout


def _start_fails(netns, tmp_path, *args):
    sock = os.path.join(str(tmp_path), "x.sock")
    p = in_ns([KAPSELD, "--root", os.path.join(str(tmp_path), "root"), "--host", "unix://" + sock] + list(args),
              timeout=30)
    assert p.returncode != 0
    assert not os.path.exists(sock) and not os.path.exists(os.path.join(str(tmp_path), "root"))
    return p.stderr


def test_tcp_without_tlsverify_does_not_start(netns, certs, tmp_path):
    msg = _start_fails(netns, tmp_path, "--host", "tcp://127.0.0.1:%d" % PORT)
    assert "only with mutual TLS" in msg and "--tlsverify --tlscacert" in msg, msg
    # the server's certificate alone is not enough: clients must prove theirs
    msg = _start_fails(netns, tmp_path, "--host", "tcp://127.0.0.1:%d" % PORT, "--tlscert", certs("server.pem"),
                       "--tlskey", certs("server-key.pem"))
    assert "only with mutual TLS" in msg, msg
    msg = _start_fails(netns, tmp_path, "--host", "tcp://127.0.0.1:%d" % PORT, "--tlsverify")
    assert "--tlsverify needs" in msg, msg
    msg = _start_fails(netns, tmp_path, "--host", "tcp://localhost:%d" % PORT, *tls_args(certs))
    assert "not an IP address" in msg, msg
    msg = _start_fails(netns, tmp_path, "--host", "http://127.0.0.1:%d" % PORT, *tls_args(certs))
    assert "expected unix:///PATH or tcp://ADDR:PORT" in msg, msg


def test_key_readable_by_others_or_wrong_is_refused(netns, certs, tmp_path):
    key = os.path.join(str(tmp_path), "open-key.pem")
    shutil.copy(certs("server-key.pem"), key)
    os.chmod(key, 0o640)
    args = ["--host", "tcp://127.0.0.1:%d" % PORT, "--tlsverify", "--tlscacert", certs("ca.pem"),
            "--tlscert", certs("server.pem")]
    msg = _start_fails(netns, tmp_path, *(args + ["--tlskey", key]))
    assert "chmod 600" in msg and "0640" in msg, msg
    # a key that is not the certificate's
    msg = _start_fails(netns, tmp_path, *(args + ["--tlskey", certs("client-key.pem")]))
    assert "--tlscert" in msg and "--tlskey" in msg, msg
    msg = _start_fails(netns, tmp_path, *(args + ["--tlskey", os.path.join(str(tmp_path), "missing.pem")]))
    assert "missing.pem" in msg, msg


def test_system_service_passes_tcp_and_tls(netns, certs, tmp_path):
    # the CLI verb hands every option to kapseld: the refusal is kapseld's
    p = in_ns([KAPSEL, "--root", os.path.join(str(tmp_path), "root"), "system", "service", "-H",
               "unix://" + os.path.join(str(tmp_path), "s.sock"), "-H", "tcp://127.0.0.1:%d" % PORT], timeout=30)
    assert p.returncode != 0 and "only with mutual TLS" in p.stderr, p.stderr
    sock = os.path.join(str(tmp_path), "s.sock")
    proc = subprocess.Popen(["nsenter", "--net=/run/netns/" + NETNS, KAPSEL, "--root", os.path.join(str(tmp_path),
                             "root"), "system", "service", "-H", "tcp://127.0.0.1:%d" % PORT, "--host",
                             "unix://" + sock] + tls_args(certs), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            if os.path.exists(sock) or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert os.path.exists(sock)
        p = in_ns(["curl", "-sS", "--max-time", "10", "--cacert", certs("ca.pem"), "--cert", certs("client.pem"),
                   "--key", certs("client-key.pem"), "https://127.0.0.1:%d/_ping" % PORT], timeout=30)
        assert p.stdout == "OK", p.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
