"""docker habits that must work with kapsel (issue 14): exact long options, `--format 'table …'`,
`--help` for every management group, docker's `ps`, detach keys, hostname = short id and resolvable,
`inspect` of any object, `logs --since/--until`, `run --help`, the non-root message and bash
completion. Each test runs on its own root in test_engine's network namespace."""
import json
import os
import pty
import re
import select
import shutil
import subprocess
import tempfile
import time

import pytest

from test_engine import KAPSEL, NETNS, REPO, in_ns, kapsel_session, veths, wait_for


@pytest.fixture(scope="module")
def habits_netns():
    """test_engine's namespace (same name): made here unless its session fixture already did."""
    made = subprocess.run(["ip", "netns", "add", NETNS], capture_output=True).returncode == 0
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield
    if made:
        subprocess.run(["ip", "netns", "del", NETNS])


@pytest.fixture
def k(tmp_path, habits_netns):
    yield from kapsel_session(tmp_path, {"veths": veths})


# --- exact long options ---

def test_long_options_are_exact(k):
    # glibc took --pid as --pids-limit: --pid is docker's own option now, and a prefix of a long
    # option is an unknown option, named in the error
    p = k("run", "--rm", "--pid", "host", "busybox", "sh", "-c", "test $(ls -d /proc/[0-9]* | wc -l) -gt 20",
          check=False)
    assert p.returncode == 0, p.stderr
    p = k("run", "--rm", "--pids", "5", "busybox", "true", check=False)
    assert p.returncode == 125 and "unknown option --pids" in p.stderr and "pids-limit" not in p.stderr, p.stderr
    assert "kapsel run --help" in p.stderr
    p = k("ps", "--al", check=False)
    assert p.returncode == 125 and "unknown option --al" in p.stderr, p.stderr
    p = k("container", "ls", "--quie", check=False)
    assert p.returncode == 125 and "container ls: unknown option --quie" in p.stderr, p.stderr
    # a value that looks like an option and the container's own arguments are not checked
    assert k("run", "--rm", "--name", "x", "busybox", "echo", "--pi").stdout == "--pi\n"


# --- listings: table templates ---

def lines(text):
    return text.rstrip("\n").split("\n")


def test_format_table_has_header_and_aligned_columns(k):
    k("run", "--name", "a", "busybox", "true")
    k("run", "--name", "a-rather-long-container-name", "busybox", "true")
    out = lines(k("ps", "-a", "--format", r"table {{.Names}}\t{{.Status}}").stdout)
    assert re.match(r"^NAMES +STATUS$", out[0]), out
    assert not any("table" in l for l in out), out
    assert len(out) == 3
    # tabwriter layout: the second column starts at the same place on every line, 3 after the widest
    col = out[0].index("STATUS")
    assert col == len("a-rather-long-container-name") + 3
    assert all(l[col - 1] == " " and l[col] != " " for l in out), out
    # the other listings take the same templates
    assert lines(k("images", "--format", r"table {{.Repository}}\t{{.ID}}").stdout)[0].split() == \
        ["REPOSITORY", "IMAGE", "ID"]
    k("volume", "create", "v1")
    assert lines(k("volume", "ls", "--format", "table {{.Name}}").stdout) == ["VOLUME NAME", "v1"]
    assert lines(k("network", "ls", "--format", "table {{.Name}}").stdout)[0] == "NAME"


# --- --help of every management group and its verbs ---

def test_every_group_and_verb_has_help(k):
    top = k("--help").stdout
    section = top.split("Management Commands:")[1].split("\n\n")[0]
    groups = re.findall(r"^  ([a-z]+)\s", section, re.M)
    assert {"container", "image", "network", "system", "volume", "vm"} <= set(groups), groups
    for group in groups:
        p = k(group, "--help", check=False)
        assert p.returncode == 0, (group, p.stderr)
        subs = re.findall(r"^  ([a-z]+)\s", p.stdout.split("Commands:")[1].split("\n\n")[0], re.M)
        assert subs, (group, p.stdout)
        for sub in subs:
            p = k(group, sub, "--help", check=False)
            assert p.returncode == 0, (group, sub, p.stderr)
            assert p.stdout.startswith("Usage: kapsel %s %s" % (group, sub)), (group, sub, p.stdout)
    # docker's spelling in help and errors, never the internal dash-joined name
    assert k("container", "prune", "--help").stdout.startswith("Usage: kapsel container prune ")
    p = k("image", "nope", check=False)
    assert p.returncode != 0 and "kapsel image --help" in p.stderr


