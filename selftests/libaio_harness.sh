#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# libaio's own test harness (Debian's libaio 0.3.113, built by scripts/libaio-harness.sh), in
# the guest. Each case runs twice, in a fresh scratch directory laid out as the harness
# Makefile lays it out (testdir/ with rofile, wofile and rwfile; testdir.ext2/ an ext2 file
# system for case 8; testdir.enospc/ the harness's ext2-enospc.img for case 10, both on
# memory-backed null_blk devices made through configfs, as the guest has no loop device):
#
#   fsaio/N.p     libaio.a on fs/aio: the reference
#   aiopoll/N.p   libaiopoll.a on /dev/aiopoll, with LIBAIOPOLL_FALLBACK=0 and fs/aio switched
#                 off (fs.aio-max-nr = 0; but for case 20, which sizes its work by it), so a
#                 run that reached fs/aio could not pass
#
# A case that passes on fs/aio must pass on aiopoll; one that fails or skips itself on fs/aio
# is reported as skipped, with the reason, and never counted as a pass.
#
# Then the fs/aio fallback: with the module unloaded, the same aiopoll/N.p binaries of the
# quick cases that passed on fs/aio must pass again (libaiopoll falls back to fs/aio's system
# calls), the libaio differential programs built with libaiopoll must print fs/aio's
# transcripts, and with LIBAIOPOLL_FALLBACK=0 io_setup() must fail with ENOSYS. The module is
# loaded again afterwards. Prints TAP.
d=${AIOPOLL_HARNESS_DIR:-$(dirname "$0")/../libaio-harness}
w=/tmp/libaio-harness
TAP_PREFIX='libaio harness: '
. "$(dirname "$0")/tap.sh"

maxnr=$(cat /proc/sys/fs/aio-max-nr)
# Cases 6, 11, 14 and 18 run scaled down (6q, 11q, 14q, 18q: scripts/libaio-harness.sh says
# why), and case 20 sized by an fs.aio-max-nr of 1024 (it makes aio-max-nr / n contexts of n
# events, for n = 1, 2, 4 ... up to aio-max-nr: with the default 65536, more than make check's
# time under emulation on fs/aio itself). AIOPOLL_STRESS=full runs cases 11, 18 and 20 as
# they are (6 and 14 do not fit in the guest's memory).
c11=11q c18=18q maxnr20=1024
[ "$AIOPOLL_STRESS" = full ] && c11=11 c18=18 maxnr20=$maxnr
cases=${AIOPOLL_HARNESS_CASES:-"2 3 4 5 6q 7 8 10 $c11 12 13 14q 15 16 17 $c18 19 20 21 22 23"}
# Quick cases run again on the fallback (the others add time, not coverage).
fallback_cases="2 3 4 5 7 12 13 15 16 18q 19 21 22"
cfs=/sys/kernel/config/nullb

# nullb NAME MB: a memory-backed null_blk device /dev/NAME made through configfs.
nullb() {
	[ -e "/dev/$1" ] && return 0
	[ -d "$cfs" ] || return 1
	mkdir "$cfs/$1" && echo 1 > "$cfs/$1/memory_backed" && echo "$2" > "$cfs/$1/size" &&
		echo 1 > "$cfs/$1/power" && [ -b "/dev/$1" ]
}

# fresh N: a new scratch directory for case N, as the harness Makefile makes it; prints why
# it cannot be made, if it cannot.
fresh() {
	umount "$w/testdir.ext2" "$w/testdir.enospc" 2>/dev/null
	rm -rf "$w"
	mkdir -p "$w/testdir" "$w/testdir.ext2" "$w/testdir.enospc"
	for f in rofile:400 wofile:200 rwfile:600; do
		echo test > "$w/testdir/${f%:*}"
		chmod "${f#*:}" "$w/testdir/${f%:*}"
	done
	case $1 in
	8)	nullb nullb_aio8 64 || { echo "no null_blk device for testdir.ext2"; return 1; }
		mke2fs -F -b 4096 /dev/nullb_aio8 > /dev/null 2>&1 &&
			mount -t ext2 /dev/nullb_aio8 "$w/testdir.ext2" ||
			{ echo "cannot make ext2 on /dev/nullb_aio8"; return 1; } ;;
	10)	nullb nullb_aio10 1 || { echo "no null_blk device for testdir.enospc"; return 1; }
		dd if="$d/ext2-enospc.img" of=/dev/nullb_aio10 bs=4096 2>/dev/null &&
			mount -t ext2 /dev/nullb_aio10 "$w/testdir.enospc" ||
			{ echo "cannot mount ext2-enospc.img"; return 1; } ;;
	esac
	return 0
}

