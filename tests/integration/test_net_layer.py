"""The network layer (src/net) through kapsel-net-tool, before the engine CLI exists.

Everything happens inside network namespaces this file creates: "host" (where kapsel-net-tool runs
and makes its bridges, veths and nftables table), "other" (another machine on a veth to the host,
10.250.0.2, with no route to any container subnet), and one namespace per container. The only
addresses ever contacted are loopback and those of these namespaces. Deleting the namespaces at
the end removes every kernel object the tests made."""
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.environ.get("KAPSEL_NET_TOOL", os.path.join(REPO, "build/src/net/kapsel-net-tool"))
PY = sys.executable
HOST_IP, OTHER_IP = "10.250.0.1", "10.250.0.2"

# A TCP server for one namespace: answers every connection with "<tag> <peer address>".
SERVER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(("%s %s\n" % (sys.argv[3], peer[0])).encode()); c.close()
"""
# Connect and print what the server says, or "ERR <reason>".
CLIENT = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print(c.recv(200).decode().strip())
except Exception as e:
    print("ERR", type(e).__name__, e)
"""


def sh(*args, check=True, **kw):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=60, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def have_prereqs():
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "nft"):
        if not shutil.which(tool):
            return "needs '%s'" % tool
    if not os.path.exists(TOOL):
        return "kapsel-net-tool not built at %s" % TOOL
    return None


pytestmark = pytest.mark.skipif(have_prereqs() is not None, reason=str(have_prereqs()))


def root_names(root):
    """The nftables table and default bridge of a network state root (net_root_names): kapsel's own
    for /var/lib/kapsel/net, else tagged with 6 hex of the FNV-1a hash of "<real path>/"."""
    root = os.path.realpath(root)
    if root == "/var/lib/kapsel/net":
        return "kapsel", "kapsel0"
    h = 2166136261
    for b in (root + "/").encode():
        h = ((h ^ b) * 16777619) & 0xffffffff
    return "kapsel_%06x" % (h & 0xffffff), "kapsel0-%06x" % (h & 0xffffff)