# --- ps ---

def ps_rows(k, *args):
    return [json.loads(l) for l in k("ps", *args, "--format", "json").stdout.splitlines()]


def test_ps_columns_command_and_json_like_docker(k):
    k("run", "-d", "--name", "loop", "-l", "tier=web", "busybox", "sh", "-c", "while true; do sleep 1; done")
    head, row = lines(k("ps").stdout)
    assert re.split(r" {2,}", head) == ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert "KIND" not in head
    # docker: arguments with spaces in quotes, cut at 20 characters with an ellipsis, then quoted
    assert "\"sh -c 'while true; …\"" in row, row
    assert row.endswith("loop") and row.index("loop") == head.index("NAMES")
    full = k("ps", "--no-trunc", "--format", "{{.Command}}").stdout
    assert full == "\"sh -c 'while true; do sleep 1; done'\"\n"
    rows = ps_rows(k)        # one JSON object a line
    assert [r["Names"] for r in rows] == ["loop"] and rows[0]["Labels"] == "tier=web"
    assert k("ps", "--format", r"table {{.ID}}\t{{.Kind}}").stdout.splitlines()[0].split() == \
        ["CONTAINER", "ID", "KIND"]
    k("rm", "-f", "loop")


def test_ps_filters_last_and_size(k):
    k("run", "--name", "ok", "-l", "a=1", "busybox", "true")
    k("run", "--name", "bad", "-v", "vol1:/data", "busybox", "sh", "-c", "exit 3", check=False)
    k("run", "-d", "--name", "up", "busybox", "sleep", "30")
    names = lambda *a: k("ps", *a, "--format", "{{.Names}}").stdout.split()
    assert names("-f", "status=exited") == ["bad", "ok"]
    assert names("-f", "exited=3") == ["bad"]
    assert names("-a", "-f", "name=^o") == ["ok"]
    assert names("-a", "-f", "label=a") == ["ok"] and names("-a", "-f", "label=a=2") == []
    assert names("-a", "-f", "ancestor=busybox") == ["up", "bad", "ok"]
    assert names("-a", "-f", "volume=vol1") == ["bad"] and names("-a", "-f", "volume=/data") == ["bad"]
    assert names("-a", "-f", "before=up") == ["bad", "ok"] and names("-a", "-f", "since=ok") == ["up", "bad"]
    assert names("-a", "-f", "network=bridge", "-f", "status=running") == ["up"]
    assert names("-a", "-f", "name=ok", "-f", "name=up") == ["up", "ok"]     # one key: OR
    assert names("-a", "-f", "id=" + k.inspect("ok")["Id"][:6]) == ["ok"]
    assert names("-a", "-f", "kind=container", "-f", "label=a") == ["ok"]
    assert names("-n", "2") == ["up", "bad"] and names("-l") == ["up"]
    p = k("ps", "-f", "colour=red", check=False)
    assert p.returncode == 125 and "colour=red" in p.stderr
    head, row = lines(k("ps", "-s").stdout)
    assert head.split()[-1] == "SIZE" and re.search(r"\d+(\.\d+)?[kMG]?B \(virtual \d", row), row
    k("rm", "-f", "up")


# --- detach keys ---