# run BINARY OUT [VAR=VALUE...]: the case in the scratch directory, with those variables in
# its environment; its status (124 after 300 s).
run() {
	b=$1 out=$2
	shift 2
	(cd "$w" && env "$@" timeout 300 "$b" > "$out" 2>&1)
}

# last OUT: the last line of a transcript, for a reason; the case's own last message when
# the last is the harness's "test ... completed" line.
last() {
	l=$(grep -v '^test .* completed' "$1" | tail -n 1)
	[ -n "$l" ] || l=$(tail -n 1 "$1")
	echo "$l" | tr -d '\r'
}

mkdir -p /tmp/libaio-harness.out
o=/tmp/libaio-harness.out
passed=''
for c in $cases; do
	if ! why=$(fresh "$c"); then
		skip "case $c" "$why"
		continue
	fi
	max=$maxnr
	[ "$c" = 20 ] && max=$maxnr20
	echo "$max" > /proc/sys/fs/aio-max-nr
	t0=$(date +%s)
	run "$d/fsaio/$c.p" "$o/$c.fsaio"
	rf=$?
	t1=$(date +%s)
	fresh "$c" > /dev/null
	[ "$c" = 20 ] || echo 0 > /proc/sys/fs/aio-max-nr
	run "$d/aiopoll/$c.p" "$o/$c.aiopoll" LIBAIOPOLL_FALLBACK=0
	ra=$?
	t2=$(date +%s)
	echo "$maxnr" > /proc/sys/fs/aio-max-nr
	echo "# case $c: fs/aio status $rf in $((t1 - t0)) s, aiopoll status $ra in $((t2 - t1)) s"
	case $rf in
	0)	if [ $ra -ne 0 ]; then
			tap 1 "case $c passes on fs/aio and on aiopoll (aiopoll: status $ra)"
			tail -n 20 "$o/$c.aiopoll" | sed 's/^/# aiopoll: /'
		else
			tap 0 "case $c passes on fs/aio and on aiopoll"
			passed="$passed $c"
		fi ;;
	3)	skip "case $c" "skips itself on fs/aio: $(last "$o/$c.fsaio")" ;;
	*)	skip "case $c" "fails on fs/aio too (status $rf): $(last "$o/$c.fsaio")"
		tail -n 10 "$o/$c.fsaio" | sed 's/^/# fs\/aio: /' ;;
	esac
done
umount "$w/testdir.ext2" "$w/testdir.enospc" 2>/dev/null

# The fs/aio fallback, with the module unloaded.
TAP_PREFIX='libaio harness, fs/aio fallback: '
if ! rmmod aiopoll; then
	tap 1 "aiopoll.ko unloads for the fallback runs"
	exit $status
fi
for c in $fallback_cases; do
	case " $passed " in *" $c "*) ;; *) continue ;; esac
	fresh "$c" > /dev/null
	run "$d/aiopoll/$c.p" "$o/$c.fallback"
	rc=$?
	[ $rc -ne 0 ] && tail -n 20 "$o/$c.fallback" | sed 's/^/# /'
	tap $rc "case $c passes on libaiopoll without /dev/aiopoll"
done
# The differential programs too: without the module, libaiopoll's transcript is fs/aio's.
ld=$(dirname "$0")/../libaio
for p in diff_basic diff_poll diff_signal diff_limits diff_badargs; do
	[ -x "$ld/$p.aiopoll" ] || continue
	"$ld/$p.libaio" > "$o/$p.ref" 2>/dev/null
	"$ld/$p.aiopoll" > "$o/$p.fallback" 2>/dev/null
	same "$o/$p.ref" "$o/$p.fallback" "$p on libaiopoll without /dev/aiopoll: the same transcript as on fs/aio"
done
fresh 3 > /dev/null
run "$d/aiopoll/3.p" "$o/3.nofallback" LIBAIOPOLL_FALLBACK=0
rc=$?
sed 's/^/# /' "$o/3.nofallback"
[ $rc -eq 3 ] && grep -q 'returned -38 ' "$o/3.nofallback"
tap $? "LIBAIOPOLL_FALLBACK=0: io_setup() fails with ENOSYS without /dev/aiopoll"
rm -rf "$w"
insmod "${AIOPOLL_KO:-/aiopoll/aiopoll.ko}"
tap $? "aiopoll.ko loads again"
exit $status
