#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The fuzzer in the guest, as one TAP test: AIOPOLL_FUZZ_SECONDS (default 20) of random and
# mutated ioctls, iocbs and mappings from 2 processes x 4 threads, seed AIOPOLL_FUZZ_SEED (or
# a new one, printed: pass it back to replay). The verdict on the kernel is the host's log
# scan; the module's unloading afterwards is checked by aiopoll_unload_test and at shutdown.
dir=$(dirname "$0")
secs=${AIOPOLL_FUZZ_SECONDS:-20}
seed=${AIOPOLL_FUZZ_SEED:-$(( $(date +%s) * 1000 + $$ ))}
"$dir/aiopoll_fuzz" --seconds "$secs" --seed "$seed" --procs 2 --threads 4 > /tmp/fuzz.out 2>&1
rc=$?
grep -v 'errno' /tmp/fuzz.out
if [ $rc -eq 0 ]; then
	echo "ok 1 - fuzz: $secs s with seed $seed, every process ended normally"
else
	grep 'errno' /tmp/fuzz.out | head -40
	echo "not ok 1 - fuzz: $secs s with seed $seed (status $rc)"
fi
exit $rc
