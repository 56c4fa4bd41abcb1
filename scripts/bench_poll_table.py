#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns poll_bench's lines (bench/poll_bench.c: one per measurement and run) into the tables
of Documentation/performance.rst ("Readiness polling"), a CSV, and the data and gnuplot
script of the throughput plot.

    bench_poll_table.py RAW CSV PLOT_PREFIX PNG [PROFILES]

Every figure is min/median/max over the runs. A ratio to fs/aio is the median over the runs
of the run's ratio (system / fs/aio on the same row: the same N for throughput), so that
only figures of the same run are compared: the host's load drifts between runs. Writes CSV, PLOT_PREFIX.dat and PLOT_PREFIX.gp (which
renders PNG); prints the tables, and with PROFILES (the profiled runs' output, "# profile "
removed) the CPU time per operation of each profile, by bucket."""
import statistics
import sys

raw, csv_path, prefix, png = sys.argv[1:5]
profiles = sys.argv[5] if len(sys.argv) > 5 else None

SYSTEMS = ["aiopoll-wait", "aiopoll-ring", "aiopoll-multi", "fsaio", "uring", "uring-multi",
           "epoll-lt", "epoll-et"]
REF = "fsaio"
# Per test: the fields after "TEST SYSTEM" (after N too for tput and mem) and their names.
FIELDS = {
    "tput": ["events", "ev_per_s", "syscalls", "vcsw", "ivcsw", "syswide_csw"],
    "lat": ["rounds", "p50_us", "p99_us", "syscalls", "vcsw", "ivcsw", "syswide_csw"],
    "lat1": ["rounds", "p50_us", "p99_us", "syscalls", "vcsw", "ivcsw", "syswide_csw"],
    "cancel": ["ops", "ops_per_s", "syscalls", "vcsw", "ivcsw", "syswide_csw"],
    "mem": ["slab_bytes", "used_bytes"],
}
HAS_N = {"tput", "mem"}

data = {}      # (test, system, n) -> {metric: [values]}
runs = {}      # (test, system, n) -> {metric: {run: value}}
comments = []  # header comments of the run (kernel, clock source, memory source)
failed = []
run = 0
for line in open(raw):
    f = line.split()
    if not f:
        continue
    if line.startswith("# run "):
        run = int(f[2])
        continue
    if f[0] == "#":
        if line.startswith(("# poll_bench:", "# runs", "# perf kernel")):
            comments.append(line[2:].strip())
        if line.startswith("# FAILED"):
            failed.append(line.strip())
        continue
    test = f[0]
    if test not in FIELDS:
        continue
    n = int(f[2]) if test in HAS_N else 0
    vals = f[3:] if test in HAS_N else f[2:]
    if len(vals) != len(FIELDS[test]):
        continue
    row = data.setdefault((test, f[1], n), {})
    by_run = runs.setdefault((test, f[1], n), {})
    for name, v in zip(FIELDS[test], vals):
        row.setdefault(name, []).append(float(v))
        by_run.setdefault(name, {})[run] = float(v)


def mmm(values):
    return min(values), statistics.median(values), max(values)


def med(test, system, n, metric):
    row = data.get((test, system, n))
    return statistics.median(row[metric]) if row and metric in row else None


def ratio(test, system, n, metric):
    """The median over the runs of system / fs/aio in the same run."""
    a = runs.get((test, system, n), {}).get(metric, {})
    b = runs.get((test, REF, n), {}).get(metric, {})
    r = [a[k] / b[k] for k in a if k in b and b[k]]
    return statistics.median(r) if r else None


def fmt_ratio(r):
    return f"{r:.2f}" if r is not None else "-"


# The counts per event, round trip or op that every test reports, as the last columns.
COUNTS_HEAD = f"{'syscalls':>8} {'vcsw':>5} {'ivcsw':>5} {'sys-csw':>7}"


def counts(test, system, n):
    return (f"{med(test, system, n, 'syscalls'):8.3f} {med(test, system, n, 'vcsw'):5.2f}"
            f" {med(test, system, n, 'ivcsw'):5.2f} {med(test, system, n, 'syswide_csw'):7.3f}")


def runs_of(test):
    counts = [len(next(iter(m.values()))) for (t, _, _), m in data.items() if t == test]
    return max(counts) if counts else 0


with open(csv_path, "w") as out:
    out.write("test,system,n,metric,runs,min,median,max,ratio_to_fsaio\n")
    for (test, system, n), metrics in sorted(data.items()):
        for metric, values in metrics.items():
            lo, md, hi = mmm(values)
            out.write(f"{test},{system},{n},{metric},{len(values)},{lo:g},{md:g},{hi:g},"
                      f"{fmt_ratio(ratio(test, system, n, metric))}\n")

ns = sorted({n for (t, _, n) in data if t == "tput"})
systems = [s for s in SYSTEMS if any(k[1] == s for k in data)]
systems += sorted({k[1] for k in data} - set(systems))

for c in comments:
    print(c)
print("min/median/max over the runs; ratio: to fs/aio on the same row, median of the runs'"
      " ratios;\nsyscalls, vcsw (voluntary), ivcsw (involuntary; this process) and sys-csw"
      " (every CPU):\nmedians per event, round trip or op")
if failed:
    print(f"{len(failed)} measurement(s) FAILED:", *failed, sep="\n  ")

print(f"\nPoll throughput, events/s (higher is better), {runs_of('tput')} runs")
print(f"{'system':13} {'N':>5} {'events/s':>26} {'ratio':>5} {COUNTS_HEAD}")
for n in ns:
    for s in systems:
        row = data.get(("tput", s, n))
        if not row:
            continue
        lo, md, hi = mmm(row["ev_per_s"])
        print(f"{s:13} {n:>5} {lo:8.0f}/{md:8.0f}/{hi:8.0f} "
              f"{fmt_ratio(ratio('tput', s, n, 'ev_per_s')):>5} {counts('tput', s, n)}")

for test, where in (("lat", "threads on any CPU"), ("lat1", "both threads on one CPU")):
    if not any(k[0] == test for k in data):
        continue
    print(f"\nWake-up latency ({test}: {where}), round trip in us (lower is better),"
          f" {runs_of(test)} runs")
    print(f"{'system':13} {'p50 us':>17} {'ratio':>5} {'p99 us':>20} {'ratio':>5}"
          f" {COUNTS_HEAD}")
    for s in systems:
        row = data.get((test, s, 0))
        if not row:
            continue
        p50, p99 = mmm(row["p50_us"]), mmm(row["p99_us"])
        print(f"{s:13} {p50[0]:5.0f}/{p50[1]:5.0f}/{p50[2]:5.0f}"
              f" {fmt_ratio(ratio(test, s, 0, 'p50_us')):>5}"
              f" {p99[0]:6.0f}/{p99[1]:6.0f}/{p99[2]:6.0f}"
              f" {fmt_ratio(ratio(test, s, 0, 'p99_us')):>5} {counts(test, s, 0)}")

print(f"\nCancellation, arm + cancel (+ reap) per second (higher is better), {runs_of('cancel')} runs")
print(f"{'system':13} {'ops/s':>26} {'ratio':>5} {COUNTS_HEAD}")
for s in systems:
    row = data.get(("cancel", s, 0))
    if not row:
        continue
    lo, md, hi = mmm(row["ops_per_s"])
    print(f"{s:13} {lo:8.0f}/{md:8.0f}/{hi:8.0f} {fmt_ratio(ratio('cancel', s, 0, 'ops_per_s')):>5}"
          f" {counts('cancel', s, 0)}")

mem_ns = sorted({n for (t, _, n) in data if t == "mem"})
for n in mem_ns:
    print(f"\nMemory per armed poll, {n} armed, bytes (Slab of /proc/meminfo; lower is better),"
          f" {runs_of('mem')} runs")
    print(f"{'system':13} {'slab bytes/poll':>20} {'ratio':>5} {'used bytes/poll':>16}")
    for s in systems:
        row = data.get(("mem", s, n))
        if not row:
            continue
        lo, md, hi = mmm(row["slab_bytes"])
        print(f"{s:13} {lo:6.0f}/{md:6.0f}/{hi:6.0f} {fmt_ratio(ratio('mem', s, n, 'slab_bytes')):>5}"
              f" {med('mem', s, n, 'used_bytes'):16.0f}")

# The summary: every ratio to fs/aio in one table.
cols = [(f"N={n}", "tput", n, "ev_per_s") for n in ns]
cols += [("lat50", "lat", 0, "p50_us"), ("lat99", "lat", 0, "p99_us"),
         ("lat1-50", "lat1", 0, "p50_us"), ("lat1-99", "lat1", 0, "p99_us"),
         ("cancel", "cancel", 0, "ops_per_s")]
cols += [("mem", "mem", n, "slab_bytes") for n in mem_ns[-1:]]
print("\nRatios to fs/aio, median of the runs' ratios: throughput (N=...) and cancel > 1 is"
      " faster;\nlatency p50/p99 (lat: threads anywhere, lat1: on one CPU) and memory < 1 is"
      " better")
print(f"{'system':13}" + "".join(f" {c[0]:>7}" for c in cols))
for s in systems:
    print(f"{s:13}" + "".join(f" {fmt_ratio(ratio(t, s, n, m)):>7}" for _, t, n, m in cols))

# The plot: median events/s against N, one line per system, min-max error bars.
plotted = [s for s in systems if any(("tput", s, n) in data for n in ns)]
with open(prefix + ".dat", "w") as out:
    out.write("# N" + "".join(f" {s}_min {s}_median {s}_max" for s in plotted) + "\n")
    for n in ns:
        cells = []
        for s in plotted:
            row = data.get(("tput", s, n))
            cells += [f"{v:.0f}" for v in mmm(row["ev_per_s"])] if row else ["NaN"] * 3
        out.write(f"{n} " + " ".join(cells) + "\n")
with open(prefix + ".gp", "w") as out:
    out.write(f"""set terminal pngcairo size 1000,640 font ",11"
