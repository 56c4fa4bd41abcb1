#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: builds everything, runs the selftests in the test kernel under QEMU, and
# prints one TAP-style summary with a closing "N passed, N failed" line. The kernel log scan
# counts as a test of its own. STRESS=full runs the stress tests with the issues' full counts.
# The host-side tests (selftests/host/*_test.sh, whatever TESTS says) run before the guest
# boots; their TAP lines are printed with the summary and counted with the guest's.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

B=$AIOPOLL_TOP/scripts/build.sh
"$B" module
"$B" selftests
"$B" userspace

hostout=$AIOPOLL_TOP/build/vm/check-host.out
mkdir -p "$(dirname "$hostout")"
: >"$hostout"
for t in "$AIOPOLL_TOP"/selftests/host/*_test.sh; do
	name=$(basename "$t" .sh)
	log "host test: $name"
	set +e
	bash "$t" >"$hostout.one" 2>&1
	rc=$?
	set -e
	cat "$hostout.one" >>"$hostout"
	if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$hostout.one"; then
		echo "not ok - host: $name exited with status $rc" >>"$hostout"
	fi
	rm -f "$hostout.one"
done

payload=$("$B" payload)
out=$AIOPOLL_TOP/build/vm/check.out
klog=$AIOPOLL_TOP/build/vm/check-kernel.log
stress=${STRESS:-quick}
case "$stress" in quick|full) ;; *) die "STRESS must be quick or full" ;; esac

# An NVMe disk with a poll queue, for the polled-I/O tests (sparse, made once).
nvme=$AIOPOLL_TOP/build/vm/nvme.img
[ -f "$nvme" ] || truncate -s 64M "$nvme"
export AIOPOLL_QEMU_ARGS="${AIOPOLL_QEMU_ARGS:-} -drive file=$nvme,if=none,id=nvm,format=raw -device nvme,serial=aiopoll0,drive=nvm"
# kmemleak=on: the kernel's kmemleak (built in, off by default) for aiopoll_kmemleak_test.
export AIOPOLL_APPEND="${AIOPOLL_APPEND:-} nvme.poll_queues=1 kmemleak=on"

set +e
"$AIOPOLL_TOP/scripts/vm.sh" --payload "$payload" --kernel "$("$B" kdir)" \
	--timeout "${TIMEOUT:-1500}" --log "$klog" --out "$out" -- \
	"AIOPOLL_STRESS=$stress AIOPOLL_TESTS='${TESTS:-}' AIOPOLL_FUZZ_SECONDS=${FUZZ_SECONDS:-20} \
	AIOPOLL_FUZZ_SEED=${FUZZ_SEED:-} sh /aiopoll/selftests/run_tests.sh"
vmrc=$?
set -e

pass=$(grep -cE '^ok [0-9]+ ' "$out" | tr -d ' ' || true)
skip=$(grep -E '^ok [0-9]+ ' "$out" | grep -c '# SKIP' || true)
fail=$(grep -cE '^not ok [0-9]+ ' "$out" || true)
pass=$((pass - skip))
ran=$((pass + fail))
echo
echo "# aiopoll check: host tests"
cat "$hostout"
hskip=$(grep -E '^ok ' "$hostout" | grep -c '# SKIP' || true)
pass=$((pass + $(grep -c '^ok ' "$hostout" || true) - hskip))
fail=$((fail + $(grep -c '^not ok ' "$hostout" || true)))
skip=$((skip + hskip))
echo "# aiopoll check: kernel log scan"
if "$AIOPOLL_TOP/scripts/logscan.sh" "$klog" 2>/dev/null; then
	echo "ok - kernel log has no KASAN, lockdep, WARNING, BUG, refcount or hung-task report"
	pass=$((pass + 1))
else
	echo "not ok - kernel log has reports (see $klog)"
	fail=$((fail + 1))
fi
if [ $vmrc -ne 0 ] && [ $fail -eq 0 ]; then
	echo "not ok - guest run ended with status $vmrc"
	fail=$((fail + 1))
fi
if [ $ran -eq 0 ]; then
	echo "not ok - no test ran in the guest"
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
