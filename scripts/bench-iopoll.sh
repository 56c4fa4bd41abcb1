#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench-iopoll`: 4 KiB random reads on null_blk (a poll queue, no memory backing) at
# QD1 and QD32 through aiopoll with RWF_HIPRI, aiopoll without it, fs/aio (libaio) and
# io_uring with IOPOLL (liburing), all in one guest of the performance kernel (no KASAN, no
# lockdep), RUNS runs of SECONDS seconds each. Prints IOPS and p50/p99 latency as
# min/median/max, and the ratios of the medians to fs/aio and io_uring; writes the raw lines
# and the table to build/bench/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-5}
SECONDS_PER_RUN=${BENCH_SECONDS:-2}
out=$AIOPOLL_TOP/build/bench
mkdir -p "$out"
host_install gcc libc6-dev libaio-dev liburing-dev rsync

perf_payload
mkdir -p "$payload/modules"
cp "$kdir/fs/configfs/configfs.ko" "$kdir/drivers/block/null_blk/null_blk.ko" "$payload/modules/"
gcc -D_GNU_SOURCE -O2 -Wall -static -I"$AIOPOLL_TOP/uapi" -o "$payload/iopoll_bench" \
	"$AIOPOLL_TOP/bench/iopoll_bench.c" "$AIOPOLL_TOP/bench/engine_libaio.c" -laio -luring

raw=$out/iopoll.raw
# The TSC as clock source: the default under TCG ticks in jiffies, too coarse for latencies.
export AIOPOLL_APPEND="${AIOPOLL_APPEND:-} clocksource=tsc tsc=reliable"
"$AIOPOLL_TOP/scripts/vm.sh" --payload "$payload" --kernel "$kdir" --timeout 3600 \
	--log "$out/iopoll-kernel.log" --out "$raw" -- "
insmod /aiopoll/modules/configfs.ko
insmod /aiopoll/modules/null_blk.ko nr_devices=1 gb=4 poll_queues=1 submit_queues=1
echo \"# io_poll: \$(cat /sys/block/nullb0/queue/io_poll)\"
for run in \$(seq $RUNS); do
	for qd in 1 32; do
		for e in aiopoll-hipri aiopoll libaio uring-iopoll; do
			/aiopoll/iopoll_bench \$e /dev/nullb0 \$qd $SECONDS_PER_RUN || exit 1
		done
	done
done
"
python3 "$AIOPOLL_TOP/scripts/bench_table.py" "$raw" "$out/iopoll.csv" "$RUNS" "$SECONDS_PER_RUN" |
	tee "$out/iopoll.txt"
