#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: builds everything, runs the selftests in the test kernel under QEMU, and
# prints one TAP-style summary with a closing "N passed, N failed" line. The kernel log scan
# counts as a test of its own. STRESS=full runs the stress tests with the issues' full counts.
# The host-side tests (selftests/host/*_test.sh, whatever TESTS says) run before the guest
# boots; their TAP lines are printed with the summary and counted with the guest's.
#
# A second guest then boots the PREEMPT_RT flavour of the test kernel (scripts/config.rt)
# and runs RT_TESTS there (default: the tests of the wake-up, poll, signal and polled-I/O
# paths; TESTS when given), with its own kernel log scan. RT=0 skips it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

B=$AIOPOLL_TOP/scripts/build.sh
"$B" module
"$B" selftests
"$B" userspace
"$B" clients

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
# Each guest's time limit: make check's own guest runs about 20 minutes under TCG (with the
# libaio harness and fio); the full stress counts take far longer (the 5,000-pipe one-shot
# test alone runs 10 to 40 minutes under TCG, with the host's load).
timeout=${TIMEOUT:-$([ "$stress" = full ] && echo 7200 || echo 2400)}

# An NVMe disk with a poll queue, for the polled-I/O tests (sparse, made once).
nvme=$AIOPOLL_TOP/build/vm/nvme.img
[ -f "$nvme" ] || truncate -s 64M "$nvme"
export AIOPOLL_QEMU_ARGS="${AIOPOLL_QEMU_ARGS:-} -drive file=$nvme,if=none,id=nvm,format=raw -device nvme,serial=aiopoll0,drive=nvm"
# kmemleak=on: the kernel's kmemleak (built in, off by default) for aiopoll_kmemleak_test.
export AIOPOLL_APPEND="${AIOPOLL_APPEND:-} nvme.poll_queues=1 kmemleak=on"

guest_cmd() {
	echo "AIOPOLL_STRESS=$stress AIOPOLL_TESTS='$1' AIOPOLL_FUZZ_SECONDS=${FUZZ_SECONDS:-20} \
	AIOPOLL_FUZZ_SEED=${FUZZ_SEED:-} sh /aiopoll/selftests/run_tests.sh"
}

set +e
"$AIOPOLL_TOP/scripts/vm.sh" --payload "$payload" --kernel "$("$B" kdir)" \
	--timeout "$timeout" --log "$klog" --out "$out" -- "$(guest_cmd "${TESTS:-}")"
vmrc=$?
set -e

# The PREEMPT_RT guest: the module built for the rt flavour, the same test binaries.
rt=${RT:-1}
[ -n "${KDIR:-}" ] && rt=0
rtout=$AIOPOLL_TOP/build/vm/check-rt.out
rtklog=$AIOPOLL_TOP/build/vm/check-rt-kernel.log
rtrc=0
if [ "$rt" = 1 ]; then
	rt_tests=${TESTS:-${RT_TESTS:-aiopoll_dev_test aiopoll_ctx_test aiopoll_signal_test aiopoll_swait_test aiopoll_compat_test aiopoll_poll_test aiopoll_iopoll_test}}
	log "PREEMPT_RT guest: $rt_tests"
	AIOPOLL_FLAVOUR=rt "$B" module
	rtpayload=$(AIOPOLL_FLAVOUR=rt "$B" payload)
	set +e
	"$AIOPOLL_TOP/scripts/vm.sh" --payload "$rtpayload" --kernel "$(AIOPOLL_FLAVOUR=rt "$B" kdir)" \
		--timeout "$timeout" --log "$rtklog" --out "$rtout" -- "$(guest_cmd "$rt_tests")"
	rtrc=$?
	set -e
fi

pass=0 fail=0 skip=0 ran=0

# count OUT: adds the guest TAP results in OUT to the totals.
count() {
	local p s f
	p=$(grep -E '^ok [0-9]+ ' "$1" | grep -vc '# SKIP' || true)
	s=$(grep -E '^ok [0-9]+ ' "$1" | grep -c '# SKIP' || true)
	f=$(grep -cE '^not ok [0-9]+ ' "$1" || true)
	pass=$((pass + p)) skip=$((skip + s)) fail=$((fail + f)) ran=$((ran + p + f))
}

# verdict KERNEL-LOG STATUS FAILED-BEFORE WHAT: the log scan as one more result, and a
# result for a guest that ended badly without any failed test to show for it.
verdict() {
	if "$AIOPOLL_TOP/scripts/logscan.sh" "$1" 2>/dev/null; then
		echo "ok - $4 kernel log has no KASAN, lockdep, sleeping-in-atomic, WARNING, BUG, refcount or hung-task report"
		pass=$((pass + 1))
	else
		echo "not ok - $4 kernel log has reports (see $1)"
		fail=$((fail + 1))
	fi
	if [ "$2" -ne 0 ] && [ "$fail" -eq "$3" ]; then
		echo "not ok - $4 guest run ended with status $2"
		fail=$((fail + 1))
	fi
}

count "$out"
echo
echo "# aiopoll check: host tests"
cat "$hostout"
hskip=$(grep -E '^ok ' "$hostout" | grep -c '# SKIP' || true)
pass=$((pass + $(grep -c '^ok ' "$hostout" || true) - hskip))
fail=$((fail + $(grep -c '^not ok ' "$hostout" || true)))
skip=$((skip + hskip))
echo "# aiopoll check: kernel log scan"
verdict "$klog" "$vmrc" 0 "test"
if [ "$rt" = 1 ]; then
	echo "# aiopoll check: PREEMPT_RT guest ($(grep -cE '^(not )?ok [0-9]+ ' "$rtout" || true) results above, in $rtout)"
	before=$fail
	count "$rtout"
	verdict "$rtklog" "$rtrc" "$before" "PREEMPT_RT"
fi
if [ $ran -eq 0 ]; then
	echo "not ok - no test ran in the guest"
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
