#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: readiness polling through aiopoll (one-shot reaped by the ioctl, one-shot
# reaped from the ring, multishot), fs/aio (system libaio), io_uring (one-shot and multishot,
# liburing) and epoll (level- and edge-triggered), all in one guest of the performance kernel
# (no KASAN, no lockdep): poll throughput at N = 1, 64, 1024, 5000 armed pipes, ping-pong
# wake-up latency (threads anywhere, and both on one CPU), arm-and-cancel rate, and memory per
# armed poll, RUNS runs interleaved (bench/poll_bench.c; Documentation/performance.rst,
# "Readiness polling"). Then a kernel profile of each system and test (BENCH_PROFILE=0 skips
# it).
#
# Knobs: RUNS (5), BENCH_EVENTS (events per throughput measurement, 100000; the latency tests
# make BENCH_EVENTS / 5 round trips and the cancel test BENCH_EVENTS / 2 cancels),
# BENCH_N (1,64,1024,5000), BENCH_BATCH (pipes written per round, 32), BENCH_PROFILE (1),
# BENCH_ICOUNT (0; 1 runs the guest with QEMU's -icount shift=0,sleep=off: guest time is the
# count of instructions executed, one per nanosecond, so the figures no longer depend on the
# host's load or TCG's drift and repeat from run to run, at the price of measuring
# instructions rather than cycles: caches, TLB misses and lock contention cost nothing there).
# Every measurement is a fixed amount of work, so there is no BENCH_SECONDS here.
#
# Writes to build/bench/: poll.raw (the program's lines), poll.csv, poll.txt (the tables),
# poll-profile.txt, poll-tput.dat/.gp and poll-tput.png (throughput against N, log x).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-5}
EVENTS=${BENCH_EVENTS:-100000}
NS=${BENCH_N:-1,64,1024,5000}
BATCH=${BENCH_BATCH:-32}
PROFILE=${BENCH_PROFILE:-1}
# BENCH_CALLERS=1: the profiles also name who ends each IRQ-off section (kernel call chains).
CALLERS=$([ "${BENCH_CALLERS:-0}" = 1 ] && echo 'PROF_CALLERS=1 ' || true)
ICOUNT=${BENCH_ICOUNT:-0}
case "$ICOUNT" in
0) ;;
1) export AIOPOLL_QEMU_ARGS="${AIOPOLL_QEMU_ARGS:-} -icount shift=0,sleep=off" ;;
*) die "BENCH_ICOUNT must be 0 or 1" ;;
esac
out=$AIOPOLL_TOP/build/bench
mkdir -p "$out"
host_install gcc libc6-dev make binutils libaio-dev liburing-dev rsync python3 gnuplot-nox

# libaiopoll (incremental), then the benchmark, linked statically against it.
make -s -C "$AIOPOLL_TOP/lib" O="$AIOPOLL_TOP/build"
make -s -C "$AIOPOLL_TOP/bench" OUTPUT="$out/obj" AIOPOLL_BUILD="$AIOPOLL_TOP/build"

perf_payload
mkdir -p "$payload/bin"
cp "$out/obj/poll_bench" "$payload/bin/"

# The profiles, with the measurements' sizes.
profile_cmds=''
if [ "$PROFILE" = 1 ]; then
	profile_cmds="
for s in \$(poll_bench list | cut -d' ' -f1); do
	${CALLERS}poll_bench -b $BATCH -P tput \$s 1024 $EVENTS || exit 1
done
for t in lat lat1; do
	for s in \$(poll_bench list | cut -d' ' -f1); do
		${CALLERS}poll_bench -P \$t \$s $((EVENTS / 5 + 1)) || exit 1
	done
done
for s in \$(poll_bench list | grep -v 'no cancel' | cut -d' ' -f1); do
	${CALLERS}poll_bench -P cancel \$s $((EVENTS / 2 + 1)) || exit 1
done"
fi

raw=$out/poll.raw
# What the memory and profile figures can rest on in this kernel.
cfg=$(grep -hE '^(# )?CONFIG_(SLUB_DEBUG|PERF_EVENTS|KALLSYMS)[ =]' "$kdir/.config" | sed 's/^# //' |
	tr '\n' ' ')
clock=$([ "$ICOUNT" = 1 ] && echo "icount: instructions as time" || echo "TCG wall time")
log "poll benchmark: $RUNS runs, $EVENTS events, N=$NS, batch $BATCH, $clock (a long run)"
# The TSC as clock source: the default under TCG ticks in jiffies, too coarse for latencies.
export AIOPOLL_APPEND="${AIOPOLL_APPEND:-} clocksource=tsc tsc=reliable"
"$AIOPOLL_TOP/scripts/vm.sh" --payload "$payload" --kernel "$kdir" --timeout 14400 \
	--log "$out/poll-kernel.log" --out "$raw.all" -- "
echo '# perf kernel $(basename "$kdir"): $cfg; clock: $clock'
poll_bench -r $RUNS -e $EVENTS -n $NS -b $BATCH all || exit 1
$profile_cmds
"
# The measurements, then the profiles (with the result lines of the profiled runs, which ran
# under sampling and are not part of the tables).
sed -n '1,/^# done:/p' "$raw.all" >"$raw"
sed -n '/^# done:/,$p' "$raw.all" | sed -e 1d -e 's/^# profile //' >"$out/poll-profile.txt"
python3 "$AIOPOLL_TOP/scripts/bench_poll_table.py" "$raw" "$out/poll.csv" "$out/poll-tput" \
	"$out/poll-tput.png" "$out/poll-profile.txt" | tee "$out/poll.txt"
gnuplot "$out/poll-tput.gp"
log "tables: $out/poll.txt, CSV: $out/poll.csv, plot: $out/poll-tput.png, profiles: $out/poll-profile.txt"
