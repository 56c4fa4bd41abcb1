#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs the aiopoll selftests inside the guest, in order (the unload test last, since it
# unloads and reloads the module). Each test binary prints TAP; the host counts the results.
# Exit status: 0 when every binary exited 0.
dir=$(dirname "$0")
tests="aiopoll_dev_test aiopoll_unload_test"
[ -n "$AIOPOLL_TESTS" ] && tests=$AIOPOLL_TESTS
status=0
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
