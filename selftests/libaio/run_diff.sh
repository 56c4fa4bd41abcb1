#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# libaio differential tests, in the guest (see diff.h). For each program:
#   NAME.libaio   on fs/aio: must meet its own expectations; its transcript is the reference
#   NAME.aiopoll  the same source on libaiopoll.a: same transcript
#   NAME.dyn      one binary linked to libaio.so.1, run with the system's libaio.so.1 (same
#                 transcript as the reference) and with libaiopoll's drop-in (same again)
# While aiopoll runs, fs/aio is switched off (fs.aio-max-nr = 0), so a run that reached fs/aio
# instead of /dev/aiopoll would fail io_setup() and differ. Standard error is not compared (it
# holds figures that legitimately differ, such as fs/aio's per-CPU-dependent slot counts).
d=${AIOPOLL_LIBAIO_DIR:-$(dirname "$0")/../libaio}
ld=$d/dyn/ld-linux-x86-64.so.2
out=/tmp/libaio-diff
mkdir -p $out
maxnr=$(cat /proc/sys/fs/aio-max-nr)
. "$(dirname "$0")/tap.sh"

for p in diff_basic diff_poll diff_signal diff_limits diff_badargs diff_stress; do
	echo "$maxnr" > /proc/sys/fs/aio-max-nr
	"$d/$p.libaio" > $out/$p.fsaio 2> $out/$p.fsaio.err
	rc=$?
	[ $rc -ne 0 ] && sed 's/^/# /' $out/$p.fsaio | grep -E 'UNEXPECTED|result'
	sed 's/^/# fs\/aio: /' $out/$p.fsaio.err
	tap $rc "libaio-diff: $p on fs/aio (libaio.a) meets its expectations"
	$ld --library-path "$d/dyn/system:$d/dyn" "$d/$p.dyn" > $out/$p.dynsys 2> $out/$p.dynsys.err
	same $out/$p.fsaio $out/$p.dynsys "libaio-diff: $p linked to the system libaio.so.1: same transcript"

	echo 0 > /proc/sys/fs/aio-max-nr
	"$d/$p.aiopoll" > $out/$p.aiopoll 2> $out/$p.aiopoll.err
	same $out/$p.fsaio $out/$p.aiopoll "libaio-diff: $p on aiopoll (libaiopoll.a): same transcript as fs/aio"
	$ld --library-path "$d/dyn/aiopoll:$d/dyn" "$d/$p.dyn" > $out/$p.dynaiopoll 2> $out/$p.dynaiopoll.err
	same $out/$p.fsaio $out/$p.dynaiopoll \
		"libaio-diff: the same $p binary on libaiopoll's libaio.so.1: same transcript as fs/aio"
	sed 's/^/# aiopoll: /' $out/$p.aiopoll.err
	echo "$maxnr" > /proc/sys/fs/aio-max-nr
done
exit $status
