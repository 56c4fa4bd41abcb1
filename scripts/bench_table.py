#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns iopoll_bench's lines (engine qd iops p50_us p99_us, one per run) and fio's JSON
reports (between "### fio ENGINE QD" and "### end" lines) into the table of
Documentation/performance.rst and a CSV: min/median/max over the runs, and the ratio of each
engine's median IOPS to fs/aio's and io_uring's at the same queue depth (iopoll_bench's own
libaio and uring-iopoll engines for its rows, fio's libaio and io_uring runs for fio's)."""
import json
import statistics
import sys

raw, csv, runs, secs = sys.argv[1:5]
data = {}
fio = None
for line in open(raw):
    if line.startswith("### fio "):
        _, _, engine, qd = line.split()
        fio = (engine, int(qd), [])
        continue
    if fio is not None:
        if line.startswith("### end"):
            job = json.loads("".join(fio[2]))["jobs"][0]["read"]
            pct = job["lat_ns"]["percentile"]
            data.setdefault(fio[:2], []).append(
                (job["iops"], pct["50.000000"] / 1000, pct["99.000000"] / 1000))
            fio = None
        else:
            fio[2].append(line)
        continue
    f = line.split()
    if len(f) == 5 and not line.startswith("#"):
        data.setdefault((f[0], int(f[1])), []).append(tuple(map(float, f[2:])))
engines = ["aiopoll-hipri", "aiopoll", "libaio", "uring-iopoll",
           "fio-aiopoll", "fio-libaio", "fio-uring-hipri", "fio-pvsync2-hipri"]
metrics = ["iops", "p50_us", "p99_us"]


def mmm(values):
    return min(values), statistics.median(values), max(values)


with open(csv, "w") as out:
    out.write("engine,qd,metric,min,median,max\n")
    for (engine, qd), rows in sorted(data.items()):
        for i, metric in enumerate(metrics):
            lo, med, hi = mmm([r[i] for r in rows])
            out.write(f"{engine},{qd},{metric},{lo:.2f},{med:.2f},{hi:.2f}\n")

print(f"4 KiB random reads, null_blk with a poll queue, perf kernel under TCG, {runs} runs x {secs} s")
print("min/median/max over the runs; ratios of median IOPS")
print(f"{'engine':17} {'qd':>3} {'IOPS':>24} {'p50 us':>20} {'p99 us':>22} {'vs fs/aio':>9} {'vs io_uring':>11}")
for qd in (1, 32):
    refs = {}
    for ref in ("libaio", "uring-iopoll", "fio-libaio", "fio-uring-hipri"):
        rows = data.get((ref, qd))
        refs[ref] = statistics.median([r[0] for r in rows]) if rows else float("nan")
    for engine in engines:
        fs_ref, uring_ref = (("fio-libaio", "fio-uring-hipri") if engine.startswith("fio-")
                             else ("libaio", "uring-iopoll"))
        rows = data.get((engine, qd))
        if not rows:
            continue
        cols = [mmm([r[i] for r in rows]) for i in range(3)]
        iops, p50, p99 = cols
        print(f"{engine:17} {qd:>3} {iops[0]:7.0f}/{iops[1]:7.0f}/{iops[2]:7.0f}"
              f" {p50[0]:6.1f}/{p50[1]:6.1f}/{p50[2]:6.1f}"
              f" {p99[0]:6.1f}/{p99[1]:7.1f}/{p99[2]:7.1f}"
              f" {iops[1] / refs[fs_ref]:9.2f} {iops[1] / refs[uring_ref]:11.2f}")
