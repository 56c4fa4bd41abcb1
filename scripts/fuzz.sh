#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make fuzz SECONDS=N [SEED=S]`: the fuzzer alone in the test kernel for N seconds, then a
# kmemleak scan and the module's unload test; the kernel log scan judges the run. Prints the
# seed (SEED=S replays the same operation sequences) and how many calls were made.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

secs=${FUZZ_SECONDS:-60}
B=$AIOPOLL_TOP/scripts/build.sh
"$B" module
"$B" selftests
payload=$("$B" payload)
klog=$AIOPOLL_TOP/build/vm/fuzz-kernel.log
out=$AIOPOLL_TOP/build/vm/fuzz.out
export AIOPOLL_APPEND="${AIOPOLL_APPEND:-} kmemleak=on"
set +e
"$AIOPOLL_TOP/scripts/vm.sh" --payload "$payload" --kernel "$("$B" kdir)" \
	--timeout $((secs + 900)) --log "$klog" --out "$out" -- \
	"AIOPOLL_TESTS='aiopoll_fuzz_test aiopoll_kmemleak_test aiopoll_unload_test' \\
	AIOPOLL_FUZZ_SECONDS=$secs AIOPOLL_FUZZ_SEED=${FUZZ_SEED:-} sh /aiopoll/selftests/run_tests.sh"
rc=$?
set -e
if ! "$AIOPOLL_TOP/scripts/logscan.sh" "$klog"; then
	echo "not ok - kernel log has reports (see $klog)"
	exit 1
fi
echo "ok - kernel log has no KASAN, lockdep, WARNING, BUG, refcount or hung-task report"
[ $rc -eq 0 ] || die "fuzz run failed (status $rc); output in $out"
log "fuzz run clean"
