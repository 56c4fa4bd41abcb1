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
# Two more boot Debian's stock kernels, linux-image-7.3.4+deb13-amd64 and -rt-amd64, with the
# module built against their headers (scripts/stock.sh), and run STOCK_TESTS there (default:
# RT_TESTS plus the teardown, libaio, examples, autoload and unload tests; TESTS when given), each with
# its own kernel log scan. STOCK=0 skips both; STOCK="amd64 rt-amd64 cloud-amd64" (any of them)
# runs those (-cloud has no 9p: its guest gets the payload in the initramfs).
# VNG=1 runs the test and PREEMPT_RT guests with virtme-ng (scripts/vng.sh: the host's root
# file system in the guest, dynamically linked host programs included) instead of the
# busybox guest of scripts/vm.sh; the stock kernels' guests stay on scripts/vm.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

B=$AIOPOLL_TOP/scripts/build.sh
case "${VNG:-0}" in
0) runner=$AIOPOLL_TOP/scripts/vm.sh ;;
1) runner=$AIOPOLL_TOP/scripts/vng.sh ;;
*) die "VNG must be 0 or 1" ;;
esac
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
	AIOPOLL_FUZZ_SEED=${FUZZ_SEED:-} sh \$AIOPOLL_PAYLOAD/selftests/run_tests.sh"
}

set +e
"$runner" --payload "$payload" --kernel "$("$B" kdir)" \
	--timeout "$timeout" --log "$klog" --out "$out" -- "$(guest_cmd "${TESTS:-}")"
vmrc=$?
set -e

# extra_guest FLAVOUR WHAT TESTS: the module built for FLAVOUR, the same test binaries, in a
# guest of that kernel; its output and kernel log in build/vm/check-FLAVOUR.out and
# check-FLAVOUR-kernel.log. Adds FLAVOUR to $extras and its status to $extra_rc.
extras=() extra_what=() extra_rc=()
extra_guest() {
	local f=$1 what=$2 tests=$3 p rc run=$runner
	case "$f" in stock*) run=$AIOPOLL_TOP/scripts/vm.sh ;; esac
	log "$what guest: $tests"
	AIOPOLL_FLAVOUR=$f "$B" module
	p=$(AIOPOLL_FLAVOUR=$f "$B" payload)
	set +e
	"$run" --payload "$p" --kernel "$(AIOPOLL_FLAVOUR=$f "$B" kdir)" \
		--timeout "$timeout" --log "$AIOPOLL_TOP/build/vm/check-$f-kernel.log" \
		--out "$AIOPOLL_TOP/build/vm/check-$f.out" -- "$(guest_cmd "$tests")"
	rc=$?
	set -e
	extras+=("$f") extra_what+=("$what") extra_rc+=("$rc")
}

# The PREEMPT_RT guest: the rt flavour of the test kernel.
rt=${RT:-1}
[ -n "${KDIR:-}" ] && rt=0
rt_tests=${TESTS:-${RT_TESTS:-aiopoll_dev_test aiopoll_ctx_test aiopoll_signal_test aiopoll_swait_test aiopoll_compat_test aiopoll_poll_test aiopoll_iopoll_test}}
if [ "$rt" = 1 ]; then extra_guest rt PREEMPT_RT "$rt_tests"; fi

# Debian's stock kernels.
stock=${STOCK:-1}
[ -n "${KDIR:-}" ] && stock=0
case "$stock" in
0) ;;
1) stock="amd64 rt-amd64" ;;
*)
	for f in $stock; do
		case "$f" in amd64|rt-amd64|cloud-amd64) ;; *) die "STOCK must be 0, 1, or a list of amd64, rt-amd64 and cloud-amd64" ;; esac
	done ;;
esac
if [ "$stock" != 0 ]; then
	stock_tests=${TESTS:-${STOCK_TESTS:-$rt_tests aiopoll_teardown_test aiopoll_libaio_diff aiopoll_examples_test aiopoll_autoload_test aiopoll_unload_test}}
	for f in $stock; do
		case "$f" in
		amd64) extra_guest stock "Debian stock 7.3.4+deb13-amd64" "$stock_tests" ;;
		rt-amd64) extra_guest stock-rt "Debian stock 7.3.4+deb13-rt-amd64" "$stock_tests" ;;
		cloud-amd64) extra_guest stock-cloud "Debian stock 7.3.4+deb13-cloud-amd64" "$stock_tests" ;;
		esac
	done
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
for i in "${!extras[@]}"; do
	o=$AIOPOLL_TOP/build/vm/check-${extras[$i]}.out
	echo "# aiopoll check: ${extra_what[$i]} guest ($(grep -cE '^(not )?ok [0-9]+ ' "$o" || true) results above, in $o)"
	before=$fail
	count "$o"
	verdict "$AIOPOLL_TOP/build/vm/check-${extras[$i]}-kernel.log" "${extra_rc[$i]}" "$before" "${extra_what[$i]}"
done
if [ $ran -eq 0 ]; then
	echo "not ok - no test ran in the guest"
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