def pty_session(cmd, keys, settle=2.0):
    """Run cmd on a pty, type 'echo hi', then `keys`; return (exit code or None, output)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = b""

    def pump(seconds):
        nonlocal out
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    d = os.read(fd, 4096)
                except OSError:
                    return
                if not d:
                    return
                out += d
    pump(settle)
    os.write(fd, b"echo hi\n")
    pump(0.5)
    os.write(fd, keys)
    deadline = time.time() + 10
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            pump(0.1)
            os.close(fd)
            return os.waitstatus_to_exitcode(status), out
        pump(0.1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(fd)
    return None, out


def test_images_filter_like_docker(k, tmp_path):
    """docker's `images -f` is --filter (not --format), with its keys, and `images REPO[:TAG]`."""
    k("run", "--rm", "busybox", "true")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nLABEL tier=app\nRUN echo hi > /x\n")
    k("build", "-q", "-t", "app:1", str(tmp_path))
    k("tag", "busybox", "mybox:2")
    refs = lambda *a: sorted(k("images", *a, "--format", "{{.Repository}}:{{.Tag}}").stdout.split())
    assert refs("-f", "label=tier=app") == ["app:1"] and refs("-f", "label=tier=db") == []
    assert refs("-f", "reference=*box*") == ["busybox:latest", "mybox:2"]
    assert refs("-f", "reference=*box*", "-f", "reference=app") == ["app:1", "busybox:latest", "mybox:2"]
    assert refs("mybox") == ["mybox:2"] and refs("busybox:latest") == ["busybox:latest"]
    assert refs("-f", "since=busybox") == ["app:1"] and refs("-f", "before=app:1") == ["busybox:latest", "mybox:2"]
    assert refs("-f", "dangling=false", "-f", "label=tier") == ["app:1"]
    # the build's step images are intermediate: only with -a, and never dangling
    assert "<none>:<none>" in refs("-a") and "<none>:<none>" not in refs() and refs("-f", "dangling=true") == []
    assert k("images", "-q", "-f", "label=tier").stdout.strip() == k.inspect("app:1")["Id"].split(":")[1][:12]
    p = k("images", "-f", "colour=red", check=False)
    assert p.returncode == 125 and "colour=red" in p.stderr and "dangling" in p.stderr
    p = k("images", "-f", "since=nosuch", check=False)
    assert p.returncode != 0 and "nosuch" in p.stderr


def test_detach_keys_leave_the_container_running(k):
    code, out = pty_session(k.cmd("run", "-it", "--name", "sh1", "busybox", "sh"), b"\x10\x11")
    assert code == 0, out
    assert b"hi" in out
    assert k.inspect("sh1")["State"]["Status"] == "running"
    # attach: docker's exit 1 and message; a lone ctrl-p still reaches the container
    code, out = pty_session(k.cmd("attach", "sh1"), b"\x10x\x10\x11", settle=0.5)
    assert code == 1 and b"read escape sequence" in out, out
    code, out = pty_session(k.cmd("attach", "--detach-keys", "ctrl-a,d", "sh1"), b"\x01d", settle=0.5)
    assert code == 1, out
    assert k.inspect("sh1")["State"]["Status"] == "running"
    p = k("attach", "--detach-keys", "ctrl-1", "sh1", check=False)
    assert p.returncode == 125 and "--detach-keys" in p.stderr
    k("rm", "-f", "sh1")


def test_run_detach_keys_option(k):
    code, out = pty_session(k.cmd("run", "-it", "--detach-keys", "ctrl-a,d", "--name", "sh2", "busybox", "sh"), b"\x01d")
    assert code == 0, out
    assert k.inspect("sh2")["State"]["Status"] == "running"
    assert k("run", "--detach-keys", "ctrl-1", "--rm", "busybox", "true", check=False).returncode == 125
    k("rm", "-f", "sh2")


def test_detach_keys_are_data_without_a_tty(k):
    # docker looks for the keys only on a terminal: piped bytes reach the container as they are
    data = b"a\x10\x11b\x10\x11\n"
    p = k("run", "-i", "--rm", "busybox", "od", "-An", "-tx1", input=data)
    assert p.stdout.split() == ["61", "10", "11", "62", "10", "11", "0a"], p.stdout


def test_exec_it_detach_keeps_the_process(k):
    k("run", "-d", "--name", "x1", "busybox", "sleep", "60")
    code, out = pty_session(k.cmd("exec", "-it", "x1", "sh", "-c", "echo started; sleep 50"), b"\x10\x11", settle=1)
    assert code == 0 and b"started" in out, out
    assert "sleep 50" in k("exec", "x1", "ps").stdout
    k("rm", "-f", "x1")
    # the process that held its terminal is gone with it
    assert wait_for(lambda: not [l for l in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True)
                                 .stdout.splitlines() if k.root in l and " exec " in l], 5)


# --- hostname ---

def test_hostname_is_short_id_and_resolves(k):
    script = "hostname; cat /etc/hostname; echo $HOSTNAME; ping -c1 -W2 $(hostname) >/dev/null && echo resolves"
    for net in ("bridge", "none"):
        cid = k("run", "-d", "--network", net, "busybox", "sh", "-c", script + "; sleep 30").stdout.strip()
        assert wait_for(lambda: "resolves" in k("logs", cid).stdout or "bad" in k("logs", cid).stdout, 10), \
            (net, k("logs", cid).stdout, k("logs", cid).stderr)
        assert k("logs", cid).stdout.split() == [cid[:12]] * 3 + ["resolves"], net
        k("rm", "-f", cid)
    out = k("run", "--rm", "--network", "none", "--hostname", "box1", "busybox", "sh", "-c", script).stdout
    assert out.split() == ["box1"] * 3 + ["resolves"]


