"""density: what an idle container costs. K busybox containers with `sleep` as pid 1 are started
detached by kapsel and by podman (crun), and the memory is read twice: the host's MemAvailable
drop (everything: kernel objects, page cache of the stores, monitors, containers) and the PSS of
the processes that belong to the containers (kapsel's monitor or podman's conmon, plus the
container's processes), both divided by K. Rounds alternate the engines; each round ramps
through the steps (e.g. 50 then 100) and removes everything before the next engine starts."""
import os
import time

from . import prep
from .common import Bench, Row, log, sh
from .engines import Kapsel, Podman

NAME = "density"
SUMMARY = "density: memory per idle busybox container, kapsel vs podman"
RUNS = (3, 1)              # runs per contender: full, --quick
SETTLE_S = 3


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def processes():
    """{pid: (ppid, argv)} of every process now."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        out[int(d)] = (ppid, [a.decode(errors="replace") for a in argv if a])
    return out


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def owned_pss(marker):
    """Sum of PSS over the processes whose argv mentions `marker` (the engine's temporary root
    or the container ids: kapsel's monitors, podman's conmons) and all their descendants."""
    procs = processes()
    roots = {p for p, (_, argv) in procs.items() if any(marker in a for a in argv) and p != os.getpid()}
    children = {}
    for p, (pp, _) in procs.items():
        children.setdefault(pp, []).append(p)
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += children.get(p, [])
    return sum(pss_kib(p) for p in seen), len(seen)


class Engine:
    def __init__(self, name, eng, image, marker):
        self.name, self.eng, self.image, self.marker = name, eng, image, marker

    def start(self, n):
        for _ in range(n):
            sh(self.eng.run_cmd(self.image, ["sleep", "86400"], detach=True, rm=False), timeout=120)


def ramp(engine, steps, results):
    base = mem_available_kib()
    started = 0
    for k in steps:
        engine.start(k - started)
        started = k
        time.sleep(SETTLE_S)
        used = base - mem_available_kib()
        pss, nproc = owned_pss(engine.marker)
        results[(engine.name, k, "avail")].append(used / 1024 / k)
        results[(engine.name, k, "pss")].append(pss / 1024 / k)
        log("  density %-7s %3d containers: MemAvailable -%.1f MiB, PSS %.1f MiB (%d processes)" %
            (engine.name, k, used / 1024, pss / 1024, nproc))
    engine.eng.rm_all()


def run(ctx):
    b = Bench(NAME, "Density: idle busybox containers",
              "Memory per idle container (`sleep` as pid 1, detached, --network none): the host's "
              "MemAvailable drop over K containers, and the PSS (smaps_rollup) of the processes that "
              "belong to them (monitor or conmon, plus the container), each divided by K. "
              "MemAvailable also moves with everything else on the machine: read it with the spread.")
    steps = (10,) if ctx.quick else (10, 20)
    bb = prep.tar_of(prep.busybox_rootfs(ctx.work), os.path.join(ctx.work, "busybox.tar"))
    root = os.path.join(ctx.work, "density")
    k = Kapsel(ctx.kapsel, os.path.join(root, "kapsel"))
    p = Podman(os.path.join(root, "podman"))
    engines, unavailable = [], {}
    try:
        if k.available():
            unavailable["kapsel"] = k.available()
        else:
            k.import_(bb, "busybox")
            engines.append(Engine("kapsel", k, "busybox", k.root))
        if Podman.available():
            unavailable["podman"] = Podman.available()
        else:
            p.import_(bb, "localhost/busybox")
            engines.append(Engine("podman", p, "localhost/busybox", p.base))
        results = {(e.name, s, m): [] for e in engines for s in steps for m in ("avail", "pss")}
        rounds = ctx.n(*RUNS)
        for r in range(rounds):
            for e in (engines if r % 2 == 0 else list(reversed(engines))):
                try:
                    ramp(e, steps, results)
                except RuntimeError as ex:
                    unavailable[e.name] = "failed: %s" % str(ex)[:300]
                    e.eng.rm_all()
                    engines.remove(e)
    finally:
        k.cleanup()
        p.cleanup()
    for metric, title in (("pss", "PSS of monitor + container processes per container"),
                          ("avail", "host MemAvailable drop per container")):
        t = b.table(title, "MiB")
        for name in ("kapsel", "podman"):
            for s in steps:
                label = "%s x%d" % (name, s)
                if name in unavailable or (name, s, metric) not in results:
                    t.add(Row(label, unavailable=unavailable.get(name, "not measured")))
                else:
                    t.add(Row(label, results[(name, s, metric)]))
        for s in steps:
            b.claim(t, "kapsel x%d" % s, "podman x%d" % s, label="%s at %d: kapsel / podman" % (
                "PSS" if metric == "pss" else "MemAvailable", s))
    b.notes.append("Micro-VM density (kapsel-vmm against QEMU) is nested-only on this machine (no /dev/kvm): "
                   "not available here.")
    return b
