"""net: bench/net (iperf3 TCP throughput of kapsel's paths, netavark's, and plain veth limits)."""
import json
import os
import sys

from .common import BENCH, Bench, Row, sh

NAME = "net"
SUMMARY = "network: iperf3 TCP throughput, kapsel bridge and port map vs netavark and plain veth limits"
RUNS = (5, 1)              # runs per contender: full, --quick


def run(ctx):
    b = Bench(NAME, "Container networking: TCP throughput (iperf3, 1 stream)",
              "Container to container on the default bridge and through a port map, side by side "
              "with netavark (podman's backend) and with plain veth pairs as the physical limit, "
              "by `bench/net`. Every path lives in network namespaces the benchmark creates and "
              "deletes; nothing touches the host's network.")
    if not os.access(ctx.net_tool, os.X_OK):
        b.error = "%s not built" % ctx.net_tool
        return b
    rounds, secs = ctx.n(*RUNS), (4 if not ctx.quick else 2)
    out = os.path.join(ctx.work, "net.json")
    p = sh([sys.executable, os.path.join(BENCH, "net"), "-n", str(rounds), "-t", str(secs), "--json", out],
           check=False, capture_output=True, env=dict(os.environ, KAPSEL_NET_TOOL=ctx.net_tool))
    b.notes.append("bench/net output (%d rounds of %d s per path):\n\n```\n%s%s```" %
                   (rounds, secs, p.stdout, p.stderr[-400:] if p.returncode else ""))
    if p.returncode:
        b.error = "bench/net failed: %s" % (p.stderr.strip() or p.stdout.strip())[-500:]
        return b
    with open(out) as f:
        res = json.load(f)
    t = b.table("TCP throughput", "Gbit/s", lower_is_better=False)
    for name, gbits in res.items():
        t.add(Row(name, gbits))
    if not t.row("netavark-c2c"):
        t.add(Row("netavark-c2c", unavailable="netavark not installed (apt-get install netavark)"))
    b.claim(t, "kapsel-c2c", "veth", 0.95, kind="min", label="container to container: kapsel / veth")
    b.claim(t, "kapsel-portmap", "veth-routed", 0.95, kind="min", label="port map: kapsel / routed veth")
    b.claim(t, "kapsel-c2c", "netavark-c2c", label="container to container: kapsel / netavark")
    b.claim(t, "kapsel-portmap", "netavark-portmap", label="port map: kapsel / netavark")
    return b
