"""The result model every benchmark module fills, and the noise rules they all share.

A benchmark is a Bench: one or more Tables (one unit each, one plot each), each of Rows of raw
samples, plus Claims (kapsel against a peer or a limit, with a target or without) and notes.
A Row can be "not available" with the reason, shown as such and excluded from every ratio.
"""
import os
import shutil
import signal
import statistics
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "bench")
CACHE = os.environ.get("KAPSEL_BENCH_CACHE", "/var/cache/kapsel-bench")


class Row:
    """One contender in one table: every sample kept, statistics derived."""

    def __init__(self, name, samples=None, unavailable=None, note=None, single=False):
        self.name = name
        self.single = single                # one value by nature (a limit, a maximum over all runs)
        self.samples = list(samples or [])
        self.unavailable = unavailable      # reason string when the row could not be measured
        self.note = note

    @property
    def ok(self):
        return not self.unavailable and bool(self.samples)

    def stat(self, what):
        if not self.ok:
            return None
        return {"median": statistics.median, "min": min, "max": max,
                "mean": statistics.fmean}[what](self.samples)

    @property
    def spread(self):
        """(max - min) / median: the noise this row carries into any comparison."""
        med = self.stat("median")
        return (self.stat("max") - self.stat("min")) / med if med else 0.0

    def to_json(self):
        d = {"name": self.name, "runs": len(self.samples), "samples": self.samples}
        if self.unavailable:
            d["unavailable"] = self.unavailable
        if self.ok:
            d.update({k: self.stat(k) for k in ("median", "min", "max", "mean")})
        if self.note:
            d["note"] = self.note
        return d


class Table:
    def __init__(self, title, unit, lower_is_better=True):
        self.title, self.unit, self.lower_is_better = title, unit, lower_is_better
        self.rows = []

    def add(self, row):
        self.rows.append(row)
        return row

    def row(self, name):
        return next((r for r in self.rows if r.name == name), None)

    def to_json(self):
        return {"title": self.title, "unit": self.unit, "lower_is_better": self.lower_is_better,
                "rows": [r.to_json() for r in self.rows]}


class Claim:
    """`subject` measured against `peer`: ratio of medians, optional target, noise warning.

    kind "max": target met when ratio <= limit (times, memory); "min": ratio >= limit (throughput).
    The warning fires when the spread of either side exceeds the difference being claimed,
    |1 - ratio|: the medians differ by less than the runs of one side do among themselves."""

    def __init__(self, table, subject, peer, limit=None, kind="max", label=None):
        self.table, self.subject, self.peer = table, subject, peer
        self.limit, self.kind = limit, kind
        self.label = label or "%s / %s" % (subject, peer)
        a, b = table.row(subject), table.row(peer)
        self.available = bool(a and b and a.ok and b.ok)
        self.ratio = a.stat("median") / b.stat("median") if self.available else None
        self.met = None
        if self.available and limit is not None:
            self.met = self.ratio <= limit if kind == "max" else self.ratio >= limit
        self.warning = self.noise = None
        if self.available:
            diff = abs(1 - self.ratio)
            worst = max((a, b), key=lambda r: r.spread)
            few = min((a, b), key=lambda r: len(r.samples) if not r.single else 99)
            if not few.single and len(few.samples) < 3:
                self.noise = "only %d run(s) of %s: too few to judge the noise" % (len(few.samples), few.name)
                self.warning = "WARNING: " + self.noise
            elif worst.spread > diff:
                self.noise = "spread of %s %.0f%% > difference %.0f%%" % (worst.name, worst.spread * 100, diff * 100)
                self.warning = ("WARNING: the spread of %s (%.0f%%) exceeds the difference claimed (%.0f%%)"
                                % (worst.name, worst.spread * 100, diff * 100))

    def text(self):
        if not self.available:
            return "%s: not available" % self.label
        s = "%s = %.3f" % (self.label, self.ratio)
        if self.limit is not None:
            s += " (target %s %.2f: %s)" % ("<=" if self.kind == "max" else ">=", self.limit,
                                            "met" if self.met else "NOT met")
        return s

    def to_json(self):
        return {"label": self.label, "table": self.table.title, "subject": self.subject, "peer": self.peer,
                "ratio": self.ratio, "target": None if self.limit is None else
                {"limit": self.limit, "kind": "at most" if self.kind == "max" else "at least"},
                "met": self.met, "warning": self.warning}


class Bench:
    def __init__(self, name, title, description):
        self.name, self.title, self.description = name, title, description
        self.tables, self.claims, self.notes = [], [], []
        self.extra_md = []          # extra Markdown blocks (e.g. the compile study's own table)
        self.error = None
        self.seconds = 0.0
        self.load_start = self.load_end = None     # /proc/loadavg at start and end of the benchmark

    def table(self, title, unit, lower_is_better=True):
        t = Table(title, unit, lower_is_better)
        self.tables.append(t)
        return t

    def claim(self, *args, **kw):
        c = Claim(*args, **kw)
        self.claims.append(c)
        return c

    def to_json(self):
        return {"name": self.name, "title": self.title, "description": self.description,
                "seconds": self.seconds, "error": self.error, "notes": self.notes,
                "loadavg_start": self.load_start, "loadavg_end": self.load_end,
                "tables": [t.to_json() for t in self.tables],
                "claims": [c.to_json() for c in self.claims]}


