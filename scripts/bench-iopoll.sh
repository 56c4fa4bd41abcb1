#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench-iopoll`: 4 KiB random reads on null_blk (a poll queue, no memory backing) at
# QD1 and QD32 through aiopoll with RWF_HIPRI, aiopoll without it, fs/aio (libaio) and
# io_uring with IOPOLL (liburing), all in one guest of the performance kernel (no KASAN, no
# lockdep), RUNS runs of SECONDS seconds each; then the same through fio (scripts/fio.sh), an
# unmodified client: its libaio engine on the system's libaio (fs/aio) and linked against
# libaiopoll (fio's libaio engine has no hipri option), its io_uring engine with hipri, and pvsync2 with hipri
# (QD1: a synchronous engine). Prints IOPS and p50/p99 latency as min/median/max, and the
# ratios of the medians to fs/aio and io_uring (fio's rows to fio's own fs/aio and io_uring
# runs); writes the raw lines and the table to build/bench/. BENCH_FIO=0 skips fio;
# BENCH_ICOUNT=1 runs the guest with instructions as time, as `make bench` does.
# BENCH_PROFILE (1): after the runs, one more run of each of the program's engines at each
# queue depth with a kernel profile of the guest (bench/profile.c, as `make bench`), written to
# build/bench/iopoll-profile.txt; these runs are not in the table. 0 skips them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-5}
SECONDS_PER_RUN=${BENCH_SECONDS:-2}
FIO=${BENCH_FIO:-1}
PROFILE=${BENCH_PROFILE:-1}
case "$PROFILE" in 0 | 1) ;; *) die "BENCH_PROFILE must be 0 or 1" ;; esac
case "${BENCH_ICOUNT:-0}" in
0) ;;
1) export AIOPOLL_QEMU_ARGS="${AIOPOLL_QEMU_ARGS:-} -icount shift=0,sleep=off" ;;
*) die "BENCH_ICOUNT must be 0 or 1" ;;
esac
out=$AIOPOLL_TOP/build/bench
mkdir -p "$out"
host_install gcc libc6-dev libaio-dev liburing-dev rsync

perf_payload
mkdir -p "$payload/modules"
cp "$kdir/fs/configfs/configfs.ko" "$kdir/drivers/block/null_blk/null_blk.ko" "$payload/modules/"
gcc -D_GNU_SOURCE -O2 -Wall -static -I"$AIOPOLL_TOP/uapi" -o "$payload/iopoll_bench" \
	"$AIOPOLL_TOP/bench/iopoll_bench.c" "$AIOPOLL_TOP/bench/engine_libaio.c" \
	"$AIOPOLL_TOP/bench/profile.c" -laio -luring
fio_engines=''
if [ "$FIO" = 1 ]; then
	fio_dir=$("$AIOPOLL_TOP/scripts/fio.sh" build)
	cp "$fio_dir/fio-fsaio" "$fio_dir/fio-aiopoll" "$payload/"
	fio_engines='fio-aiopoll fio-libaio fio-uring-hipri fio-pvsync2-hipri'
fi

raw=$out/iopoll.raw
# The TSC as clock source: the default under TCG ticks in jiffies, too coarse for latencies.
export AIOPOLL_APPEND="${AIOPOLL_APPEND:-} clocksource=tsc tsc=reliable"
"$AIOPOLL_TOP/scripts/vm.sh" --payload "$payload" --kernel "$kdir" --timeout 3600 \
	--log "$out/iopoll-kernel.log" --out "$raw" -- "
insmod /aiopoll/modules/configfs.ko
insmod /aiopoll/modules/null_blk.ko nr_devices=1 gb=4 poll_queues=1 submit_queues=1
echo \"# io_poll: \$(cat /sys/block/nullb0/queue/io_poll)\"
# fio ENGINE QD: one fio run, its JSON between markers (the guest has no JSON tool).
fio_run() {
	case \$1 in
	fio-aiopoll) set -- \$1 \$2 /aiopoll/fio-aiopoll --ioengine=libaio ;;
	fio-libaio) set -- \$1 \$2 /aiopoll/fio-fsaio --ioengine=libaio ;;
	fio-uring-hipri) set -- \$1 \$2 /aiopoll/fio-fsaio --ioengine=io_uring --hipri=1 ;;
	fio-pvsync2-hipri) set -- \$1 \$2 /aiopoll/fio-fsaio --ioengine=pvsync2 --hipri=1 ;;
	esac
	e=\$1 qd=\$2 bin=\$3
	shift 3
	echo \"### fio \$e \$qd\"
	\$bin --name=\$e --filename=/dev/nullb0 --direct=1 --rw=randread --bs=4k \\
		--iodepth=\$qd --runtime=$SECONDS_PER_RUN --time_based --thread --norandommap \\
		--randrepeat=0 --lat_percentiles=1 --clat_percentiles=0 --output-format=json \"\$@\" ||
		return 1
	echo '### end'
}
for run in \$(seq $RUNS); do
	for qd in 1 32; do
		for e in aiopoll-hipri aiopoll libaio uring-iopoll; do
			/aiopoll/iopoll_bench \$e /dev/nullb0 \$qd $SECONDS_PER_RUN || exit 1
		done
		for e in $fio_engines; do
			[ \$e = fio-pvsync2-hipri ] && [ \$qd != 1 ] && continue
			fio_run \$e \$qd || exit 1
		done
	done
done
if [ $PROFILE = 1 ]; then
	for qd in 1 32; do
		for e in aiopoll-hipri aiopoll libaio uring-iopoll; do
			r=\$(IOPOLL_PROFILE=1 /aiopoll/iopoll_bench \$e /dev/nullb0 \$qd $SECONDS_PER_RUN) ||
				exit 1
			echo \"\$r\" | sed 's/^\([^#]\)/# profiled run: \1/'
		done
	done
fi
"
python3 "$AIOPOLL_TOP/scripts/bench_table.py" "$raw" "$out/iopoll.csv" "$RUNS" "$SECONDS_PER_RUN" |
	tee "$out/iopoll.txt"
if [ "$PROFILE" = 1 ]; then
	grep '^# profile' "$raw" | sed 's/^# //' >"$out/iopoll-profile.txt"
	log "profiles: $out/iopoll-profile.txt"
fi
