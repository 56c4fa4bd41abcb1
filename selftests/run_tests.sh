#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs the aiopoll selftests inside the guest, in order (the unload test last, since it
# unloads and reloads the module). Each test binary prints TAP; the host counts the results.
# Exit status: 0 when every binary exited 0.
dir=$(dirname "$0")
tests="aiopoll_dev_test aiopoll_ctx_test aiopoll_signal_test aiopoll_swait_test aiopoll_compat_test aiopoll_poll_test aiopoll_iopoll_test
	aiopoll_teardown_test aiopoll_fault_test aiopoll_libaio_diff aiopoll_libaio_harness aiopoll_fio_test
	aiopoll_crate_test aiopoll_examples_test aiopoll_bench_smoke
	aiopoll_fuzz_test
	aiopoll_kmemleak_test aiopoll_autoload_test aiopoll_unload_test"
# The virtme-ng guest (scripts/vng.sh) also runs the host's own programs.
[ "${AIOPOLL_VNG:-0}" = 1 ] && tests="$tests aiopoll_vng_host_test"
[ -n "$AIOPOLL_TESTS" ] && tests=$AIOPOLL_TESTS
status=0
# A memory-backed null block device for the O_DIRECT tests (the real block layer).
# nullb0: with a poll queue (polled I/O); nullb1, made through configfs: without one;
# nullb2, made through configfs: with one (the ext4 file systems of aiopoll_iopoll_test).
mods=$dir/../modules
if [ -f "$mods/null_blk.ko" ] && [ ! -e /dev/nullb0 ]; then
	{ [ -d /sys/module/configfs ] || insmod "$mods/configfs.ko"; } &&
		insmod "$mods/null_blk.ko" nr_devices=1 gb=1 memory_backed=1 poll_queues=1 ||
		echo "# null_blk did not load; block tests will skip"
	if [ -e /dev/nullb0 ]; then
		mkdir -p /sys/kernel/config
		mount -t configfs none /sys/kernel/config 2>/dev/null
		n=/sys/kernel/config/nullb/nullb1
		mkdir "$n" && echo 0 > "$n/poll_queues" && echo 1 > "$n/memory_backed" &&
			echo 64 > "$n/size" && echo 1 > "$n/power" ||
			echo "# nullb1 could not be made; its test will skip"
		n=/sys/kernel/config/nullb/nullb2
		mkdir "$n" && echo 1 > "$n/poll_queues" && echo 1 > "$n/memory_backed" &&
			echo 64 > "$n/size" && echo 1 > "$n/power" ||
			echo "# nullb2 could not be made; its test will skip"
	fi
fi
for t in $tests; do
	echo "# selftest: $t"
	if [ ! -x "$dir/$t" ]; then
		echo "not ok 1 $t # binary missing"
		status=1
		continue
	fi
	"$dir/$t"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "# $t exited with status $rc"
		status=1
	fi
done
exit $status