class Context:
    """What every module gets: options, the work dir (removed at the end), tool paths."""

    def __init__(self, runs, quick, out, work):
        self.runs, self.quick, self.out, self.work = runs, quick, out, work
        self.current = None     # the benchmark running now (for per-benchmark --runs)
        self.deadline = None    # --until: epoch seconds after which no new round starts
        self.build = os.path.join(REPO, "build")
        self.kapsel = os.path.join(self.build, "src/cli/kapsel")
        self.runtime = os.path.join(self.build, "src/cli/kapsel-runtime")
        self.net_tool = os.path.join(self.build, "src/net/kapsel-net-tool")

    def n(self, default, quick):
        """Run count: --runs wins (a number for all, or NAME=N for one benchmark), else the
        module's default (or its quick default)."""
        runs = self.runs.get(self.current, self.runs.get("*")) if self.runs else None
        return runs or (quick if self.quick else default)


def which(name):
    return shutil.which(name) or (name if os.access(name, os.X_OK) else None)


def sh(cmd, check=True, timeout=None, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("capture_output", "stdout" not in kw)
    p = subprocess.run(cmd, text=True, timeout=timeout, **kw)
    if check and p.returncode:
        err = (p.stderr or "").strip()[-600:] if kw.get("capture_output") else ""
        raise RuntimeError("%s failed (%d): %s" % (" ".join(map(str, cmd)), p.returncode, err))
    return p


def timed(cmd, **kw):
    """Seconds a command takes (wall clock); raises when it fails."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.PIPE)
    timeout = kw.pop("timeout", None)
    t0 = time.perf_counter()
    # a session of its own: when the run is stopped (or times out), the whole tree goes, not
    # only its first process (a build's make and compilers would outlive a killed `sh`)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, text=True, start_new_session=True, **kw)
    try:
        _, err = p.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.wait()
        raise
    dt = time.perf_counter() - t0
    if p.returncode:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(map(str, cmd)), p.returncode, (err or "")[-600:]))
    return dt


def interleave(contenders, runs, measure, log=None, deadline=None):
    """Round-robin: every iteration measures each contender once, the start rotating by one each
    iteration so no contender always runs first (right after the previous one's cleanup).
    measure(name, i) returns one sample. A contender that fails is dropped from the remaining
    iterations and reported with its error. Returns ({name: [samples]}, {name: error})."""
    names = list(contenders)
    out, failed = {n: [] for n in names}, {}
    t_prev = None
    for i in range(runs):
        if deadline is not None and i >= 2:
            # another whole round (no contender gets a run more than another) only when the
            # last one's length still fits before the deadline; 2 rounds at least
            if time.time() + t_prev > deadline:
                if log:
                    log("  stopped after %d of %d rounds: the next would end after --until" % (i, runs))
                break
        t_round = time.monotonic()
        k = i % len(names) if names else 0
        for name in names[k:] + names[:k]:
            if name in failed:
                continue
            try:
                out[name].append(measure(name, i))
            except Exception as e:      # noqa: BLE001 - one contender's failure must not end the run
                failed[name] = str(e).strip().splitlines()[0][:300] if str(e).strip() else repr(e)
                if log:
                    log("  %s failed: %s" % (name, failed[name]))
        t_prev = time.monotonic() - t_round
        if log:
            log("  round %d/%d done" % (i + 1, runs))
    return out, failed


def rows_from(table, names, samples, failed, labels=None, scale=1.0):
    """Add one row per contender to table, unavailable (with the error) when it failed."""
    labels = labels or {}
    for n in names:
        if n in failed:
            table.add(Row(labels.get(n, n), unavailable="failed: " + failed[n]))
        else:
            table.add(Row(labels.get(n, n), [v * scale for v in samples[n]]))


def loadavg():
    """/proc/loadavg as text: 1, 5 and 15 minute load, runnable/total tasks, last pid."""
    with open("/proc/loadavg") as f:
        return f.read().strip()


def pids_mentioning(marker):
    """Processes (other than this one) whose command line contains marker."""
    out, me = [], os.getpid()
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != me:
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if marker.encode() in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


def wait_gone(marker, timeout=30):
    """Wait until no process mentions marker (podman's conmon runs `podman container cleanup`
    after the container is gone and would recreate a removed root); True when none is left."""
    deadline = time.monotonic() + timeout
    while pids_mentioning(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def rmtree_when_idle(path, timeout=30):
    wait_gone(path, timeout)
    shutil.rmtree(path, ignore_errors=True)


def log(msg):
    print(msg, flush=True)