set output "{png}"
set title "Readiness polling throughput (perf kernel under QEMU TCG; median of the runs, bars min-max)"
set logscale x
set xrange [{ns[0] * 0.6}:{ns[-1] * 1.6}]
set xlabel "armed pipes N (log; the systems' points are spread around each N)"
set ylabel "events per second"
set yrange [0:*]
set xtics ({", ".join(f'"{n}" {n}' for n in ns)})
set key outside right top
set grid
plot """)
    out.write(", \\\n     ".join(
        f'"{prefix}.dat" using ($1*{1 + 0.04 * (i - (len(plotted) - 1) / 2):.3f}):'
        f'{3 + 3 * i}:{2 + 3 * i}:{4 + 3 * i} with yerrorlines lw 2 title "{s}"'
        for i, s in enumerate(plotted)) + "\n")

# The profiles: wall time per operation (from the profiled run's own result), and CPU time
# per operation (busy samples of every CPU: wall time x CPUs x busy share), by bucket
# (bench/profile.c, summary()).
if profiles:
    cpus = 1
    for c in comments:
        if c.startswith("poll_bench:") and " CPUs" in c:
            cpus = int(c.split(" CPUs")[0].split()[-1])
    secs_per_op = {}   # label -> wall seconds per event, round trip or cancel
    busy = {}          # label -> busy share of the samples
    buckets = {}       # label -> {bucket: percent of the busy samples}
    order = []
    for line in open(profiles):
        f = line.split()
        if not f:
            continue
        if f[0] in ("tput", "cancel") and len(f) >= 5 and ":" not in line:
            label = " ".join(f[:3]) if f[0] == "tput" else " ".join(f[:2])
            secs_per_op[label] = 1.0 / float(f[4] if f[0] == "tput" else f[3])
        elif f[0] == "#" and len(f) >= 8 and f[1] in ("lat", "lat1") and f[4] == "round":
            secs_per_op[f"{f[1]} {f[2].rstrip(':')}"] = float(f[7]) / float(f[3])
        elif "samples" in f and "idle;" in f:
            label = line.split(":")[0]
            busy[label] = 1 - float(f[f.index("idle;") - 1].rstrip("%")) / 100
        elif "summary" in f:
            i = f.index("summary")
            label = " ".join(f[:i]).rstrip(":")
            buckets[label] = {f[j]: float(f[j + 1].rstrip("%"))
                              for j in range(i + 1, len(f) - 1, 2)}
            order.append(label)
    names = ["user", "irqoff-end", "switch", "modules", "rust-helpers", "other-kernel"]
    short = ["user", "irq-off", "switch", "aiopoll", "helpers", "other"]
    print(f"\nProfiles (cpu-clock samples of {cpus} CPU(s)): wall and CPU time per event, round"
          " trip or cancel,\nin us; the CPU time by bucket (user space, ends of IRQ-off"
          " sections, context switches,\naiopoll's functions, rust_helper_*, rest of the"
          " kernel)")
    print(f"{'profile':23} {'wall':>8} {'cpu':>8}" + "".join(f" {n:>8}" for n in short))
    for label in order:
        t = secs_per_op.get(label)
        if not t:
            continue
        cpu = t * cpus * busy.get(label, 1.0)
        print(f"{label:23} {t * 1e6:8.1f} {cpu * 1e6:8.1f}" +
              "".join(f" {buckets[label].get(n, 0) * cpu * 1e4:8.1f}" for n in names))
