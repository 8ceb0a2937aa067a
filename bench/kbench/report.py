"""Writes DIR/results.json (every sample), DIR/report.md (tables) and one gnuplot PNG per table
(bars of the median, min/max error bars)."""
import json
import os
import re
import subprocess

from .common import which

KAPSEL_COLOR, PEER_COLOR, LIMIT_COLOR = 0xD9822B, 0x4A7EBB, 0x888888


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    return "%.0f" % v if a >= 1000 else "%.1f" % v if a >= 100 else "%.2f" % v if a >= 1 else "%.3f" % v


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:40]


def color(name):
    if name.startswith("kapsel"):
        return KAPSEL_COLOR
    if name in ("floor", "target", "veth", "veth-routed", "bare"):
        return LIMIT_COLOR
    return PEER_COLOR


def plot(table, bench_name, idx, out_dir):
    rows = [r for r in table.rows if r.ok]
    if not rows or not which("gnuplot"):
        return None
    base = "%s-%d-%s" % (bench_name, idx, slug(table.title))
    data = os.path.join(out_dir, base + ".dat")
    with open(data, "w") as f:
        for i, r in enumerate(rows):
            f.write('%d "%s" %g %g %g %d\n' % (i, r.name.replace('"', "'"), r.stat("median"), r.stat("min"),
                                                r.stat("max"), color(r.name)))
    runs = sorted({len(r.samples) for r in rows})
    script = "\n".join([
        "set terminal pngcairo size 900,520 font 'sans,10'",
        "set output '%s'" % os.path.join(out_dir, base + ".png"),
        "set title \"%s\" noenhanced" % table.title.replace('"', "'"),
        "set ylabel \"%s (median; bars: min..max; runs: %s)\" noenhanced" % (
            table.unit, "/".join(map(str, runs))),
        "set style fill solid 0.7 border -1", "set boxwidth 0.6", "set yrange [0:*]",
        "set xrange [-0.6:%f]" % (len(rows) - 0.4), "set grid ytics", "set key off",
        "set xtics rotate by -25 noenhanced",
        "plot '%s' using 1:3:6:xtic(2) with boxes lc rgb variable, '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt -1 lw 1.5" % data,
    ])
    p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    os.unlink(data)
    return base + ".png" if p.returncode == 0 else None


def md_table(t):
    lines = ["| %s | runs | median %s | min | max | mean |" % ("contender", t.unit), "|---|---|---|---|---|---|"]
    for r in t.rows:
        if r.ok:
            lines.append("| %s | %d | %s | %s | %s | %s |" % (r.name, len(r.samples), fmt(r.stat("median")),
                                                          fmt(r.stat("min")), fmt(r.stat("max")), fmt(r.stat("mean"))))
        else:
            lines.append("| %s | 0 | %s | | | |" % (r.name, r.unavailable or "no samples"))
    return "\n".join(lines)


def machine_md(m, meta):
    v = m["versions"]
    rows = [("CPU", "%s, %d cores" % (m["cpu"], m["cores"])), ("memory", "%.1f GiB" % m["memory_gib"]),
            ("kernel", m["kernel"]), ("Debian", m["debian"]), ("cgroups", m["cgroups"]),
            ("/dev/kvm", "yes" if m["kvm"] else "no"),
            ("load average (/proc/loadavg)", "at start `%s`, at end `%s`" % (
                meta.get("loadavg_start", m["load_at_start"]), meta.get("loadavg_end", meta["load_at_end"])))]
    rows += [(k, v[k] or "not installed") for k in ("kapsel", "crun", "runc", "podman", "qemu", "umoci", "iperf3", "gcc")]
    return "| | |\n|---|---|\n" + "\n".join("| %s | %s |" % (k, str(val).replace("|", "/")) for k, val in rows)


def headline(benches):
    """Every claim of the run in one table: both medians, their ratio, the target and the verdict."""
    lines = ["| benchmark | comparison | kapsel (median) | peer / limit (median) | ratio | target | result |",
             "|---|---|---|---|---|---|---|"]
    for b in benches:
        if b.error:
            lines.append("| %s | - | - | - | - | - | not run: %s |" % (b.name, b.error.replace("|", "/")[:200]))
        for c in b.claims:
            tgt = "-" if c.limit is None else ("<= " if c.kind == "max" else ">= ") + "%.2f" % c.limit
            res = "not available" if not c.available else ("-" if c.met is None else "met" if c.met else "**NOT met**")
            if c.warning:
                res += " (WARNING: %s)" % c.noise
            a, p = c.table.row(c.subject), c.table.row(c.peer)
            val = lambda r: ("%s %s" % (fmt(r.stat("median")), c.table.unit)) if r and r.ok else "-"
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (b.name, c.label, val(a), val(p), fmt(c.ratio), tgt, res))
    return "\n".join(lines)


def write(out_dir, machine, meta, benches):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"machine": machine, "run": meta, "benchmarks": {b.name: b.to_json() for b in benches}}, f, indent=1)
    md = ["# kapsel benchmark report, %s" % meta["date"], "",
          "`%s` as root; %s; wall time %.0f s." % (meta["command"], "quick mode" if meta["quick"] else "full run",
                                                    meta["seconds"]), "",
          "## Machine", "", machine_md(machine, meta), "",
          "Noise: this is a shared 2-core machine where other work runs at the same time. Every "
          "benchmark interleaves its contenders (round-robin, start rotated each round), reports "
          "median, min and max with the run count, and prints a WARNING where the spread "
          "(max-min)/median of either side exceeds the difference being claimed.", "",
          "## Headline: targets and ratios", "", headline(benches), ""]
    for b in benches:
        if b.name == "compile" and b.extra_md:
            md += ["The compile study (details below):", "", b.extra_md[0], ""]
    for b in benches:
        md += ["## %s: %s" % (b.name, b.title), "", b.description, "",
               "Took %.0f s; load average (/proc/loadavg) at start `%s`, at end `%s`." % (
                   b.seconds, b.load_start, b.load_end), ""]
        if b.error:
            md += ["**Not run: %s**" % b.error, ""]
        for i, t in enumerate(b.tables):
            md += ["### %s" % t.title, "", md_table(t), ""]
            png = plot(t, b.name, i, out_dir) if t.unit != "-" else None
            if png:
                md += ["![%s](%s)" % (t.title, png), ""]
        for extra in b.extra_md:
            md += [extra, ""]
        if b.claims:
            md += ["```"] + ["%s%s" % (c.text(), ("\n  " + c.warning) if c.warning else "") for c in b.claims] + ["```", ""]
        for n in b.notes:
            md += [n, ""]
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("\n".join(md))