class Lab:
    def __init__(self, tmp):
        self.tag = uuid.uuid4().hex[:6]
        self.root = str(tmp / "netroot")
        os.makedirs(self.root, exist_ok=True)
        self.nft_table, self.bridge0 = root_names(self.root)
        self.resolv = str(tmp / "resolv.conf")
        with open(self.resolv, "w") as f:
            f.write("nameserver 127.0.0.53\nnameserver 10.250.0.53\nsearch lab.test\n")
        self.host, self.other = "knh-" + self.tag, "kno-" + self.tag
        self.namespaces, self.procs = [], []
        for ns in (self.host, self.other):
            self.netns_add(ns)
        # The host's uplink to the other machine.
        sh("ip", "-n", self.host, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", self.other)
        sh("ip", "-n", self.host, "addr", "add", HOST_IP + "/24", "dev", "uplink")
        sh("ip", "-n", self.host, "link", "set", "uplink", "up")
        sh("ip", "-n", self.other, "addr", "add", OTHER_IP + "/24", "dev", "eth0")
        sh("ip", "-n", self.other, "link", "set", "eth0", "up")

    def netns_add(self, name):
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def container(self, name):
        """A namespace playing a container's; returns its path."""
        ns = self.netns_add("knc-%s-%s" % (self.tag, name))
        return "/run/netns/" + ns

    def tool(self, *args, check=True, env=None):
        cmd = ["ip", "netns", "exec", self.host, TOOL, "--root", self.root, "--host-resolv", self.resolv] + list(args)
        return sh(*cmd, check=check, env=env)

    def tool_json(self, *args):
        return json.loads(self.tool(*args).stdout)

    def attach(self, cid, *args):
        return self.tool_json("attach", "--id", cid, "--name", cid, "--netns", self.container(cid), *args)

    def serve(self, ns, port, tag, addr="0.0.0.0"):
        p = subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", SERVER, addr, str(port), tag],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout.readline().strip() == "ready", p.stderr.read()

    def connect(self, ns, addr, port, timeout=2.0, hosts=None):
        cmd = [PY, "-c", CLIENT, addr, str(port), str(timeout)]
        if hosts:   # `ip netns exec` runs in a private mount namespace: bind the generated hosts file
            cmd = ["sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts] + cmd
        return sh("ip", "netns", "exec", ns, *cmd).stdout.strip()

    def links(self):
        out = sh("ip", "-n", self.host, "-o", "link", "show").stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def table(self):
        return sh("ip", "netns", "exec", self.host, "nft", "list", "table", "ip", self.nft_table, check=False).stdout

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    yield lab
    lab.close()


def test_container_to_container_by_ip_and_name(lab):
    lab.tool("network-create", "app")
    c1 = lab.attach("web", "--network", "app", "--alias", "www")
    c2 = lab.attach("client", "--network", "app")
    files = lab.tool_json("files", "client")
    lab.serve("knc-%s-web" % lab.tag, 80, "web")
    client_ns = "knc-%s-client" % lab.tag
    assert lab.connect(client_ns, c1["ip"], 80) == "web " + c2["ip"]
    # By name, through the generated hosts file.
    hosts = open(files["hosts"]).read()
    assert "%s\tweb www\n" % c1["ip"] in hosts
    assert lab.connect(client_ns, "web", 80, hosts=files["hosts"]) == "web " + c2["ip"]
    assert lab.connect(client_ns, "www", 80, hosts=files["hosts"]) == "web " + c2["ip"]
    # A later peer appears in the same file (same inode: a bind mount sees it); a detached one goes.
    inode = os.stat(files["hosts"]).st_ino
    c3 = lab.attach("late", "--network", "app")
    assert "%s\tlate\n" % c3["ip"] in open(files["hosts"]).read()
    lab.tool("detach", "late")
    assert "late" not in open(files["hosts"]).read()
    assert os.stat(files["hosts"]).st_ino == inode


def test_files_resolv_and_hostname(lab):
    files = lab.tool_json("files", "c1", "--hostname", "box", "--add-host", "db.example:10.1.2.3")
    assert open(files["hostname"]).read() == "box\n"
    assert open(files["resolv_conf"]).read() == "nameserver 10.250.0.53\nsearch lab.test\n"
    assert "10.1.2.3\tdb.example\n" in open(files["hosts"]).read()
    files = lab.tool_json("files", "c1", "--dns", "10.9.9.9")
    assert open(files["resolv_conf"]).read() == "search lab.test\nnameserver 10.9.9.9\n"


def test_port_map_from_other_machine_and_host_loopback(lab):
    c1 = lab.attach("web", "-p", "8080:80", "-p", "127.0.0.1:8081:80")
    lab.serve("knc-%s-web" % lab.tag, 80, "web")
    # From another machine: the source it sees is that machine's (DNAT only).
    assert lab.connect(lab.other, HOST_IP, 8080) == "web " + OTHER_IP
    # From the host itself, on its address and on 127.0.0.1 (masqueraded to the gateway).
    assert lab.connect(lab.host, HOST_IP, 8080) == "web " + HOST_IP
    assert lab.connect(lab.host, "127.0.0.1", 8080) == "web " + c1["gateway"]
    assert lab.connect(lab.host, "127.0.0.1", 8081) == "web " + c1["gateway"]
    # The 127.0.0.1-only map is not published on other addresses.
    assert lab.connect(lab.other, HOST_IP, 8081, timeout=1).startswith("ERR")
    assert sorted(lab.tool("ports", "web").stdout.splitlines()) == \
        ["80/tcp -> 0.0.0.0:8080", "80/tcp -> 127.0.0.1:8081"]


def test_publish_all_picks_free_ports(lab):
    # -P: host ports from the ephemeral range, distinct and reachable.
    lab.attach("web", "-P", "80/tcp", "-P", "81")
    ports = lab.tool("ports", "web").stdout.splitlines()
    host_ports = [int(p.rsplit(":", 1)[1]) for p in ports]
    assert len(set(host_ports)) == 2 and all(p >= 1024 for p in host_ports)
    lab.serve("knc-%s-web" % lab.tag, 80, "web")
    assert lab.connect(lab.other, HOST_IP, host_ports[0]) == "web " + OTHER_IP


def test_isolation_between_networks(lab):
    lab.tool("network-create", "n1")
    lab.tool("network-create", "n2")
    a = lab.attach("a", "--network", "n1")
    lab.attach("b", "--network", "n2")
    lab.attach("a2", "--network", "n1")
    lab.serve("knc-%s-a" % lab.tag, 80, "a")
    assert lab.connect("knc-%s-a2" % lab.tag, a["ip"], 80).startswith("a ")
    assert lab.connect("knc-%s-b" % lab.tag, a["ip"], 80, timeout=1).startswith("ERR")
    # Nor can another machine reach a container address directly (only through port maps).
    sh("ip", "-n", lab.other, "route", "add", a["ip"], "via", HOST_IP)
    assert lab.connect(lab.other, a["ip"], 80, timeout=1).startswith("ERR")


def test_egress_is_masqueraded(lab):
    lab.serve(lab.other, 9000, "other")
    lab.attach("c1")
    assert lab.connect("knc-%s-c1" % lab.tag, OTHER_IP, 9000) == "other " + HOST_IP


def test_internal_network_has_no_egress(lab):
    lab.serve(lab.other, 9000, "other")
    lab.tool("network-create", "--internal", "secret")
    a = lab.attach("a", "--network", "secret")
    lab.attach("b", "--network", "secret")
    assert lab.connect("knc-%s-a" % lab.tag, OTHER_IP, 9000, timeout=1).startswith("ERR")
    lab.serve("knc-%s-a" % lab.tag, 80, "a")
    assert lab.connect("knc-%s-b" % lab.tag, a["ip"], 80).startswith("a ")
    assert lab.tool_json("network-inspect", "secret")["Internal"] is True


def test_detach_removes_everything(lab):
    c1 = lab.attach("web", "-p", "8080:80")
    assert c1["ifname"] in lab.links()
    assert "instance web" in lab.table()
    lab.tool("detach", "web")
    assert c1["ifname"] not in lab.links()
    assert "instance web" not in lab.table()
    assert "dport 8080" not in lab.table()
    assert lab.tool_json("network-inspect", "bridge")["Containers"] == {}
    assert lab.tool("ports", "web").stdout == ""
    lab.tool("detach", "web")    # idempotent
    # The address is free again.
    assert lab.attach("again")["ip"] == c1["ip"]


def test_detach_of_files_only_instance_leaves_the_rules_alone(lab):
    """An instance with /etc files but no attachment (a --network none container) changes no rule
    when it goes: its files go, the nftables table is not committed again (each commit costs the
    kernel a grace period; it once cost every `run --rm --network none` ~10 ms)."""
    lab.attach("web", "-p", "8080:80")
    handle = lambda: sh("ip", "netns", "exec", lab.host, "nft", "-a", "list", "table", "ip",
                        lab.nft_table).stdout.splitlines()[0]      # "table ip NAME { # handle N"
    before = handle()
    assert "# handle" in before
    files = lab.tool_json("files", "quiet")
    assert os.path.exists(files["hosts"])
    lab.tool("detach", "quiet")
    assert not os.path.exists(files["hosts"])
    assert handle() == before       # the table's handle: not deleted and added again
    lab.attach("api")
    lab.tool("detach", "web")
    assert handle() != before
    # without any attachment the root has no table at all
    lab.tool("detach", "api")
    assert lab.table() == ""


def test_inspect_and_list(lab):
    nid = lab.tool("network-create", "lab", "--subnet", "10.77.0.0/24", "--gateway", "10.77.0.254",
                   "--label", "team=x").stdout.strip()
    c = lab.attach("c1", "--network", "lab")
    info = lab.tool_json("network-inspect", "lab")
    assert info["Id"] == nid and info["Subnet"] == "10.77.0.0/24" and info["Gateway"] == "10.77.0.254"
    assert info["Driver"] == "bridge" and info["Labels"] == {"team": "x"} and info["Bridge"] == "kapsel-" + nid[:8]
    assert info["Containers"]["c1"]["IPv4Address"] == c["ip"] + "/24"
    assert c["ip"] == "10.77.0.1"
    assert [n["Name"] for n in lab.tool_json("network-ls")] == ["bridge", "lab"]


def expect_error(lab, code, text, *args):
    p = lab.tool(*args, check=False)
    assert p.returncode == code, (p.returncode, p.stderr)
    assert text in p.stderr, p.stderr


def test_bad_input_changes_nothing(lab):
    lab.tool("network-create", "n1", "--subnet", "10.60.0.0/16")
    lab.attach("a", "--network", "n1", "-p", "8080:80")
    before_state = open(os.path.join(lab.root, "state.json")).read()
    before_links, before_table = lab.links(), lab.table()

    expect_error(lab, 5, "overlaps network 'n1'", "network-create", "n2", "--subnet", "10.60.3.0/24")
    expect_error(lab, 5, "already exists", "network-create", "n1")
    expect_error(lab, 2, "invalid subnet", "network-create", "n3", "--subnet", "10.60.0.0/33")
    expect_error(lab, 2, "not a host address", "network-create", "n4", "--subnet", "10.61.0.0/24",
                 "--gateway", "10.62.0.1")
    expect_error(lab, 4, "network 'nope' not found", "attach", "--id", "b", "--name", "b",
                 "--netns", lab.container("b"), "--network", "nope")
    expect_error(lab, 5, "already mapped by a", "attach", "--id", "c", "--name", "c",
                 "--netns", lab.container("c"), "-p", "8080:81")
    lab.serve(lab.host, 9090, "squatter")
    expect_error(lab, 5, "in use by a process", "attach", "--id", "d", "--name", "d",
                 "--netns", lab.container("d"), "-p", "9090:80")
    expect_error(lab, 8, "attached instance", "network-rm", "n1")
    expect_error(lab, 2, "invalid port map", "port-parse", "-p", "70000:80")

    assert open(os.path.join(lab.root, "state.json")).read() == before_state
    assert lab.links() == before_links and lab.table() == before_table


def test_network_rm_force_and_prune(lab):
    lab.tool("network-create", "n1")
    lab.tool("network-create", "n2")
    c = lab.attach("a", "--network", "n1")
    bridge = lab.tool_json("network-inspect", "n1")["Bridge"]
    lab.tool("network-rm", "--force", "n1")
    assert c["ifname"] not in lab.links() and bridge not in lab.links()
    assert lab.tool("network-prune").stdout.split() == ["n2"]
    assert [n["Name"] for n in lab.tool_json("network-ls")] == ["bridge"]


def test_gc_after_kill9_mid_attach(lab):
    keep = lab.attach("keep", "-p", "8000:80")
    env = dict(os.environ, KAPSEL_NET_CRASH_AT="veth")
    p = lab.tool("attach", "--id", "dead", "--name", "dead", "--netns", lab.container("dead"), "-p", "8001:80",
                 check=False, env=env)
    assert p.returncode in (-9, 137), p
    state = json.load(open(os.path.join(lab.root, "state.json")))
    dead = [a for a in state["attachments"] if a["instance_id"] == "dead"]
    assert len(dead) == 1 and dead[0]["ifname"] in lab.links()  # the garbage a crash leaves
    removed = lab.tool("gc", "keep").stdout.splitlines()
    assert any(r.startswith("attachment dead") for r in removed), removed
    assert dead[0]["ifname"] not in lab.links()
    assert keep["ifname"] in lab.links()
    assert "instance dead" not in lab.table() and "instance keep" in lab.table()
    # A second gc finds nothing; and the crashed instance can attach again.
    assert lab.tool("gc", "keep").stdout == ""
    lab.tool("attach", "--id", "dead", "--name", "dead", "--netns", "/run/netns/knc-%s-dead" % lab.tag)


def test_gc_and_reset_leave_links_the_state_does_not_name(lab):
    """A link shaped like kapsel's that this root's state does not name may be another root's in the
    same network namespace: neither gc nor reset deletes it (every link of ours is in state.json
    before it exists)."""
    sh("ip", "-n", lab.host, "link", "add", "kv0badc0de", "type", "bridge")
    lab.attach("a", "-p", "8080:80")
    assert lab.tool("gc", "a").stdout == ""
    assert "kv0badc0de" in lab.links()
    lab.tool("reset")
    assert [l for l in lab.links() if l.startswith("kv") or l.startswith("kapsel")] == ["kv0badc0de"]
    assert lab.table() == ""
    assert json.load(open(os.path.join(lab.root, "state.json")))["networks"] == []


def test_two_roots_in_one_namespace(lab, tmp_path):
    """A second state root in the same namespace gets its own table and default bridge; gc and reset
    of one leave the other's attachments, bridge and rules alone."""
    other = str(tmp_path / "netroot2")
    os.makedirs(other)
    table2, bridge2 = root_names(other)
    assert table2 != lab.nft_table and bridge2 != lab.bridge0
    tool2 = lambda *a: sh("ip", "netns", "exec", lab.host, TOOL, "--root", other, "--host-resolv", lab.resolv, *a)
    a = lab.attach("a", "-p", "8080:80")
    b = json.loads(tool2("attach", "--id", "b", "--name", "b", "--netns", lab.container("b")).stdout)
    assert a["ip"].rsplit(".", 1)[0] != b["ip"].rsplit(".", 1)[0]      # different subnets
    assert lab.bridge0 in lab.links() and bridge2 in lab.links()
    assert tool2("gc").stdout.splitlines() == ["attachment b bridge (%s)" % b["ifname"]]
    assert a["ifname"] in lab.links() and lab.bridge0 in lab.links() and "instance a" in lab.table()
    tool2("reset")
    assert a["ifname"] in lab.links() and lab.bridge0 in lab.links() and "instance a" in lab.table()
    assert bridge2 not in lab.links()
    assert lab.tool("gc", "a").stdout == ""


def test_tap_attachment(lab):
    t = lab.tool_json("attach-tap", "--id", "vm1", "--name", "vm1", "--owner", "1000")
    assert t["ifname"].startswith("kt")
    assert t["kernel_ip_arg"] == "ip=%s::%s:255.255.0.0::eth0:off" % (t["ip"], t["gateway"])
    info = sh("ip", "-n", lab.host, "-d", "link", "show", t["ifname"]).stdout
    assert "master %s" % lab.bridge0 in info and "tun type tap pi off vnet_hdr on persist on" in info
    owner = sh("ip", "netns", "exec", lab.host, "cat", "/sys/class/net/%s/owner" % t["ifname"]).stdout
    assert owner.strip() == "1000"
    lab.tool("detach", "vm1")
    assert t["ifname"] not in lab.links()


# A micro-VM's guest, played on its tap with raw frames: answers ARP for its address and echoes UDP
# datagrams to its port 7, for argv[4] seconds; prints one JSON line per frame it got.
GUEST = r"""
import fcntl, json, os, select, struct, sys, time
name, ip, mac, secs = sys.argv[1], bytes(map(int, sys.argv[2].split("."))), bytes.fromhex(sys.argv[3].replace(":", "")), float(sys.argv[4])
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", name.encode(), 0x0002 | 0x1000 | 0x4000))  # TUNSETIFF tap no_pi vnet_hdr
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return struct.pack("!H", ~s & 0xffff)
def send(frame): os.write(fd, bytes(10) + frame)     # virtio_net_hdr: no offloads
print("ready", flush=True)
end = time.time() + secs
while time.time() < end:
    if not select.select([fd], [], [], 0.1)[0]: continue
    f = os.read(fd, 65536)[10:]
    dst, src, et = f[0:6], f[6:12], f[12:14]
    log = {"dst": dst.hex(":"), "src": src.hex(":"), "type": et.hex()}
    if et == b"\x08\x06":
        log.update(spa=".".join(map(str, f[28:32])), tpa=".".join(map(str, f[38:42])), tha=f[32:38].hex(":"))
        if f[20:22] == b"\0\1" and f[38:42] == ip:
            send(src + mac + et + f[14:20] + b"\0\2" + mac + ip + f[22:28] + f[28:32])
    elif et == b"\x08\x00":
        h = f[14:34]; body = f[34:14 + struct.unpack("!H", h[2:4])[0]]
        log.update(saddr=".".join(map(str, h[12:16])), daddr=".".join(map(str, h[16:20])), proto=h[9])
        if h[16:20] == ip and h[9] == 17 and body[2:4] == b"\0\7":
            data = body[8:]; udp = body[2:4] + body[0:2] + struct.pack("!H", 8 + len(data)) + b"\0\0" + data
            ph = ip + h[12:16] + b"\0\x11" + struct.pack("!H", len(udp))
            udp = udp[:6] + csum(ph + udp) + udp[8:]
            nh = h[:2] + struct.pack("!H", 20 + len(udp)) + h[4:10] + b"\0\0" + ip + h[12:16]
            nh = nh[:10] + csum(nh) + nh[12:]
            send(src + mac + et + nh + udp)
    print(json.dumps(log), flush=True)
"""


def run_guests(lab, taps, secs, action):
    """Play the guests of `taps` [(ifname, guest ip, guest mac)] while `action()` runs; their logs."""
    procs = [subprocess.Popen(["ip", "netns", "exec", lab.host, PY, "-c", GUEST, name, ip, mac, str(secs)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name, ip, mac in taps]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        result = action()
    finally:
        logs = [[json.loads(line) for line in p.communicate(timeout=secs + 30)[0].splitlines()] for p in procs]
    return result, logs


UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b"hello", (sys.argv[1], int(sys.argv[2])))
try:
    data, peer = s.recvfrom(100); print(data.decode(), peer[0])
except Exception as e:
    print("ERR", type(e).__name__)
"""


def test_tap_of_a_clone_translates_its_guest_address(lab):
    """Two guests with one address and MAC (clones of one snapshot) on one bridge: the clone's tap
    gets its own address and MAC, which the host reaches (ARP, UDP: its checksum covers the
    addresses), while frames for the shared address reach only the tap that holds it."""
    a = lab.tool_json("attach-tap", "--id", "vm1", "--name", "vm1")
    b = lab.tool_json("attach-tap", "--id", "vm2", "--name", "vm2", "--guest-ip", a["ip"], "--publish", "9007:7/udp")
    assert (b["guest_ip"], b["guest_mac"]) == (a["ip"], a["mac"]) and b["ip"] != a["ip"] and b["mac"] != a["mac"]
    # the guest's address stays taken while the clone lives: a new instance does not get it
    c = lab.tool_json("attach-tap", "--id", "vm3", "--name", "vm3")
    assert c["ip"] not in (a["ip"], b["ip"])
    lab.tool("detach", "vm3")
    taps = [(a["ifname"], a["ip"], a["mac"]), (b["ifname"], b["guest_ip"], b["guest_mac"])]

    def echo(ip):
        return sh("ip", "netns", "exec", lab.host, PY, "-c", UDP_ECHO, ip, "7").stdout.strip()

    # the shared address: only vm1's tap sees frames for it
    out, (log_a, log_b) = run_guests(lab, taps, 4, lambda: echo(a["ip"]))
    assert out == "hello %s" % a["ip"]
    assert any(e.get("tpa") == a["ip"] for e in log_a)
    assert not [e for e in log_b if a["ip"] in (e.get("tpa"), e.get("daddr")) or e["dst"] == a["mac"]], log_b

    # the clone's own address: its guest answers as itself, the host sees the clone's identity
    out, (log_a, log_b) = run_guests(lab, taps, 4, lambda: echo(b["ip"]))
    assert out == "hello %s" % b["ip"], (out, log_b)
    # a published port DNATs to the clone's address, which its tap turns into the guest's
    out, _ = run_guests(lab, taps, 4, lambda: sh("ip", "netns", "exec", lab.other, PY, "-c", UDP_ECHO, HOST_IP,
                                                 "9007").stdout.strip())
    assert out == "hello %s" % HOST_IP, out
    # what the guest saw was addressed to its own address and MAC
    to_b = [e for e in log_b if e["type"] == "0800"]
    assert to_b and all(e["daddr"] == a["ip"] and e["dst"] == a["mac"] for e in to_b), log_b
    assert any(e.get("tpa") == a["ip"] for e in log_b)
    neigh = sh("ip", "-n", lab.host, "neigh", "show", b["ip"]).stdout
    assert b["mac"] in neigh.lower(), neigh
    table = sh("ip", "netns", "exec", lab.host, "nft", "list", "table", "bridge", lab.nft_table).stdout
    assert b["ifname"] in table and a["ifname"] not in table
    # the translation goes with the clone's tap
    lab.tool("detach", "vm2")
    assert sh("ip", "netns", "exec", lab.host, "nft", "list", "table", "bridge", lab.nft_table,
              check=False).returncode != 0


def test_restored_guest_keeps_its_free_address(lab):
    """A guest resumed from a snapshot asks for its own address: free, it gets it untranslated;
    an address outside the network is refused with nothing attached."""
    b = lab.tool_json("attach-tap", "--id", "vm2", "--name", "vm2", "--guest-ip", "10.88.0.9")
    assert (b["ip"], b["guest_ip"], b["mac"]) == ("10.88.0.9", "10.88.0.9", b["guest_mac"])
    assert sh("ip", "netns", "exec", lab.host, "nft", "list", "table", "bridge", lab.nft_table,
              check=False).returncode != 0
    links = lab.links()
    bad = lab.tool("attach-tap", "--id", "vm3", "--name", "vm3", "--guest-ip", "192.168.7.7", check=False)
    assert bad.returncode != 0 and "not a host address of network 'bridge'" in bad.stderr
    veth = lab.tool("attach", "--id", "c9", "--name", "c9", "--netns", lab.container("c9"), "--guest-ip", "10.88.0.9",
                    check=False)
    assert veth.returncode != 0 and "a guest address is for a micro-VM's tap" in veth.stderr
    assert lab.links() == links


def test_second_network_gets_eth1(lab):
    lab.tool("network-create", "n1")
    a = lab.attach("a")
    b = lab.tool_json("attach", "--id", "a", "--name", "a", "--netns", "/run/netns/knc-%s-a" % lab.tag,
                      "--network", "n1")
    assert (a["guest_ifname"], b["guest_ifname"]) == ("eth0", "eth1")
    out = sh("ip", "-n", "knc-%s-a" % lab.tag, "-o", "-4", "addr").stdout
    assert a["ip"] in out and b["ip"] in out
    lab.tool("detach", "a", "n1")
    assert b["ip"] not in sh("ip", "-n", "knc-%s-a" % lab.tag, "-o", "-4", "addr").stdout


def test_netns_none_and_modes(lab, tmp_path):
    path = str(tmp_path / "ns-none")
    sh(TOOL, "netns-create", path)
    try:
        out = sh("nsenter", "--net=" + path, "ip", "-o", "link").stdout
        assert "lo:" in out and "UP" in out and len(out.splitlines()) == 1
    finally:
        sh(TOOL, "netns-rm", path)
    assert not os.path.exists(path)
    assert sh(TOOL, "mode", "container:web").stdout == "container web\n"
    assert sh(TOOL, "mode", "none").stdout == "none \n"
    assert sh(TOOL, "mode", "mynet").stdout == "bridge mynet\n"
