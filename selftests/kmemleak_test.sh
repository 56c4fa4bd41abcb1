#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A kmemleak scan after the suites (the guest boots with kmemleak=on under make check): no
# unreferenced object may have been allocated from aiopoll.ko (a backtrace frame in
# [aiopoll]). Objects leaked elsewhere in the kernel are counted, not failed. Prints TAP.
f=/sys/kernel/debug/kmemleak
if [ ! -w $f ]; then
	echo "ok 1 - kmemleak: no leak from aiopoll # SKIP kmemleak is off (boot with kmemleak=on)"
	exit 0
fi
# Objects younger than 5 s are not reported: let the last tests' memory age, then scan twice
# (an object must be found unreferenced by a scan after it aged).
sleep 6
echo scan > $f
echo scan > $f
cat $f > /tmp/kmemleak.out
total=$(grep -c '^unreferenced object' /tmp/kmemleak.out)
ours=$(awk '/^unreferenced object/ { if (hit) n++; hit = 0 } /\[aiopoll\]/ { hit = 1 }
	END { if (hit) n++; print n + 0 }' /tmp/kmemleak.out)
if [ "$ours" -eq 0 ]; then
	echo "ok 1 - kmemleak: no leak from aiopoll ($total unreferenced objects elsewhere)"
	exit 0
fi
awk '/^unreferenced object/ { if (hit) printf "%s", rec; rec = ""; hit = 0 }
	{ rec = rec "# " $0 "\n" } /\[aiopoll\]/ { hit = 1 }
	END { if (hit) printf "%s", rec }' /tmp/kmemleak.out | head -80
echo "not ok 1 - kmemleak: $ours objects leaked from aiopoll"
exit 1