# --- inspect, logs ---

def test_inspect_finds_any_object_and_takes_type(k):
    k("run", "--name", "c1", "busybox", "true")
    k("volume", "create", "vol1")
    k("network", "create", "net1")
    docs = json.loads(k("inspect", "c1", "busybox", "vol1", "net1").stdout)
    assert docs[0]["Name"] == "/c1" and docs[1]["Id"].startswith("sha256:")
    assert docs[2]["Name"] == "vol1" and docs[3]["Name"] == "net1"
    assert k("inspect", "-f", "{{.Name}}", "--type", "volume", "vol1").stdout == "vol1\n"
    p = k("inspect", "--type", "volume", "busybox", check=False)
    assert p.returncode != 0 and "no such volume: busybox" in p.stderr
    p = k("inspect", "--type", "disk", "c1", check=False)
    assert p.returncode == 125 and "--type" in p.stderr
    k("network", "rm", "net1")


def test_logs_since_until(k):
    k("run", "--name", "l1", "busybox", "sh", "-c", "echo early; sleep 2; echo late")
    assert k("logs", "--since", "1s", "l1").stdout == "late\n"
    assert k("logs", "--until", "1s", "l1").stdout == "early\n"
    assert k("logs", "--since", "2000-01-01T00:00:00Z", "l1").stdout == "early\nlate\n"
    assert k("logs", "--since", str(int(time.time()) + 60), "l1").stdout == ""
    p = k("logs", "--since", "yesterday", "l1", check=False)
    assert p.returncode == 125 and "--since" in p.stderr


# --- run --help ---

def test_run_help_lists_publish_and_networks(k):
    text = k("run", "--help").stdout
    assert "-p, --publish" in text and "--publish-all" in text
    for mode in ("bridge", "host", "none", "container:NAME"):
        assert mode in text, mode
    assert re.search(r"--network .*NETWORK", text)


# --- non-root ---

def test_non_root_user_is_told_what_is_needed(k, tmp_path):
    root = tempfile.mkdtemp(prefix="kapsel-nonroot-", dir="/tmp")
    try:
        os.chmod(root, 0o755)
        subprocess.run([KAPSEL, "--root", root, "ps"], check=True, capture_output=True)
        p = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                            KAPSEL, "--root", root, "ps"], capture_output=True, text=True)
        assert p.returncode == 125
        assert "readonly database" not in p.stderr
        assert "not writable by this user" in p.stderr and "root" in p.stderr and "--root" in p.stderr, p.stderr
    finally:
        shutil.rmtree(root)


# --- bash completion ---

COMPLETION = os.path.join(REPO, "completion", "kapsel.bash")


def complete(k, *words):
    script = 'source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _kapsel; printf "%%s\\n" "${COMPREPLY[@]}"' % (
        COMPLETION, " ".join("'%s'" % w for w in ("kapsel", "--root", k.root) + words), len(words) + 2)
    env = dict(os.environ, PATH=os.path.dirname(KAPSEL) + ":" + os.environ["PATH"])
    return subprocess.run(in_ns(["bash", "-c", script]), capture_output=True, text=True, env=env).stdout.split()


@pytest.mark.parametrize("verb", [["run"], ["ps"], ["exec"], ["logs"], ["attach"], ["container", "ls"],
                                  ["inspect"], ["vm", "run"]])
def test_completion_offers_every_documented_option(k, verb):
    helptext = k(*verb, "--help").stdout
    # options as help lists them: in the usage line's [brackets], at a line's start, after ", "
    documented = set(re.findall(r"(?:^\s*|\[|, )(--[a-z][a-z-]+)", helptext, re.M))
    offered = set(complete(k, *verb, "--"))
    assert documented and documented <= offered, documented - offered


def test_completion_offers_running_containers_to_exec(k):
    k("run", "--name", "gone", "busybox", "true")
    k("run", "-d", "--name", "live", "busybox", "sleep", "30")
    for verb in (["exec"], ["attach"], ["stop"], ["pause"], ["container", "exec"]):
        assert complete(k, *verb, "") == ["live"], verb
    assert sorted(complete(k, "rm", "")) == ["gone", "live"]
    assert complete(k, "start", "") == ["gone"]
    k("rm", "-f", "live")
